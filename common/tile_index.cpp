#include "tile_index.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "error.h"

namespace pgmosaic
{
namespace
{

std::uint64_t TiffItem(GDALRasterBand* band, const char* key, int col, int row)
{
    const char* v = band->GetMetadataItem(CPLSPrintf("%s_%d_%d", key, col, row), "TIFF");
    return v ? std::strtoull(v, nullptr, 10) : 0;
}

} // namespace

TileIndex ScanTiles(GDALDataset* ds)
{
    GDALRasterBand* first = ds->GetRasterBand(1);
    double gt[6];
    if (ds->GetGeoTransform(gt) != CE_None)
        throw Error(ErrorKind::Mismatch,
                    std::string("raster ") + ds->GetDescription() + " has no geotransform");
    const bool tiff = ds->GetDriver() && EQUAL(ds->GetDriver()->GetDescription(), "GTiff");
    TileIndex index;
    index.levels = 1 + first->GetOverviewCount();
    const int bands = ds->GetRasterCount();
    std::vector<double> data;
    std::vector<GByte> mask;
    // Emptiness of full-resolution blocks, to derive that of overview blocks.
    int fullBw = 0, fullBh = 0;
    first->GetBlockSize(&fullBw, &fullBh);
    const int fullCols = (ds->GetRasterXSize() + fullBw - 1) / fullBw;
    const int fullRows = (ds->GetRasterYSize() + fullBh - 1) / fullBh;
    std::vector<bool> fullEmpty(static_cast<size_t>(fullCols) * fullRows, false);
    // Quadtree zoom of full-resolution tiles: enough for its columns and rows, so that with
    // factor-2 overviews a tile's key holds the keys of the tiles under it.
    int fullZoom = 0;
    while ((1 << fullZoom) < std::max(fullCols, fullRows))
        ++fullZoom;

    for (int level = 0; level < index.levels; ++level)
    {
        GDALRasterBand* band = level == 0 ? first : first->GetOverview(level - 1);
        if (band == nullptr)
            continue;
        int bw = 0, bh = 0;
        band->GetBlockSize(&bw, &bh);
        const int w = band->GetXSize(), h = band->GetYSize();
        const double fx = static_cast<double>(ds->GetRasterXSize()) / w;
        const double fy = static_cast<double>(ds->GetRasterYSize()) / h;
        const int cols = (w + bw - 1) / bw, rows = (h + bh - 1) / bh;
        for (int row = 0; row < rows; ++row)
            for (int col = 0; col < cols; ++col)
            {
                TileRecord t;
                t.level = level;
                t.col = col;
                t.row = row;
                t.zoom = std::max(0, fullZoom - level);
                const int x0 = col * bw, y0 = row * bh;
                const int tw = std::min(bw, w - x0), th = std::min(bh, h - y0);
                // Corners in full-resolution pixels, through the full geotransform.
                double xs[4], ys[4];
                const double px[4] = {x0 * fx, (x0 + tw) * fx, x0 * fx, (x0 + tw) * fx};
                const double py[4] = {y0 * fy, y0 * fy, (y0 + th) * fy, (y0 + th) * fy};
                for (int k = 0; k < 4; ++k)
                {
                    xs[k] = gt[0] + px[k] * gt[1] + py[k] * gt[2];
                    ys[k] = gt[3] + px[k] * gt[4] + py[k] * gt[5];
                }
                t.minx = *std::min_element(xs, xs + 4);
                t.maxx = *std::max_element(xs, xs + 4);
                t.miny = *std::min_element(ys, ys + 4);
                t.maxy = *std::max_element(ys, ys + 4);
                if (tiff)
                {
                    t.offset = TiffItem(band, "BLOCK_OFFSET", col, row);
                    t.length = TiffItem(band, "BLOCK_SIZE", col, row);
                }
                const bool absent = tiff && t.offset == 0;
                if (level == 0)
                {
                    t.stats.resize(static_cast<size_t>(bands));
                    const size_t n = static_cast<size_t>(tw) * th;
                    data.resize(n);
                    mask.resize(n);
                    bool anyValid = false;
                    for (int b = 1; b <= bands && !absent; ++b)
                    {
                        GDALRasterBand* bb = ds->GetRasterBand(b);
                        if (bb->RasterIO(GF_Read, x0, y0, tw, th, data.data(), tw, th, GDT_Float64,
                                         0, 0, nullptr) != CE_None ||
                            bb->GetMaskBand()->RasterIO(GF_Read, x0, y0, tw, th, mask.data(), tw,
                                                        th, GDT_Byte, 0, 0, nullptr) != CE_None)
                            throw Error(ErrorKind::Io, std::string("cannot read ") +
                                                           ds->GetDescription() + ": " +
                                                           CPLGetLastErrorMsg());
                        TileBandStatistics& s = t.stats[static_cast<size_t>(b - 1)];
                        s.min = std::numeric_limits<double>::infinity();
                        s.max = -std::numeric_limits<double>::infinity();
                        for (size_t i = 0; i < n; ++i)
                        {
                            if (mask[i] == 0 || std::isnan(data[i]))
                                continue;
                            ++s.count;
                            s.sum += data[i];
                            s.min = std::min(s.min, data[i]);
                            s.max = std::max(s.max, data[i]);
                        }
                        if (s.count == 0)
                            s.min = s.max = 0;
                        anyValid = anyValid || s.count > 0;
                    }
                    t.empty = !anyValid;
                    fullEmpty[static_cast<size_t>(row) * fullCols + col] = t.empty;
                }
                else
                {
                    // Empty when every full-resolution block under it is.
                    const int c0 = static_cast<int>(x0 * fx) / fullBw;
                    const int c1 =
                        std::min(fullCols - 1, static_cast<int>((x0 + tw) * fx - 1) / fullBw);
                    const int r0 = static_cast<int>(y0 * fy) / fullBh;
                    const int r1 =
                        std::min(fullRows - 1, static_cast<int>((y0 + th) * fy - 1) / fullBh);
                    bool allEmpty = true;
                    for (int r = r0; r <= r1 && allEmpty; ++r)
                        for (int c = c0; c <= c1 && allEmpty; ++c)
                            allEmpty = fullEmpty[static_cast<size_t>(r) * fullCols + c];
                    t.empty = absent || allEmpty;
                }
                index.tiles.push_back(std::move(t));
            }
    }
    return index;
}

} // namespace pgmosaic
