#include "read/remote_source.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <set>

#include "cpl_vsi_virtual.h"

#include "error.h"

namespace pgmosaic
{
namespace
{

constexpr const char* kPrefix = "/vsipgmremote/";
constexpr std::uint64_t kChunk = 16384;            // what a read of bytes not held fetches
constexpr std::uint64_t kMaxHeader = 4 << 20;      // a recorded header is at most this

std::mutex g_oRegistryMutex;
std::map<std::uint64_t, std::weak_ptr<RemoteObject>>& Registry()
{
    static std::map<std::uint64_t, std::weak_ptr<RemoteObject>> registry;
    return registry;
}
std::atomic<std::uint64_t> g_nNextKey{1};
// Live objects by path and identity, shared by the pools that open the same item.
std::map<std::string, std::weak_ptr<RemoteObject>>& Shared()
{
    static std::map<std::string, std::weak_ptr<RemoteObject>> shared;
    return shared;
}

std::mutex g_oStaleMutex;
std::set<std::string>& StaleSet()
{
    static std::set<std::string> stale;
    return stale;
}
std::string StaleKey(const std::string& path, const ObjectIdentity& id)
{
    return path + "\n" + id.etag + "\n" + (id.size ? std::to_string(*id.size) : "") + "\n" +
           (id.mtime ? std::to_string(*id.mtime) : "");
}

std::shared_ptr<RemoteObject> Lookup(const char* name)
{
    if (!STARTS_WITH(name, kPrefix))
        return nullptr;
    const std::uint64_t key = std::strtoull(name + strlen(kPrefix), nullptr, 10);
    std::lock_guard<std::mutex> lock(g_oRegistryMutex);
    auto it = Registry().find(key);
    return it == Registry().end() ? nullptr : it->second.lock();
}

class RemoteHandle final : public VSIVirtualHandle
{
public:
    explicit RemoteHandle(std::shared_ptr<RemoteObject> object) : m_poObject(std::move(object))
    {
        m_nSize = static_cast<std::uint64_t>(m_poObject->identity().size.value_or(0));
    }
    int Seek(vsi_l_offset offset, int whence) override
    {
        m_bEof = false;
        if (whence == SEEK_SET)
            m_nPos = offset;
        else if (whence == SEEK_CUR)
            m_nPos += offset;
        else
            m_nPos = m_nSize + offset;
        return 0;
    }
    vsi_l_offset Tell() override { return m_nPos; }
    size_t Read(void* buffer, size_t size, size_t count) override
    {
        const size_t want = size * count;
        if (want == 0)
            return 0;
        if (m_nPos >= m_nSize)
        {
            m_bEof = true;
            return 0;
        }
        const size_t n = static_cast<size_t>(std::min<std::uint64_t>(want, m_nSize - m_nPos));
        const size_t got = m_poObject->Read(m_nPos, buffer, n);
        if (got < n)
        {
            const std::string why = m_poObject->LastError();
            if (!why.empty())
                CPLError(CE_Failure, CPLE_FileIO, "%s", why.c_str());
        }
        m_nPos += got;
        if (got < want)
            m_bEof = true;
        return got / size;
    }
    int ReadMultiRange(int n, void** data, const vsi_l_offset* offsets,
                       const size_t* sizes) override
    {
        std::vector<ByteRange> ranges;
        for (int i = 0; i < n; ++i)
            if (!m_poObject->Holds(offsets[i], sizes[i]))
                ranges.push_back({offsets[i], sizes[i]});
        if (!ranges.empty())
        {
            try
            {
                RemoteObject::FetchAll({{m_poObject.get(), ranges}}, Cancel{});
            }
            catch (const std::exception& e)
            {
                CPLError(CE_Failure, CPLE_FileIO, "%s", e.what());
                return -1;
            }
        }
        for (int i = 0; i < n; ++i)
            if (m_poObject->Read(offsets[i], data[i], sizes[i]) != sizes[i])
                return -1;
        return 0;
    }
    size_t Write(const void*, size_t, size_t) override { return 0; }
    int Eof() override { return m_bEof ? 1 : 0; }
    int Close() override { return 0; }

private:
    std::shared_ptr<RemoteObject> m_poObject;
    std::uint64_t m_nPos = 0, m_nSize = 0;
    bool m_bEof = false;
};

class RemoteFilesystem final : public VSIFilesystemHandler
{
public:
    VSIVirtualHandle* Open(const char* name, const char* access, bool, CSLConstList) override
    {
        if (strchr(access, 'w') || strchr(access, 'a') || strchr(access, '+'))
            return nullptr;
        auto object = Lookup(name);
        return object ? new RemoteHandle(std::move(object)) : nullptr;
    }
    int Stat(const char* name, VSIStatBufL* stat, int) override
    {
        auto object = Lookup(name);
        if (!object)
            return -1;
        memset(stat, 0, sizeof(*stat));
        const ObjectIdentity id = object->identity();
        stat->st_size = static_cast<decltype(stat->st_size)>(id.size.value_or(0));
        stat->st_mtime = static_cast<time_t>(id.mtime.value_or(0));
        stat->st_mode = S_IFREG | 0444;
        return 0;
    }
    int HasOptimizedReadMultiRange(const char*) override { return TRUE; }
    // Sidecars (.ovr, .aux.xml, .msk) are never looked for: the object is all there is.
    char** SiblingFiles(const char* name) override
    {
        CPLStringList list;
        list.AddString(CPLGetFilename(name));
        return list.StealList();
    }
    bool IsLocal(const char*) override { return false; }
};

// Installed when missing: in a backend, PostGIS raster tears GDAL down and sets it up again
// (its file systems with it), so this is checked at every use.
void InstallFilesystem()
{
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    if (dynamic_cast<RemoteFilesystem*>(VSIFileManager::GetHandler(kPrefix)) == nullptr)
        VSIFileManager::InstallHandler(kPrefix, new RemoteFilesystem());
}

void Put32(std::string& s, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put64(std::string& s, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t Get(const std::string& s, size_t at, int bytes)
{
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

} // namespace

std::string EncodeHeaderRanges(const std::vector<std::pair<std::uint64_t, std::string>>& ranges)
{
    std::string out = "PGMH1";
    for (const auto& [offset, bytes] : ranges)
    {
        Put64(out, offset);
        Put32(out, static_cast<std::uint32_t>(bytes.size()));
        out += bytes;
    }
    return out;
}

bool DecodeHeaderRanges(const std::string& blob,
                        std::vector<std::pair<std::uint64_t, std::string>>& ranges)
{
    ranges.clear();
    if (blob.compare(0, 5, "PGMH1") != 0)
        return false;
    size_t at = 5;
    while (at < blob.size())
    {
        if (blob.size() - at < 12)
            return false;
        const std::uint64_t offset = Get(blob, at, 8);
        const std::uint64_t length = Get(blob, at + 8, 4);
        at += 12;
        if (blob.size() - at < length)
            return false;
        ranges.emplace_back(offset, blob.substr(at, length));
        at += length;
    }
    return true;
}

std::shared_ptr<RemoteObject> RemoteObject::Create(const std::string& path,
                                                   const ObjectIdentity& identity)
{
    const std::string url = ResolveUrl(path);
    if (url.empty())
        return nullptr;
    InstallFilesystem();
    const std::string key = StaleKey(path, identity);
    const bool known = identity.size.has_value(); // a registration learns it: never shared
    if (known)
    {
        std::lock_guard<std::mutex> lock(g_oRegistryMutex);
        auto it = Shared().find(key);
        if (it != Shared().end())
            if (auto live = it->second.lock())
                return live;
    }
    std::shared_ptr<RemoteObject> o(new RemoteObject());
    o->m_osPath = path;
    o->m_osUrl = url;
    o->m_oIdentity = identity;
    o->m_nKey = g_nNextKey++;
    o->m_osGdalName = std::string(kPrefix) + std::to_string(o->m_nKey) + "/" +
                      CPLGetFilename(path.c_str());
    std::lock_guard<std::mutex> lock(g_oRegistryMutex);
    Registry()[o->m_nKey] = o;
    if (known)
    {
        o->m_osSharedKey = key;
        Shared()[key] = o;
    }
    return o;
}

RemoteObject::~RemoteObject()
{
    std::lock_guard<std::mutex> lock(g_oRegistryMutex);
    Registry().erase(m_nKey);
    if (!m_osSharedKey.empty())
    {
        auto it = Shared().find(m_osSharedKey);
        if (it != Shared().end() && it->second.expired())
            Shared().erase(it);
    }
}

ObjectIdentity RemoteObject::identity() const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    return m_oIdentity;
}

bool RemoteObject::stale() const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    return !m_osStale.empty();
}

std::string RemoteObject::staleReason() const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    return m_osStale;
}

std::string RemoteObject::LastError() const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    return m_osLastError;
}

