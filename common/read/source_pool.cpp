#include "read/source_pool.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <iterator>

#include "gdalwarper.h"

#include "error.h"

namespace pgmosaic
{

bool IsOnMosaicGrid(const MosaicInfo& m, const ItemRef& item)
{
    const auto& g = item.gt;
    if (item.srid != m.srid || !IsNorthUp(g))
        return false;
    auto same = [](double a, double b) {
        return std::fabs(a - b) <= 1e-9 * std::fabs(b);
    };
    auto onGrid = [](double v) {
        return std::fabs(v - std::round(v)) < 1e-6;
    };
    // Overview tiles are on the grid at 2, 4, 8... times the mosaic's pixel size: nearest
    // sampling of them through a floating-point window is exact, no warp needed.
    const double fx = g[1] / m.gt[1], fy = g[5] / m.gt[5];
    const bool scale =
        item.authoritative
            ? (fx >= 1 && same(fx, std::exp2(std::round(std::log2(fx)))) && same(fx, fy))
            : (same(g[1], m.gt[1]) && same(g[5], m.gt[5]));
    return scale && onGrid((g[0] - m.gt[0]) / m.gt[1]) && onGrid((g[3] - m.gt[3]) / m.gt[5]);
}

bool FileIdentity::operator==(const FileIdentity& o) const
{
    return device == o.device && inode == o.inode && size == o.size && mtimeSec == o.mtimeSec &&
           mtimeNsec == o.mtimeNsec && ctimeSec == o.ctimeSec && ctimeNsec == o.ctimeNsec;
}

FileIdentity IdentityOf(const VSIStatBufL& st)
{
    FileIdentity id;
    id.device = static_cast<std::uint64_t>(st.st_dev);
    id.inode = static_cast<std::uint64_t>(st.st_ino);
    id.size = static_cast<std::int64_t>(st.st_size);
    id.mtimeSec = static_cast<std::int64_t>(st.st_mtim.tv_sec);
    id.mtimeNsec = static_cast<std::int64_t>(st.st_mtim.tv_nsec);
    id.ctimeSec = static_cast<std::int64_t>(st.st_ctim.tv_sec);
    id.ctimeNsec = static_cast<std::int64_t>(st.st_ctim.tv_nsec);
    return id;
}

std::vector<std::optional<FileIdentity>> SidecarsOf(const std::string& path)
{
    // GDAL matches sidecar names case-insensitively among the sibling files it is given.
    static const char* const kSuffixes[] = {".ovr", ".OVR", ".msk", ".MSK", ".aux", ".AUX"};
    std::vector<std::string> names;
    for (const char* suffix : kSuffixes)
        names.push_back(path + suffix);
    names.push_back(CPLResetExtension(path.c_str(), "aux")); // a.aux beside a.tif
    names.push_back(CPLResetExtension(path.c_str(), "AUX"));
    std::vector<std::optional<FileIdentity>> out;
    for (const auto& name : names)
    {
        VSIStatBufL st;
        if (VSIStatL(name.c_str(), &st) == 0)
            out.emplace_back(IdentityOf(st));
        else
            out.emplace_back(std::nullopt);
    }
    return out;
}

namespace
{

// The key, in GDAL's driver manager's metadata, of the token a KeptSources leaves there: a
// manager without it is a new one, and the files kept were closed with the old one.
constexpr const char* kKeptToken = "PGMOSAIC_KEPT_SOURCES";

// Everything of a policy that decides how a file is opened.
std::string PolicyKey(const FileAccessPolicy& policy)
{
    std::string key;
    for (const auto* list : {&policy.allowedRoots, &policy.networkPrefixes, &policy.allowedDrivers})
    {
        for (const auto& s : *list)
            key += s + '\n';
        key += '\x1f';
    }
    return key;
}

// An asset in the mosaic's SRS is read as a VRT source is, scaled to the mosaic's resolution
// with the read's resampling (the grid of a band of another resolution is the mosaic's,
// scaled); other SRSs are warped, as items are.
bool NeedsWarp(const MosaicInfo& mosaic, const ItemRef& item)
{
    const bool scaled = !item.asset.empty() && item.srid == mosaic.srid && IsNorthUp(item.gt);
    return !scaled && !IsOnMosaicGrid(mosaic, item);
}

} // namespace

KeptSources::KeptSources(size_t capacity) : m_nCapacity(capacity)
{
    static std::atomic<unsigned long long> instances{0};
    m_osToken = CPLSPrintf("%p-%llu", static_cast<void*>(this), ++instances);
}

KeptSources::~KeptSources() = default;

size_t KeptSources::Size()
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    ForgetIfGdalReset();
    return m_aoKept.size();
}

