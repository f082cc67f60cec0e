#include "catalog_sql.h"

#include <algorithm>
#include <climits>
#include <limits>
#include <cmath>
#include <cstdlib>

#include "cpl_json.h"
#include "cpl_string.h"
#include "ogr_spatialref.h"

#include "conninfo.h"
#include "error.h"
#include "types/tilekey.h"

namespace pgmosaic
{
namespace
{

// Parses a float8[] in text form: {1,2.5,-3}.
std::vector<double> ParseDoubleArray(const std::string& text)
{
    std::vector<double> out;
    const char* p = text.c_str();
    if (*p == '{')
        ++p;
    while (*p && *p != '}')
    {
        char* end = nullptr;
        out.push_back(std::strtod(p, &end));
        if (end == p)
            break;
        p = end;
        if (*p == ',')
            ++p;
    }
    return out;
}

std::string Num(double v)
{
    return CPLSPrintf("%.17g", v);
}

// The columns of what registration recorded of a file: size, mtime in whole seconds, and the
// band types (per band, the JSON array of their names, or "<count>*<type>" without per-band
// types), from the item's row `i` (of pgmosaic.item, or of _read_items()). One JSON path query
// names the types: a subquery aggregating the bands cost 17,000 instructions more per item.
std::string RecordedColumns(bool itemCatalog, const std::string& i = "i")
{
    return i + ".file_size, pg_catalog.floor(pg_catalog.date_part('epoch', " + i +
           ".file_mtime))::bigint, " +
           (itemCatalog ? "coalesce(pg_catalog.jsonb_path_query_array(CASE WHEN "
                          "pg_catalog.jsonb_typeof(" + i + ".bands) OPERATOR(pg_catalog.=) "
                          "'array' THEN " + i + ".bands END, '$[*].data_type')::pg_catalog.text, "
                          "pg_catalog.concat(" + i + ".band_count, '*', " + i + ".data_type))"
                        : "pg_catalog.concat(" + i + ".band_count, '*', " + i + ".data_type)");
}

// `count` comma-separated finite numbers of a sort= value, or Error naming it.
std::vector<double> SortNumbers(const char* key, const std::string& value, const std::string& list,
                                size_t count)
{
    const CPLStringList parts(CSLTokenizeString2(list.c_str(), ",", 0));
    std::vector<double> out;
    for (int i = 0; i < parts.Count(); ++i)
    {
        char* end = nullptr;
        const double v = std::strtod(parts[i], &end);
        if (end == parts[i] || *end != '\0' || !std::isfinite(v))
            break;
        out.push_back(v);
    }
    if (out.size() != count || static_cast<size_t>(parts.Count()) != count)
        throw Error(ErrorKind::InvalidParameter,
                    std::string("invalid ") + key + " \"" + value + "\": expected " +
                        (count == 1 ? std::string("a number")
                                    : std::to_string(count) + " comma-separated numbers"));
    return out;
}

// sort=closest:<name>=<value>: the items whose numeric column or attribute `name` is nearest
// the value on top (ArcGIS's "by attribute"; closest to nadir: closest:view:off_nadir=0), those
// without it last. An attribute that is not a number counts as missing.
std::string ClosestValueSort(const std::string& sort)
{
    const size_t eq = sort.find('=');
    const std::string name = sort.substr(8, eq - 8);
    const double value = SortNumbers("sort", sort, sort.substr(eq + 1), 1)[0];
    const bool identifier =
        !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-") ==
            std::string::npos;
    if (!identifier)
        throw Error(ErrorKind::InvalidParameter,
                    "invalid sort \"" + sort +
                        "\": expected closest:<column or attribute>=<number>, the name made of "
                        "letters, digits, _ : . and -");
    static const char* const kColumns[] = {"priority", "cloud_cover", "min_pixel_size",
                                           "max_pixel_size"};
    std::string column;
    for (const char* c : kColumns)
        if (name == c)
            column = std::string("item.") + c;
    if (column.empty())
        column = "(CASE WHEN (item.attributes ->> '" + name +
                 "') ~ '^\\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?\\s*$' THEN "
                 "(item.attributes ->> '" + name + "')::double precision END)";
    return "abs(" + column + " - " + Num(value) + ") ASC NULLS LAST";
}

} // namespace

ItemQuery ParseItemQuery(const OptionLookup& option)
{
    // A date or time as an SQL literal: only the characters of ISO 8601.
    auto instant = [](const std::string& key, const std::string& v) {
        if (v.find_first_not_of("0123456789-:.TZ+ ") != std::string::npos)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid " + key + " \"" + v + "\": expected ISO 8601 dates");
        return v;
    };
    ItemQuery q;
    const std::string where = option(kKeyWhere);
    if (!where.empty())
        q.filter = where;
    const std::string time = option(kKeyTime);
    if (!time.empty())
    {
        const size_t slash = time.find('/');
        if (slash == std::string::npos)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid time \"" + time +
                            "\": expected <from>/<to> (either may be "
                            "empty); to order by closeness to a date use sort=closest:<date>");
        q.timeRange = "[" + instant("time", time.substr(0, slash)) + "," +
                      instant("time", time.substr(slash + 1)) + "]";
    }
    const std::string sort = option(kKeySort);
    if (sort == "newest")
        q.sort = "lower(item.acquired) DESC NULLS LAST";
    else if (sort == "oldest")
        q.sort = "lower(item.acquired) ASC NULLS LAST";
    else if (sort == "center")
        q.sortByCenter = true;
    else if (sort == "northwest")
        // ArcGIS's north-west: the items whose centres are nearest the mosaic's north-west
        // corner on top.
        q.sort = "(SELECT ST_Distance(ST_Centroid(item.footprint), ST_SetSRID(ST_MakePoint("
                 "m.min_x, m.max_y), m.srid)) FROM pgmosaic.mosaic m WHERE m.id "
                 "OPERATOR(pg_catalog.=) item.mosaic_id) ASC";
    else if (sort.rfind("viewpoint:", 0) == 0)
    {
        // Closest to a viewpoint (x,y in the mosaic's SRS): the nearest item centres on top.
        const std::vector<double> xy = SortNumbers("sort", sort, sort.substr(10), 2);
        q.sort = "ST_Distance(ST_Centroid(item.footprint), ST_SetSRID(ST_MakePoint(" +
                 Num(xy[0]) + ", " + Num(xy[1]) + "), ST_SRID(item.footprint))) ASC";
    }
    else if (sort.rfind("closest:", 0) == 0 && sort.find('=') != std::string::npos)
        q.sort = ClosestValueSort(sort);
    else if (sort.rfind("closest:", 0) == 0)
        q.sort = "abs(extract(epoch FROM lower(item.acquired) - '" +
                 instant("sort", sort.substr(8)) + "'::timestamptz)) ASC NULLS LAST";
    else if (!sort.empty())
        q.sort = sort;
    const std::string asof = option(kKeyAsof);
    if (!asof.empty())
        q.asof = instant("asof", asof);
    const std::string ids = option(kKeyIds);
    if (!ids.empty())
    {
        if (ids.find_first_not_of("0123456789,") != std::string::npos)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid ids \"" + ids + "\": expected item ids such as 3,17,42");
        q.ids = "{" + ids + "}";
    }
    return q;
}

