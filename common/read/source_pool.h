// A bounded pool of open source datasets. One pool serves one thread: GDAL datasets are not
// thread-safe, so each reading thread has its own.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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

// What one stat says of a local file: the same values, the same file (a file replaced, or
// written in place and its modification time set back, has another inode or change time).
struct FileIdentity
{
    std::uint64_t device = 0, inode = 0;
    std::int64_t size = 0, mtimeSec = 0, mtimeNsec = 0, ctimeSec = 0, ctimeNsec = 0;
    bool operator==(const FileIdentity& o) const;
    bool operator!=(const FileIdentity& o) const { return !(*this == o); }
};
FileIdentity IdentityOf(const VSIStatBufL& st);

// What stats say of the sidecars GDAL takes beside a local raster (its canonical path) when it
// opens it (external overviews .ovr, mask .msk, .aux; either case): each one's identity, or
// absent. (.aux.xml is not read in the backend, whose GDAL has PAM off.)
// A file kept open took them as they were: any of them added, changed or removed since, and a
// fresh open would read the raster otherwise.
std::vector<std::optional<FileIdentity>> SidecarsOf(const std::string& path);

// A source a SourcePool holds open.
struct OpenedSource
{
    std::string key;
    GDALDatasetUniquePtr source;
    GDALDatasetUniquePtr warped;             // closed before `source`, which it reads from
    std::unique_ptr<TiffBlockReader> blocks; // likewise
    std::shared_ptr<RemoteObject> remote;    // what `source` reads its bytes from, if any
    // A local file read directly, the same file at its path before and after it was opened,
    // under the policy `policyKey`: one KeptSources may keep.
    bool keepable = false;
    FileIdentity identity{};
    std::vector<std::optional<FileIdentity>> sidecars{};
    std::string policyKey{};
};

// Local files a backend keeps open from one read (statement) to the next: the sources its
// SourcePools opened, handed back when a pool goes (or closes one to make room), taken again
// by a later pool of any thread that asks for the same path. A kept file is taken only when
// the read's file access policy is the one it was opened under and allows the path again, one
// stat finds at the path the very file that was opened (device, inode, size, modification and
// change times) and its sidecars as they were (SidecarsOf), and the item's record still
// matches it, as a fresh open would check; else it
// is closed and the path opened afresh. GDAL's cached blocks of a file are dropped when it is
// handed back: keeping saves the opening (header, GeoTIFF keys, block reader), never a decode.
// At most `capacity` files (one descriptor each), the most recently used. If GDAL's driver
// manager was destroyed meanwhile (PostGIS raster does it when postgis.gdal_enabled_drivers is
// assigned), GDAL closed the files itself: they are forgotten. Thread-safe.
class KeptSources final
{
public:
    explicit KeptSources(size_t capacity);
    ~KeptSources();
    KeptSources(const KeptSources&) = delete;
    KeptSources& operator=(const KeptSources&) = delete;
    size_t Size();

private:
    friend class SourcePool;
    // Moves the file kept for `path` under `policyKey` into `out`; false when there is none.
    bool Take(const std::string& path, const std::string& policyKey, OpenedSource& out);
    void Give(OpenedSource&& source);
    // Forgets the files GDAL closed when its driver manager went; with m_oMutex held.
    void ForgetIfGdalReset();

    size_t m_nCapacity;
    std::string m_osToken;
    std::mutex m_oMutex{};
    std::list<OpenedSource> m_aoKept{}; // most recently used first
};

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
    using Entry = OpenedSource;
    void Open(const ItemRef& item, Entry& entry) const;
    // Takes the file kept for the item when it passes the checks of a fresh open.
    bool TakeKept(const ItemRef& item, Entry& entry) const;
    // The checks of an opened item against its record and the mosaic; then its warped view or
    // block reader.
    void Finish(const ItemRef& item, Entry& entry) const;
    void Warp(const ItemRef& item, Entry& entry) const;
    void Close(Entry&& entry) const; // kept when it can be

    const MosaicInfo& m_oMosaic;
    Resampling m_oResampling;
    std::shared_ptr<const FileAccessPolicy> m_poPolicy;
    std::shared_ptr<KeptSources> m_poKept;
    std::string m_osPolicyKey;
    size_t m_nCapacity;
    std::list<Entry> m_aoEntries{}; // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> m_oIndex{};
};

} // namespace pgmosaic
