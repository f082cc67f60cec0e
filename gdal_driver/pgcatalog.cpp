// The libpq side of the catalog: connection, mosaic row, window lookups.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "cpl_json.h"

#include "error.h"
#include "types/tilekey.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// Parses a float8[] in text form: {1,2.5,-3}.
std::vector<double> ParseDoubleArray(const char* text)
{
    std::vector<double> out;
    const char* p = text;
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

} // namespace

CatalogCapabilities CatalogCapabilities::ForExtensionVersion(const std::string& version)
{
    const bool v02 = version != "0.1";
    CatalogCapabilities caps;
    caps.mosaicDefaults = v02;
    caps.itemCatalog = v02;
    caps.overviews = v02;
    caps.itemStatistics = v02;
    caps.themes = v02;
    return caps;
}

pgmosaic::MosaicInfo LoadMosaic(PgConnection& conn, const std::string& name,
                                const std::string& postgis, bool v02)
{
    auto res = conn.Exec(
        ("SELECT m.id, m.srid, s.auth_name, s.auth_srid, s.srtext, m.res_x, m.res_y, m.min_x, "
         "m.min_y, m.max_x, m.max_y, m.band_count, m.data_type, m.nodata" +
         std::string(v02 ? ", to_jsonb(m.band_descriptions)::text, "
                           "to_jsonb(m.color_interp)::text, m.default_method "
                         : "") +
         " "
         "FROM pgmosaic.mosaic m LEFT JOIN " +
         postgis +
         ".spatial_ref_sys s ON s.srid = m.srid "
         "WHERE m.name = $1")
            .c_str(),
        {name});
    if (PQntuples(res.get()) == 0)
        throw Error(ErrorKind::NotFound, "unknown mosaic \"" + name + "\"");
    PGresult* r = res.get();
    pgmosaic::MosaicInfo m;
    m.name = name;
    m.id = std::atoll(PQgetvalue(r, 0, 0));
    m.srid = std::atoi(PQgetvalue(r, 0, 1));
    if (PQgetisnull(r, 0, 5) || PQgetisnull(r, 0, 7))
        throw Error(ErrorKind::NotFound, "mosaic \"" + name + "\" has no items yet");
    OGRSpatialReference srs;
    if (!PQgetisnull(r, 0, 2) && EQUAL(PQgetvalue(r, 0, 2), "EPSG"))
        srs.importFromEPSG(std::atoi(PQgetvalue(r, 0, 3)));
    else if (!PQgetisnull(r, 0, 4))
        srs.importFromWkt(PQgetvalue(r, 0, 4));
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    m.srsWkt = wkt ? wkt : "";
    CPLFree(wkt);
    const double resX = std::atof(PQgetvalue(r, 0, 5)), resY = std::atof(PQgetvalue(r, 0, 6));
    const double minx = std::atof(PQgetvalue(r, 0, 7)), miny = std::atof(PQgetvalue(r, 0, 8));
    const double maxx = std::atof(PQgetvalue(r, 0, 9)), maxy = std::atof(PQgetvalue(r, 0, 10));
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
    m.bandCount = std::atoi(PQgetvalue(r, 0, 11));
    m.dataType = GDALGetDataTypeByName(PQgetvalue(r, 0, 12));
    if (!PQgetisnull(r, 0, 13))
        m.nodata = CPLAtof(PQgetvalue(r, 0, 13));
    if (v02)
    {
        for (auto [column, target] :
             {std::pair<int, std::vector<std::string>*>{14, &m.bandDescriptions},
              {15, &m.colorInterp}})
        {
            CPLJSONDocument doc;
            if (!PQgetisnull(r, 0, column) && doc.LoadMemory(PQgetvalue(r, 0, column)))
            {
                const CPLJSONArray a = doc.GetRoot().ToArray();
                for (int k = 0; k < a.Size(); ++k)
                    target->push_back(a[k].ToString());
            }
        }
        m.defaultMethod = PQgetisnull(r, 0, 16) ? "" : PQgetvalue(r, 0, 16);
    }
    if (m.width <= 0 || m.height <= 0 || m.bandCount <= 0 || m.dataType == GDT_Unknown)
        throw Error(ErrorKind::Catalog, "mosaic \"" + name + "\" has an invalid grid");
    return m;
}