std::string MosaicSql(const std::string& postgis, bool v02, bool v03, bool asof)
{
    v02 = v02 || v03;
    if (asof)
        return "SELECT m.id, m.srid, s.auth_name, s.auth_srid, s.srtext, m.res_x, m.res_y, "
               "coalesce(e.x[1], m.min_x), coalesce(e.x[2], m.min_y), coalesce(e.x[3], m.max_x), "
               "coalesce(e.x[4], m.max_y), m.band_count, m.data_type, m.nodata, "
               "pg_catalog.to_jsonb(m.band_descriptions)::text, "
               "pg_catalog.to_jsonb(m.color_interp)::text, m.default_method, "
               "m.band_sources::text, m.mask, pg_catalog.to_jsonb(m.virtual_bands)::text "
               "FROM pgmosaic.mosaic m LEFT JOIN " +
               postgis +
               ".spatial_ref_sys s ON s.srid OPERATOR(pg_catalog.=) m.srid CROSS JOIN LATERAL "
               "(SELECT pgmosaic._extent_asof(m.id, $2::timestamptz) AS x) e "
               "WHERE m.name OPERATOR(pg_catalog.=) $1::text";
    return "SELECT m.id, m.srid, s.auth_name, s.auth_srid, s.srtext, m.res_x, m.res_y, m.min_x, "
           "m.min_y, m.max_x, m.max_y, m.band_count, m.data_type, m.nodata" +
           std::string(v02 ? ", pg_catalog.to_jsonb(m.band_descriptions)::text, "
                             "pg_catalog.to_jsonb(m.color_interp)::text, m.default_method "
                           : "") +
           std::string(v03 ? ", m.band_sources::text, m.mask, "
                             "pg_catalog.to_jsonb(m.virtual_bands)::text "
                           : "") +
           " FROM pgmosaic.mosaic m LEFT JOIN " + postgis +
           ".spatial_ref_sys s ON s.srid OPERATOR(pg_catalog.=) m.srid "
           "WHERE m.name OPERATOR(pg_catalog.=) $1::text";
}

