// The catalog over SPI: what the compositing engine asks of the catalog (common/catalog.h),
// answered inside the backend with the queries the driver sends over libpq
// (common/catalog_sql.h), as the calling role: row-level security decides which mosaics and
// items a call composes. Only the backend's own thread may ask: SPI is not thread-safe, and
// the reading threads never call PostgreSQL (an ask from another thread is an Internal error).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog.h"
#include "catalog_sql.h"
#include "item_areas.h"
#include "path_policy.h"

namespace pgmosaic
{

// Runs a read-only query through SPI with text parameters (cast in the SQL); every row's
// columns as text (nullopt: NULL). PostgreSQL errors come back as PgError.
std::vector<std::vector<std::optional<std::string>>>
SpiRows(const std::string& sql, const std::vector<std::optional<std::string>>& params);

// PostGIS's schema, quoted.
std::string SpiPostgisSchema();

// The mosaic `name` as the caller may see it; Error(NotFound) when unknown or not visible.
// With `asof`, its extent covers the items valid then too.
MosaicInfo SpiLoadMosaic(const std::string& name,
                         const std::optional<std::string>& asof = std::nullopt);

// Sets the path roots' GDAL options (path_root_option) for the paths under them, endpoints only
// where `policy` (the backend's pgmosaic.allowed_network_prefixes) allows them.
void SpiApplyRootOptions(const FileAccessPolicy& policy);

class SpiItemCatalog final : public ItemCatalog
{
public:
    SpiItemCatalog(const MosaicInfo& mosaic, const ItemQuery& query);
    // From now on, answers windows from the items of the larger areas around them, looked up
    // once (common/item_areas.h), when the query allows: for calls of many small reads
    // (value() at scattered points), each area costing one items() instead of one per window;
    // and the empty blocks of an item with those of every item of the areas, kept for the
    // readers that ask again. Both live as long as the catalog (one call).
    void UseAreas();
    std::vector<ItemRef> FindItems(const Envelope& env) override;
    std::vector<ItemRef> FindOverviewTiles(const Envelope& env, int level) override;
    std::map<std::int64_t, EmptyBlocks> FindEmptyBlocks(const std::vector<std::int64_t>& ids) override;
    std::map<std::int64_t, RemoteRecord>
    FindRemoteRecords(const std::vector<std::int64_t>& ids) override;
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
    FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids) override;
    // The full-resolution tiles of items `ids` with statistics of band `band` (1-based) whose
    // bounds lie within `env`.
    std::vector<RecordedTile> FindRecordedTiles(const std::vector<std::int64_t>& ids,
                                                const Envelope& env, int band);
    // Levels with up-to-date mosaic-wide overview tiles.
    std::vector<int> BuiltLevels();
    // The items' merged statistics of item band `band` (1-based): min and max, or nullopt.
    std::optional<std::pair<double, double>> BandRange(int band);

private:
    void CheckThread() const;
    const MosaicInfo& m_oMosaic;
    ItemQuery m_oQuery;
    std::string m_osPostgis;
    std::thread::id m_oThread;
    std::unique_ptr<ItemAreas> m_poAreas;
    std::map<std::int64_t, EmptyBlocks> m_oEmptyBlocks; // with areas: the items' asked so far
};

} // namespace pgmosaic