PgItemCatalog::PgItemCatalog(PgConnection& conn, const pgmosaic::MosaicInfo& mosaic,
                             const std::string& postgis, bool overviews, const ItemQuery& query)
    : m_oConn(conn), m_oMosaic(mosaic), m_bOverviews(overviews), m_oQuery(query)
{
    if (query.Any() && !overviews)
        throw Error(ErrorKind::InvalidParameter,
                    "where=, time=, sort= and ids= need pgmosaic 0.2 or later "
                    "(ALTER EXTENSION pgmosaic UPDATE)");
    // items() is the one definition of which items show and in what order.
    // items() in its order, with what registration recorded of each file (size, mtime, band
    // types: a reader checks the file is still the one registered before using its layout).
    // Function names qualified: the query runs with the connecting role's search_path.
    const std::string recordedColumns =
        "i.file_size, pg_catalog.floor(pg_catalog.date_part('epoch', i.file_mtime))::bigint, " +
        std::string(overviews
                        ? "coalesce((SELECT pg_catalog.string_agg(b.e ->> 'data_type', ',' "
                          "ORDER BY b.n) FROM pg_catalog.jsonb_array_elements(CASE "
                          "pg_catalog.jsonb_typeof(i.bands) WHEN 'array' THEN i.bands END) "
                          "WITH ORDINALITY b(e, n)), pg_catalog.concat(i.band_count, '*', "
                          "i.data_type))"
                        : "pg_catalog.concat(i.band_count, '*', i.data_type)");
    const std::string recorded = ", " + recordedColumns;
    // Each item's record is looked up by its key, one index probe per item: OFFSET 0 keeps the
    // planner from turning the lookup into a join, which it would hash over every item of the
    // table (items() is estimated at 1000 rows): 6.6 ms at 10,000 items instead of 0.3.
    m_oConn.Prepare("pgmosaic_find_items",
                    ("SELECT x.id, x.resolved_path, x.srid, x.geotransform, x.width, x.height, "
                     "r.* FROM pgmosaic.items($1, " + postgis +
                     ".ST_MakeEnvelope($2, $3, $4, $5, $6)" +
                     (overviews ? ", $7, $8::tstzrange, $9, $10::bigint[])" : ")") +
                     " WITH ORDINALITY x CROSS JOIN LATERAL (SELECT " + recordedColumns +
                     " FROM pgmosaic.item i WHERE i.mosaic_id = " + std::to_string(mosaic.id) +
                     " AND i.id = x.id OFFSET 0) r ORDER BY x.ordinality")
                        .c_str(),
                    overviews ? 10 : 6);
    if (overviews)
        m_oConn.Prepare("pgmosaic_find_overview_tiles",
                        ("SELECT i.id, pgmosaic.resolve(i.path), i.srid, i.geotransform, "
                         "i.width, i.height" +
                         recorded + " FROM pgmosaic.item i WHERE i.mosaic_id = $1 AND "
                         "i.category = 'overview' AND i.overview_level = $2 AND i.status = 'ok' "
                         "AND i.footprint OPERATOR(" +
                         postgis + ".&&) " + postgis +
                         ".ST_MakeEnvelope($3, $4, $5, $6, $7) ORDER BY i.id")
                            .c_str(),
                        7);
    if (query.Any())
    {
        // Check the query's SQL now, on an empty area, so a bad where= fails at open.
        FindItems({0, 0, 0, 0});
        m_bCached = false;
    }
}