MosaicInfo ParseMosaicRow(const std::string& name, const RowReader& row, bool v02, bool v03)
{
    v02 = v02 || v03;
    auto text = [&](int col) { return row(col).value_or(""); };
    auto num = [&](int col) { return CPLAtof(text(col).c_str()); };
    MosaicInfo m;
    m.name = name;
    m.id = std::atoll(text(0).c_str());
    m.srid = std::atoi(text(1).c_str());
    if (!row(5) || !row(7))
        throw Error(ErrorKind::NotFound, "mosaic \"" + name + "\" has no items yet");
    OGRSpatialReference srs;
    if (row(2) && EQUAL(text(2).c_str(), "EPSG"))
        srs.importFromEPSG(std::atoi(text(3).c_str()));
    else if (row(4))
        srs.importFromWkt(text(4).c_str());
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    m.srsWkt = wkt ? wkt : "";
    CPLFree(wkt);
    const double resX = num(5), resY = num(6);
    const double minx = num(7), miny = num(8), maxx = num(9), maxy = num(10);
    m.gt = {minx, resX, 0, maxy, 0, -resY};
    // The grid's size in pixels, refused (not wrapped) when GDAL cannot represent it.
    auto pixels = [&](double extent, double res, const char* axis) {
        const double n = std::round(extent / res);
        if (!(n >= 1 && n <= static_cast<double>(INT_MAX)))
            throw Error(ErrorKind::Catalog,
                        "mosaic \"" + name + "\" has an invalid grid: its " + axis + " (" +
                            CPLSPrintf("%.17g", extent) + " / " + CPLSPrintf("%.17g", res) +
                            " = " + CPLSPrintf("%.0f", n) +
                            " pixels) is not between 1 and 2147483647 pixels");
        return static_cast<int>(n);
    };
    m.width = pixels(maxx - minx, resX, "width");
    m.height = pixels(maxy - miny, resY, "height");
    m.bandCount = std::atoi(text(11).c_str());
    m.dataType = GDALGetDataTypeByName(text(12).c_str());
    if (row(13))
        m.nodata = num(13);
    if (v02)
    {
        for (auto [column, target] :
             {std::pair<int, std::vector<std::string>*>{14, &m.bandDescriptions},
              {15, &m.colorInterp}})
        {
            CPLJSONDocument doc;
            const auto value = row(column);
            if (value && doc.LoadMemory(*value))
            {
                const CPLJSONArray a = doc.GetRoot().ToArray();
                for (int k = 0; k < a.Size(); ++k)
                    target->push_back(a[k].ToString());
            }
        }
        m.defaultMethod = text(16);
    }
    if (v03 && row(17))
    {
        CPLJSONDocument doc;
        if (!doc.LoadMemory(*row(17)) || doc.GetRoot().GetType() != CPLJSONObject::Type::Array)
            throw Error(ErrorKind::Catalog,
                        "mosaic \"" + name + "\" has invalid band sources in the catalog");
        const CPLJSONArray a = doc.GetRoot().ToArray();
        for (int k = 0; k < a.Size(); ++k)
        {
            BandSource b;
            b.name = a[k].GetString("name");
            b.asset = a[k].GetString("asset");
            b.band = a[k].GetInteger("band", 1);
            m.bandSources.push_back(b);
        }
    }
    if (v03)
    {
        m.mask = text(18);
        CPLJSONDocument doc;
        if (row(19) && doc.LoadMemory(*row(19)))
        {
            const CPLJSONArray a = doc.GetRoot().ToArray();
            for (int k = 0; k < a.Size(); ++k)
                m.virtualBands.push_back(a[k].ToString());
        }
    }
    if (m.width <= 0 || m.height <= 0 || m.bandCount <= 0 || m.dataType == GDT_Unknown)
        throw Error(ErrorKind::Catalog, "mosaic \"" + name + "\" has an invalid grid");
    return m;
}