void KeptSources::ForgetIfGdalReset()
{
    GDALDriverManager* manager = GetGDALDriverManager();
    const char* token = manager->GetMetadataItem(kKeptToken);
    if (token != nullptr && m_osToken == token)
        return;
    for (auto& e : m_aoKept)
    {
        e.blocks.reset();   // ours: its file and inflater
        e.source.release(); // closed by GDAL with its driver manager
    }
    m_aoKept.clear();
    manager->SetMetadataItem(kKeptToken, m_osToken.c_str());
}

bool KeptSources::Take(const std::string& path, const std::string& policyKey, OpenedSource& out)
{
    std::list<OpenedSource> closing; // closed once the lock is released
    std::lock_guard<std::mutex> lock(m_oMutex);
    ForgetIfGdalReset();
    for (auto it = m_aoKept.begin(); it != m_aoKept.end(); ++it)
        if (it->key == path)
        {
            if (it->policyKey != policyKey)
            {
                closing.splice(closing.begin(), m_aoKept, it);
                return false;
            }
            out = std::move(*it);
            m_aoKept.erase(it);
            return true;
        }
    return false;
}

void KeptSources::Give(OpenedSource&& source)
{
    // Its blocks go now: a later read decodes what it needs, as from a file just opened. The
    // block reader's handle goes too: one descriptor a kept file.
    source.source->FlushCache(false);
    if (source.blocks)
        source.blocks->CloseFile();
    std::list<OpenedSource> closing;
    std::lock_guard<std::mutex> lock(m_oMutex);
    ForgetIfGdalReset();
    for (auto it = m_aoKept.begin(); it != m_aoKept.end(); ++it)
        if (it->key == source.key) // opened by two pools: the other one goes
        {
            closing.splice(closing.begin(), m_aoKept, it);
            break;
        }
    m_aoKept.push_front(std::move(source));
    while (m_aoKept.size() > m_nCapacity)
        closing.splice(closing.begin(), m_aoKept, std::prev(m_aoKept.end()));
}

SourcePool::SourcePool(const MosaicInfo& mosaic, const ReadOptions& options, size_t capacity)
    : m_oMosaic(mosaic), m_oResampling(options.resampling), m_poPolicy(options.sourcePolicy),
      m_poKept(options.sourcePolicy ? options.keptSources : nullptr),
      m_osPolicyKey(options.sourcePolicy ? PolicyKey(*options.sourcePolicy) : std::string()),
      m_nCapacity(capacity < 1 ? 1 : capacity)
{
}

SourcePool::~SourcePool()
{
    // The least recently used first: the kept files end in this pool's order.
    while (!m_aoEntries.empty())
    {
        Close(std::move(m_aoEntries.back()));
        m_aoEntries.pop_back();
    }
}

void SourcePool::Close(Entry&& entry) const
{
    if (m_poKept && entry.keepable && !entry.warped && !entry.remote && entry.source)
    {
        try
        {
            m_poKept->Give(std::move(entry));
            return;
        }
        catch (const std::exception&) // out of memory: closed instead
        {
        }
    }
    entry.warped.reset();
    entry.blocks.reset();
    entry.source.reset();
}

GDALDataset* SourcePool::Acquire(const ItemRef& item)
{
    auto it = m_oIndex.find(item.path);
    if (it == m_oIndex.end())
    {
        Entry entry;
        if (!TakeKept(item, entry))
        {
            entry = Entry{};
            entry.key = item.path;
            Open(item, entry);
        }
        if (m_aoEntries.size() >= m_nCapacity)
        {
            m_oIndex.erase(m_aoEntries.back().key);
            Close(std::move(m_aoEntries.back()));
            m_aoEntries.pop_back();
        }
        m_aoEntries.push_front(std::move(entry));
        m_oIndex[item.path] = m_aoEntries.begin();
    }
    else
        m_aoEntries.splice(m_aoEntries.begin(), m_aoEntries, it->second);
    Entry& e = m_aoEntries.front();
    return e.warped ? e.warped.get() : e.source.get();
}

