#include "read/source_pool.h"

#include <algorithm>
#include <climits>
#include <cmath>

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

SourcePool::SourcePool(const MosaicInfo& mosaic, const ReadOptions& options, size_t capacity)
    : m_oMosaic(mosaic), m_oResampling(options.resampling), m_poPolicy(options.sourcePolicy),
      m_nCapacity(capacity < 1 ? 1 : capacity)
{
}

SourcePool::~SourcePool()
{
    for (auto& e : m_aoEntries)
    {
        e.warped.reset();
        e.blocks.reset();
    }
}

GDALDataset* SourcePool::Acquire(const ItemRef& item)
{
    auto it = m_oIndex.find(item.path);
    if (it == m_oIndex.end())
    {
        Entry entry;
        entry.key = item.path;
        Open(item, entry);
        if (m_aoEntries.size() >= m_nCapacity)
        {
            Entry& last = m_aoEntries.back();
            m_oIndex.erase(last.key);
            last.warped.reset();
            last.blocks.reset();
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
    // object this process found changed (read through GDAL as it is now).
    if (!entry.source && (item.fileSize || item.mtime) && !stale)
    {
        VSIStatBufL st;
        if (VSIStatL(item.path.c_str(), &st) == 0) // a missing file fails opening, below
            CheckItemUnchanged(item, &st, nullptr);
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
    CheckItemUnchanged(item, nullptr, entry.source.get());
    // An asset gives some of the mosaic's bands; an item of one file gives them all.
    if (item.asset.empty() && entry.source->GetRasterCount() < m_oMosaic.bandCount)
        throw Error(ErrorKind::Mismatch, "item " + std::to_string(item.id) + " (" + item.path +
                                             ") has fewer bands than its mosaic");
    // An asset in the mosaic's SRS is read as a VRT source is, scaled to the mosaic's
    // resolution with the read's resampling (the grid of a band of another resolution is the
    // mosaic's, scaled); other SRSs are warped, as items are.
    const bool scaled = !item.asset.empty() && item.srid == m_oMosaic.srid && IsNorthUp(item.gt);
    if (!scaled && !IsOnMosaicGrid(m_oMosaic, item))
        Warp(item, entry);
    else
        entry.blocks = TiffBlockReader::Open(entry.source.get());
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