std::string FindItemsSql(const std::string& postgis, std::int64_t mosaicId, bool itemCatalog,
                         bool readItems, bool assets, bool asof, bool footprint)
{
    // asof: the versions valid then, of the items and of their assets.
    const std::string itemTable = asof ? "pgmosaic.item_version" : "pgmosaic.item";
    const std::string assetTable = asof ? "pgmosaic.asset_version" : "pgmosaic.asset";
    const std::string itemAsof = asof ? " AND i.valid OPERATOR(pg_catalog.@>) $11::timestamptz" : "";
    const std::string assetAsof =
        asof ? " AND a.valid OPERATOR(pg_catalog.@>) $11::timestamptz" : "";
    // An item made of several files lists them (one JSON array per asset: name, resolved path,
    // SRID, geotransform, size, file size and mtime, band types, the bands it takes), looked up
    // by the item's key like its record.
    const std::string id = std::to_string(mosaicId);
    const std::string assetColumn =
        !assets ? ", NULL::json"
        : ", (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.name, "
                 "pgmosaic._resolved_path(a.path, ar.prefix), a.srid, a.geotransform, a.width, "
                 "a.height, a.file_size, pg_catalog.floor(pg_catalog.date_part('epoch', "
                 "a.file_mtime))::bigint, (SELECT pg_catalog.string_agg(b.e "
                 "OPERATOR(pg_catalog.->>) 'data_type', ',' ORDER BY b.n) FROM "
                 "pg_catalog.jsonb_array_elements(a.band_info) WITH ORDINALITY b(e, n)), "
                 "a.bands) ORDER BY a.name) FROM " + assetTable + " a LEFT JOIN "
                 "pgmosaic.path_root ar ON ar.name OPERATOR(pg_catalog.=) "
                 "pgmosaic.pathref_root(a.path) WHERE a.mosaic_id OPERATOR(pg_catalog.=) " +
                     id + " AND a.item_id OPERATOR(pg_catalog.=) x.id" + assetAsof + ")";
    const std::string window =
        "($1::text, " + postgis +
        ".ST_MakeEnvelope($2::float8, $3::float8, $4::float8, $5::float8, $6::integer)" +
        (itemCatalog ? ", $7::text, $8::tstzrange, $9::text, $10::bigint[]" : "");
    const std::string footprintColumn =
        itemCatalog && footprint
            ? ", pg_catalog.encode(" + postgis + ".ST_AsBinary(x.footprint), 'hex')"
            : "";
    // What quality expressions may use of the item.
    const std::string qualityColumns = ", x.cloud_cover, pg_catalog.date_part('epoch', "
                                       "pg_catalog.lower(x.acquired)), x.priority";
    if (readItems)
        // items() is the one definition of which items show and in what order: _read_items()
        // is items() with each file's record, read in the same scan.
        return "SELECT x.id, x.resolved_path, x.srid, x.geotransform, x.width, x.height, " +
               RecordedColumns(true, "x") + assetColumn + ", x.max_pixel_size" +
               qualityColumns + footprintColumn + " FROM pgmosaic._read_items" + window +
               (asof ? ", $11::timestamptz)" : ", NULL)") +
               " WITH ORDINALITY x ORDER BY x.ordinality";
    // Before extension 0.3: each item's record is looked up by its key, one index probe per
    // item: OFFSET 0 keeps the planner from turning the lookup into a join, which it would
    // hash over every item of the table (items() is estimated at 1000 rows): 6.6 ms at 10,000
    // items instead of 0.3.
    return "SELECT x.id, x.resolved_path, x.srid, x.geotransform, x.width, x.height, "
           "r.*" + std::string(itemCatalog ? ", v.*" : "") + footprintColumn +
           " FROM pgmosaic.items" + window + (asof ? ", $11::timestamptz)" : ")") +
           " WITH ORDINALITY x CROSS JOIN LATERAL (SELECT " + RecordedColumns(itemCatalog) +
           assetColumn + (itemCatalog ? ", i.max_pixel_size" : "") + " FROM " + itemTable +
           " i WHERE i.mosaic_id OPERATOR(pg_catalog.=) " +
           id + " AND i.id OPERATOR(pg_catalog.=) x.id" + itemAsof + " OFFSET 0) r" +
           (itemCatalog ? " CROSS JOIN LATERAL (SELECT" + qualityColumns.substr(1) + ") v" : "") +
           " ORDER BY x.ordinality";
}