void RemoteObject::MarkStale(const std::string& reason)
{
    ObjectIdentity id;
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        if (!m_osStale.empty())
            return;
        m_osStale = reason;
        id = m_oIdentity;
    }
    {
        std::lock_guard<std::mutex> lock(g_oStaleMutex);
        StaleSet().insert(StaleKey(m_osPath, id));
    }
    // GDAL reads it from now on: nothing it cached of an older version may serve.
    VSICurlPartialClearCache(m_osPath.c_str());
}

bool IsKnownStale(const std::string& path, const ObjectIdentity& identity)
{
    std::lock_guard<std::mutex> lock(g_oStaleMutex);
    return StaleSet().count(StaleKey(path, identity)) > 0;
}

void RemoteObject::Hold(std::uint64_t offset, std::string bytes)
{
    if (bytes.empty())
        return;
    std::lock_guard<std::mutex> lock(m_oMutex);
    // Merged with the ranges it meets, so that a held range is found whole.
    std::uint64_t start = offset, end = offset + bytes.size();
    std::string merged;
    std::vector<std::pair<std::uint64_t, std::string>> kept;
    kept.reserve(m_aoHeld.size() + 1);
    std::vector<std::pair<std::uint64_t, std::string>*> meeting;
    for (auto& r : m_aoHeld)
    {
        const std::uint64_t rEnd = r.first + r.second.size();
        if (rEnd < start || r.first > end)
            continue;
        meeting.push_back(&r);
    }
    if (meeting.empty())
    {
        auto at = std::lower_bound(m_aoHeld.begin(), m_aoHeld.end(), offset,
                                   [](const auto& r, std::uint64_t o) { return r.first < o; });
        m_aoHeld.insert(at, {offset, std::move(bytes)});
        return;
    }
    for (auto* r : meeting)
    {
        start = std::min(start, r->first);
        end = std::max(end, r->first + r->second.size());
    }
    merged.assign(end - start, '\0');
    for (auto* r : meeting)
        memcpy(&merged[r->first - start], r->second.data(), r->second.size());
    memcpy(&merged[offset - start], bytes.data(), bytes.size());
    for (auto& r : m_aoHeld)
    {
        const std::uint64_t rEnd = r.first + r.second.size();
        if (rEnd < start || r.first > end)
            kept.push_back(std::move(r));
    }
    auto at = std::lower_bound(kept.begin(), kept.end(), start,
                               [](const auto& r, std::uint64_t o) { return r.first < o; });
    kept.insert(at, {start, std::move(merged)});
    m_aoHeld = std::move(kept);
}

