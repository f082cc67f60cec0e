// The libpq side of the catalog: connection, mosaic row, window lookups.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "cpl_json.h"
#include "ogr_geometry.h"

#include "error.h"
#include "catalog_sql.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// Row `row` of a result, as the catalog's row parsers read it.
pgmosaic::RowReader RowOf(PGresult* r, int row)
{
    return [r, row](int col) -> std::optional<std::string> {
        if (col >= PQnfields(r) || PQgetisnull(r, row, col))
            return std::nullopt;
        return std::string(PQgetvalue(r, row, col));
    };
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
    caps.remote = v02 && version != "0.2";
    caps.collections = v02 && version != "0.2";
    caps.windowKey = caps.remote;
    caps.readItems = caps.remote;
    return caps;
}

pgmosaic::MosaicInfo LoadMosaic(PgConnection& conn, const std::string& name,
                                const std::string& postgis, bool v02, bool v03,
                                const std::optional<std::string>& asof)
{
    if (asof && !v03)
        throw Error(ErrorKind::InvalidParameter,
                    "asof= needs pgmosaic 0.3 or later (ALTER EXTENSION pgmosaic UPDATE)");
    auto res = asof ? conn.Exec(pgmosaic::MosaicSql(postgis, v02, v03, true).c_str(),
                                {name, *asof})
                    : conn.Exec(pgmosaic::MosaicSql(postgis, v02, v03).c_str(), {name});
    if (PQntuples(res.get()) == 0)
        throw Error(ErrorKind::NotFound, "unknown mosaic \"" + name + "\"");
    return pgmosaic::ParseMosaicRow(name, RowOf(res.get(), 0), v02, v03);
}

PgItemCatalog::PgItemCatalog(PgConnection& conn, const pgmosaic::MosaicInfo& mosaic,
                             const std::string& postgis, bool overviews, bool windowKey,
                             bool readItems, const pgmosaic::ItemQuery& query)
    : m_oConn(conn), m_oMosaic(mosaic), m_bOverviews(overviews), m_oQuery(query)
{
    if (query.Any() && !overviews)
        throw Error(ErrorKind::InvalidParameter,
                    "where=, time=, sort= and ids= need pgmosaic 0.2 or later "
                    "(ALTER EXTENSION pgmosaic UPDATE)");
    m_oConn.Prepare("pgmosaic_find_items",
                    pgmosaic::FindItemsSql(postgis, mosaic.id, overviews, readItems,
                                           !mosaic.bandSources.empty(), query.asof.has_value())
                        .c_str(),
                    overviews ? (query.asof ? 11 : 10) : 6);
    if (overviews)
        m_oConn.Prepare("pgmosaic_find_overview_tiles",
                        pgmosaic::FindOverviewTilesSql(postgis, windowKey).c_str(), 7);
    if (query.Any())
    {
        // Check the query's SQL now, on an empty area, so a bad where= fails at open.
        FindItems({0, 0, 0, 0});
        m_bCached = false;
    }
    m_dfAreaSeconds = CPLAtof(CPLGetConfigOption("PGMOSAIC_ITEM_CACHE_SECONDS", "30"));
    if (overviews && m_dfAreaSeconds > 0 && pgmosaic::ItemAreas::Usable(m_oMosaic, query) &&
        m_oConn.Listen("pgmosaic_dirty"))
    {
        m_oConn.Prepare("pgmosaic_find_area_items",
                        pgmosaic::FindItemsSql(postgis, mosaic.id, true, readItems,
                                               !mosaic.bandSources.empty(), false, true)
                            .c_str(),
                        10);
        m_poAreas = std::make_unique<pgmosaic::ItemAreas>(m_oMosaic);
    }
}

std::vector<pgmosaic::ItemRef> PgItemCatalog::FindItems(const pgmosaic::Envelope& env)
{
    if (m_poAreas)
    {
        const auto now = std::chrono::steady_clock::now();
        if (m_oConn.Notified(std::to_string(m_oMosaic.id)) ||
            now - m_oAreasSince > std::chrono::duration<double>(m_dfAreaSeconds))
            Invalidate();
    }
    if (m_bCached && env.minx == m_oCachedEnv.minx && env.miny == m_oCachedEnv.miny &&
        env.maxx == m_oCachedEnv.maxx && env.maxy == m_oCachedEnv.maxy)
        return m_aoCachedItems;
    std::optional<std::vector<pgmosaic::ItemRef>> items;
    if (m_poAreas)
    {
        const bool first = m_poAreas->Empty();
        items = m_poAreas->Find(env, [&](const pgmosaic::Envelope& area) {
            auto res = m_oConn.ExecPrepared(
                "pgmosaic_find_area_items",
                pgmosaic::FindItemsParams(m_oMosaic, m_oQuery, area, true));
            PGresult* r = res.get();
            std::vector<pgmosaic::ItemAreas::Row> rows(static_cast<size_t>(PQntuples(r)));
            for (int i = 0; i < PQntuples(r); ++i)
            {
                rows[static_cast<size_t>(i)].item =
                    pgmosaic::ParseItemRow(RowOf(r, i), PQnfields(r));
                rows[static_cast<size_t>(i)].footprint = RowOf(r, i)(pgmosaic::kFootprintColumn);
            }
            return rows;
        });
        if (first && !m_poAreas->Empty())
            m_oAreasSince = std::chrono::steady_clock::now();
    }
    if (!items)
    {
        auto res = m_oConn.ExecPrepared(
            "pgmosaic_find_items",
            pgmosaic::FindItemsParams(m_oMosaic, m_oQuery, env, m_bOverviews));
        items = Rows(res.get());
    }
    m_bCached = true;
    m_oCachedEnv = env;
    m_aoCachedItems = *items;
    return *items;
}