void CheckItemUnchanged(const ItemRef& item, const VSIStatBufL* st, GDALDataset* ds)
{
    auto changed = [&](const std::string& what) {
        return Error(ErrorKind::Io, ItemLabel(item) + " changed since it was registered: " +
                                        what + " (pgmosaic.sync() re-inspects it)");
    };
    if (st != nullptr)
    {
        if (item.fileSize && static_cast<std::int64_t>(st->st_size) != *item.fileSize)
            throw changed("its size is " + std::to_string(static_cast<long long>(st->st_size)) +
                          " bytes, recorded " + std::to_string(*item.fileSize));
        if (item.mtime && static_cast<std::int64_t>(st->st_mtime) != *item.mtime)
            throw changed("it was modified at " +
                          std::to_string(static_cast<long long>(st->st_mtime)) +
                          " (seconds since 1970), recorded " + std::to_string(*item.mtime));
    }
    if (ds == nullptr)
        return;
    if (item.width > 0 && (ds->GetRasterXSize() != item.width || ds->GetRasterYSize() != item.height))
        throw changed("it is " + std::to_string(ds->GetRasterXSize()) + " x " +
                      std::to_string(ds->GetRasterYSize()) + " pixels, recorded " +
                      std::to_string(item.width) + " x " + std::to_string(item.height));
    if (!item.bandTypes.empty())
    {
        if (ds->GetRasterCount() != static_cast<int>(item.bandTypes.size()))
            throw changed("it has " + std::to_string(ds->GetRasterCount()) +
                          " bands, recorded " + std::to_string(item.bandTypes.size()));
        for (int b = 1; b <= ds->GetRasterCount(); ++b)
        {
            const GDALDataType t = ds->GetRasterBand(b)->GetRasterDataType();
            const GDALDataType rec = item.bandTypes[static_cast<size_t>(b - 1)];
            if (rec != GDT_Unknown && t != rec)
                throw changed("band " + std::to_string(b) + " is " + GDALGetDataTypeName(t) +
                              ", recorded " + GDALGetDataTypeName(rec));
        }
    }
    GeoTransform gt{};
    if (ds->GetGeoTransform(gt.data()) != CE_None)
        throw changed("it has no geotransform");
    // The record keeps the file's doubles (%.17g): any difference beyond rounding noise of a
    // small fraction of a pixel is a moved file.
    const double tol = 1e-9 * std::max(std::fabs(item.gt[1]), std::fabs(item.gt[5]));
    for (size_t k = 0; k < 6; ++k)
        if (!(std::fabs(gt[k] - item.gt[k]) <= tol + 1e-12 * std::fabs(item.gt[k])))
            throw changed(CPLSPrintf("its geotransform is (%.17g, %.17g, %.17g, %.17g, %.17g, "
                                     "%.17g), recorded (%.17g, %.17g, %.17g, %.17g, %.17g, %.17g)",
                                     gt[0], gt[1], gt[2], gt[3], gt[4], gt[5], item.gt[0],
                                     item.gt[1], item.gt[2], item.gt[3], item.gt[4],
                                     item.gt[5]));
}

void SourcePool::Open(const ItemRef& item, Entry& entry) const
{
    // A network item with a record: opened from its recorded header, without a request (its
    // identity is checked by every range request a read makes).
    const bool network = IsNetworkPath(item.path);
    const ObjectIdentity identity{item.remote ? item.remote->etag : std::string(), item.fileSize,
                                  item.mtime};
    const bool stale = network && IsKnownStale(item.path, identity);
    if (network && item.remote && !stale)
    {
        try
        {
            if (m_poPolicy)
                CheckPathAllowed(*m_poPolicy, item.path);
            RemoteDataset remote = OpenRemote(
                item.path, &identity, item.remote.get(),
                m_poPolicy ? m_poPolicy->allowedDrivers : std::vector<std::string>{});
            entry.source = std::move(remote.dataset);
            entry.remote = std::move(remote.object);
        }
        catch (const Error& e)
        {
            throw Error(e.kind(), "cannot open item " + std::to_string(item.id) + " (" +
                                      item.path + "): " + e.what());
        }
    }
    // One stat per opening, when the catalog recorded what to compare it with; not for an
    // object this process found changed (read through GDAL as it is now). A local file that
    // may be kept open is stat'ed anyway, before and after it is opened.
    const bool keepable = m_poKept && !network && !entry.source;
    VSIStatBufL before;
    bool stated = false;
    // The sidecars as GDAL may find them, beside the file it opens, stated before it opens it;
    // none stated for a path the policy refuses (nothing outside the roots is asked of the file
    // system; the open below fails naming the item).
    std::vector<std::optional<FileIdentity>> sidecars;
    if (keepable)
    {
        try
        {
            sidecars = SidecarsOf(m_poPolicy ? CheckPathAllowed(*m_poPolicy, item.path)
                                             : item.path);
        }
        catch (const Error&)
        {
        }
    }
    if (!entry.source && (((item.fileSize || item.mtime) && !stale) || keepable))
    {
        stated = VSIStatL(item.path.c_str(), &before) == 0;
        if (stated && (item.fileSize || item.mtime) && !stale) // a missing file fails below
            CheckItemUnchanged(item, &before, nullptr);
    }
    GdalErrorCollector errors;
    if (!entry.source && m_poPolicy)
    {
        try
        {
            entry.source = OpenAllowed(*m_poPolicy, item.path);
        }
        catch (const Error& e)
        {
            throw Error(e.kind(), "cannot open " + ItemLabel(item) + ": " + e.what());
        }
    }
    else if (!entry.source)
        entry.source.reset(
            GDALDataset::Open(item.path.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR));
    if (!entry.source)
        throw Error(ErrorKind::Io,
                    "cannot open " + ItemLabel(item) + ": " + errors.Message("open failed"));
    Finish(item, entry);
    // The same file at the path before and after: the one opened.
    VSIStatBufL after;
    if (keepable && stated && !entry.warped && !entry.remote &&
        VSIStatL(item.path.c_str(), &after) == 0 && IdentityOf(after) == IdentityOf(before))
    {
        entry.keepable = true;
        entry.identity = IdentityOf(before);
        entry.sidecars = std::move(sidecars);
        entry.policyKey = m_osPolicyKey;
    }
}

