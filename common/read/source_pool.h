// A bounded pool of open source datasets. One pool serves one thread: GDAL datasets are not
// thread-safe, so each reading thread has its own.
#pragma once

#include <list>
#include <string>
#include <unordered_map>

#include "gdal_priv.h"

#include "catalog.h"
#include "read/read_options.h"
#include "read/remote_source.h"
#include "read/tiff_blocks.h"

namespace pgmosaic
{

// True when `item` lies on the mosaic's own grid: same SRS, north-up, same pixel size, corner
// on a pixel corner. Such items are read directly; all others through a warped view.
bool IsOnMosaicGrid(const MosaicInfo& mosaic, const ItemRef& item);

// Throws Error(Io) naming the item when the file at its path is not the one registered: its
// size or modification time differs from the record (`stat` of the path), or, once opened
// (`ds`, may be null), its size, band count, band types or geotransform do.
void CheckItemUnchanged(const ItemRef& item, const VSIStatBufL* stat, GDALDataset* ds);

class SourcePool final
{
public:
    // Items are opened with the options' resampling, and through their source policy when set.
    SourcePool(const MosaicInfo& mosaic, const ReadOptions& options, size_t capacity);
    ~SourcePool();
    SourcePool(const SourcePool&) = delete;
    SourcePool& operator=(const SourcePool&) = delete;

    // The dataset to read `item` from, opened on first use: the file itself, or a warped view
    // of it on the mosaic grid with an alpha band marking where the source has valid data.
    // It stays valid until the next Acquire. Throws Error naming the item and its path.
    GDALDataset* Acquire(const ItemRef& item);
    // The block reader of the dataset the last Acquire returned, when it is a GeoTIFF read
    // directly (not warped) in a layout TiffBlockReader takes; else nullptr.
    TiffBlockReader* Blocks() const;
    // The object the last Acquire's item is read from by its recorded byte ranges (a network
    // item opened from its record, see remote_source.h); else nullptr.
    std::shared_ptr<RemoteObject> Remote() const;
    // Closes the items whose object turned out stale: opened again, they are read through GDAL.
    // Returns how many.
    int ForgetStale();

private:
    struct Entry
    {
        std::string key;
        GDALDatasetUniquePtr source;
        GDALDatasetUniquePtr warped;             // closed before `source`, which it reads from
        std::unique_ptr<TiffBlockReader> blocks; // likewise
        std::shared_ptr<RemoteObject> remote;    // what `source` reads its bytes from, if any
    };
    void Open(const ItemRef& item, Entry& entry) const;
    void Warp(const ItemRef& item, Entry& entry) const;

    const MosaicInfo& m_oMosaic;
    Resampling m_oResampling;
    std::shared_ptr<const FileAccessPolicy> m_poPolicy;
    size_t m_nCapacity;
    std::list<Entry> m_aoEntries{}; // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> m_oIndex{};
};

} // namespace pgmosaic
