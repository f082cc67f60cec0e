#include "pg_spi_catalog.h"

#include <algorithm>

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
    std::vector<Oid> types(params.size(), TEXTOID);
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
    const int rc = PgCall([&] {
        return SPI_execute_with_args(sql.c_str(), n, types.data(), values.data(), nulls.c_str(),
                                     true, 0);
    });
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

std::vector<ItemRef> SpiItemCatalog::FindItems(const Envelope& env)
{
    CheckThread();
    const auto rows = SpiRows(FindItemsSql(m_osPostgis, m_oMosaic.id, true,
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
    const auto rows = SpiRows(FindOverviewTilesSql(m_osPostgis),
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
    if (ids.empty())
        return out;
    for (const auto& row :
         SpiRows(EmptyBlocksSql(true), {std::to_string(m_oMosaic.id), IdArray(ids)}))
        out[std::atoll(row[0].value_or("0").c_str())].push_back(ParseEmptyBlock(RowOf(row)));
    for (auto& [id, blocks] : out)
        std::sort(blocks.begin(), blocks.end());
    return out;
}

std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
SpiItemCatalog::FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids)
{
    CheckThread();
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks> out;
    if (m_oMosaic.bandSources.empty() || ids.empty())
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
