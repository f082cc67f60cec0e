// The catalog's queries, written once for both front doors: the driver runs them over libpq,
// the backend over SPI (pg_extension/pg_catalog.cpp). Each query comes with the parser of its
// rows, which reads the columns through a RowReader, so neither door repeats the SQL or the
// decoding of what it returns. Every name in the SQL is schema-qualified: the queries run with
// the connecting role's search_path.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "catalog.h"

namespace pgmosaic
{

// An option by its lower-case key (conninfo.h's kKey*), empty when not given: the driver's
// -oo and connection string, the backend's options jsonb.
using OptionLookup = std::function<std::string(const char* key)>;

// Which items a reader shows, and in what order: items()' arguments besides the area.
struct ItemQuery
{
    std::optional<std::string> filter;    // where=: SQL over item columns
    std::optional<std::string> timeRange; // time=<from>/<to>, as a tstzrange
    std::optional<std::string> sort;      // sort=: SQL ORDER BY over item columns
    bool sortByCenter = false;            // sort=center: closest to the window centre first
    std::optional<std::string> ids;       // ids=1,2,3, as a bigint[]
    std::optional<std::string> asof;      // asof=<timestamp>: the catalog as it stood then
    bool Any() const { return filter || timeRange || sort || sortByCenter || ids || asof; }
};

// Parses where, time, sort and ids. Throws Error(InvalidParameter) naming a bad value.
ItemQuery ParseItemQuery(const OptionLookup& option);

// One row of a query's result: column `col` as text, nullopt when NULL.
using RowReader = std::function<std::optional<std::string>(int col)>;

// The mosaic row by name ($1): grid, bands, type, nodata, SRS, with `v02` the band
// descriptions, colour interpretations and default method, and with `v03` (which implies v02)
// the band sources of items made of several files. `postgis`: PostGIS's schema, quoted.
// With `asof` ($2, a timestamptz), the extent covers the items valid then too.
std::string MosaicSql(const std::string& postgis, bool v02, bool v03 = false, bool asof = false);
// Throws Error(Catalog) on an unusable grid.
MosaicInfo ParseMosaicRow(const std::string& name, const RowReader& row, bool v02,
                          bool v03 = false);

// The items of a window in mosaic order, with what registration recorded of each file, and
// with `assets` (extension 0.3, a mosaic with band sources) the files of items made of several.
// Parameters: FindItemsParams (6, or 10 with `itemCatalog`: extension 0.2 and later). With
// `readItems` (extension 0.3), the records come from the scan that finds the items
// (_read_items()); before, each item's is looked up again by its key.
// With `asof` ($11), the items, their records and their assets as they stood then. With
// `footprint` (and `itemCatalog`), a last column (kFootprintColumn) holds each item's
// footprint as hex WKB (whatever bytea_output is), for a client that answers smaller windows
// from the rows of a larger one (item_areas.h).
constexpr int kFootprintColumn = 14;
std::string FindItemsSql(const std::string& postgis, std::int64_t mosaicId, bool itemCatalog,
                         bool readItems, bool assets = false, bool asof = false,
                         bool footprint = false);
std::vector<std::optional<std::string>> FindItemsParams(const MosaicInfo& mosaic,
                                                        const ItemQuery& query,
                                                        const Envelope& env, bool itemCatalog);
// The up-to-date overview tiles of a level in a window: $1 mosaic id, $2 level, $3..$6 the
// envelope, $7 the SRID. `windowKey` (extension 0.3): looked up by the mosaic's window key
// (one index finds the level's tiles in the window, see sql/src/10_types.sql).
std::string FindOverviewTilesSql(const std::string& postgis, bool windowKey);
std::vector<std::string> FindOverviewTilesParams(const MosaicInfo& mosaic, const Envelope& env,
                                                 int level);
// Either query's row. Throws Error(Catalog) on an invalid geotransform.
ItemRef ParseItemRow(const RowReader& row, int columns);

// The empty full-resolution blocks of some items: $1 mosaic id, $2 the ids as a bigint[] literal
// (IdArray). Rows: item id, then ParseEmptyBlock. Blocks of the files of items made of several
// files are those of AssetEmptyBlocksSql.
std::string EmptyBlocksSql(bool v03 = false);
// The same for assets: rows of item id, then ParseEmptyBlock, then the asset name (column 4).
std::string AssetEmptyBlocksSql();
std::string IdArray(const std::vector<std::int64_t>& ids);
EmptyBlock ParseEmptyBlock(const RowReader& row); // columns 1..3

// The records of some network items (item_remote, extension 0.3): $1 mosaic id, $2 the ids
// (IdArray). Rows: item id, then ParseRemoteRecord. RemoteRecordsExistSql: one row, whether
// the catalog has the table.
std::string RemoteRecordsSql();
std::string RemoteRecordsExistSql();
RemoteRecord ParseRemoteRecord(const RowReader& row); // columns 1..2 (etag, header as bytea)

// The GDAL options of the path roots (path_root_option, extension 0.3): rows of root name,
// prefix, key, value. RootOptionsExistSql: one row, whether the catalog has the table.
std::string RootOptionsSql();
std::string RootOptionsExistSql();

// The full-resolution tiles with statistics of some items inside an envelope: $1 mosaic id,
// $2 the ids (IdArray), $3 the band (1-based), $4..$7 the envelope, $8 the SRID. Rows:
// ParseRecordedTile.
std::string RecordedTilesSql(const std::string& postgis);
std::vector<std::optional<std::string>> RecordedTilesParams(const MosaicInfo& mosaic,
                                                            const std::vector<std::int64_t>& ids,
                                                            const Envelope& env, int band);
// Throws Error(Catalog) on statistics that are not [min, max, sum, count(, sum of squares)].
RecordedTile ParseRecordedTile(const RowReader& row);

// The levels with up-to-date overview tiles: $1 mosaic id; one integer per row.
std::string BuiltLevelsSql();

// The items' statistics merged per band ($1 mosaic id): band, min, max, mean, stddev
// (pooled), then the ranges of the items' 2nd and 98th percentiles (min p2, max p2, min p98,
// max p98).
std::string MergedStatisticsSql();

} // namespace pgmosaic