std::vector<pgmosaic::ItemRef> PgItemCatalog::FindOverviewTiles(const pgmosaic::Envelope& env,
                                                                int level)
{
    if (!m_bOverviews)
        return {};
    auto res = m_oConn.ExecPrepared("pgmosaic_find_overview_tiles",
                                    pgmosaic::FindOverviewTilesParams(m_oMosaic, env, level));
    return Rows(res.get());
}

std::map<std::int64_t, pgmosaic::EmptyBlocks>
PgItemCatalog::FindEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    std::map<std::int64_t, pgmosaic::EmptyBlocks> out;
    // The tile table came with 0.2. The DRAD describes the items' current files: a read as of
    // an earlier time (asof=) gets none, since a file an item had before may have data where
    // its current one is empty, at the same offsets and sizes (uncompressed blocks).
    if (!m_bOverviews || ids.empty() || m_oQuery.asof)
        return out;
    auto res = m_oConn.Exec(pgmosaic::EmptyBlocksSql().c_str(),
                            {std::to_string(m_oMosaic.id), pgmosaic::IdArray(ids)});
    for (int i = 0; i < PQntuples(res.get()); ++i)
        out[std::atoll(PQgetvalue(res.get(), i, 0))].push_back(
            pgmosaic::ParseEmptyBlock(RowOf(res.get(), i)));
    for (auto& [id, blocks] : out)
        std::sort(blocks.begin(), blocks.end());
    return out;
}

std::map<std::int64_t, pgmosaic::RemoteRecord>
PgItemCatalog::FindRemoteRecords(const std::vector<std::int64_t>& ids)
{
    std::map<std::int64_t, pgmosaic::RemoteRecord> out;
    if (ids.empty())
        return out;
    if (!m_obRemoteRecords)
    {
        auto res = m_oConn.Exec(pgmosaic::RemoteRecordsExistSql().c_str(), {});
        m_obRemoteRecords = PQntuples(res.get()) == 1 && PQgetvalue(res.get(), 0, 0)[0] == 't';
    }
    if (!*m_obRemoteRecords)
        return out;
    auto res = m_oConn.Exec(pgmosaic::RemoteRecordsSql().c_str(),
                            {std::to_string(m_oMosaic.id), pgmosaic::IdArray(ids)});
    for (int i = 0; i < PQntuples(res.get()); ++i)
        out[std::atoll(PQgetvalue(res.get(), i, 0))] =
            pgmosaic::ParseRemoteRecord(RowOf(res.get(), i));
    return out;
}

std::map<std::pair<std::int64_t, std::string>, pgmosaic::EmptyBlocks>
PgItemCatalog::FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    std::map<std::pair<std::int64_t, std::string>, pgmosaic::EmptyBlocks> out;
    if (m_oMosaic.bandSources.empty() || ids.empty() || m_oQuery.asof) // as FindEmptyBlocks
        return out;
    auto res = m_oConn.Exec(pgmosaic::AssetEmptyBlocksSql().c_str(),
                            {std::to_string(m_oMosaic.id), pgmosaic::IdArray(ids)});
    for (int i = 0; i < PQntuples(res.get()); ++i)
        out[{std::atoll(PQgetvalue(res.get(), i, 0)), PQgetvalue(res.get(), i, 4)}].push_back(
            pgmosaic::ParseEmptyBlock(RowOf(res.get(), i)));
    for (auto& [key, blocks] : out)
        std::sort(blocks.begin(), blocks.end());
    return out;
}

std::vector<int> PgItemCatalog::BuiltLevels()
{
    if (!m_bOverviews)
        return {};
    auto res = m_oConn.Exec(pgmosaic::BuiltLevelsSql().c_str(), {std::to_string(m_oMosaic.id)});
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
        items.push_back(pgmosaic::ParseItemRow(RowOf(r, i), PQnfields(r)));
    return items;
}

pgmosaic::ItemQuery ParseItemQuery(CSLConstList openOptions, const pgmosaic::ConnectionString& conn)
{
    return pgmosaic::ParseItemQuery([&](const char* key) {
        std::string upper = key;
        for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const char* oo = CSLFetchNameValue(openOptions, upper.c_str());
        return std::string(oo ? oo : conn.Get(key));
    });
}