std::vector<std::optional<std::string>> FindItemsParams(const MosaicInfo& mosaic,
                                                        const ItemQuery& query,
                                                        const Envelope& env, bool itemCatalog)
{
    std::vector<std::optional<std::string>> params{mosaic.name,   Num(env.minx), Num(env.miny),
                                                   Num(env.maxx), Num(env.maxy),
                                                   std::to_string(mosaic.srid)};
    if (itemCatalog)
    {
        std::optional<std::string> sort = query.sort;
        if (query.sortByCenter)
            sort = CPLSPrintf("ST_Distance(ST_Centroid(item.footprint), "
                              "ST_SetSRID(ST_MakePoint(%.17g, %.17g), %d))",
                              (env.minx + env.maxx) / 2, (env.miny + env.maxy) / 2, mosaic.srid);
        params.insert(params.end(), {query.filter, query.timeRange, sort, query.ids});
        if (query.asof)
            params.push_back(query.asof);
    }
    return params;
}

std::string FindOverviewTilesSql(const std::string& postgis, bool windowKey)
{
    const std::string envelope = postgis + ".ST_MakeEnvelope($3::float8, $4::float8, $5::float8, "
                                           "$6::float8, $7::integer)";
    if (windowKey)
        // The level's tiles in the window from one index (the key's box is the footprint's);
        // the mosaic and level conditions exact but not indexable: a generic plan ANDing a 2D
        // window with the btree on (mosaic_id, overview_level) read every tile of every level
        // under the window, all of them for a read of the whole mosaic.
        return "SELECT i.id, pgmosaic.resolve(i.path), i.srid, i.geotransform, i.width, "
               "i.height, " +
               RecordedColumns(true) +
               " FROM pgmosaic.item i WHERE pgmosaic.window_key(i.mosaic_id, "
               "i.overview_level, i.footprint) OPERATOR(pgmosaic.&&&) "
               "pgmosaic.window_key($1::integer, $2::integer, " +
               envelope +
               ") AND i.mosaic_id OPERATOR(pg_catalog.+) 0 OPERATOR(pg_catalog.=) $1::integer "
               "AND i.category OPERATOR(pg_catalog.=) 'overview' AND i.overview_level "
               "OPERATOR(pg_catalog.+) 0 OPERATOR(pg_catalog.=) $2::integer AND i.status "
               "OPERATOR(pg_catalog.=) 'ok' ORDER BY i.id";
    return "SELECT i.id, pgmosaic.resolve(i.path), i.srid, i.geotransform, i.width, i.height, " +
           RecordedColumns(true) +
           " FROM pgmosaic.item i WHERE i.mosaic_id OPERATOR(pg_catalog.=) $1::integer AND "
           "i.category OPERATOR(pg_catalog.=) 'overview' AND i.overview_level "
           "OPERATOR(pg_catalog.=) $2::integer AND i.status OPERATOR(pg_catalog.=) 'ok' "
           "AND i.footprint OPERATOR(" +
           postgis + ".&&) " + postgis + ".ST_MakeEnvelope($3::float8, $4::float8, $5::float8, $6::float8, $7::integer) "
           "ORDER BY i.id";
}

std::vector<std::string> FindOverviewTilesParams(const MosaicInfo& mosaic, const Envelope& env,
                                                 int level)
{
    return {std::to_string(mosaic.id), std::to_string(level), Num(env.minx), Num(env.miny),
            Num(env.maxx),             Num(env.maxy),         std::to_string(mosaic.srid)};
}

