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

#include "gdal_mem.h"
#include "inspect/expression.h"
#include "inspect/inspect.h"
#include "path_policy.h"
#include "pg_module.h"
#include "pg_util.h"
#include "inspect/themes.h"

extern "C"
{
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/jsonb.h"
}

namespace
{

Datum JsonbFromText(const std::string& json)
{
    return pgmosaic::PgCall(
        [&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
}

// Opens a raster the backend may read (file access settings, allowed roots and drivers, and
// sidecars within the roots).
GDALDatasetUniquePtr OpenChecked(const std::string& path)
{
    const auto policy = pgmosaic::CurrentFileAccessPolicy();
    pgmosaic::EnsureGdal();
    return pgmosaic::OpenAllowed(policy, path);
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
    // Clamped in double precision before the conversion: an area of +-1e300 covers the raster.
    const auto pixel = [](double v, int size) {
        return std::isnan(v) ? 0 : static_cast<int>(std::clamp(v, 0.0, static_cast<double>(size)));
    };
    const int x0 = pixel(std::floor(*std::min_element(xs, xs + 4)), ds->GetRasterXSize());
    const int y0 = pixel(std::floor(*std::min_element(ys, ys + 4)), ds->GetRasterYSize());
    const int x1 = pixel(std::ceil(*std::max_element(xs, xs + 4)), ds->GetRasterXSize());
    const int y1 = pixel(std::ceil(*std::max_element(ys, ys + 4)), ds->GetRasterYSize());
    std::int64_t count = 0;
    double minv = 0, maxv = 0, sum = 0;
    if (x1 > x0 && y1 > y0)
    {
        const int w = x1 - x0, h = y1 - y0;
        // The area clipped to the window first: GDAL's rasterizer saturates on coordinates
        // far outside the raster (an area of +-1e300 burnt nothing).
        {
            OGRLinearRing ring;
            const double px[5] = {0, 1, 1, 0, 0}, py[5] = {0, 0, 1, 1, 0};
            for (int k = 0; k < 5; ++k)
            {
                const double c = x0 + px[k] * w, r = y0 + py[k] * h;
                ring.addPoint(gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]);
            }
            OGRPolygon window;
            window.addRing(&ring);
            std::unique_ptr<OGRGeometry> clipped(geom->Intersection(&window));
            if (!clipped)
                throw Error(ErrorKind::InvalidParameter, "invalid area geometry");
            geom = std::move(clipped);
        }
        const size_t n = static_cast<size_t>(w) * h;
        // Burn the area into a mask of the window: pixel centres inside it.
        GDALDatasetUniquePtr mask = pgmosaic::MemRaster(w, h, 1, GDT_Byte);
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
        // GDAL's reads stop on a pending interrupt (a cancel, statement_timeout).
        const pgmosaic::Cancel cancel = pgmosaic::BackendCancel();
        GDALRasterIOExtraArg extra;
        INIT_RASTERIO_EXTRA_ARG(extra);
        extra.pfnProgress = pgmosaic::Cancel::Progress;
        extra.pProgressData = const_cast<pgmosaic::Cancel*>(&cancel);
        if (mask->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, inside.data(), w, h, GDT_Byte, 0,
                                             0, nullptr) != CE_None ||
            band->RasterIO(GF_Read, x0, y0, w, h, values.data(), w, h, GDT_Float64, 0, 0, &extra) !=
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

// The two reads, as jsonb, of a file the backend may open.
Datum ThemeOfFile(const std::string& path, const std::string& expression)
{
    const pgmosaic::Expression e = pgmosaic::Expression::Parse(expression);
    GDALDatasetUniquePtr ds = OpenChecked(path);
    const auto result = pgmosaic::ComputeThemePolygons(ds.get(), e);
    return JsonbFromText(
        pgmosaic::ThemeResultToJson(result).Format(CPLJSONObject::PrettyFormat::Plain));
}

Datum ZonalStatisticsOfFile(const std::string& path, int band, const std::string& wkt)
{
    GDALDatasetUniquePtr ds = OpenChecked(path);
    return JsonbFromText(ZonalStatistics(ds.get(), band, wkt));
}

// The path GDAL opens for an item, looked up as the caller under row-level security: the item
// must be in a mosaic the caller may read (or, with forWrite, write). Operators are qualified:
// the query is parsed with the caller's search_path.
std::string ItemPathForCaller(int32 mosaicId, int64 itemId, bool forWrite)
{
    const char* sql =
        forWrite ? "SELECT pgmosaic.resolve(i.path) FROM pgmosaic.item i "
                   "WHERE i.mosaic_id OPERATOR(pg_catalog.=) $1 AND i.id OPERATOR(pg_catalog.=) $2 "
                   "AND pgmosaic.can_write(i.mosaic_id)"
                 : "SELECT pgmosaic.resolve(i.path) FROM pgmosaic.item i "
                   "WHERE i.mosaic_id OPERATOR(pg_catalog.=) $1 AND i.id OPERATOR(pg_catalog.=) $2";
    char* found = pgmosaic::PgCall([&]() -> char* {
        Oid types[2] = {INT4OID, INT8OID};
        Datum values[2] = {Int32GetDatum(mosaicId), Int64GetDatum(itemId)};
        char* value = nullptr;
        SPI_connect();
        if (SPI_execute_with_args(sql, 2, types, values, nullptr, !forWrite, 1) == SPI_OK_SELECT &&
            SPI_processed == 1)
        {
            char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
            if (v != nullptr)
            {
                value = static_cast<char*>(SPI_palloc(strlen(v) + 1)); // the caller's context
                strcpy(value, v);
            }
        }
        SPI_finish();
        return value;
    });
    if (found == nullptr)
        pgmosaic::ThrowSqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                                "item " + std::to_string(itemId) + " of mosaic " +
                                    std::to_string(mosaicId) + " does not exist or is not " +
                                    (forWrite ? "writable" : "readable") + " by the current role");
    return found;
}

} // namespace

// check_expression(expression text) -> integer: the highest band it uses; 22023 naming the
// position of a syntax error otherwise.
PGMOSAIC_SQL_FUNCTION(pgmosaic_check_expression)
{
    const std::string text = pgmosaic::TextArg(fcinfo, 0);
    return Int32GetDatum(pgmosaic::Expression::Parse(text).MaxBand());
}

// compute_theme(path text, expression text) -> jsonb: the polygons where the rule holds,
// [{wkt, area, pixels}] in the raster's own coordinates.
PGMOSAIC_SQL_FUNCTION(pgmosaic_compute_theme)
{
    return ThemeOfFile(pgmosaic::TextArg(fcinfo, 0), pgmosaic::TextArg(fcinfo, 1));
}

// zonal_stats(path text, band integer, area_wkt text) -> jsonb {count, min, max, sum} of the
// valid pixels whose centres lie in the area (in the raster's SRS).
PGMOSAIC_SQL_FUNCTION(pgmosaic_zonal_stats)
{
    return ZonalStatisticsOfFile(pgmosaic::TextArg(fcinfo, 0), PG_GETARG_INT32(1),
                                 pgmosaic::TextArg(fcinfo, 2));
}

// _item_zonal_stats(mosaic_id, item_id, band, area_wkt) -> jsonb: zonal_stats of an item
// the caller may read.
PGMOSAIC_SQL_FUNCTION(pgmosaic_item_zonal_stats)
{
    return ZonalStatisticsOfFile(ItemPathForCaller(PG_GETARG_INT32(0), PG_GETARG_INT64(1), false),
                                 PG_GETARG_INT32(2), pgmosaic::TextArg(fcinfo, 3));
}

// _item_theme(mosaic_id, item_id, expression) -> jsonb: compute_theme of an item the caller
// may write.
PGMOSAIC_SQL_FUNCTION(pgmosaic_item_theme)
{
    return ThemeOfFile(ItemPathForCaller(PG_GETARG_INT32(0), PG_GETARG_INT64(1), true),
                       pgmosaic::TextArg(fcinfo, 2));
}