bool RemoteObject::Holds(std::uint64_t offset, std::uint64_t length) const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    auto it = std::upper_bound(m_aoHeld.begin(), m_aoHeld.end(), offset,
                               [](std::uint64_t o, const auto& r) { return o < r.first; });
    if (it == m_aoHeld.begin())
        return false;
    --it;
    return it->first <= offset && offset + length <= it->first + it->second.size();
}

size_t RemoteObject::Read(std::uint64_t offset, void* out, size_t n)
{
    if (!Holds(offset, n))
    {
        // Not held: fetched now, in whole chunks (GDAL reads headers in small pieces).
        const std::uint64_t size = identity().size.value_or(offset + n);
        const std::uint64_t start = offset / kChunk * kChunk;
        const std::uint64_t end = std::min(size, (offset + n + kChunk - 1) / kChunk * kChunk);
        CPLDebug("PGMOSAIC", "%s: bytes %llu-%llu not prefetched", m_osPath.c_str(),
                 static_cast<unsigned long long>(offset),
                 static_cast<unsigned long long>(offset + n));
        try
        {
            FetchAll({{this, {{start, std::max<std::uint64_t>(end, offset + n) - start}}}},
                     Cancel{});
        }
        catch (const std::exception& e)
        {
            std::lock_guard<std::mutex> lock(m_oMutex);
            m_osLastError = e.what();
            return 0;
        }
        if (stale())
        {
            std::lock_guard<std::mutex> lock(m_oMutex);
            m_osLastError = m_osPath + " changed since it was registered: " + m_osStale;
            return 0;
        }
    }
    std::lock_guard<std::mutex> lock(m_oMutex);
    auto it = std::upper_bound(m_aoHeld.begin(), m_aoHeld.end(), offset,
                               [](std::uint64_t o, const auto& r) { return o < r.first; });
    if (it == m_aoHeld.begin())
        return 0;
    --it;
    if (offset < it->first || offset >= it->first + it->second.size())
        return 0;
    const size_t have = static_cast<size_t>(
        std::min<std::uint64_t>(n, it->first + it->second.size() - offset));
    memcpy(out, it->second.data() + (offset - it->first), have);
    return have;
}

