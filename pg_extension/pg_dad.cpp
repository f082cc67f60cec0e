// The backend functions of the abstractions (DAD/DRAD): checking and applying theme rules, and
// pixel statistics inside a polygon for summary(). Thin wrappers: the work is in common/.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "gdal_alg.h"
#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "expression.h"
#include "inspect.h"
#include "path_policy.h"
#include "pg_module.h"
#include "pg_util.h"
#include "themes.h"

extern "C"
{
#include "utils/jsonb.h"
}

namespace
{

Datum JsonbFromText(const std::string& json)
{
    return pgmosaic::PgCall(
        [&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
}

// Opens a raster the backend may read (file access settings, allowed roots and drivers).
GDALDatasetUniquePtr OpenChecked(const std::string& path)
{
    const auto policy = pgmosaic::CurrentFileAccessPolicy();
    const std::string checked = pgmosaic::CheckPathAllowed(policy, path);
    pgmosaic::EnsureGdal();
    CPLStringList allowed;
    for (const auto& d : policy.allowedDrivers)
        allowed.AddString(d.c_str());
    pgmosaic::GdalErrorCollector errors;
    GDALDatasetUniquePtr ds(GDALDataset::Open(checked.c_str(), GDAL_OF_RASTER,
                                              allowed.empty() ? nullptr : allowed.List()));
    if (!ds)
        throw pgmosaic::Error(pgmosaic::ErrorKind::Io,
                              "cannot open raster " + path + ": " + errors.Message("open failed"));
    return ds;
}

// count, min, max and sum of the valid pixels of `band` whose centres fall inside `wkt`
// (coordinates of the raster's own SRS).
std::string ZonalStatistics(GDALDataset* ds, int bandNumber, const std::string& wkt)
{
    using pgmosaic::Error;
    using pgmosaic::ErrorKind;
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
    const int x0 = std::max(0, static_cast<int>(std::floor(*std::min_element(xs, xs + 4))));
    const int y0 = std::max(0, static_cast<int>(std::floor(*std::min_element(ys, ys + 4))));
    const int x1 =
        std::min(ds->GetRasterXSize(), static_cast<int>(std::ceil(*std::max_element(xs, xs + 4))));
    const int y1 =
        std::min(ds->GetRasterYSize(), static_cast<int>(std::ceil(*std::max_element(ys, ys + 4))));
    std::int64_t count = 0;
    double minv = 0, maxv = 0, sum = 0;
    if (x1 > x0 && y1 > y0)
    {
        const int w = x1 - x0, h = y1 - y0;
        const size_t n = static_cast<size_t>(w) * h;
        // Burn the area into a mask of the window: pixel centres inside it.
        auto* memDriver = GetGDALDriverManager()->GetDriverByName("MEM");
        GDALDatasetUniquePtr mask(memDriver->Create("", w, h, 1, GDT_Byte, nullptr));
        double wgt[6] = {gt[0] + x0 * gt[1] + y0 * gt[2], gt[1], gt[2],
                         gt[3] + x0 * gt[4] + y0 * gt[5], gt[4], gt[5]};
        mask->SetGeoTransform(wgt);
        int bandList[1] = {1};
        double burn[1] = {1};
        OGRGeometryH geoms[1] = {OGRGeometry::ToHandle(geom.get())};
        pgmosaic::GdalErrorCollector errors;
        if (GDALRasterizeGeometries(mask.get(), 1, bandList, 1, geoms, nullptr, nullptr, burn,
                                    nullptr, nullptr, nullptr) != CE_None)
            throw Error(ErrorKind::Internal, "cannot rasterize the area: " + errors.Message());
        std::vector<GByte> inside(n), valid(n);
        std::vector<double> values(n);
        GDALRasterBand* band = ds->GetRasterBand(bandNumber);
        if (mask->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, inside.data(), w, h, GDT_Byte, 0,
                                             0, nullptr) != CE_None ||
            band->RasterIO(GF_Read, x0, y0, w, h, values.data(), w, h, GDT_Float64, 0, 0,
                           nullptr) != CE_None ||
            band->GetMaskBand()->RasterIO(GF_Read, x0, y0, w, h, valid.data(), w, h, GDT_Byte, 0, 0,
                                          nullptr) != CE_None)
            throw Error(ErrorKind::Io, std::string("cannot read ") + ds->GetDescription() + ": " +
                                           errors.Message("read failed"));
        for (size_t i = 0; i < n; ++i)
        {
            if (!inside[i] || !valid[i] || std::isnan(values[i]))
                continue;
            minv = count ? std::min(minv, values[i]) : values[i];
            maxv = count ? std::max(maxv, values[i]) : values[i];
            sum += values[i];
            ++count;
        }
    }
    CPLJSONObject o;
    o.Add("count", static_cast<GInt64>(count));
    o.Add("min", minv);
    o.Add("max", maxv);
    o.Add("sum", sum);
    return o.Format(CPLJSONObject::PrettyFormat::Plain);
}

} // namespace

extern "C"
{

    // check_expression(expression text) -> integer: the highest band it uses; 22023 naming the
    // position of a syntax error otherwise.
    PG_FUNCTION_INFO_V1(pgmosaic_check_expression);
    Datum pgmosaic_check_expression(PG_FUNCTION_ARGS)
    {
        return pgmosaic::CppBoundary([&]() -> Datum {
            const std::string text = pgmosaic::TextArg(fcinfo, 0);
            return Int32GetDatum(pgmosaic::Expression::Parse(text).MaxBand());
        });
    }

    // compute_theme(path text, expression text) -> jsonb: the polygons where the rule holds,
    // [{wkt, area, pixels}] in the raster's own coordinates.
    PG_FUNCTION_INFO_V1(pgmosaic_compute_theme);
    Datum pgmosaic_compute_theme(PG_FUNCTION_ARGS)
    {
        return pgmosaic::CppBoundary([&]() -> Datum {
            const std::string path = pgmosaic::TextArg(fcinfo, 0);
            const pgmosaic::Expression e =
                pgmosaic::Expression::Parse(pgmosaic::TextArg(fcinfo, 1));
            GDALDatasetUniquePtr ds = OpenChecked(path);
            const auto result = pgmosaic::ComputeThemePolygons(ds.get(), e);
            return JsonbFromText(
                pgmosaic::ThemeResultToJson(result).Format(CPLJSONObject::PrettyFormat::Plain));
        });
    }

    // zonal_stats(path text, band integer, area_wkt text) -> jsonb {count, min, max, sum} of the
    // valid pixels whose centres lie in the area (in the raster's SRS).
    PG_FUNCTION_INFO_V1(pgmosaic_zonal_stats);
    Datum pgmosaic_zonal_stats(PG_FUNCTION_ARGS)
    {
        return pgmosaic::CppBoundary([&]() -> Datum {
            const std::string path = pgmosaic::TextArg(fcinfo, 0);
            const int band = PG_GETARG_INT32(1);
            const std::string wkt = pgmosaic::TextArg(fcinfo, 2);
            GDALDatasetUniquePtr ds = OpenChecked(path);
            return JsonbFromText(ZonalStatistics(ds.get(), band, wkt));
        });
    }

} // extern "C"
