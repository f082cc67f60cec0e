#include "composite_reader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <thread>

#include "error.h"
#include "parallel.h"

namespace pgmosaic
{

// One item's part in a read: where it lands, and (unless read straight into the caller's
// buffer) its pixels and their validity, band after band.
struct CompositeReader::Step
{
    const ItemRef* item = nullptr;
    Placement place;
    bool opaque = false;  // every pixel of the requested bands is valid
    bool direct = false;  // read straight into the caller's buffer
    bool skipped = false; // missing=skip and the item could not be read
    GDALDataType type = GDT_Byte;
    std::vector<GByte> data;  // bands x rows x cols, in `type`
    std::vector<GByte> valid; // bands x rows x cols, 0/1; empty when every pixel is valid
};

namespace
{

template <typename T> void NodataValidityT(const T* v, size_t n, double nodata, GByte* valid)
{
    if (std::isnan(nodata))
    {
        for (size_t i = 0; i < n; ++i)
            valid[i] = !std::isnan(static_cast<double>(v[i]));
        return;
    }
    const double nd = nodata;
    for (size_t i = 0; i < n; ++i)
        valid[i] = static_cast<double>(v[i]) != nd;
}

// valid[i] = pixel i differs from the nodata value (NaN-aware), in the pixels' own type.
void NodataValidity(GDALDataType type, const GByte* data, size_t n, double nodata, GByte* valid)
{
    switch (type)
    {
    case GDT_Byte:
        return NodataValidityT(data, n, nodata, valid);
    case GDT_UInt16:
        return NodataValidityT(reinterpret_cast<const GUInt16*>(data), n, nodata, valid);
    case GDT_Int16:
        return NodataValidityT(reinterpret_cast<const GInt16*>(data), n, nodata, valid);
    case GDT_UInt32:
        return NodataValidityT(reinterpret_cast<const GUInt32*>(data), n, nodata, valid);
    case GDT_Int32:
        return NodataValidityT(reinterpret_cast<const GInt32*>(data), n, nodata, valid);
    case GDT_Float32:
        return NodataValidityT(reinterpret_cast<const float*>(data), n, nodata, valid);
    case GDT_Float64:
        return NodataValidityT(reinterpret_cast<const double*>(data), n, nodata, valid);
    default:
        throw Error(ErrorKind::Mismatch, std::string("data type ") + GDALGetDataTypeName(type) +
                                             " is not supported for items with nodata");
    }
}

} // namespace

CompositeReader::CompositeReader(const MosaicInfo& mosaic, ItemCatalog& catalog,
                                 const ReadOptions& options, size_t poolCapacity)
    : m_oMosaic(mosaic), m_oCatalog(catalog), m_oOptions(options), m_nPoolCapacity(poolCapacity)
{
}

CompositeReader::~CompositeReader() = default;

SourcePool& CompositeReader::PoolFor(int thread)
{
    return *m_apoPools[static_cast<size_t>(thread)];
}

bool CompositeReader::Skip(const ItemRef& item, const Error& error)
{
    if (!m_oOptions.skipMissing ||
        (error.kind() != ErrorKind::Io && error.kind() != ErrorKind::NotFound))
        return false;
    std::lock_guard<std::mutex> lock(m_oWarnMutex);
    if (m_oWarnedItems.insert(item.id).second)
        CPLError(CE_Warning, CPLE_AppDefined, "PGMOSAIC: skipping item %lld: %s",
                 static_cast<long long>(item.id), error.what());
    return true;
}

std::vector<CompositeReader::Step> CompositeReader::Plan(const Request& req,
                                                         const std::vector<ItemRef>& items,
                                                         const std::vector<int>& bands, bool cull)
{
    // Top-down: with culling (first/last), an item wholly under an opaque item above it is
    // dropped, and planning stops at an opaque item that covers the whole buffer.
    std::vector<Step> plan;
    std::vector<Window> opaqueRects;
    const Window whole{0, 0, req.bufW, req.bufH};
    for (const ItemRef& item : items)
    {
        GDALDataset* ds = nullptr;
        try
        {
            ds = PoolFor(0).Acquire(item);
        }
        catch (const Error& e)
        {
            if (Skip(item, e))
                continue;
            throw;
        }
        GeoTransform gt{};
        ds->GetGeoTransform(gt.data());
        auto place = PlaceSource(m_oMosaic.gt, req, gt, ds->GetRasterXSize(), ds->GetRasterYSize());
        if (!place)
            continue;
        if (cull && std::any_of(opaqueRects.begin(), opaqueRects.end(),
                                [&](const Window& r) { return r.Contains(place->dst); }))
            continue;
        Step step;
        step.item = &item;
        step.place = *place;
        step.type = ds->GetRasterBand(bands[0])->GetRasterDataType();
        step.opaque = std::all_of(bands.begin(), bands.end(), [&](int b) {
            return ds->GetRasterBand(b)->GetMaskFlags() == GMF_ALL_VALID &&
                   ds->GetRasterBand(b)->GetColorInterpretation() != GCI_AlphaBand;
        });
        plan.push_back(std::move(step));
        if (cull && plan.back().opaque)
        {
            opaqueRects.push_back(place->dst);
            if (place->dst.Contains(whole))
                break;
        }
    }
    return plan;
}

void CompositeReader::Fetch(Step& step, SourcePool& pool, const std::vector<int>& bands,
                            bool asDouble, const BufferSpec* direct) const
{
    GDALDataset* ds = pool.Acquire(*step.item);
    const Placement& p = step.place;
    const Window src = p.SrcWindowEnclosing();
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    extra.eResampleAlg = m_oOptions.resampling.rasterIO;
    if (!p.integral)
    {
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = p.srcX;
        extra.dfYOff = p.srcY;
        extra.dfXSize = p.srcW;
        extra.dfYSize = p.srcH;
    }
    std::vector<int> bandMap(bands);
    GdalErrorCollector errors;
    auto readFailed = [&]() {
        return Error(ErrorKind::Io, "cannot read item " + std::to_string(step.item->id) + " (" +
                                        step.item->path + "): " + errors.Message("read failed"));
    };
    if (direct != nullptr)
    {
        GByte* dst = static_cast<GByte*>(direct->data) + p.dst.y * direct->lineSpace +
                     p.dst.x * direct->pixelSpace;
        if (ds->RasterIO(GF_Read, src.x, src.y, src.w, src.h, dst, p.dst.w, p.dst.h, direct->type,
                         static_cast<int>(bandMap.size()), bandMap.data(), direct->pixelSpace,
                         direct->lineSpace, direct->bandSpace, &extra) != CE_None)
            throw readFailed();
        return;
    }
    const GDALDataType type = asDouble ? GDT_Float64 : step.type;
    const int typeSize = GDALGetDataTypeSizeBytes(type);
    const size_t pixels = static_cast<size_t>(p.dst.w) * p.dst.h;
    const size_t bandBytes = pixels * typeSize;
    step.type = type;
    step.data.resize(bandBytes * bands.size());
    if (ds->RasterIO(GF_Read, src.x, src.y, src.w, src.h, step.data.data(), p.dst.w, p.dst.h, type,
                     static_cast<int>(bandMap.size()), bandMap.data(), typeSize,
                     static_cast<GSpacing>(p.dst.w) * typeSize, bandBytes, &extra) != CE_None)
        throw readFailed();
    if (step.opaque)
        return;
    // Validity the GDAL way: the nodata value when the band has one, else its mask band
    // (per-dataset mask, alpha band, or the warped view's alpha).
    step.valid.resize(pixels * bands.size());
    GDALRasterIOExtraArg maskExtra = extra;
    maskExtra.eResampleAlg = GRIORA_NearestNeighbour;
    for (size_t b = 0; b < bands.size(); ++b)
    {
        GDALRasterBand* band = ds->GetRasterBand(bands[b]);
        // The alpha band itself reports every pixel valid; it follows the dataset's mask (its
        // own values), so transparent pixels never overwrite a lower item's alpha.
        if (band->GetColorInterpretation() == GCI_AlphaBand &&
            (ds->GetRasterBand(1)->GetMaskFlags() & GMF_ALPHA))
            band = ds->GetRasterBand(1);
        GByte* valid = step.valid.data() + b * pixels;
        const int flags = band->GetMaskFlags();
        if (flags & GMF_NODATA)
            NodataValidity(type, step.data.data() + b * bandBytes, pixels, band->GetNoDataValue(),
                           valid);
        else if (flags == GMF_ALL_VALID)
            memset(valid, 1, pixels);
        else if ((flags & GMF_PER_DATASET) && b > 0)
            memcpy(valid, step.valid.data(), pixels);
        else
        {
            if (band->GetMaskBand()->RasterIO(GF_Read, src.x, src.y, src.w, src.h, valid, p.dst.w,
                                              p.dst.h, GDT_Byte, 1, p.dst.w, &maskExtra) != CE_None)
                throw readFailed();
            for (size_t i = 0; i < pixels; ++i)
                valid[i] = valid[i] != 0;
        }
    }
}

void CompositeReader::FetchAll(std::vector<Step>& steps, const std::vector<int>& bands,
                               bool asDouble, const BufferSpec* direct)
{
    const int threads = steps.size() > 1 ? m_oOptions.numThreads : 1;
    while (m_apoPools.size() < static_cast<size_t>(std::max(1, threads)))
        m_apoPools.push_back(
            std::make_unique<SourcePool>(m_oMosaic, m_oOptions.resampling, m_nPoolCapacity));
    ParallelFor(steps.size(), threads, [&](size_t i, int thread) {
        Step& step = steps[i];
        try
        {
            Fetch(step, PoolFor(thread), bands, asDouble, step.direct ? direct : nullptr);
        }
        catch (const Error& e)
        {
            if (!Skip(*step.item, e))
                throw;
            step.skipped = true;
            step.data.clear();
            step.valid.clear();
        }
    });
}

void CompositeReader::Read(const Request& req, const std::vector<int>& bands, const BufferSpec& buf)
{
    if (m_apoPools.empty())
        m_apoPools.push_back(
            std::make_unique<SourcePool>(m_oMosaic, m_oOptions.resampling, m_nPoolCapacity));
    std::vector<ItemRef> items = m_oCatalog.FindItems(RequestEnvelope(m_oMosaic.gt, req.win));
    const Method method = m_oOptions.method;
    if (method == Method::Last)
        std::reverse(items.begin(), items.end());

    if (method != Method::First && method != Method::Last)
    {
        std::vector<Step> steps = Plan(req, items, bands, false);
        FetchAll(steps, bands, true, nullptr);
        Aggregate(steps, req, bands.size(), buf);
        return;
    }

    std::vector<Step> steps = Plan(req, items, bands, true);
    const bool covered = !steps.empty() && steps.back().opaque &&
                         steps.back().place.dst.Contains({0, 0, req.bufW, req.bufH});
    if (!covered)
        Fill(req, bands.size(), buf, m_oMosaic.nodata.value_or(0.0));
    // An opaque item is read straight into the caller's buffer when no other planned item
    // overlaps it (so order does not matter); every other item through its own buffer, then
    // painted bottom-up so that higher items overwrite lower ones where they are valid.
    for (Step& s : steps)
    {
        s.direct = s.opaque && std::none_of(steps.begin(), steps.end(), [&](const Step& o) {
                       const Window &a = s.place.dst, &b = o.place.dst;
                       return &o != &s && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h &&
                              b.y < a.y + a.h;
                   });
    }
    FetchAll(steps, bands, false, &buf);
    for (auto it = steps.rbegin(); it != steps.rend(); ++it)
        if (!it->direct && !it->skipped)
            Paint(*it, bands.size(), buf);
}

void CompositeReader::ReadCoverage(const Request& req, const BufferSpec& buf)
{
    if (m_apoPools.empty())
        m_apoPools.push_back(
            std::make_unique<SourcePool>(m_oMosaic, m_oOptions.resampling, m_nPoolCapacity));
    const std::vector<ItemRef> items = m_oCatalog.FindItems(RequestEnvelope(m_oMosaic.gt, req.win));
    const std::vector<int> firstBand{1};
    std::vector<Step> steps = Plan(req, items, firstBand, true);
    Fill(req, 1, buf, 0);
    FetchAll(steps, firstBand, true, nullptr);
    const double full = 255;
    for (const Step& s : steps)
    {
        if (s.skipped)
            continue;
        const Placement& p = s.place;
        for (int y = 0; y < p.dst.h; ++y)
        {
            GByte* row = static_cast<GByte*>(buf.data) + (p.dst.y + y) * buf.lineSpace +
                         p.dst.x * buf.pixelSpace;
            for (int x = 0; x < p.dst.w; ++x)
                if (s.valid.empty() || s.valid[static_cast<size_t>(y) * p.dst.w + x])
                    GDALCopyWords(&full, GDT_Float64, 0, row + x * buf.pixelSpace, buf.type, 0, 1);
        }
    }
}

void CompositeReader::Fill(const Request& req, size_t bandCount, const BufferSpec& buf,
                           double value) const
{
    GByte* base = static_cast<GByte*>(buf.data);
    for (size_t b = 0; b < bandCount; ++b)
        for (int y = 0; y < req.bufH; ++y)
            GDALCopyWords64(&value, GDT_Float64, 0, base + b * buf.bandSpace + y * buf.lineSpace,
                            buf.type, static_cast<int>(buf.pixelSpace), req.bufW);
}

void CompositeReader::Paint(const Step& step, size_t bandCount, const BufferSpec& buf) const
{
    const Placement& p = step.place;
    const int typeSize = GDALGetDataTypeSizeBytes(step.type);
    const size_t pixels = static_cast<size_t>(p.dst.w) * p.dst.h;
    for (size_t b = 0; b < bandCount; ++b)
    {
        const GByte* src = step.data.data() + b * pixels * typeSize;
        const GByte* valid = step.valid.empty() ? nullptr : step.valid.data() + b * pixels;
        GByte* dstBand = static_cast<GByte*>(buf.data) + b * buf.bandSpace;
        for (int y = 0; y < p.dst.h; ++y)
        {
            const size_t row = static_cast<size_t>(y) * p.dst.w;
            GByte* dst = dstBand + (p.dst.y + y) * buf.lineSpace + p.dst.x * buf.pixelSpace;
            int x = 0;
            while (x < p.dst.w)
            {
                while (valid && x < p.dst.w && !valid[row + x])
                    ++x;
                const int start = x;
                while (x < p.dst.w && (!valid || valid[row + x]))
                    ++x;
                if (x > start)
                    GDALCopyWords64(src + (row + start) * typeSize, step.type, typeSize,
                                    dst + start * buf.pixelSpace, buf.type,
                                    static_cast<int>(buf.pixelSpace), x - start);
            }
        }
    }
}

void CompositeReader::Aggregate(std::vector<Step>& steps, const Request& req, size_t bandCount,
                                const BufferSpec& buf) const
{
    const Method method = m_oOptions.method;
    const size_t pixels = static_cast<size_t>(req.bufW) * req.bufH;
    const double nodata = m_oMosaic.nodata.value_or(0.0);
    std::vector<double> acc(method == Method::Count ? 0 : pixels);
    std::vector<std::uint32_t> count(pixels);
    std::vector<double> row(static_cast<size_t>(req.bufW));
    for (size_t b = 0; b < bandCount; ++b)
    {
        const double init = method == Method::Min   ? std::numeric_limits<double>::infinity()
                            : method == Method::Max ? -std::numeric_limits<double>::infinity()
                                                    : 0.0;
        std::fill(acc.begin(), acc.end(), init);
        std::fill(count.begin(), count.end(), 0);
        for (const Step& s : steps)
        {
            if (s.skipped)
                continue;
            const Placement& p = s.place;
            const size_t sp = static_cast<size_t>(p.dst.w) * p.dst.h;
            const double* v = reinterpret_cast<const double*>(s.data.data()) + b * sp;
            const GByte* valid = s.valid.empty() ? nullptr : s.valid.data() + b * sp;
            for (int y = 0; y < p.dst.h; ++y)
                for (int x = 0; x < p.dst.w; ++x)
                {
                    const size_t i = static_cast<size_t>(y) * p.dst.w + x;
                    if (valid && !valid[i])
                        continue;
                    const size_t o = static_cast<size_t>(p.dst.y + y) * req.bufW + p.dst.x + x;
                    ++count[o];
                    switch (method)
                    {
                    case Method::Min:
                        acc[o] = std::min(acc[o], v[i]);
                        break;
                    case Method::Max:
                        acc[o] = std::max(acc[o], v[i]);
                        break;
                    case Method::Mean:
                    case Method::Sum:
                        acc[o] += v[i];
                        break;
                    default:
                        break;
                    }
                }
        }
        GByte* dstBand = static_cast<GByte*>(buf.data) + b * buf.bandSpace;
        for (int y = 0; y < req.bufH; ++y)
        {
            for (int x = 0; x < req.bufW; ++x)
            {
                const size_t o = static_cast<size_t>(y) * req.bufW + x;
                if (method == Method::Count)
                    row[x] = count[o];
                else if (count[o] == 0)
                    row[x] = nodata;
                else
                    row[x] = method == Method::Mean ? acc[o] / count[o] : acc[o];
            }
            GDALCopyWords64(row.data(), GDT_Float64, sizeof(double), dstBand + y * buf.lineSpace,
                            buf.type, static_cast<int>(buf.pixelSpace), req.bufW);
        }
    }
}

} // namespace pgmosaic