namespace
{

// "Byte,UInt16,..." or ["Byte", "UInt16", ...] (a JSON array: no type name holds a quote,
// comma or bracket) per band, or "<count>*<type>" without per-band types.
std::vector<GDALDataType> ParseBandTypes(const std::string& types)
{
    std::vector<GDALDataType> out;
    const size_t star = types.find('*');
    if (star != std::string::npos)
    {
        out.assign(static_cast<size_t>(std::max(0, std::atoi(types.c_str()))),
                   GDALGetDataTypeByName(types.substr(star + 1).c_str()));
        return out;
    }
    const bool json = !types.empty() && types.front() == '[';
    std::string list = types;
    if (json)
    {
        list.erase(0, 1);
        if (!list.empty() && list.back() == ']')
            list.pop_back();
        if (list.find_first_not_of(' ') == std::string::npos)
            return out; // []
    }
    for (size_t start = 0; start <= list.size();)
    {
        const size_t comma = std::min(list.find(',', start), list.size());
        std::string name = list.substr(start, comma - start);
        if (json)
        {
            const size_t first = name.find_first_not_of(" \"");
            name = first == std::string::npos
                       ? std::string()
                       : name.substr(first, name.find_last_not_of(" \"") + 1 - first);
        }
        out.push_back(GDALGetDataTypeByName(name.c_str()));
        start = comma + 1;
    }
    return out;
}

// The assets column of FindItemsSql: one array per asset.
std::vector<ItemRef> ParseAssets(std::int64_t itemId, const std::string& json)
{
    CPLJSONDocument doc;
    if (!doc.LoadMemory(json) || doc.GetRoot().GetType() != CPLJSONObject::Type::Array)
        throw Error(ErrorKind::Catalog,
                    "item " + std::to_string(itemId) + " has invalid assets in the catalog");
    std::vector<ItemRef> assets;
    const CPLJSONArray all = doc.GetRoot().ToArray();
    for (int k = 0; k < all.Size(); ++k)
    {
        const CPLJSONArray a = all[k].ToArray();
        ItemRef f;
        f.id = itemId;
        f.asset = a[0].ToString();
        f.path = a[1].ToString();
        f.srid = a[2].ToInteger();
        const CPLJSONArray gt = a[3].ToArray();
        if (a.Size() < 10 || gt.Size() != 6)
            throw Error(ErrorKind::Catalog, "item " + std::to_string(itemId) + ", asset " +
                                                f.asset + " has an invalid record in the catalog");
        for (int i = 0; i < 6; ++i)
            f.gt[static_cast<size_t>(i)] = gt[i].ToDouble();
        f.width = a[4].ToInteger();
        f.height = a[5].ToInteger();
        if (a[6].GetType() != CPLJSONObject::Type::Null)
            f.fileSize = a[6].ToLong();
        if (a[7].GetType() != CPLJSONObject::Type::Null)
            f.mtime = a[7].ToLong();
        if (a[8].GetType() == CPLJSONObject::Type::String)
            f.bandTypes = ParseBandTypes(a[8].ToString());
        if (a[9].GetType() == CPLJSONObject::Type::Array)
        {
            const CPLJSONArray bands = a[9].ToArray();
            for (int i = 0; i < bands.Size(); ++i)
                f.assetBands.push_back(bands[i].ToInteger());
        }
        assets.push_back(std::move(f));
    }
    return assets;
}

} // namespace

ItemRef ParseItemRow(const RowReader& row, int columns)
{
    auto text = [&](int col) { return row(col).value_or(""); };
    ItemRef it;
    it.id = std::atoll(text(0).c_str());
    it.path = text(1);
    it.srid = std::atoi(text(2).c_str());
    const auto gt = ParseDoubleArray(text(3));
    if (gt.size() != 6)
        throw Error(ErrorKind::Catalog,
                    "item " + std::to_string(it.id) + " has an invalid geotransform in the catalog");
    std::copy(gt.begin(), gt.end(), it.gt.begin());
    it.width = std::atoi(text(4).c_str());
    it.height = std::atoi(text(5).c_str());
    if (columns < 9)
        return it;
    if (const auto size = row(6))
        it.fileSize = std::atoll(size->c_str());
    if (const auto mtime = row(7))
        it.mtime = std::atoll(mtime->c_str());
    if (const auto types = row(8))
        it.bandTypes = ParseBandTypes(*types);
    auto number = [&](int col) {
        const auto v = row(col);
        return v ? std::strtod(v->c_str(), nullptr) : std::numeric_limits<double>::quiet_NaN();
    };
    if (columns > 13)
    {
        it.maxPixelSize = number(10);
        it.cloudCover = number(11);
        it.acquired = number(12);
        it.priority = number(13);
    }
    if (columns > 9)
        if (const auto assets = row(9))
        {
            it.assets = ParseAssets(it.id, *assets);
            // Each file is checked against its own record; the item's (its first asset's
            // file, with the mosaic's bands) is never opened as such.
            it.fileSize.reset();
            it.mtime.reset();
            it.bandTypes.clear();
        }
    return it;
}