std::vector<std::pair<std::uint64_t, std::string>> RemoteObject::HeldRanges() const
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    return m_aoHeld;
}

void RemoteObject::MarkHeader()
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    m_aoHeader = m_aoHeld;
}

void RemoteObject::DropFetched()
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    m_aoHeld = m_aoHeader;
}

void RemoteObject::FetchAll(
    const std::vector<std::pair<RemoteObject*, std::vector<ByteRange>>>& work,
    const Cancel& cancel, const std::vector<std::string>& labels)
{
    std::vector<RangeFetch> fetches;
    std::vector<size_t> index;
    for (size_t i = 0; i < work.size(); ++i)
    {
        RemoteObject* o = work[i].first;
        if (o->stale() || work[i].second.empty())
            continue;
        RangeFetch f;
        f.path = o->m_osPath;
        f.url = o->m_osUrl;
        f.identity = o->identity();
        f.ranges = work[i].second;
        fetches.push_back(std::move(f));
        index.push_back(i);
    }
    if (fetches.empty())
        return;
    FetchRanges(fetches, IoConcurrency(), cancel);
    std::string firstError;
    ErrorKind firstKind = ErrorKind::Io;
    for (size_t k = 0; k < fetches.size(); ++k)
    {
        RangeFetch& f = fetches[k];
        RemoteObject* o = work[index[k]].first;
        {
            std::lock_guard<std::mutex> lock(o->m_oMutex);
            o->m_oIdentity = f.identity; // what the first answer said, when nothing was known
        }
        if (!f.changed.empty())
        {
            o->MarkStale(f.changed);
            continue;
        }
        for (auto& [offset, bytes] : f.fetched)
            o->Hold(offset, std::move(bytes));
        if (!f.error.empty() && firstError.empty())
        {
            const std::string label =
                index[k] < labels.size() && !labels[index[k]].empty() ? labels[index[k]] : f.path;
            firstError = "cannot read " + label + ": " + f.error;
            firstKind = static_cast<ErrorKind>(f.errorKind);
        }
    }
    if (!firstError.empty())
        throw Error(firstKind, firstError);
}

