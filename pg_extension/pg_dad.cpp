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
#include "pg_spi_catalog.h"
#include "read/area_reader.h"
#include "read/composite_reader.h"

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
    std::vector<std::string> names;
    if (PG_NARGS() > 1)
        names = pgmosaic::TextArrayArg(fcinfo, 1);
    return Int32GetDatum(pgmosaic::Expression::Parse(text, names).MaxBand());
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

namespace
{

// The theme of an item made of several files: its bands composed on the mosaic's grid (alone,
// no overview tiles; coarser when the item is larger than a theme reads) then polygonized, in
// the mosaic's SRS. The item is looked up as the caller, writable.
Datum ThemeOfComposedItem(int32 mosaicId, int64 itemId, const std::string& expression)
{
    const std::string postgis = pgmosaic::SpiPostgisSchema();
    const auto rows = pgmosaic::SpiRows(
        "SELECT m.name, " + postgis + ".ST_XMin(i.footprint), " + postgis +
            ".ST_YMin(i.footprint), " + postgis + ".ST_XMax(i.footprint), " + postgis +
            ".ST_YMax(i.footprint) FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id "
            "OPERATOR(pg_catalog.=) i.mosaic_id WHERE i.mosaic_id OPERATOR(pg_catalog.=) "
            "$1::integer AND i.id OPERATOR(pg_catalog.=) $2::bigint AND "
            "pgmosaic.can_write(i.mosaic_id)",
        {std::to_string(mosaicId), std::to_string(itemId)});
    if (rows.empty() || !rows[0][0] || !rows[0][1])
        pgmosaic::ThrowSqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                                "item " + std::to_string(itemId) + " of mosaic " +
                                    std::to_string(mosaicId) +
                                    " does not exist or is not writable by the current role");
    const auto num = [&](int c) { return std::atof(rows[0][static_cast<size_t>(c)]->c_str()); };
    const pgmosaic::Envelope env{num(1), num(2), num(3), num(4)};
    const auto policy = pgmosaic::CurrentFileAccessPolicy();
    if (!policy.enabled)
        throw pgmosaic::Error(pgmosaic::ErrorKind::Permission,
                              "computing the theme of an item needs backend file access: a "
                              "superuser must set pgmosaic.enable_file_access = on");
    pgmosaic::EnsureGdal();
    const pgmosaic::MosaicInfo mosaic = pgmosaic::SpiLoadMosaic(*rows[0][0]);
    const pgmosaic::Expression e =
        pgmosaic::Expression::Parse(expression, pgmosaic::BandNames(mosaic));
    if (e.MaxBand() > mosaic.bandCount)
        throw pgmosaic::Error(pgmosaic::ErrorKind::InvalidParameter,
                              "expression \"" + expression + "\" uses b" +
                                  std::to_string(e.MaxBand()) + " but mosaic \"" + mosaic.name +
                                  "\" has " + std::to_string(mosaic.bandCount) + " bands");
    pgmosaic::ItemQuery query;
    query.ids = "{" + std::to_string(itemId) + "}";
    pgmosaic::SpiItemCatalog catalog(mosaic, query);
    pgmosaic::ReadOptions read;
    read.numThreads = 1;
    read.cancel = pgmosaic::BackendCancel();
    read.sourcePolicy = std::make_shared<const pgmosaic::FileAccessPolicy>(policy);
    pgmosaic::CompositeReader reader(mosaic, catalog, read, 16);
    // At the mosaic's resolution, or the power of two above it that keeps the raster within
    // what a theme reads.
    const pgmosaic::ThemeOptions themeOptions;
    double res = mosaic.gt[1];
    while ((env.maxx - env.minx) / res * (env.maxy - env.miny) / res >
           static_cast<double>(themeOptions.maxPixels))
        res *= 2;
    OGRSpatialReference srs;
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    srs.importFromWkt(mosaic.srsWkt.c_str());
    const pgmosaic::OutputGrid grid = pgmosaic::AreaGrid(mosaic, env, srs, res);
    std::vector<int> bands;
    for (int b = 1; b <= mosaic.bandCount; ++b)
        bands.push_back(b);
    pgmosaic::AreaRaster raster =
        pgmosaic::ReadArea(reader, mosaic, {}, grid, bands, mosaic.dataType, {});
    if (!raster.coverage.empty())
    {
        // A mosaic without nodata: the item's coverage is the mask.
        raster.ds->CreateMaskBand(GMF_PER_DATASET);
        if (raster.ds->GetRasterBand(1)->GetMaskBand()->RasterIO(
                GF_Write, 0, 0, grid.width, grid.height, raster.coverage.data(), grid.width,
                grid.height, GDT_Byte, 0, 0, nullptr) != CE_None)
            throw pgmosaic::Error(pgmosaic::ErrorKind::Io, "cannot mask the composed item");
    }
    const auto result = pgmosaic::ComputeThemePolygons(raster.ds.get(), e, themeOptions);
    return JsonbFromText(
        pgmosaic::ThemeResultToJson(result).Format(CPLJSONObject::PrettyFormat::Plain));
}

bool ItemHasAssets(int32 mosaicId, int64 itemId)
{
    return !pgmosaic::SpiRows("SELECT 1 FROM pgmosaic.asset a WHERE a.mosaic_id "
                              "OPERATOR(pg_catalog.=) $1::integer AND a.item_id "
                              "OPERATOR(pg_catalog.=) $2::bigint LIMIT 1",
                              {std::to_string(mosaicId), std::to_string(itemId)})
                .empty();
}

} // namespace

// _item_theme(mosaic_id, item_id, expression) -> jsonb: compute_theme of an item the caller
// may write (in its file's coordinates), or, for an item made of several files, of its
// composed bands (in the mosaic's).
PGMOSAIC_SQL_FUNCTION(pgmosaic_item_theme)
{
    const int32 mosaicId = PG_GETARG_INT32(0);
    const int64 itemId = PG_GETARG_INT64(1);
    if (ItemHasAssets(mosaicId, itemId))
        return ThemeOfComposedItem(mosaicId, itemId, pgmosaic::TextArg(fcinfo, 2));
    return ThemeOfFile(ItemPathForCaller(mosaicId, itemId, true), pgmosaic::TextArg(fcinfo, 2));
}