std::vector<pgmosaic::ItemRef> PgItemCatalog::FindItems(const pgmosaic::Envelope& env)
{
    if (m_bCached && env.minx == m_oCachedEnv.minx && env.miny == m_oCachedEnv.miny &&
        env.maxx == m_oCachedEnv.maxx && env.maxy == m_oCachedEnv.maxy)
        return m_aoCachedItems;
    std::vector<std::optional<std::string>> params{m_oMosaic.name, Num(env.minx),
                                                   Num(env.miny),  Num(env.maxx),
                                                   Num(env.maxy),  std::to_string(m_oMosaic.srid)};
    if (m_bOverviews)
    {
        std::optional<std::string> sort = m_oQuery.sort;
        if (m_oQuery.sortByCenter)
            sort = CPLSPrintf("ST_Distance(ST_Centroid(item.footprint), "
                              "ST_SetSRID(ST_MakePoint(%.17g, %.17g), %d))",
                              (env.minx + env.maxx) / 2, (env.miny + env.maxy) / 2, m_oMosaic.srid);
        params.insert(params.end(), {m_oQuery.filter, m_oQuery.timeRange, sort, m_oQuery.ids});
    }
    auto res = m_oConn.ExecPrepared("pgmosaic_find_items", params);
    std::vector<pgmosaic::ItemRef> items = Rows(res.get());
    m_bCached = true;
    m_oCachedEnv = env;
    m_aoCachedItems = items;
    return items;
}

std::vector<pgmosaic::ItemRef> PgItemCatalog::FindOverviewTiles(const pgmosaic::Envelope& env,
                                                                int level)
{
    if (!m_bOverviews)
        return {};
    auto res = m_oConn.ExecPrepared(
        "pgmosaic_find_overview_tiles",
        std::vector<std::string>{std::to_string(m_oMosaic.id), std::to_string(level), Num(env.minx),
                                 Num(env.miny), Num(env.maxx), Num(env.maxy),
                                 std::to_string(m_oMosaic.srid)});
    return Rows(res.get());
}

std::map<std::int64_t, pgmosaic::EmptyBlocks>
PgItemCatalog::FindEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    std::map<std::int64_t, pgmosaic::EmptyBlocks> out;
    if (!m_bOverviews || ids.empty()) // the tile table came with 0.2
        return out;
    std::string array = "{";
    for (size_t i = 0; i < ids.size(); ++i)
        array += (i ? "," : "") + std::to_string(ids[i]);
    auto res = m_oConn.Exec("SELECT item_id, key::bigint, coalesce(byte_offset, 0), "
                            "coalesce(byte_length, 0) FROM pgmosaic.tile WHERE mosaic_id = $1 "
                            "AND item_id = ANY($2::bigint[]) AND level = 0 AND empty",
                            {std::to_string(m_oMosaic.id), array + "}"});
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        const auto key = pgmosaic::TileKey::FromBits(
            static_cast<std::uint64_t>(std::strtoll(PQgetvalue(res.get(), i, 1), nullptr, 10)));
        pgmosaic::EmptyBlock b;
        b.col = static_cast<int>(key.x());
        b.row = static_cast<int>(key.y());
        b.offset = std::strtoull(PQgetvalue(res.get(), i, 2), nullptr, 10);
        b.length = std::strtoull(PQgetvalue(res.get(), i, 3), nullptr, 10);
        out[std::atoll(PQgetvalue(res.get(), i, 0))].push_back(b);
    }
    for (auto& [id, blocks] : out)
        std::sort(blocks.begin(), blocks.end());
    return out;
}

std::vector<int> PgItemCatalog::BuiltLevels()
{
    if (!m_bOverviews)
        return {};
    auto res = m_oConn.Exec("SELECT DISTINCT overview_level FROM pgmosaic.item WHERE "
                            "mosaic_id = $1 AND category = 'overview' AND status = 'ok' "
                            "ORDER BY 1",
                            {std::to_string(m_oMosaic.id)});
    std::vector<int> levels;
    for (int i = 0; i < PQntuples(res.get()); ++i)
        levels.push_back(std::atoi(PQgetvalue(res.get(), i, 0)));
    return levels;
}