namespace
{

// Reads what GDAL reads of a dataset's layout beyond its first IFD: overviews, masks, block
// positions. Registration records every byte read so far as the header.
void TouchLayout(GDALDataset* ds)
{
    ds->GetMetadata("IMAGE_STRUCTURE");
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
    {
        GDALRasterBand* band = ds->GetRasterBand(b);
        band->GetMaskFlags();
        band->GetNoDataValue();
        band->GetColorInterpretation();
        band->GetDescription();
        const int levels = band->GetOverviewCount();
        for (int l = -1; l < levels; ++l)
        {
            GDALRasterBand* at = l < 0 ? band : band->GetOverview(l);
            if (at == nullptr)
                continue;
            int bw = 0, bh = 0;
            at->GetBlockSize(&bw, &bh);
            const int cols = (at->GetXSize() + bw - 1) / std::max(1, bw);
            const int rows = (at->GetYSize() + bh - 1) / std::max(1, bh);
            at->GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF");
            at->GetMetadataItem(CPLSPrintf("BLOCK_OFFSET_%d_%d", cols - 1, rows - 1), "TIFF");
            if (band->GetMaskFlags() == GMF_PER_DATASET)
                at->GetMaskBand()->GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF");
        }
    }
}

// The smallest offset of a block of any level: a COG's header and IFDs end before it.
std::uint64_t FirstBlockOffset(GDALDataset* ds)
{
    std::uint64_t first = UINT64_MAX;
    GDALRasterBand* band = ds->GetRasterBand(1);
    for (int l = -1; l < band->GetOverviewCount(); ++l)
    {
        GDALRasterBand* at = l < 0 ? band : band->GetOverview(l);
        if (at == nullptr)
            continue;
        for (GDALRasterBand* b : {at, at->GetMaskBand()})
        {
            const char* v = b->GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF");
            const std::uint64_t o = v ? std::strtoull(v, nullptr, 10) : 0;
            if (o > 0)
                first = std::min(first, o);
        }
    }
    return first;
}

GDALDatasetUniquePtr OpenThrough(RemoteObject& object, const std::vector<std::string>& allowed,
                                 const std::string& path)
{
    CPLStringList drivers;
    for (const auto& d : allowed)
        drivers.AddString(d.c_str());
    CPLStringList siblings;
    siblings.AddString(CPLGetFilename(object.GdalName().c_str()));
    GdalErrorCollector errors;
    GDALDatasetUniquePtr ds(GDALDataset::FromHandle(
        GDALOpenEx(object.GdalName().c_str(), GDAL_OF_RASTER,
                   drivers.empty() ? nullptr : drivers.List(), nullptr, siblings.List())));
    if (!ds)
        throw Error(ErrorKind::Io,
                    "cannot open raster " + path + ": " + errors.Message("not a raster GDAL can read"));
    return ds;
}

} // namespace

RemoteDataset OpenRemote(const std::string& path, const ObjectIdentity* identity,
                         const RemoteRecord* record, const std::vector<std::string>& drivers,
                         RemoteRecord* recorded, ObjectIdentity* learned, const Cancel& cancel)
{
    if (!IsNetworkPath(path) ||
        !CPLTestBool(CPLGetConfigOption("PGMOSAIC_REMOTE_RANGES", "YES")))
        return {};
    std::vector<std::pair<std::uint64_t, std::string>> header;
    if (record != nullptr)
    {
        if (identity == nullptr || !identity->size || !DecodeHeaderRanges(record->header, header) ||
            header.empty() || IsKnownStale(path, *identity))
            return {};
    }
    auto object = RemoteObject::Create(path, identity ? *identity : ObjectIdentity{});
    if (!object)
        return {};
    RemoteDataset out;
    out.object = object;
    if (record != nullptr)
    {
        if (!object->Holds(header.front().first, header.front().second.size()))
        {
            for (auto& [offset, bytes] : header)
                object->Hold(offset, std::move(bytes));
            object->MarkHeader();
        }
        out.dataset = OpenThrough(*object, drivers, path);
        return out;
    }
    // Registration: the first bytes (the identity comes with them), then what GDAL reads.
    RemoteObject::FetchAll({{object.get(), {{0, kChunk}}}}, cancel);
    if (object->stale())
        throw Error(ErrorKind::Io, "cannot read " + path + ": " + object->staleReason());
    out.dataset = OpenThrough(*object, drivers, path);
    TouchLayout(out.dataset.get());
    // A COG's header ends where its first block begins: recorded whole, so that a reader never
    // asks for a piece of it.
    const std::uint64_t first = FirstBlockOffset(out.dataset.get());
    const std::uint64_t size = static_cast<std::uint64_t>(object->identity().size.value_or(0));
    if (first != UINT64_MAX && first <= kMaxHeader && first <= size && first > 8)
    {
        const std::uint64_t end = first - std::min<std::uint64_t>(first, 4); // a COG's leader
        if (!object->Holds(0, end))
            RemoteObject::FetchAll({{object.get(), {{0, end}}}}, cancel);
    }
    if (recorded != nullptr)
    {
        recorded->etag = object->identity().etag;
        recorded->header = EncodeHeaderRanges(object->HeldRanges());
    }
    if (learned != nullptr)
        *learned = object->identity();
    object->MarkHeader();
    return out;
}