void SourcePool::Finish(const ItemRef& item, Entry& entry) const
{
    CheckItemUnchanged(item, nullptr, entry.source.get());
    // An asset gives some of the mosaic's bands; an item of one file gives them all.
    if (item.asset.empty() && entry.source->GetRasterCount() < m_oMosaic.bandCount)
        throw Error(ErrorKind::Mismatch, "item " + std::to_string(item.id) + " (" + item.path +
                                             ") has fewer bands than its mosaic");
    if (NeedsWarp(m_oMosaic, item))
        Warp(item, entry);
    else if (!entry.blocks)
        entry.blocks = TiffBlockReader::Open(entry.source.get());
}

bool SourcePool::TakeKept(const ItemRef& item, Entry& entry) const
{
    if (!m_poKept || IsNetworkPath(item.path) || NeedsWarp(m_oMosaic, item))
        return false;
    Entry kept;
    if (!m_poKept->Take(item.path, m_osPolicyKey, kept))
        return false;
    // The checks of a fresh open; any failure closes the file and leaves the path to Open,
    // whose errors name the problem.
    try
    {
        const std::string canonical = CheckPathAllowed(*m_poPolicy, item.path);
        VSIStatBufL st;
        if (VSIStatL(item.path.c_str(), &st) != 0 || !(IdentityOf(st) == kept.identity) ||
            SidecarsOf(canonical) != kept.sidecars)
            return false;
        // The block reader's handle, opened again by name: still the same file after.
        if (kept.blocks && (!kept.blocks->ReopenFile() || VSIStatL(item.path.c_str(), &st) != 0 ||
                            !(IdentityOf(st) == kept.identity)))
            return false;
        if (item.fileSize || item.mtime)
            CheckItemUnchanged(item, &st, nullptr);
        Finish(item, kept);
    }
    catch (const Error&)
    {
        return false;
    }
    entry = std::move(kept);
    return true;
}

TiffBlockReader* SourcePool::Blocks() const
{
    return m_aoEntries.empty() ? nullptr : m_aoEntries.front().blocks.get();
}

std::shared_ptr<RemoteObject> SourcePool::Remote() const
{
    return m_aoEntries.empty() ? nullptr : m_aoEntries.front().remote;
}

int SourcePool::ForgetStale()
{
    int n = 0;
    for (auto it = m_aoEntries.begin(); it != m_aoEntries.end();)
    {
        if (it->remote && it->remote->stale())
        {
            m_oIndex.erase(it->key);
            it->warped.reset();
            it->blocks.reset();
            it->source.reset();
            it = m_aoEntries.erase(it);
            ++n;
        }
        else
            ++it;
    }
    return n;
}