// Item by item, an index probe each (tile's key starts with mosaic_id, item_id): as one
// "item_id = ANY($2)", the backend's generic plan took only mosaic_id into the index and
// filtered every full-resolution tile of the mosaic (6,400 rows for a web tile at 400 items,
// a tenth of its time; every tile of a mosaic of millions).
namespace
{
// `assetCondition`: on the tile's asset ("" before 0.3, which has no such column);
// `assetColumn`: the asset's name as a last column.
std::string EmptyBlocksOf(const std::string& assetCondition, bool assetColumn)
{
    return "SELECT t.item_id, t.key::bigint, coalesce(t.byte_offset, 0), "
           "coalesce(t.byte_length, 0)" + std::string(assetColumn ? ", t.asset" : "") +
           " FROM (SELECT DISTINCT u.id FROM pg_catalog.unnest($2::bigint[]) u (id)) u "
           "CROSS JOIN LATERAL (SELECT t.item_id, t.key, t.byte_offset, t.byte_length" +
           std::string(assetColumn ? ", t.asset" : "") +
           " FROM pgmosaic.tile t WHERE t.mosaic_id OPERATOR(pg_catalog.=) $1::integer "
           "AND t.item_id OPERATOR(pg_catalog.=) u.id AND t.level OPERATOR(pg_catalog.=) 0 "
           "AND t.empty" + assetCondition + " OFFSET 0) t";
}
} // namespace

std::string EmptyBlocksSql(bool v03)
{
    return EmptyBlocksOf(v03 ? " AND t.asset OPERATOR(pg_catalog.=) ''" : "", false);
}

std::string AssetEmptyBlocksSql()
{
    return EmptyBlocksOf(" AND t.asset OPERATOR(pg_catalog.<>) ''", true);
}

std::string IdArray(const std::vector<std::int64_t>& ids)
{
    std::string array = "{";
    for (size_t i = 0; i < ids.size(); ++i)
        array += (i ? "," : "") + std::to_string(ids[i]);
    return array + "}";
}

EmptyBlock ParseEmptyBlock(const RowReader& row)
{
    const auto key = TileKey::FromBits(
        static_cast<std::uint64_t>(std::strtoll(row(1).value_or("0").c_str(), nullptr, 10)));
    EmptyBlock b;
    b.col = static_cast<int>(key.x());
    b.row = static_cast<int>(key.y());
    b.offset = std::strtoull(row(2).value_or("0").c_str(), nullptr, 10);
    b.length = std::strtoull(row(3).value_or("0").c_str(), nullptr, 10);
    return b;
}

std::string RemoteRecordsSql()
{
    return "SELECT item_id, etag, header FROM pgmosaic.item_remote WHERE mosaic_id "
           "OPERATOR(pg_catalog.=) $1::integer AND item_id OPERATOR(pg_catalog.=) "
           "ANY($2::bigint[]) AND header IS NOT NULL";
}

std::string RemoteRecordsExistSql()
{
    return "SELECT pg_catalog.to_regclass('pgmosaic.item_remote') IS NOT NULL";
}

RemoteRecord ParseRemoteRecord(const RowReader& row)
{
    RemoteRecord r;
    r.etag = row(1).value_or("");
    // bytea in its text form: \x then two hex digits a byte.
    const std::string hex = row(2).value_or("");
    if (hex.size() >= 2 && hex[0] == '\\' && hex[1] == 'x')
    {
        r.header.reserve((hex.size() - 2) / 2);
        auto digit = [](char c) {
            return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        };
        for (size_t i = 2; i + 1 < hex.size(); i += 2)
            r.header.push_back(static_cast<char>(digit(hex[i]) * 16 + digit(hex[i + 1])));
    }
    return r;
}

std::string RootOptionsSql()
{
    return "SELECT r.name, r.prefix::text, o.key, o.value FROM pgmosaic.path_root_option o "
           "JOIN pgmosaic.path_root r ON r.name OPERATOR(pg_catalog.=) o.root ORDER BY 1, 3";
}

std::string RootOptionsExistSql()
{
    return "SELECT pg_catalog.to_regclass('pgmosaic.path_root_option') IS NOT NULL";
}