void RemoteBatch::Add(const RemoteRead& r)
{
    if (!r.object || r.dataset == nullptr || r.bands.empty() || r.object->stale())
        return;
    GDALDataset* ds = r.dataset;
    // The level GDAL reads: full resolution at 1:1 (or when read so), else the overview
    // GDALRasterBand::IRasterIO picks, and the window there.
    int level = -1;
    int x = r.window.x, y = r.window.y, w = r.window.w, h = r.window.h;
    if (!r.fullResolution && (w != r.bufW || h != r.bufH))
    {
        GDALRasterIOExtraArg extra;
        INIT_RASTERIO_EXTRA_ARG(extra);
        extra.eResampleAlg = r.resampling;
        level = GDALBandGetBestOverviewLevel2(ds->GetRasterBand(r.bands[0]), x, y, w, h, r.bufW,
                                              r.bufH, &extra);
    }
    const char* interleave = ds->GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE");
    const bool pixel = ds->GetRasterCount() > 1 && interleave && EQUAL(interleave, "PIXEL");
    const std::vector<int> bands = pixel ? std::vector<int>{1} : r.bands;
    auto it = m_oSlot.find(r.object.get());
    if (it == m_oSlot.end())
    {
        it = m_oSlot.emplace(r.object.get(), m_aoObjects.size()).first;
        m_aoObjects.push_back(r.object);
        m_aoRanges.emplace_back();
        m_aosLabels.push_back(r.label);
    }
    std::vector<ByteRange>& ranges = m_aoRanges[it->second];
    const std::uint64_t objectSize =
        static_cast<std::uint64_t>(r.object->identity().size.value_or(INT64_MAX));
    for (int b : bands)
    {
        GDALRasterBand* band = ds->GetRasterBand(b);
        if (level >= 0)
            band = band->GetOverview(level);
        if (band == nullptr)
            continue;
        int bw = 0, bh = 0;
        band->GetBlockSize(&bw, &bh);
        if (bw < 1 || bh < 1 || w < 1 || h < 1)
            continue;
        const int c0 = x / bw, c1 = (x + w - 1) / bw, r0 = y / bh, r1 = (y + h - 1) / bh;
        for (int row = r0; row <= r1; ++row)
            for (int col = c0; col <= c1; ++col)
            {
                const char* o =
                    band->GetMetadataItem(CPLSPrintf("BLOCK_OFFSET_%d_%d", col, row), "TIFF");
                const char* sz =
                    band->GetMetadataItem(CPLSPrintf("BLOCK_SIZE_%d_%d", col, row), "TIFF");
                const std::uint64_t offset = o ? std::strtoull(o, nullptr, 10) : 0;
                const std::uint64_t size = sz ? std::strtoull(sz, nullptr, 10) : 0;
                if (offset == 0 || size == 0)
                    continue;
                // Cached already (every band this block holds): not fetched again.
                bool cached = true;
                for (int cb : pixel ? r.bands : std::vector<int>{b})
                {
                    GDALRasterBand* cband = ds->GetRasterBand(cb);
                    if (level >= 0)
                        cband = cband->GetOverview(level);
                    GDALRasterBlock* block = cband ? cband->TryGetLockedBlockRef(col, row) : nullptr;
                    if (block)
                        block->DropLock();
                    else
                        cached = false;
                }
                if (cached)
                    continue;
                // The DRAD's empty blocks are filled with nodata, never read.
                if (level < 0 && r.empty)
                {
                    const EmptyBlock key{col, row, 0, 0};
                    auto e = std::lower_bound(r.empty->begin(), r.empty->end(), key);
                    if (e != r.empty->end() && e->col == col && e->row == row &&
                        e->offset == offset && e->length == size)
                        continue;
                }
                // GDAL's COG blocks carry their size before them and their last 4 bytes after
                // them, which GDAL may check.
                const std::uint64_t before = std::min<std::uint64_t>(offset, 4);
                const std::uint64_t end = std::min(offset + size + 4, objectSize);
                if (end > offset && !r.object->Holds(offset - before, end - offset + before))
                    ranges.push_back({offset - before, end - offset + before});
            }
    }
}

