// What the compositing engine needs from the catalog. The driver implements it over libpq, the
// backend over SPI; the engine never sees either.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gdal.h"
#include "types/grid.h"

namespace pgmosaic
{

// A band of a mosaic whose items are made of several files (assets, as STAC items are): the
// mosaic band `name` is band `band` of each item's asset `asset`.
struct BandSource
{
    std::string name;
    std::string asset;
    int band = 1;
};

struct MosaicInfo
{
    std::int64_t id = 0;
    std::string name;
    int srid = 0;
    std::string srsWkt;
    GeoTransform gt{}; // of the mosaic's pixel (0, 0)
    int width = 0, height = 0;
    int bandCount = 0;
    GDALDataType dataType = GDT_Unknown;
    std::optional<double> nodata;
    std::int64_t itemCount = 0;
    std::vector<std::string> bandDescriptions; // per band, from the first item (may be empty)
    std::vector<std::string> colorInterp;      // GDAL names, per band
    std::string defaultMethod;                 // the method when a reader names none
    // Per band, where items of several files take it from; empty: every item is one file
    // whose band k is mosaic band k (and an item of one file is read that way in any mosaic).
    std::vector<BandSource> bandSources;
    // The stored mask: an expression over the bands, true where an item's pixels are
    // transparent (empty: none).
    std::string mask;
    // Stored virtual bands, each name:[type:]expression (read/virtual_bands.h).
    std::vector<std::string> virtualBands;
};

// What registration recorded of an item on object storage or an HTTP server (item_remote): the
// object's ETag and the bytes GDAL read to open it (read/remote_source.h's encoding), so that
// a reader opens it without a request.
struct RemoteRecord
{
    std::string etag;
    std::string header;
};

// The name of mosaic band `band` (1-based) for bands= and expressions: its band source's name,
// or empty.
std::string BandName(const MosaicInfo& mosaic, int band);
// Every band's name (empty when the mosaic has no band sources).
std::vector<std::string> BandNames(const MosaicInfo& mosaic);

// One registered raster as the reader needs it.
struct ItemRef
{
    std::int64_t id = 0;
    std::string path; // resolved, openable by GDAL
    int srid = 0;
    GeoTransform gt{};
    int width = 0, height = 0;
    // A mosaic-wide overview tile (DAD): it stands for every item under it, so a read at its
    // level skips those items.
    bool authoritative = false;
    // What registration recorded of the file, checked when a reader opens it (so a file
    // changed or replaced since is never read with the recorded layout): size in bytes and
    // modification time in whole seconds (unknown: nullopt), and the type of each band
    // (empty: unknown). width, height and gt above are checked too.
    std::optional<std::int64_t> fileSize, mtime;
    std::vector<GDALDataType> bandTypes;
    // Network items registered with a record (set by the reader from FindRemoteRecords).
    std::shared_ptr<const RemoteRecord> remote;
    // One file of an item made of several (an asset): its name, and the file bands the item
    // takes from it (empty: every band). The item's id stays in `id`.
    std::string asset;
    std::vector<int> assetBands;
    // An item made of several files: each of them, by asset name (empty: the item is the one
    // file above). A band of the mosaic whose asset the item lacks is nodata for it.
    std::vector<ItemRef> assets;
    // The item's columns a quality expression may use (quality:<expression>), NaN when
    // unknown: cloud cover (percent), acquisition time (the range's start, seconds since
    // 1970), priority.
    double cloudCover = std::numeric_limits<double>::quiet_NaN();
    double acquired = std::numeric_limits<double>::quiet_NaN();
    double priority = std::numeric_limits<double>::quiet_NaN();
    // The coarsest pixel size (mosaic units) at which the item is drawn (item.max_pixel_size,
    // ArcGIS's maximum cell size); NaN: any.
    double maxPixelSize = std::numeric_limits<double>::quiet_NaN();
};

// The names of those columns in expressions, in the order of ItemValues.
const std::vector<std::string>& ItemValueNames();
std::vector<double> ItemValues(const ItemRef& item);

// "item 12 (path)", or "item 12, asset red (path)": how reads name a file of an item.
std::string ItemLabel(const ItemRef& item);

// A full-resolution block of an item file recorded without a valid pixel, with where its bytes
// were when recorded (offset 0: absent from the file). A reader fills it with nodata only while
// the file still has those bytes there: a rewritten file is read.
struct EmptyBlock
{
    int col = 0, row = 0;
    std::uint64_t offset = 0, length = 0;
    friend bool operator<(const EmptyBlock& a, const EmptyBlock& b)
    {
        return a.row != b.row ? a.row < b.row : a.col < b.col;
    }
};
using EmptyBlocks = std::vector<EmptyBlock>;

// A full-resolution DRAD tile of an item with what registration recorded of one band's valid
// pixels in it (zonal_stats(exact => false) answers from these).
struct RecordedTile
{
    std::int64_t itemId = 0;
    Envelope bounds; // mosaic SRS
    std::int64_t count = 0;
    double min = 0, max = 0, sum = 0;
    std::optional<double> sumSq; // recorded since 0.3
};

class ItemCatalog
{
public:
    virtual ~ItemCatalog() = default;
    // Items whose footprint intersects `env` (mosaic SRS), in mosaic order: the item drawn on
    // top comes first.
    virtual std::vector<ItemRef> FindItems(const Envelope& env) = 0;
    // The up-to-date mosaic-wide overview tiles of `level` (factor 2^level) intersecting `env`.
    virtual std::vector<ItemRef> FindOverviewTiles(const Envelope& /*env*/, int /*level*/)
    {
        return {};
    }
    // The full-resolution blocks without a valid pixel (the DRAD's empty tiles) of each of the
    // items `ids` that has any, sorted. Reads fill them with nodata instead of decoding them.
    virtual std::map<std::int64_t, EmptyBlocks>
    FindEmptyBlocks(const std::vector<std::int64_t>& /*ids*/)
    {
        return {};
    }
    // The same for the assets of items made of several files, by item id and asset name.
    virtual std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
    FindAssetEmptyBlocks(const std::vector<std::int64_t>& /*ids*/)
    {
        return {};
    }
    // The records of the network items `ids` that have one (item_remote).
    virtual std::map<std::int64_t, RemoteRecord>
    FindRemoteRecords(const std::vector<std::int64_t>& /*ids*/)
    {
        return {};
    }
};

} // namespace pgmosaic
