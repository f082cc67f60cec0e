// Items on object storage and HTTP servers, read by the byte ranges registration recorded.
//
// Registration records an object's identity (ETag, size, Last-Modified) and the bytes GDAL read
// to open it (the TIFF header and IFDs: a few kB for a COG). A reader opens the item with GDAL
// from those bytes, through the /vsipgmremote/ file system below: no request at all. Before a
// read it works out the blocks GDAL will decode (at the level GDAL picks) for every item of the
// read, and fetches them all at once (range_fetcher: merged ranges, many requests in flight,
// each conditional on the version registered). The blocks are then decoded from memory by
// TiffBlockReader (full resolution) or by GDAL (overviews, other codecs, masks).
//
// An object that is no longer the version registered (HTTP 412, another ETag or size) is
// marked stale for the process: its read starts again through GDAL's own /vsicurl/, /vsis3/...
// (the object as it is now, never the recorded layout), with a warning naming the item;
// check() reports it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gdal_priv.h"

#include "cancel.h"
#include "catalog.h"
#include "error.h"
#include "path_policy.h"
#include "read/range_fetcher.h"

namespace pgmosaic
{

// The recorded header ranges as stored in the catalog (item_remote.header): "PGMH1", then per
// range its offset (8 bytes), length (4 bytes, little-endian) and bytes.
std::string EncodeHeaderRanges(const std::vector<std::pair<std::uint64_t, std::string>>& ranges);
// False when `blob` is not such a value.
bool DecodeHeaderRanges(const std::string& blob,
                        std::vector<std::pair<std::uint64_t, std::string>>& ranges);

// The bytes of one object that a reader holds: the recorded header, then the ranges fetched.
// GDAL reads them under GdalName(); a read of bytes not held fetches them (16 kB aligned).
class RemoteObject final
{
public:
    // Null when no URL can be had for `path` (then GDAL reads it itself). An object of the
    // same path and identity still alive in the process is shared (with the bytes it holds).
    static std::shared_ptr<RemoteObject> Create(const std::string& path,
                                                const ObjectIdentity& identity);
    ~RemoteObject();
    RemoteObject(const RemoteObject&) = delete;
    RemoteObject& operator=(const RemoteObject&) = delete;

    const std::string& path() const { return m_osPath; }
    const std::string& GdalName() const { return m_osGdalName; }
    ObjectIdentity identity() const;
    bool stale() const;
    std::string staleReason() const;

    void Hold(std::uint64_t offset, std::string bytes);
    bool Holds(std::uint64_t offset, std::uint64_t length) const;
    // Copies held bytes, fetching what is not held; returns the bytes copied (short at the end
    // of the object, or when a fetch failed: then LastError() says why).
    size_t Read(std::uint64_t offset, void* out, size_t n);
    std::string LastError() const;
    // Every range held, merged (registration records them as the header).
    std::vector<std::pair<std::uint64_t, std::string>> HeldRanges() const;
    // The ranges held now are the header: kept by DropFetched, which drops the others (bounds
    // memory between reads).
    void MarkHeader();
    void DropFetched();

    // Fetches the ranges of several objects at once (those not held); an object whose version
    // changed is marked stale. Throws Error naming the object (and `labels`[i] when given) when
    // one cannot be read: missing, refused, unreachable, truncated.
    static void FetchAll(const std::vector<std::pair<RemoteObject*, std::vector<ByteRange>>>& work,
                         const Cancel& cancel, const std::vector<std::string>& labels = {});

private:
    RemoteObject() = default;
    void MarkStale(const std::string& reason);

    std::string m_osPath, m_osUrl, m_osGdalName, m_osSharedKey;
    std::uint64_t m_nKey = 0;
    mutable std::mutex m_oMutex{};
    ObjectIdentity m_oIdentity{};
    std::vector<std::pair<std::uint64_t, std::string>> m_aoHeld{}; // sorted, disjoint
    std::vector<std::pair<std::uint64_t, std::string>> m_aoHeader{}; // what DropFetched keeps
    std::string m_osStale{}, m_osLastError{};
};

// An item opened from its recorded header (no request), and the object its bytes come from.
struct RemoteDataset
{
    std::shared_ptr<RemoteObject> object;
    GDALDatasetUniquePtr dataset;
};

// Opens network `path` from `record` (its header), with `drivers` only (any when empty); with
// no record, fetches the header (the identity learned from the first answer, left in
// `learned`) and leaves in `recorded` what registration stores. `identity` is what the catalog
// has (size and mtime from the item, the ETag from its record). Returns an empty RemoteDataset
// when the object cannot be read this way (not a network path, no URL, no usable record, known
// stale, PGMOSAIC_REMOTE_RANGES=NO): the caller opens it with GDAL. The caller checks its file
// policy first. Throws Error naming the path when the object cannot be read.
RemoteDataset OpenRemote(const std::string& path, const ObjectIdentity* identity,
                         const RemoteRecord* record, const std::vector<std::string>& drivers,
                         RemoteRecord* recorded = nullptr, ObjectIdentity* learned = nullptr,
                         const Cancel& cancel = {});

// One GDAL option of a path root's storage (path_root_option).
struct RootOption
{
    std::string root, prefix, key, value;
};

// Sets the options as GDAL path-specific options of their roots' prefixes (GDAL's own reads
// and ours). An endpoint (AWS_S3_ENDPOINT, OSS_ENDPOINT) is set only when `policy`'s network
// prefixes allow its URL as a /vsicurl/ prefix: otherwise a catalog writer could send readers
// to a server of its choosing; it is then left out with a warning naming the root and the
// setting.
void ApplyRootOptions(const std::vector<RootOption>& options, const FileAccessPolicy& policy);

// What a read throws when an object it reads turned out stale: CompositeReader reads again.
class StaleSource : public Error
{
public:
    StaleSource() : Error(ErrorKind::Io, "an item changed since it was registered") {}
};

// Whether this process found `path` changed since it was registered with `identity`.
bool IsKnownStale(const std::string& path, const ObjectIdentity& identity);

// One item's part in a read of remote items: what CompositeReader::Fetch asks GDAL.
struct RemoteRead
{
    std::shared_ptr<RemoteObject> object;
    GDALDataset* dataset = nullptr; // opened from `object`; needed only while Add runs
    Window window{};             // source window (whole pixels)
    int bufW = 0, bufH = 0;      // buffer GDAL reads it into
    bool fullResolution = false; // read at full resolution whatever the scale
    GDALRIOResampleAlg resampling = GRIORA_NearestNeighbour;
    std::vector<int> bands;
    const EmptyBlocks* empty = nullptr;
    std::string label; // "item 12 (/vsis3/...)"
};

// The blocks the reads of a read need, fetched all at once. It keeps their objects alive (a
// source pool may close an item meanwhile: opened again, it finds the same object, with the
// bytes fetched).
class RemoteBatch final
{
public:
    // Works out the blocks `read` needs that GDAL's cache lacks, at the level GDAL reads (its
    // dataset must be open now).
    void Add(const RemoteRead& read);
    // Fetches them. Returns true when some object turned out stale (the read must start
    // again). Throws Error naming the item when one cannot be read.
    bool Fetch(const Cancel& cancel);
    bool empty() const { return m_aoObjects.empty(); }
    // Once the read decoded them: the bytes fetched are dropped (the headers stay).
    void Release();

private:
    std::vector<std::shared_ptr<RemoteObject>> m_aoObjects{};
    std::vector<std::vector<ByteRange>> m_aoRanges{};
    std::vector<std::string> m_aosLabels{};
    std::map<RemoteObject*, size_t> m_oSlot{};
};

} // namespace pgmosaic