void RemoteBatch::Release()
{
    for (auto& o : m_aoObjects)
        o->DropFetched();
    m_aoObjects.clear();
    m_aoRanges.clear();
    m_aosLabels.clear();
    m_oSlot.clear();
}

bool RemoteBatch::Fetch(const Cancel& cancel)
{
    std::vector<std::pair<RemoteObject*, std::vector<ByteRange>>> work;
    for (size_t i = 0; i < m_aoObjects.size(); ++i)
        if (!m_aoRanges[i].empty())
        {
            m_aoObjects[i]->DropFetched();
            work.push_back({m_aoObjects[i].get(), m_aoRanges[i]});
        }
    std::vector<std::string> labels;
    for (const auto& [object, ranges] : work)
        labels.push_back(m_aosLabels[m_oSlot[object]]);
    RemoteObject::FetchAll(work, cancel, labels);
    bool stale = false;
    for (size_t i = 0; i < m_aoObjects.size(); ++i)
        if (m_aoObjects[i]->stale())
        {
            stale = true;
            CPLError(CE_Warning, CPLE_AppDefined,
                     "PGMOSAIC: %s changed since it was registered (%s): read through GDAL; "
                     "pgmosaic.sync() re-inspects it",
                     m_aosLabels[i].c_str(), m_aoObjects[i]->staleReason().c_str());
        }
    return stale;
}

void ApplyRootOptions(const std::vector<RootOption>& options, const FileAccessPolicy& policy)
{
    static std::mutex warned;
    static std::set<std::string> said;
    // What an earlier call set for these prefixes goes first (an option removed since).
    std::set<std::string> cleared;
    for (const RootOption& o : options)
    {
        std::string prefix = o.prefix;
        if (prefix.empty())
            continue;
        if (prefix.back() != '/')
            prefix += '/';
        if (cleared.insert(prefix).second)
        {
#if GDAL_VERSION_NUM >= GDAL_COMPUTE_VERSION(3, 6, 0)
            VSIClearPathSpecificOptions(prefix.c_str());
#else
            VSIClearCredentials(prefix.c_str());
#endif
        }
    }
    for (const RootOption& o : options)
    {
        if (o.prefix.empty() || o.key.empty())
            continue;
        std::string prefix = o.prefix;
        if (prefix.back() != '/')
            prefix += '/';
        if (o.key == "AWS_S3_ENDPOINT" || o.key == "OSS_ENDPOINT")
        {
            // The URL the endpoint makes, as its HTTPS option (same root) or the default says.
            std::string https = "YES";
            for (const RootOption& other : options)
                if (other.root == o.root && other.key == (o.key[0] == 'A' ? "AWS_HTTPS" : "OSS_HTTPS"))
                    https = other.value;
            std::string url = o.value;
            if (url.find("://") == std::string::npos)
                url = (CPLTestBool(https.c_str()) ? "https://" : "http://") + url;
            if (url.back() != '/')
                url += '/';
            bool allowed = true;
            try
            {
                CheckPathAllowed(policy, "/vsicurl/" + url);
            }
            catch (const Error&)
            {
                allowed = false;
            }
            if (!allowed)
            {
                std::lock_guard<std::mutex> lock(warned);
                if (said.insert(o.root + "\n" + o.value).second)
                    CPLError(CE_Warning, CPLE_AppDefined,
                             "PGMOSAIC: path root \"%s\" sets %s to %s, which %s does not allow "
                             "(add /vsicurl/%s to it): left out",
                             o.root.c_str(), o.key.c_str(), o.value.c_str(),
                             policy.networkSetting.c_str(), url.c_str());
                continue;
            }
        }
#if GDAL_VERSION_NUM >= GDAL_COMPUTE_VERSION(3, 6, 0)
        VSISetPathSpecificOption(prefix.c_str(), o.key.c_str(), o.value.c_str());
#else
        VSISetCredential(prefix.c_str(), o.key.c_str(), o.value.c_str());
#endif
    }
}

} // namespace pgmosaic
