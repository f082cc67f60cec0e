#include "inspect/zonal_stats.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "gdal_alg.h"
#include "ogr_geometry.h"

#include "error.h"
#include "gdal_mem.h"

namespace pgmosaic
{

ZoneSummary ZonalStatistics(GDALDataset* ds, int bandNumber, const std::string& wkt,
                            const Cancel& cancel)
{
    if (bandNumber < 1 || bandNumber > ds->GetRasterCount())
        throw Error(ErrorKind::InvalidParameter, "band " + std::to_string(bandNumber) +
                                                     " does not exist in " + ds->GetDescription());
    OGRGeometry* raw = nullptr;
    if (OGRGeometryFactory::createFromWkt(wkt.c_str(), nullptr, &raw) != OGRERR_NONE || !raw)
        throw Error(ErrorKind::InvalidParameter, "invalid area geometry");
    std::unique_ptr<OGRGeometry> geom(raw);
    double gt[6], inv[6];
    if (ds->GetGeoTransform(gt) != CE_None || !GDALInvGeoTransform(gt, inv))
        throw Error(ErrorKind::Mismatch,
                    std::string(ds->GetDescription()) + " has no geotransform");
    // The pixel window around the area's envelope.
    OGREnvelope env;
    geom->getEnvelope(&env);
    double xs[4], ys[4];
    const double cx[4] = {env.MinX, env.MaxX, env.MinX, env.MaxX};
    const double cy[4] = {env.MinY, env.MinY, env.MaxY, env.MaxY};
    for (int k = 0; k < 4; ++k)
    {
        xs[k] = inv[0] + cx[k] * inv[1] + cy[k] * inv[2];
        ys[k] = inv[3] + cx[k] * inv[4] + cy[k] * inv[5];
    }
    // Clamped in double precision before the conversion: an area of +-1e300 covers the raster.
    const auto pixel = [](double v, int size) {
        return std::isnan(v) ? 0 : static_cast<int>(std::clamp(v, 0.0, static_cast<double>(size)));
    };
    const int x0 = pixel(std::floor(*std::min_element(xs, xs + 4)), ds->GetRasterXSize());
    const int y0 = pixel(std::floor(*std::min_element(ys, ys + 4)), ds->GetRasterYSize());
    const int x1 = pixel(std::ceil(*std::max_element(xs, xs + 4)), ds->GetRasterXSize());
    const int y1 = pixel(std::ceil(*std::max_element(ys, ys + 4)), ds->GetRasterYSize());
    ZoneSummary z;
    if (x1 > x0 && y1 > y0)
    {
        const int w = x1 - x0, h = y1 - y0;
        const size_t n = static_cast<size_t>(w) * h;
        const GeoTransform wgt{gt[0] + x0 * gt[1] + y0 * gt[2], gt[1], gt[2],
                               gt[3] + x0 * gt[4] + y0 * gt[5], gt[4], gt[5]};
        const std::vector<GByte> inside = InsideMask(wgt, w, h, *geom);
        std::vector<GByte> valid(n);
        std::vector<double> values(n);
        GDALRasterBand* band = ds->GetRasterBand(bandNumber);
        GdalErrorCollector errors;
        // GDAL's reads stop when the caller wants to stop.
        GDALRasterIOExtraArg extra;
        INIT_RASTERIO_EXTRA_ARG(extra);
        extra.pfnProgress = Cancel::Progress;
        extra.pProgressData = const_cast<Cancel*>(&cancel);
        if (band->RasterIO(GF_Read, x0, y0, w, h, values.data(), w, h, GDT_Float64, 0, 0, &extra) !=
                CE_None ||
            band->GetMaskBand()->RasterIO(GF_Read, x0, y0, w, h, valid.data(), w, h, GDT_Byte, 0, 0,
                                          &extra) != CE_None)
        {
            cancel.Check(std::string("reading ") + ds->GetDescription());
            throw Error(ErrorKind::Io, std::string("cannot read ") + ds->GetDescription() + ": " +
                                           errors.Message("read failed"));
        }
        for (size_t i = 0; i < n; ++i)
        {
            if (!inside[i] || !valid[i] || std::isnan(values[i]))
                continue;
            z.Add(values[i]);
        }
    }
    return z;
}

} // namespace pgmosaic