std::string RecordedTilesSql(const std::string& postgis)
{
    std::string sql = "SELECT t.item_id, " + postgis + ".ST_XMin(t.bounds), " + postgis +
                      ".ST_YMin(t.bounds), " + postgis + ".ST_XMax(t.bounds), " + postgis +
                      ".ST_YMax(t.bounds)";
    for (int k = 0; k < 5; ++k)
        sql += ", (b.s OPERATOR(pg_catalog.->>) " + std::to_string(k) + ")::float8";
    return sql +
           " FROM pgmosaic.tile t CROSS JOIN LATERAL (SELECT t.stats OPERATOR(pg_catalog.->) "
           "($3::integer OPERATOR(pg_catalog.-) 1) AS s) b WHERE t.mosaic_id "
           "OPERATOR(pg_catalog.=) $1::integer AND t.item_id OPERATOR(pg_catalog.=) "
           "ANY($2::bigint[]) AND t.level OPERATOR(pg_catalog.=) 0 AND b.s IS NOT NULL AND "
           "t.asset OPERATOR(pg_catalog.=) '' AND "
           "t.bounds OPERATOR(" +
           postgis + ".@) " + postgis +
           ".ST_MakeEnvelope($4::float8, $5::float8, $6::float8, $7::float8, $8::integer)";
}

std::vector<std::optional<std::string>> RecordedTilesParams(const MosaicInfo& mosaic,
                                                            const std::vector<std::int64_t>& ids,
                                                            const Envelope& env, int band)
{
    return {std::to_string(mosaic.id), IdArray(ids),  std::to_string(band),
            Num(env.minx),             Num(env.miny), Num(env.maxx),
            Num(env.maxy),             std::to_string(mosaic.srid)};
}

RecordedTile ParseRecordedTile(const RowReader& row)
{
    auto number = [&](int col) {
        const auto v = row(col);
        return v ? std::optional<double>(std::strtod(v->c_str(), nullptr)) : std::nullopt;
    };
    RecordedTile t;
    t.itemId = std::atoll(row(0).value_or("0").c_str());
    t.bounds = {number(1).value_or(0), number(2).value_or(0), number(3).value_or(0),
                number(4).value_or(0)};
    const auto min = number(5), max = number(6), sum = number(7), count = number(8);
    if (!min || !max || !sum || !count)
        throw Error(ErrorKind::Catalog, "a tile of item " + std::to_string(t.itemId) +
                                            " has statistics that are not [min, max, sum, "
                                            "count, sum of squares] in the catalog");
    t.min = *min;
    t.max = *max;
    t.sum = *sum;
    t.count = static_cast<std::int64_t>(*count);
    t.sumSq = number(9);
    return t;
}

std::string BuiltLevelsSql()
{
    return "SELECT DISTINCT overview_level FROM pgmosaic.item WHERE mosaic_id "
           "OPERATOR(pg_catalog.=) $1::integer AND category OPERATOR(pg_catalog.=) 'overview' AND "
           "status OPERATOR(pg_catalog.=) 'ok' ORDER BY 1";
}

std::string MergedStatisticsSql()
{
    // Exact merges of the items' statistics: min, max, the count-weighted mean and the pooled
    // (population) standard deviation. Percentiles do not merge: the mosaic's 2nd percentile
    // is somewhere between the smallest and the largest of the items' (when items do not
    // overlap), so that range is what is returned.
    return "SELECT b.n, pg_catalog.min(x.min), pg_catalog.max(x.max), "
           "pg_catalog.sum(x.mean * x.count) / pg_catalog.sum(x.count), "
           "pg_catalog.sqrt(greatest(0, pg_catalog.sum((x.stddev ^ 2 + x.mean ^ 2) * "
           "x.count) / pg_catalog.sum(x.count) - (pg_catalog.sum(x.mean * x.count) / "
           "pg_catalog.sum(x.count)) ^ 2)), "
           "pg_catalog.min(x.p2), pg_catalog.max(x.p2), pg_catalog.min(x.p98), "
           "pg_catalog.max(x.p98) "
           "FROM pgmosaic.item i, pg_catalog.jsonb_array_elements(i.statistics) WITH ORDINALITY "
           "b(e, n), pg_catalog.jsonb_to_record(b.e) AS x(count double precision, min double "
           "precision, max double precision, mean double precision, stddev double precision, "
           "p2 double precision, p98 double precision) "
           "WHERE i.mosaic_id OPERATOR(pg_catalog.=) $1::integer AND i.category OPERATOR(pg_catalog.=) "
           "'primary' AND x.count OPERATOR(pg_catalog.>) 0 "
           "GROUP BY b.n ORDER BY b.n";
}

} // namespace pgmosaic