// A warped view of the source on the mosaic grid, covering the source's extent snapped outward
// to mosaic pixels. Exact transformation (no approximation), the requested resampling, and an
// alpha band so that pixels the source does not cover never hide lower items.
void SourcePool::Warp(const ItemRef& item, Entry& entry) const
{
    CPLDebug("PGMOSAIC", "item %lld (%s) is off the mosaic grid: warped",
             static_cast<long long>(item.id), item.path.c_str());
    GdalErrorCollector errors;
    GDALDataset* src = entry.source.get();
    auto fail = [&](const char* what) {
        return Error(ErrorKind::Io, std::string(what) + " item " + std::to_string(item.id) + " (" +
                                        item.path + "): " + errors.Message());
    };
    CPLStringList transformerOpts;
    transformerOpts.SetNameValue("DST_SRS", m_oMosaic.srsWkt.c_str());
    void* transformer = GDALCreateGenImgProjTransformer2(src, nullptr, transformerOpts.List());
    if (transformer == nullptr)
        throw fail("cannot reproject");
    double suggested[6];
    double extent[4];
    int sw = 0, sh = 0;
    const CPLErr err = GDALSuggestedWarpOutput2(src, GDALGenImgProjTransform, transformer,
                                                suggested, &sw, &sh, extent, 0);
    GDALDestroyGenImgProjTransformer(transformer);
    if (err != CE_None)
        throw fail("cannot compute the warped extent of");
    const auto& m = m_oMosaic.gt;
    const double c0 = std::floor((extent[0] - m[0]) / m[1] + 1e-6);
    const double c1 = std::ceil((extent[2] - m[0]) / m[1] - 1e-6);
    const double r0 = std::floor((extent[3] - m[3]) / m[5] + 1e-6);
    const double r1 = std::ceil((extent[1] - m[3]) / m[5] - 1e-6);
    double dstGt[6] = {m[0] + c0 * m[1], m[1], 0, m[3] + r0 * m[5], 0, m[5]};
    // Checked as doubles: a reprojection blowing up must not wrap the size into range.
    if (!(c1 - c0 >= 1 && r1 - r0 >= 1))
        throw fail("empty warped extent for");
    if (c1 - c0 > INT_MAX || r1 - r0 > INT_MAX)
        throw Error(ErrorKind::Mismatch,
                    "item " + std::to_string(item.id) + " (" + item.path +
                        ") warped onto the mosaic grid would be " + CPLSPrintf("%.0f", c1 - c0) +
                        " x " + CPLSPrintf("%.0f", r1 - r0) +
                        " pixels, more than GDAL can represent");
    const int dw = static_cast<int>(c1 - c0), dh = static_cast<int>(r1 - r0);

    GDALWarpOptions* wo = GDALCreateWarpOptions();
    wo->hSrcDS = src;
    wo->eResampleAlg = m_oResampling.warp;
    wo->nBandCount = item.asset.empty() ? m_oMosaic.bandCount : src->GetRasterCount();
    wo->panSrcBands = static_cast<int*>(CPLMalloc(sizeof(int) * wo->nBandCount));
    wo->panDstBands = static_cast<int*>(CPLMalloc(sizeof(int) * wo->nBandCount));
    bool srcHasNodata = false;
    for (int b = 0; b < wo->nBandCount; ++b)
    {
        wo->panSrcBands[b] = wo->panDstBands[b] = b + 1;
        int has = FALSE;
        src->GetRasterBand(b + 1)->GetNoDataValue(&has);
        srcHasNodata = srcHasNodata || has;
    }
    if (srcHasNodata)
    {
        wo->padfSrcNoDataReal = static_cast<double*>(CPLMalloc(sizeof(double) * wo->nBandCount));
        for (int b = 0; b < wo->nBandCount; ++b)
            wo->padfSrcNoDataReal[b] = src->GetRasterBand(b + 1)->GetNoDataValue();
    }
    else if (src->GetRasterBand(1)->GetMaskFlags() & GMF_ALPHA)
    {
        for (int b = 1; b <= src->GetRasterCount(); ++b)
            if (src->GetRasterBand(b)->GetColorInterpretation() == GCI_AlphaBand)
                wo->nSrcAlphaBand = b;
    }
    wo->nDstAlphaBand = wo->nBandCount + 1;
    wo->pTransformerArg = GDALCreateGenImgProjTransformer3(
        src->GetProjectionRef(), src->GetGeoTransform(suggested) == CE_None ? suggested : nullptr,
        m_oMosaic.srsWkt.c_str(), dstGt);
    wo->pfnTransformer = GDALGenImgProjTransform;
    GDALDatasetH warped = GDALCreateWarpedVRT(src, dw, dh, dstGt, wo);
    GDALDestroyWarpOptions(wo);
    if (warped == nullptr)
        throw fail("cannot reproject");
    entry.warped.reset(GDALDataset::FromHandle(warped));
}

} // namespace pgmosaic
