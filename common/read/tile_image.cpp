#include "read/tile_image.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "error.h"

namespace pgmosaic
{

namespace
{

void Read(GDALDataset& ds, int y0, int rows, GDALDataType type, int bands, void* data,
          GSpacing pixel, GSpacing line, GSpacing band)
{
    std::vector<int> map;
    for (int k = 1; k <= bands; ++k)
        map.push_back(k);
    const int width = ds.GetRasterXSize();
    if (ds.RasterIO(GF_Read, 0, y0, width, rows, data, width, rows, type, bands, map.data(),
                    pixel, line, band, nullptr) != CE_None)
        throw Error(ErrorKind::Internal, "cannot read an in-memory raster");
}

} // namespace

void TileImage(const AreaRaster& raster, int bands, const std::optional<double>& nodata,
               const ByteScale& scale, GByte* out)
{
    GDALDataset& ds = *raster.ds;
    const int width = ds.GetRasterXSize(), height = ds.GetRasterYSize();
    const size_t nb = static_cast<size_t>(bands), step = nb + 1;
    const size_t pixels = static_cast<size_t>(width) * height;
    const bool covered = !raster.coverage.empty();
    const bool stretch = !scale.lo.empty();
    if (!stretch && ds.GetRasterBand(1)->GetRasterDataType() == GDT_Byte)
    {
        // Bytes as they are: GDAL interleaves them into place, alpha follows.
        Read(ds, 0, height, GDT_Byte, bands, out, static_cast<GSpacing>(step),
             static_cast<GSpacing>(width) * static_cast<GSpacing>(step), 1);
        const bool byteNodata = nodata && *nodata >= 0 && *nodata <= 255 &&
                                *nodata == std::floor(*nodata);
        const GByte nd = byteNodata ? static_cast<GByte>(*nodata) : 0;
        for (size_t i = 0; i < pixels; ++i)
        {
            GByte* p = out + i * step;
            bool valid;
            if (covered)
                valid = raster.coverage[i] != 0;
            else if (!byteNodata)
                valid = true; // no byte equals it
            else
            {
                valid = false;
                for (size_t k = 0; k < nb; ++k)
                    valid = valid || p[k] != nd;
            }
            p[nb] = valid ? 255 : 0;
        }
        return;
    }
    // Otherwise as double, a strip of rows at a time (a whole RGB tile as double is 1.5 MB).
    std::vector<double> ratio(nb, 0.0);
    for (size_t k = 0; k < nb && stretch; ++k)
        ratio[k] = scale.hi[k] > scale.lo[k] ? 255.0 / (scale.hi[k] - scale.lo[k]) : 0.0;
    constexpr int kStrip = 16;
    const size_t stripPixels = static_cast<size_t>(width) * kStrip;
    std::vector<double> values(stripPixels * nb);
    for (int y0 = 0; y0 < height; y0 += kStrip)
    {
        const int rows = std::min(kStrip, height - y0);
        Read(ds, y0, rows, GDT_Float64, bands, values.data(), 8,
             static_cast<GSpacing>(width) * 8, static_cast<GSpacing>(stripPixels) * 8);
        const size_t first = static_cast<size_t>(y0) * width;
        const size_t count = static_cast<size_t>(rows) * width;
        for (size_t j = 0; j < count; ++j)
        {
            const size_t i = first + j;
            GByte* p = out + i * step;
            bool valid = covered && raster.coverage[i] != 0;
            for (size_t k = 0; k < nb; ++k)
            {
                const double v = values[k * stripPixels + j];
                if (!covered && !std::isnan(v) && !(nodata && v == *nodata))
                    valid = true;
                // As gdal_translate -ot Byte -scale lo hi 0 255 computes it: a ratio and an
                // offset in double, the result kept in float (its working type), rounded half
                // up.
                float f = static_cast<float>(v);
                if (stretch)
                    f = static_cast<float>(-scale.lo[k] * ratio[k] + v * ratio[k]);
                p[k] = std::isnan(f) || f <= 0.0f ? 0
                       : f >= 255.0f              ? 255
                                                  : static_cast<GByte>(f + 0.5f);
            }
            p[nb] = valid ? 255 : 0;
        }
    }
}

int DropOpaqueAlpha(GByte* image, size_t pixels, int bands)
{
    const size_t step = static_cast<size_t>(bands) + 1;
    for (size_t i = 0; i < pixels; ++i)
        if (image[i * step + static_cast<size_t>(bands)] != 255)
            return bands + 1;
    for (size_t i = 0; i < pixels; ++i)
        for (size_t k = 0; k < static_cast<size_t>(bands); ++k)
            image[i * bands + k] = image[i * step + k];
    return bands;
}

} // namespace pgmosaic
