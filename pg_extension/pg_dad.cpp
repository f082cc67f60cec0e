// The backend functions of the abstractions (DAD/DRAD): checking and applying theme rules, and
// pixel statistics of one file inside a polygon for summary(). Thin wrappers: the work is in
// common/inspect (themes.cpp, zonal_stats.cpp).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "gdal_alg.h"
#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "inspect/expression.h"
#include "inspect/inspect.h"
#include "path_policy.h"
#include "pg_module.h"
#include "pg_util.h"
#include "inspect/themes.h"
#include "inspect/zonal_stats.h"

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
    const pgmosaic::ZoneSummary z =
        pgmosaic::ZonalStatistics(ds.get(), band, wkt, pgmosaic::BackendCancel());
    CPLJSONObject o;
    o.Add("count", static_cast<GInt64>(z.count));
    o.Add("min", z.min);
    o.Add("max", z.max);
    o.Add("sum", z.sum);
    return JsonbFromText(o.Format(CPLJSONObject::PrettyFormat::Plain));
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