std::vector<pgmosaic::ItemRef> PgItemCatalog::Rows(PGresult* r)
{
    std::vector<pgmosaic::ItemRef> items;
    items.reserve(PQntuples(r));
    for (int i = 0; i < PQntuples(r); ++i)
    {
        pgmosaic::ItemRef it;
        it.id = std::atoll(PQgetvalue(r, i, 0));
        it.path = PQgetvalue(r, i, 1);
        it.srid = std::atoi(PQgetvalue(r, i, 2));
        auto gt = ParseDoubleArray(PQgetvalue(r, i, 3));
        if (gt.size() != 6)
            throw Error(ErrorKind::Catalog, "item " + std::to_string(it.id) +
                                                " has an invalid geotransform in the catalog");
        std::copy(gt.begin(), gt.end(), it.gt.begin());
        it.width = std::atoi(PQgetvalue(r, i, 4));
        it.height = std::atoi(PQgetvalue(r, i, 5));
        if (PQnfields(r) >= 9)
        {
            if (!PQgetisnull(r, i, 6))
                it.fileSize = std::atoll(PQgetvalue(r, i, 6));
            if (!PQgetisnull(r, i, 7))
                it.mtime = std::atoll(PQgetvalue(r, i, 7));
            // "Byte,UInt16,..." per band, or "<count>*<type>" without per-band types.
            if (!PQgetisnull(r, i, 8))
            {
                const std::string types = PQgetvalue(r, i, 8);
                const size_t star = types.find('*');
                if (star != std::string::npos)
                    it.bandTypes.assign(
                        static_cast<size_t>(std::max(0, std::atoi(types.c_str()))),
                        GDALGetDataTypeByName(types.substr(star + 1).c_str()));
                else
                    for (size_t start = 0; start <= types.size();)
                    {
                        const size_t comma = std::min(types.find(',', start), types.size());
                        it.bandTypes.push_back(
                            GDALGetDataTypeByName(types.substr(start, comma - start).c_str()));
                        start = comma + 1;
                    }
            }
        }
        items.push_back(std::move(it));
    }
    return items;
}

ItemQuery ParseItemQuery(CSLConstList openOptions, const pgmosaic::ConnectionString& conn)
{
    auto option = [&](const char* key) {
        std::string upper = key;
        for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const char* oo = CSLFetchNameValue(openOptions, upper.c_str());
        return std::string(oo ? oo : conn.Get(key));
    };
    // A date or time as an SQL literal: only the characters of ISO 8601.
    auto instant = [](const std::string& key, const std::string& v) {
        if (v.find_first_not_of("0123456789-:.TZ+ ") != std::string::npos)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid " + key + " \"" + v + "\": expected ISO 8601 dates");
        return v;
    };
    ItemQuery q;
    const std::string where = option(pgmosaic::kKeyWhere);
    if (!where.empty())
        q.filter = where;
    const std::string time = option(pgmosaic::kKeyTime);
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
    const std::string sort = option(pgmosaic::kKeySort);
    if (sort == "newest")
        q.sort = "lower(item.acquired) DESC NULLS LAST";
    else if (sort == "oldest")
        q.sort = "lower(item.acquired) ASC NULLS LAST";
    else if (sort == "center")
        q.sortByCenter = true;
    else if (sort.rfind("closest:", 0) == 0)
        q.sort = "abs(extract(epoch FROM lower(item.acquired) - '" +
                 instant("sort", sort.substr(8)) + "'::timestamptz)) ASC NULLS LAST";
    else if (!sort.empty())
        q.sort = sort;
    const std::string ids = option(pgmosaic::kKeyIds);
    if (!ids.empty())
    {
        if (ids.find_first_not_of("0123456789,") != std::string::npos)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid ids \"" + ids + "\": expected item ids such as 3,17,42");
        q.ids = "{" + ids + "}";
    }
    return q;
}
