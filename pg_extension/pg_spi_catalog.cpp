#include "pg_spi_catalog.h"
#include "read/remote_source.h"

#include <algorithm>
#include <list>
#include <unordered_map>

#include "error.h"
#include "pg_util.h"

extern "C"
{
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

namespace pgmosaic
{
namespace
{

// SPI_connect .. SPI_finish around one query: the query's rows are copied out before the end.
class SpiConnection final
{
public:
    SpiConnection() { PgCall([] { SPI_connect(); }); }
    ~SpiConnection()
    {
        try
        {
            PgCall([] { SPI_finish(); });
        }
        catch (...)
        {
            // Nothing to undo: the error ends the transaction, and SPI with it.
        }
    }
    SpiConnection(const SpiConnection&) = delete;
    SpiConnection& operator=(const SpiConnection&) = delete;
};

// The plans of the queries SpiRows sends, prepared once and kept for the backend's life
// (SPI_keepplan), keyed by their text: each catalog query of a read was parsed and planned
// again (a tenth of zonal_stats' time over 200 zones, of value()'s over 1,000 points).
// PostgreSQL replans a kept plan itself when what it rests on changes (tables, functions,
// search_path, the role under row-level security). The least recently used go past kMaxPlans.
class PlanCache final
{
public:
    // The plan of `sql` with `n` text parameters; inside an SPI connection.
    SPIPlanPtr Get(const std::string& sql, int n)
    {
        const auto it = m_oIndex.find(sql);
        if (it != m_oIndex.end())
        {
            m_oOrder.splice(m_oOrder.begin(), m_oOrder, it->second);
            return it->second->second;
        }
        std::vector<Oid> types(static_cast<size_t>(n), TEXTOID);
        const Oid* typeList = types.data();
        const char* text = sql.c_str();
        SPIPlanPtr plan = PgCall([&] {
            SPIPlanPtr p = SPI_prepare(text, n, const_cast<Oid*>(typeList));
            if (p != nullptr)
                SPI_keepplan(p);
            return p;
        });
        if (plan == nullptr)
            throw Error(ErrorKind::Catalog,
                        "catalog query failed to prepare (SPI code " + std::to_string(SPI_result) + ")");
        m_oOrder.emplace_front(sql, plan);
        m_oIndex[sql] = m_oOrder.begin();
        if (m_oOrder.size() > kMaxPlans)
        {
            SPIPlanPtr old = m_oOrder.back().second;
            m_oIndex.erase(m_oOrder.back().first);
            m_oOrder.pop_back();
            PgCall([&] { SPI_freeplan(old); });
        }
        return plan;
    }

private:
    static constexpr size_t kMaxPlans = 64;
    std::list<std::pair<std::string, SPIPlanPtr>> m_oOrder{}; // most recently used first
    std::unordered_map<std::string, std::list<std::pair<std::string, SPIPlanPtr>>::iterator>
        m_oIndex{};
};

PlanCache& Plans()
{
    static PlanCache cache; // the backend's own thread only
    return cache;
}

std::string PostgisSchema()
{
    const auto rows =
        SpiRows("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN "
                "pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE "
                "e.extname OPERATOR(pg_catalog.=) 'postgis'",
                {});
    if (rows.empty() || !rows[0][0])
        throw Error(ErrorKind::Catalog, "PostGIS is not installed");
    return *rows[0][0];
}

RowReader RowOf(const std::vector<std::optional<std::string>>& row)
{
    return [&row](int col) -> std::optional<std::string> {
        return col < static_cast<int>(row.size()) ? row[static_cast<size_t>(col)] : std::nullopt;
    };
}

} // namespace

std::vector<std::vector<std::optional<std::string>>>
SpiRows(const std::string& sql, const std::vector<std::optional<std::string>>& params)
{
    const int n = static_cast<int>(params.size());
        std::vector<Datum> values(params.size());
    std::string nulls(params.size(), ' ');
    for (int i = 0; i < n; ++i)
    {
        if (params[static_cast<size_t>(i)])
            values[static_cast<size_t>(i)] = TextDatum(*params[static_cast<size_t>(i)]);
        else
            nulls[static_cast<size_t>(i)] = 'n';
    }
    SpiConnection spi;
    SPIPlanPtr plan = Plans().Get(sql, n);
    const int rc = PgCall(
        [&] { return SPI_execute_plan(plan, values.data(), nulls.c_str(), true, 0); });
    if (rc != SPI_OK_SELECT)
        throw Error(ErrorKind::Catalog, "catalog query failed (SPI code " + std::to_string(rc) + ")");
    std::vector<std::vector<std::optional<std::string>>> rows;
    const auto count = static_cast<size_t>(SPI_processed);
    SPITupleTable* table = SPI_tuptable;
    const int columns = table->tupdesc->natts;
    rows.reserve(count);
    for (size_t r = 0; r < count; ++r)
    {
        std::vector<std::optional<std::string>> row(static_cast<size_t>(columns));
        for (int c = 0; c < columns; ++c)
        {
            char* v = PgCall([&] { return SPI_getvalue(table->vals[r], table->tupdesc, c + 1); });
            if (v != nullptr)
            {
                row[static_cast<size_t>(c)] = std::string(v);
                pfree(v);
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string SpiPostgisSchema()
{
    return PostgisSchema();
}

MosaicInfo SpiLoadMosaic(const std::string& name, const std::optional<std::string>& asof)
{
    const auto rows = asof ? SpiRows(MosaicSql(PostgisSchema(), true, true, true), {name, asof})
                           : SpiRows(MosaicSql(PostgisSchema(), true, true), {name});
    if (rows.empty())
        throw Error(ErrorKind::NotFound, "mosaic \"" + name +
                                             "\" does not exist or is not readable by the "
                                             "current role");
    return ParseMosaicRow(name, RowOf(rows[0]), true, true);
}

SpiItemCatalog::SpiItemCatalog(const MosaicInfo& mosaic, const ItemQuery& query)
    : m_oMosaic(mosaic), m_oQuery(query), m_osPostgis(PostgisSchema()),
      m_oThread(std::this_thread::get_id())
{
    if (query.Any())
        FindItems({0, 0, 0, 0}); // a bad where= fails before anything is read
}

void SpiItemCatalog::CheckThread() const
{
    if (std::this_thread::get_id() != m_oThread)
        throw Error(ErrorKind::Internal, "the catalog was asked from a reading thread");
}

void SpiItemCatalog::UseAreas()
{
    if (!m_poAreas && ItemAreas::Usable(m_oMosaic, m_oQuery))
        m_poAreas = std::make_unique<ItemAreas>(m_oMosaic);
}

std::vector<ItemRef> SpiItemCatalog::FindItems(const Envelope& env)
{
    CheckThread();
    if (m_poAreas)
    {
        auto items = m_poAreas->Find(env, [&](const Envelope& area) {
            const auto rows = SpiRows(FindItemsSql(m_osPostgis, m_oMosaic.id, true, true,
                                                   !m_oMosaic.bandSources.empty(), false, true),
                                      FindItemsParams(m_oMosaic, m_oQuery, area, true));
            std::vector<ItemAreas::Row> out(rows.size());
            for (size_t i = 0; i < rows.size(); ++i)
            {
                out[i].item = ParseItemRow(RowOf(rows[i]), static_cast<int>(rows[i].size()));
                out[i].footprint = rows[i][kFootprintColumn];
            }
            return out;
        });
        if (items)
            return std::move(*items);
    }
    const auto rows = SpiRows(FindItemsSql(m_osPostgis, m_oMosaic.id, true, true,
                                           !m_oMosaic.bandSources.empty(),
                                           m_oQuery.asof.has_value()),
                              FindItemsParams(m_oMosaic, m_oQuery, env, true));
    std::vector<ItemRef> items;
    items.reserve(rows.size());
    for (const auto& row : rows)
        items.push_back(ParseItemRow(RowOf(row), static_cast<int>(row.size())));
    return items;
}

std::vector<ItemRef> SpiItemCatalog::FindOverviewTiles(const Envelope& env, int level)
{
    CheckThread();
    const auto params = FindOverviewTilesParams(m_oMosaic, env, level);
    const auto rows = SpiRows(FindOverviewTilesSql(m_osPostgis, true),
                              std::vector<std::optional<std::string>>(params.begin(), params.end()));
    std::vector<ItemRef> items;
    for (const auto& row : rows)
        items.push_back(ParseItemRow(RowOf(row), static_cast<int>(row.size())));
    return items;
}

std::map<std::int64_t, EmptyBlocks>
SpiItemCatalog::FindEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    CheckThread();
    std::map<std::int64_t, EmptyBlocks> out;
    // The DRAD describes the items' current files: a read as of an earlier time (asof=) gets
    // none, since a file an item had before may have data where its current one is empty, at
    // the same offsets and sizes (uncompressed blocks).
    if (ids.empty() || m_oQuery.asof)
        return out;
    std::vector<std::int64_t> ask = ids;
    if (m_poAreas)
    {
        // Those not asked yet, with every item of the areas not asked yet: the next reads'.
        ask.clear();
        for (std::int64_t id : ids)
            if (!m_oEmptyBlocks.count(id))
                ask.push_back(id);
        if (!ask.empty())
            for (std::int64_t id : m_poAreas->Ids())
                if (!m_oEmptyBlocks.count(id))
                    ask.push_back(id);
    }
    std::map<std::int64_t, EmptyBlocks> found;
    if (!ask.empty())
        for (const auto& row :
             SpiRows(EmptyBlocksSql(true), {std::to_string(m_oMosaic.id), IdArray(ask)}))
            found[std::atoll(row[0].value_or("0").c_str())].push_back(ParseEmptyBlock(RowOf(row)));
    for (auto& [id, blocks] : found)
        std::sort(blocks.begin(), blocks.end());
    if (!m_poAreas)
        return found;
    for (std::int64_t id : ask)
        m_oEmptyBlocks[id] = std::move(found[id]);
    for (std::int64_t id : ids)
        if (!m_oEmptyBlocks[id].empty())
            out[id] = m_oEmptyBlocks[id];
    return out;
}

void SpiApplyRootOptions(const FileAccessPolicy& policy)
{
    const auto has = SpiRows(RootOptionsExistSql(), {});
    if (has.empty() || has[0][0].value_or("f") != "t")
        return;
    std::vector<RootOption> options;
    for (const auto& row : SpiRows(RootOptionsSql(), {}))
        options.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or(""),
                           row[3].value_or("")});
    if (!options.empty())
        ApplyRootOptions(options, policy);
}

std::map<std::int64_t, RemoteRecord>
SpiItemCatalog::FindRemoteRecords(const std::vector<std::int64_t>& ids)
{
    CheckThread();
    std::map<std::int64_t, RemoteRecord> out;
    if (ids.empty())
        return out;
    const auto has = SpiRows(RemoteRecordsExistSql(), {}); // 0.3's table (a module newer than
    if (has.empty() || has[0][0].value_or("f") != "t")    // the installed SQL reads as before)
        return out;
    for (const auto& row : SpiRows(RemoteRecordsSql(), {std::to_string(m_oMosaic.id), IdArray(ids)}))
        out[std::atoll(row[0].value_or("0").c_str())] = ParseRemoteRecord(RowOf(row));
    return out;
}

std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
SpiItemCatalog::FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    CheckThread();
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks> out;
    if (m_oMosaic.bandSources.empty() || ids.empty() || m_oQuery.asof) // as FindEmptyBlocks
        return out;
    for (const auto& row :
         SpiRows(AssetEmptyBlocksSql(), {std::to_string(m_oMosaic.id), IdArray(ids)}))
        out[{std::atoll(row[0].value_or("0").c_str()), row[4].value_or("")}].push_back(
            ParseEmptyBlock(RowOf(row)));
    for (auto& [key, blocks] : out)
        std::sort(blocks.begin(), blocks.end());
    return out;
}

std::vector<RecordedTile> SpiItemCatalog::FindRecordedTiles(const std::vector<std::int64_t>& ids,
                                                            const Envelope& env, int band)
{
    CheckThread();
    std::vector<RecordedTile> tiles;
    if (ids.empty())
        return tiles;
    for (const auto& row : SpiRows(RecordedTilesSql(m_osPostgis),
                                   RecordedTilesParams(m_oMosaic, ids, env, band)))
        tiles.push_back(ParseRecordedTile(RowOf(row)));
    return tiles;
}

std::vector<int> SpiItemCatalog::BuiltLevels()
{
    CheckThread();
    std::vector<int> levels;
    for (const auto& row : SpiRows(BuiltLevelsSql(), {std::to_string(m_oMosaic.id)}))
        levels.push_back(std::atoi(row[0].value_or("0").c_str()));
    return levels;
}

std::optional<std::pair<double, double>> SpiItemCatalog::BandRange(int band)
{
    CheckThread();
    for (const auto& row : SpiRows(MergedStatisticsSql(), {std::to_string(m_oMosaic.id)}))
        if (std::atoi(row[0].value_or("0").c_str()) == band && row[1] && row[2])
            return std::make_pair(std::atof(row[1]->c_str()), std::atof(row[2]->c_str()));
    return std::nullopt;
}

} // namespace pgmosaic
