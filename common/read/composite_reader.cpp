#include "read/composite_reader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <thread>

#include "error.h"
#include "parallel.h"
#include "read/pixel_mask.h"
#include "read/stack_methods.h"

namespace pgmosaic
{

// One file's share of an item's step: an item of one file has one part with every band of the
// read; an item made of several files (assets) one part per asset that gives some of them.
struct CompositeReader::Part
{
    const ItemRef* file = nullptr; // the item itself, or one of its assets
    Placement place;               // within the step's window
    std::vector<size_t> slots;     // which bands of the read (indices) it gives
    std::vector<int> fileBands;    // the file's bands for them
    const EmptyBlocks* emptyBlocks = nullptr; // DRAD: blocks without a valid pixel
};

// One item's part in a read: where it lands, and (unless read straight into the caller's
// buffer) its pixels and their validity, band after band.
struct CompositeReader::Step
{
    const ItemRef* item = nullptr;
    Placement place;            // an item of several files: the union of their windows
    std::vector<Part> parts;
    bool opaque = false;        // every pixel of the requested bands is valid
    bool fillsLikeFill = false; // invalid pixels are the fill value (nodata = mosaic nodata)
    bool maskValidity = false;  // validity comes from mask bands (mask, alpha)
    bool partial = false;       // some band or some pixel of the window has no file
    bool direct = false;        // read straight into the caller's buffer
    bool skipped = false;       // missing=skip and the item could not be read
    bool fewPixels = false;     // of a read of a few pixels at full resolution (kFewPixels)
    int thread = 0;             // the pool (and reading thread) that holds the item open
    GDALDataType type = GDT_Byte;
    std::vector<std::optional<double>> nodata; // per requested band
    PixelBytes data;  // bands x rows x cols, in `type`
    PixelBytes valid; // bands x rows x cols, 0/1; only when validity needs arrays
};

namespace
{

// Items whose empty blocks a reader remembers.
constexpr size_t kMaxEmptyBlockItems = 100000;

// Reads of at most this many pixels at full resolution (value() at a point) are decoded
// straight into the buffer, not through GDAL's block cache (TiffBlockReader::ReadWindow). Not
// the parts of larger reads, however small: those share blocks with the read's other parts.
constexpr std::int64_t kFewPixels = 64 * 64;

// Reads on several threads only when a window is big enough to repay starting them.
constexpr std::int64_t kParallelPixels = 512 * 512;

// Calls fn(start, count) for each run of valid pixels in one row of `n` values of type T:
// valid when `valid` says so, else when the value is not *nodata (NaN-aware), else always.
template <typename T, typename Fn>
void ForValidRunsT(const T* v, int n, const double* nodata, const GByte* valid, Fn&& fn)
{
    auto runs = [&](auto&& ok) {
        int i = 0;
        while (i < n)
        {
            while (i < n && !ok(i))
                ++i;
            const int start = i;
            while (i < n && ok(i))
                ++i;
            if (i > start)
                fn(start, i - start);
        }
    };
    if (valid != nullptr)
        runs([&](int k) { return valid[k] != 0; });
    else if (!nodata)
        fn(0, n);
    else if (std::isnan(*nodata))
        runs([&](int k) { return !std::isnan(static_cast<double>(v[k])); });
    else if (std::is_integral<T>::value &&
             (*nodata != std::floor(*nodata) ||
              *nodata < static_cast<double>(std::numeric_limits<T>::lowest()) ||
              *nodata > static_cast<double>(std::numeric_limits<T>::max())))
        fn(0, n); // no value of T equals this nodata
    else
    {
        const T nd = static_cast<T>(*nodata);
        runs([&](int k) { return v[k] != nd; });
    }
}

template <typename Fn>
void ForValidRuns(GDALDataType type, const GByte* row, int n, const double* nodata,
                  const GByte* valid, Fn&& fn)
{
    switch (type)
    {
    case GDT_Byte:
        return ForValidRunsT(row, n, nodata, valid, fn);
    case GDT_UInt16:
        return ForValidRunsT(reinterpret_cast<const GUInt16*>(row), n, nodata, valid, fn);
    case GDT_Int16:
        return ForValidRunsT(reinterpret_cast<const GInt16*>(row), n, nodata, valid, fn);
    case GDT_UInt32:
        return ForValidRunsT(reinterpret_cast<const GUInt32*>(row), n, nodata, valid, fn);
    case GDT_Int32:
        return ForValidRunsT(reinterpret_cast<const GInt32*>(row), n, nodata, valid, fn);
    case GDT_Float32:
        return ForValidRunsT(reinterpret_cast<const float*>(row), n, nodata, valid, fn);
    case GDT_Float64:
        return ForValidRunsT(reinterpret_cast<const double*>(row), n, nodata, valid, fn);
    default:
        if (!nodata && valid == nullptr)
            return fn(0, n);
        throw Error(ErrorKind::Mismatch, std::string("data type ") + GDALGetDataTypeName(type) +
                                             " is not supported for items with nodata");
    }
}

bool Overlap(const Window& a, const Window& b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

} // namespace

CompositeReader::CompositeReader(const MosaicInfo& mosaic, ItemCatalog& catalog,
                                 const ReadOptions& options, size_t poolCapacity)
    : m_oMosaic(mosaic), m_oCatalog(catalog), m_oOptions(options),
      m_oMask(ParseMask(mosaic, options.mask)), m_nPoolCapacity(poolCapacity)
{
    if (m_oOptions.method == Method::Quality)
    {
        m_oQuality = Expression::Parse(m_oOptions.quality, BandNames(mosaic), ItemValueNames());
        if (m_oQuality->MaxBand() > mosaic.bandCount)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid method quality:" + m_oOptions.quality + ": it uses b" +
                            std::to_string(m_oQuality->MaxBand()) + " but mosaic \"" +
                            mosaic.name + "\" has " + std::to_string(mosaic.bandCount) +
                            " bands");
    }
    EnsurePools(std::max(1, m_oOptions.numThreads));
}

CompositeReader::~CompositeReader() = default;

SourcePool& CompositeReader::PoolFor(int thread)
{
    return *m_apoPools[static_cast<size_t>(thread)];
}

int CompositeReader::Home(const ItemRef& item) const
{
    const auto n = static_cast<std::int64_t>(m_apoPools.size());
    return static_cast<int>(((item.id % n) + n) % n);
}

bool CompositeReader::Parallel(const Request& req, size_t tasks) const
{
    return m_apoPools.size() > 1 && tasks > 1 &&
           static_cast<std::int64_t>(req.bufW) * req.bufH >= kParallelPixels;
}

void CompositeReader::ForEachPool(bool parallel, const std::function<void(int)>& fn)
{
    const int n = static_cast<int>(m_apoPools.size());
    if (parallel)
        ParallelFor(static_cast<size_t>(n), n,
                    [&](size_t pool, int) { fn(static_cast<int>(pool)); });
    else
        for (int pool = 0; pool < n; ++pool)
            fn(pool);
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

void CompositeReader::EnsurePools(int threads)
{
    while (m_apoPools.size() < static_cast<size_t>(std::max(1, threads)))
        m_apoPools.push_back(
            std::make_unique<SourcePool>(m_oMosaic, m_oOptions, m_nPoolCapacity));
}

// The parts of an item for a read of mosaic bands `bands`: the item's own file for every band,
// or, for an item made of several files, each asset that gives some of them (by the mosaic's
// band sources); a band whose asset the item lacks has no part.
std::vector<CompositeReader::Part> CompositeReader::Parts(const ItemRef& item,
                                                          const std::vector<int>& bands) const
{
    std::vector<Part> parts;
    if (item.assets.empty())
    {
        Part p;
        p.file = &item;
        for (size_t k = 0; k < bands.size(); ++k)
        {
            p.slots.push_back(k);
            p.fileBands.push_back(bands[k]);
        }
        parts.push_back(std::move(p));
        return parts;
    }
    for (size_t k = 0; k < bands.size(); ++k)
    {
        const size_t b = static_cast<size_t>(bands[k]);
        if (b < 1 || b > m_oMosaic.bandSources.size())
            continue;
        const BandSource& source = m_oMosaic.bandSources[b - 1];
        const auto asset = std::find_if(item.assets.begin(), item.assets.end(),
                                        [&](const ItemRef& a) { return a.asset == source.asset; });
        if (asset == item.assets.end() ||
            (!asset->assetBands.empty() &&
             std::find(asset->assetBands.begin(), asset->assetBands.end(), source.band) ==
                 asset->assetBands.end()))
            continue;
        auto part = std::find_if(parts.begin(), parts.end(),
                                 [&](const Part& p) { return p.file == &*asset; });
        if (part == parts.end())
        {
            parts.emplace_back();
            part = parts.end() - 1;
            part->file = &*asset;
        }
        part->slots.push_back(k);
        part->fileBands.push_back(source.band);
    }
    return parts;
}

// Opens the files of the step's item in its home pool and works out where they land and how
// their validity is known. False when the item lands nowhere or is skipped (missing=skip).
bool CompositeReader::Probe(Step& step, const Request& req, const std::vector<int>& bands)
{
    m_oOptions.cancel.Check("reading item " + std::to_string(step.item->id));
    const double fill = m_oMosaic.nodata.value_or(0.0);
    step.nodata.assign(bands.size(), std::nullopt);
    step.fewPixels = req.win.w == req.bufW && req.win.h == req.bufH &&
                     static_cast<std::int64_t>(req.bufW) * req.bufH <= kFewPixels;
    step.opaque = true;
    step.maskValidity = false;
    bool nodataIsFill = true;
    bool typeSet = false;
    std::vector<char> covered(bands.size(), 0);
    std::vector<Part> landed;
    for (Part& part : step.parts)
    {
        GDALDataset* ds = nullptr;
        try
        {
            ds = PoolFor(step.thread).Acquire(*part.file);
        }
        catch (const Error& e)
        {
            if (Skip(*step.item, e))
                return false;
            throw;
        }
        GeoTransform gt{};
        ds->GetGeoTransform(gt.data());
        auto place =
            PlaceSource(m_oMosaic.gt, req, gt, ds->GetRasterXSize(), ds->GetRasterYSize());
        if (!place)
            continue;
        part.place = *place;
        // An asset's file may have fewer bands than the mosaic takes of it: those are missing.
        for (size_t i = part.fileBands.size(); i-- > 0;)
            if (part.fileBands[i] > ds->GetRasterCount())
            {
                part.fileBands.erase(part.fileBands.begin() + static_cast<std::ptrdiff_t>(i));
                part.slots.erase(part.slots.begin() + static_cast<std::ptrdiff_t>(i));
            }
        if (part.slots.empty())
            continue;
        // Validity the GDAL way: the nodata value when a band has one, else its mask band
        // (per-dataset mask, alpha, the warped view's alpha). An alpha band itself follows the
        // dataset's mask, so transparent pixels never overwrite a lower item's alpha.
        const bool datasetAlpha = (ds->GetRasterBand(1)->GetMaskFlags() & GMF_ALPHA) != 0;
        for (size_t i = 0; i < part.slots.size(); ++i)
        {
            GDALRasterBand* band = ds->GetRasterBand(part.fileBands[i]);
            const GDALDataType t = band->GetRasterDataType();
            step.type = !typeSet ? t : GDALDataTypeUnion(step.type, t);
            typeSet = true;
            covered[part.slots[i]] = 1;
            const bool alpha = band->GetColorInterpretation() == GCI_AlphaBand && datasetAlpha;
            const int flags = alpha ? GMF_ALPHA | GMF_PER_DATASET : band->GetMaskFlags();
            if (flags == GMF_ALL_VALID)
                continue;
            step.opaque = false;
            if (flags & GMF_NODATA)
            {
                const double nd = band->GetNoDataValue();
                step.nodata[part.slots[i]] = nd;
                nodataIsFill =
                    nodataIsFill && (nd == fill || (std::isnan(nd) && std::isnan(fill)));
            }
            else
                step.maskValidity = true;
        }
        landed.push_back(std::move(part));
    }
    step.parts = std::move(landed);
    if (step.parts.empty())
        return false;
    // The step's window: its one part's, or the union of its parts'.
    step.place = step.parts[0].place;
    step.partial = std::find(covered.begin(), covered.end(), 0) != covered.end();
    if (step.parts.size() > 1)
    {
        Window u = step.place.dst;
        for (const Part& part : step.parts)
        {
            const Window& d = part.place.dst;
            const int x1 = std::max(u.x + u.w, d.x + d.w), y1 = std::max(u.y + u.h, d.y + d.h);
            u.x = std::min(u.x, d.x);
            u.y = std::min(u.y, d.y);
            u.w = x1 - u.x;
            u.h = y1 - u.y;
        }
        for (const Part& part : step.parts)
        {
            const Window& d = part.place.dst;
            step.partial = step.partial || d.x != u.x || d.y != u.y || d.w != u.w || d.h != u.h;
        }
        step.place.dst = u;
        step.place.integral = false; // never split (SplitDirect)
    }
    // A masked item's validity comes from the mask too (overview tiles were composed masked).
    const bool masked = m_oMask && !step.item->authoritative;
    step.opaque = step.opaque && !step.partial && !masked;
    step.fillsLikeFill = !step.maskValidity && nodataIsFill && !step.partial && !masked;
    return true;
}

std::vector<CompositeReader::Step> CompositeReader::Plan(const Request& req,
                                                         const std::vector<ItemRef>& items,
                                                         const std::vector<int>& bands, bool cull)
{
    std::vector<Step> probed(items.size());
    std::vector<char> landed(items.size(), 0), wanted(items.size(), 1);
    for (size_t i = 0; i < items.size(); ++i)
    {
        probed[i].item = &items[i];
        probed[i].thread = Home(items[i]);
        probed[i].parts = Parts(items[i], bands);
    }
    // Overview tiles lead the list: probe them first; an item wholly under one is not opened
    // at all (its placement from the catalog's geotransform, when in the mosaic's SRS).
    size_t tiles = 0;
    std::vector<Window> tileRects;
    while (tiles < items.size() && items[tiles].authoritative)
    {
        landed[tiles] = Probe(probed[tiles], req, bands);
        if (landed[tiles])
            tileRects.push_back(probed[tiles].place.dst);
        ++tiles;
    }
    for (size_t i = tiles; i < items.size() && !tileRects.empty(); ++i)
    {
        const ItemRef& it = items[i];
        if (it.srid != m_oMosaic.srid || !IsNorthUp(it.gt))
            continue;
        const auto place = PlaceSource(m_oMosaic.gt, req, it.gt, it.width, it.height);
        wanted[i] = place && std::none_of(tileRects.begin(), tileRects.end(),
                                          [&](const Window& r) { return r.Contains(place->dst); });
    }
    // An item on the mosaic grid whose pixels miss the request (its footprint only touches the
    // window's edge) is not opened: placed from the catalog's geotransform, as Probe would.
    for (size_t i = tiles; i < items.size(); ++i)
        if (wanted[i] && IsOnMosaicGrid(m_oMosaic, items[i]) && items[i].width > 0 &&
            !PlaceSource(m_oMosaic.gt, req, items[i].gt, items[i].width, items[i].height))
            wanted[i] = 0;
    // A topmost opaque item covering the whole buffer makes the others unnecessary.
    const Window whole{0, 0, req.bufW, req.bufH};
    size_t start = tiles;
    if (cull && tiles == 0 && !items.empty())
    {
        landed[0] = wanted[0] && Probe(probed[0], req, bands);
        if (landed[0] && probed[0].opaque && probed[0].place.dst.Contains(whole))
            return {std::move(probed[0])};
        start = 1;
    }
    // The rest, each in its home pool (in parallel for big windows).
    ForEachPool(Parallel(req, items.size() - start), [&](int pool) {
        for (size_t i = start; i < items.size(); ++i)
            if (probed[i].thread == pool && wanted[i])
                landed[i] = Probe(probed[i], req, bands);
    });
    // Top-down: an item wholly under an overview tile, or (first/last) under an opaque item
    // above it, is dropped; planning stops at an opaque item that covers the whole buffer.
    std::vector<Step> plan;
    std::vector<Window> coverRects;
    for (size_t i = 0; i < items.size(); ++i)
    {
        if (!landed[i])
            continue;
        const Window dst = probed[i].place.dst;
        if (std::any_of(coverRects.begin(), coverRects.end(),
                        [&](const Window& r) { return r.Contains(dst); }))
            continue;
        plan.push_back(std::move(probed[i]));
        if (plan.back().item->authoritative)
            coverRects.push_back(dst); // culls what it stands for, under any method
        else if (cull && plan.back().opaque)
        {
            coverRects.push_back(dst);
            if (dst.Contains(whole))
                break;
        }
    }
    return plan;
}

PixelBytes CompositeReader::TakeBuffer(size_t size)
{
    PixelBytes out;
    {
        std::lock_guard<std::mutex> lock(m_oBufferMutex);
        // The smallest spare that holds it, else the largest (grown).
        const size_t none = m_aoSpareBuffers.size();
        size_t fits = none, largest = none;
        for (size_t i = 0; i < m_aoSpareBuffers.size(); ++i)
        {
            const size_t c = m_aoSpareBuffers[i].size();
            if (c >= size && (fits == none || c < m_aoSpareBuffers[fits].size()))
                fits = i;
            if (largest == none || c > m_aoSpareBuffers[largest].size())
                largest = i;
        }
        const size_t pick = fits != none ? fits : largest;
        if (pick < none)
        {
            out = std::move(m_aoSpareBuffers[pick]);
            m_nSpareBytes -= out.size();
            m_aoSpareBuffers.erase(m_aoSpareBuffers.begin() + static_cast<std::ptrdiff_t>(pick));
        }
    }
    if (out.size() < size)
        out.resize(size);
    return out;
}

void CompositeReader::GiveBack(std::vector<Step>& steps)
{
    // At most this much kept between reads.
    constexpr size_t kMaxSpareBytes = size_t{768} << 20;
    std::lock_guard<std::mutex> lock(m_oBufferMutex);
    for (Step& s : steps)
        for (auto* b : {&s.data, &s.valid})
        {
            if (b->empty() || m_nSpareBytes + b->size() > kMaxSpareBytes)
                continue;
            m_nSpareBytes += b->size();
            m_aoSpareBuffers.push_back(std::move(*b));
            b->clear();
        }
}

void CompositeReader::Fetch(Step& step, SourcePool& pool, const std::vector<int>& bands,
                            bool asDouble, const BufferSpec* direct, bool allValidity)
{
    m_oOptions.cancel.Check("reading item " + std::to_string(step.item->id));
    if (asDouble)
        step.type = GDT_Float64;
    const size_t pixels = static_cast<size_t>(step.place.dst.w) * step.place.dst.h;
    // Pixels without a file (partial) are never valid: their values are left as they are.
    if (direct == nullptr)
        step.data = TakeBuffer(pixels * GDALGetDataTypeSizeBytes(step.type) * bands.size());
    // Painting compares nodata values itself; validity arrays are made for masks, for items
    // whose files leave some band or pixel of the window without a value, and for every band
    // when aggregating.
    const bool validity = direct == nullptr && !step.opaque &&
                          (asDouble || allValidity || step.maskValidity || step.partial ||
                           (m_oMask && !step.item->authoritative));
    if (validity)
    {
        step.valid = TakeBuffer(pixels * bands.size());
        memset(step.valid.data(), 0, pixels * bands.size());
    }
    for (const Part& part : step.parts)
        FetchPart(step, part, pool, direct, validity);
}

void CompositeReader::FetchPart(Step& step, const Part& part, SourcePool& pool,
                                const BufferSpec* direct, bool validity) const
{
    GDALDataset* ds = pool.Acquire(*part.file);
    const Placement& p = part.place;
    // Where the part lands in the step's arrays: its window within the step's, row by row.
    const Window& sd = step.place.dst;
    const int typeSize = GDALGetDataTypeSizeBytes(step.type);
    const size_t stepPixels = static_cast<size_t>(sd.w) * sd.h;
    const size_t offset = static_cast<size_t>(p.dst.y - sd.y) * sd.w + (p.dst.x - sd.x);
    const GSpacing bandBytes = static_cast<GSpacing>(stepPixels) * typeSize;
    GByte* data = step.data.data();
    GByte* validData = step.valid.data();
    // GDAL is asked for the whole-pixel window a VRT would ask for (its overview choice and
    // 1:1 path follow it), sampled through the floating-point window; pixels decoded here
    // cover the floating-point window.
    const Window src = p.req;
    Window enclosing = p.SrcWindowEnclosing(); // within the raster: GDAL clamps there too
    {
        const int x1 = std::min(enclosing.x + enclosing.w, ds->GetRasterXSize());
        const int y1 = std::min(enclosing.y + enclosing.h, ds->GetRasterYSize());
        enclosing.x = std::max(0, enclosing.x);
        enclosing.y = std::max(0, enclosing.y);
        enclosing.w = std::max(1, x1 - enclosing.x);
        enclosing.h = std::max(1, y1 - enclosing.y);
    }
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
    // A nearest-neighbour read that scales by less than 1.5 (an overview level read at the
    // request's scale, 500 pixels into 512) could use none of the source's overviews: GDAL
    // would sample it pixel by pixel through its block cache. Decoding the window at full
    // resolution and picking the same pixels here is several times faster.
    const bool sampleHere = extra.eResampleAlg == GRIORA_NearestNeighbour &&
                            (src.w != p.dst.w || src.h != p.dst.h) && 2 * src.w < 3 * p.dst.w &&
                            2 * src.h < 3 * p.dst.h && 2 * enclosing.w < 3 * p.dst.w &&
                            2 * enclosing.h < 3 * p.dst.h;
    // Reads `count` rasters of the window into dst.w x dst.h pixels of `type` at `out`, with
    // read(type, data, bufW, bufH, pixel, line, band, extra) reading them from the source.
    auto readWindow = [&](int count, GDALDataType type, GByte* out, GSpacing pixelSpace,
                          GSpacing lineSpace, GSpacing bandSpace, auto&& read) {
        if (!sampleHere)
            return read(src, type, out, p.dst.w, p.dst.h, pixelSpace, lineSpace, bandSpace,
                        &extra);
        const Window& e = enclosing;
        const int size = GDALGetDataTypeSizeBytes(type);
        const GSpacing srcBand = static_cast<GSpacing>(e.w) * e.h * size;
        std::vector<GByte> full(static_cast<size_t>(srcBand) * count);
        GDALRasterIOExtraArg plain;
        INIT_RASTERIO_EXTRA_ARG(plain);
        if (!read(e, type, full.data(), e.w, e.h, size, static_cast<GSpacing>(e.w) * size,
                  srcBand, &plain))
            return false;
        const auto xs =
            NearestSourcePixels(p.srcX, p.srcW, p.dst.w, ds->GetRasterXSize(), e.x, e.w, true);
        const auto ys =
            NearestSourcePixels(p.srcY, p.srcH, p.dst.h, ds->GetRasterYSize(), e.y, e.h, false);
        for (int b = 0; b < count; ++b)
            for (int y = 0; y < p.dst.h; ++y)
            {
                const GByte* row = full.data() + b * srcBand +
                                   static_cast<GSpacing>(ys[static_cast<size_t>(y)]) * e.w * size;
                GByte* o = out + b * bandSpace + y * lineSpace;
                if (size == 1)
                    for (int x = 0; x < p.dst.w; ++x)
                        o[x * pixelSpace] = row[xs[static_cast<size_t>(x)]];
                else
                    for (int x = 0; x < p.dst.w; ++x)
                        memcpy(o + x * pixelSpace,
                               row + static_cast<GSpacing>(xs[static_cast<size_t>(x)]) * size,
                               static_cast<size_t>(size));
            }
        return true;
    };
    // GeoTIFF items: the blocks a read needs at full resolution (1:1, sampled here, or scaled
    // down by a few times from a file without overviews) are decoded straight from the file
    // into GDAL's cache first; a few pixels at full resolution (value() at a point) straight
    // into the buffer, each block only down to the window's last row.
    TiffBlockReader* const blocks = pool.Blocks();
    const bool fewPixels =
        blocks != nullptr && step.fewPixels && p.integral && src.w == p.dst.w && src.h == p.dst.h;
    if (blocks != nullptr && !fewPixels &&
        ((src.w == p.dst.w && src.h == p.dst.h) || sampleHere ||
         (ds->GetRasterBand(1)->GetOverviewCount() == 0 && src.w < 16 * p.dst.w &&
          src.h < 16 * p.dst.h)))
        blocks->Prefetch(enclosing, part.fileBands, part.emptyBlocks);
    GdalErrorCollector errors;
    auto readFailed = [&]() {
        return Error(ErrorKind::Io,
                     "cannot read " + ItemLabel(*part.file) + ": " + errors.Message("read failed"));
    };
    // The part's bands, a run of consecutive slots at a time (one read for all the bands of an
    // item of one file).
    for (size_t first = 0; first < part.slots.size();)
    {
        size_t last = first + 1;
        while (last < part.slots.size() && part.slots[last] == part.slots[last - 1] + 1)
            ++last;
        std::vector<int> bandMap(part.fileBands.begin() + static_cast<std::ptrdiff_t>(first),
                                 part.fileBands.begin() + static_cast<std::ptrdiff_t>(last));
        const size_t slot = part.slots[first];
        auto readBands = [&](const Window& win, GDALDataType type, GByte* out, int bufW,
                             int bufH, GSpacing pixel, GSpacing line, GSpacing band,
                             GDALRasterIOExtraArg* arg) {
            if (fewPixels)
            {
                if (blocks->ReadWindow(win, bandMap, part.emptyBlocks, type, out, pixel, line,
                                       band))
                    return true;
                blocks->Prefetch(win, bandMap, part.emptyBlocks);
            }
            return ds->RasterIO(GF_Read, win.x, win.y, win.w, win.h, out, bufW, bufH, type,
                                static_cast<int>(bandMap.size()), bandMap.data(), pixel, line,
                                band, arg) == CE_None;
        };
        const int count = static_cast<int>(last - first);
        if (direct != nullptr)
        {
            GByte* dst = static_cast<GByte*>(direct->data) + p.dst.y * direct->lineSpace +
                         p.dst.x * direct->pixelSpace + slot * direct->bandSpace;
            if (!readWindow(count, direct->type, dst, direct->pixelSpace, direct->lineSpace,
                            direct->bandSpace, readBands))
                throw readFailed();
        }
        else if (!readWindow(count, step.type, data + slot * bandBytes + offset * typeSize,
                             typeSize, static_cast<GSpacing>(sd.w) * typeSize, bandBytes,
                             readBands))
            throw readFailed();
        first = last;
    }
    if (!validity)
        return;
    GDALRasterIOExtraArg maskExtra = extra;
    maskExtra.eResampleAlg = GRIORA_NearestNeighbour;
    const bool datasetAlpha = (ds->GetRasterBand(1)->GetMaskFlags() & GMF_ALPHA) != 0;
    const GByte* datasetMask = nullptr; // a per-dataset mask already read for another band
    for (size_t i = 0; i < part.slots.size(); ++i)
    {
        const size_t slot = part.slots[i];
        GByte* valid = validData + slot * stepPixels + offset;
        GDALRasterBand* band = ds->GetRasterBand(part.fileBands[i]);
        if (band->GetColorInterpretation() == GCI_AlphaBand && datasetAlpha)
            band = ds->GetRasterBand(1);
        const int flags = band->GetMaskFlags();
        if (!(flags & GMF_NODATA) && flags != GMF_ALL_VALID)
        {
            if ((flags & GMF_PER_DATASET) && datasetMask != nullptr)
            {
                for (int y = 0; y < p.dst.h; ++y)
                    memcpy(valid + static_cast<size_t>(y) * sd.w,
                           datasetMask + static_cast<size_t>(y) * sd.w, p.dst.w);
                continue;
            }
            GDALRasterBand* mask = band->GetMaskBand();
            if (!readWindow(1, GDT_Byte, valid, 1, sd.w, 0,
                            [&](const Window& win, GDALDataType, GByte* d, int w, int h,
                                GSpacing ps, GSpacing ls, GSpacing, GDALRasterIOExtraArg* arg) {
                                if (arg == &extra)
                                    arg = &maskExtra;
                                return mask->RasterIO(GF_Read, win.x, win.y, win.w, win.h, d, w,
                                                      h, GDT_Byte, ps, ls, arg) == CE_None;
                            }))
                throw readFailed();
            for (int y = 0; y < p.dst.h; ++y)
                for (int x = 0; x < p.dst.w; ++x)
                {
                    GByte& v = valid[static_cast<size_t>(y) * sd.w + x];
                    v = v != 0;
                }
            if (flags & GMF_PER_DATASET)
                datasetMask = valid;
            continue;
        }
        const GByte* values = data + slot * bandBytes + offset * typeSize;
        const double* nodata = step.nodata[slot] ? &*step.nodata[slot] : nullptr;
        for (int y = 0; y < p.dst.h; ++y)
        {
            const size_t row = static_cast<size_t>(y) * sd.w;
            ForValidRuns(step.type, values + row * typeSize, p.dst.w, nodata, nullptr,
                         [&](int start, int count) { memset(valid + row + start, 1, count); });
        }
    }
}

std::vector<int> CompositeReader::ReadBands(const std::vector<int>& bands) const
{
    std::vector<int> out = bands;
    for (const auto* e : {&m_oMask, &m_oQuality})
        if (*e)
            for (int b : (*e)->Bands())
                if (std::find(out.begin(), out.end(), b) == out.end())
                    out.push_back(b);
    return out;
}

void CompositeReader::Mask(Step& step, const std::vector<int>& bands) const
{
    if (!m_oMask || step.valid.empty() || step.item->authoritative)
        return;
    std::vector<int> slotOfBand(static_cast<size_t>(m_oMosaic.bandCount), -1);
    for (size_t k = 0; k < bands.size(); ++k)
        slotOfBand[static_cast<size_t>(bands[k] - 1)] = static_cast<int>(k);
    ApplyMask(*m_oMask, slotOfBand, step.type, step.data.data(), step.valid.data(), bands.size(),
              static_cast<size_t>(step.place.dst.w) * step.place.dst.h);
}

void CompositeReader::FetchAll(std::vector<Step>& steps, const std::vector<int>& bands,
                               bool asDouble, const BufferSpec* direct, bool parallel,
                               size_t visible, bool allValidity)
{
    // The empty blocks of items (and of the assets of items made of several files) not seen
    // before, in one catalog query each.
    std::vector<std::int64_t> unseen, unseenAssets;
    for (const Step& step : steps)
        for (const Part& part : step.parts)
        {
            const std::int64_t id = step.item->id;
            if (part.file->asset.empty() ? !m_oEmptyBlocks.count(id) : !m_oAssetsAsked.count(id))
                (part.file->asset.empty() ? unseen : unseenAssets).push_back(id);
        }
    for (auto* ids : {&unseen, &unseenAssets})
    {
        std::sort(ids->begin(), ids->end()); // an item split in parts has several steps
        ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    }
    if (!unseen.empty())
    {
        if (m_oEmptyBlocks.size() + unseen.size() > kMaxEmptyBlockItems)
            m_oEmptyBlocks.clear();
        auto found = m_oCatalog.FindEmptyBlocks(unseen);
        for (std::int64_t id : unseen)
            m_oEmptyBlocks[id] = std::move(found[id]);
    }
    if (!unseenAssets.empty())
    {
        if (m_oAssetsAsked.size() + unseenAssets.size() > kMaxEmptyBlockItems)
        {
            m_oAssetsAsked.clear();
            m_oAssetEmptyBlocks.clear();
        }
        for (auto& [key, blocks] : m_oCatalog.FindAssetEmptyBlocks(unseenAssets))
            m_oAssetEmptyBlocks[key] = std::move(blocks);
        m_oAssetsAsked.insert(unseenAssets.begin(), unseenAssets.end());
    }
    for (Step& step : steps)
        for (Part& part : step.parts)
        {
            const EmptyBlocks* empty = nullptr;
            if (part.file->asset.empty())
                empty = &m_oEmptyBlocks[step.item->id];
            else
            {
                const auto it = m_oAssetEmptyBlocks.find({step.item->id, part.file->asset});
                if (it != m_oAssetEmptyBlocks.end())
                    empty = &it->second;
            }
            part.emptyBlocks = empty == nullptr || empty->empty() ? nullptr : empty;
        }
    // Remote items' blocks, all at once; a stale object makes the read start again.
    if (PrefetchRemoteBlocks(steps))
        throw StaleSource();
    // Each step is read from its home pool, where Probe opened it (every part of an item, so
    // an item skipped there (missing=skip) is not tried again for its other parts).
    std::vector<std::set<std::int64_t>> skipped(m_apoPools.size());
    ForEachPool(parallel, [&](int pool) {
        for (Step& step : steps)
        {
            if (step.thread != pool || skipped[static_cast<size_t>(pool)].count(step.item->id))
                continue;
            try
            {
                Fetch(step, PoolFor(pool), bands, asDouble, step.direct ? direct : nullptr,
                      allValidity);
                if (!step.direct)
                    Mask(step, bands);
            }
            catch (const Error& e)
            {
                if (!Skip(*step.item, e))
                    throw;
                skipped[static_cast<size_t>(pool)].insert(step.item->id);
            }
        }
    });
    if (m_poRemoteBatch)
        m_poRemoteBatch->Release(); // decoded: the bytes fetched go
    // A skipped item is skipped whole: its parts read before the failure are undone (a direct
    // part has no lower item under it: the fill value goes back).
    for (Step& step : steps)
        if (skipped[static_cast<size_t>(step.thread)].count(step.item->id))
        {
            step.skipped = true;
            if (step.direct && direct != nullptr)
                Fill(step.place.dst, visible, *direct, m_oMosaic.nodata.value_or(0.0));
        }
}

std::vector<ItemRef> CompositeReader::Items(const Request& req, int overviewLevel)
{
    const Envelope env = RequestEnvelope(m_oMosaic.gt, req.win);
    std::vector<ItemRef> items;
    if (overviewLevel > 0)
    {
        items = m_oCatalog.FindOverviewTiles(env, overviewLevel);
        for (auto& tile : items)
            tile.authoritative = true;
    }
    std::vector<ItemRef> sources = m_oCatalog.FindItems(env);
    // Items drawn only up to a pixel size leave a coarser read: a coarse layer under fine
    // imagery shows when zoomed out, the imagery when zoomed in (the pixel size as
    // min_pixel_size measures it: the square root of the pixel's area).
    const double pixelSize =
        std::sqrt(std::fabs(m_oMosaic.gt[1] * m_oMosaic.gt[5]) * req.win.w / req.bufW * req.win.h /
                  req.bufH);
    sources.erase(std::remove_if(sources.begin(), sources.end(),
                                 [&](const ItemRef& s) {
                                     return pixelSize > s.maxPixelSize * (1 + 1e-9);
                                 }),
                  sources.end());
    // max_items: the first ones in mosaic order.
    if (m_oOptions.maxItems > 0 && sources.size() > static_cast<size_t>(m_oOptions.maxItems))
        sources.resize(static_cast<size_t>(m_oOptions.maxItems));
    items.insert(items.end(), std::make_move_iterator(sources.begin()),
                 std::make_move_iterator(sources.end()));
    AttachRemoteRecords(items);
    return items;
}

void CompositeReader::Read(const Request& req, const std::vector<int>& bands, const BufferSpec& buf,
                           int overviewLevel)
{
    RetryStale([&] { ReadOnce(req, bands, buf, overviewLevel); });
}

void CompositeReader::ReadOnce(const Request& req, const std::vector<int>& bands,
                               const BufferSpec& buf, int overviewLevel)
{
    // Methods other than first and last hold every item's pixels of the window: a large
    // full-resolution window is composed a strip of rows at a time (the same pixels).
    constexpr std::int64_t kStripPixels = 1 << 20;
    const Method method = m_oOptions.method;
    if (method != Method::First && method != Method::Last && req.win.w == req.bufW &&
        req.win.h == req.bufH && static_cast<std::int64_t>(req.bufW) * req.bufH > kStripPixels)
    {
        const int rows = static_cast<int>(std::max<std::int64_t>(1, kStripPixels / req.bufW));
        for (int y = 0; y < req.bufH; y += rows)
        {
            const int h = std::min(rows, req.bufH - y);
            BufferSpec strip = buf;
            strip.data = static_cast<GByte*>(buf.data) + y * buf.lineSpace;
            ReadStrip({{req.win.x, req.win.y + y, req.win.w, h}, req.bufW, h}, bands, strip,
                      overviewLevel);
        }
        return;
    }
    ReadStrip(req, bands, buf, overviewLevel);
}

void CompositeReader::ReadStrip(const Request& req, const std::vector<int>& bands,
                                const BufferSpec& buf, int overviewLevel)
{
    std::vector<ItemRef> items = Items(req, overviewLevel);
    const Method method = m_oOptions.method;
    if (method == Method::Last)
    {
        // The bottom item first; overview tiles (listed first) stay on top.
        auto sources = std::find_if(items.begin(), items.end(),
                                    [](const ItemRef& i) { return !i.authoritative; });
        std::reverse(sources, items.end());
    }

    // The mask's bands are read after the caller's, for masking only.
    const std::vector<int> readBands = ReadBands(bands);
    if (method != Method::First && method != Method::Last)
    {
        std::vector<Step> steps = Plan(req, items, readBands, false);
        // Stack methods take the items' own type (a quarter of the memory of doubles for
        // UInt16 stacks), the streaming ones doubles.
        const bool stack = method == Method::Median || method == Method::Percentile ||
                           method == Method::Stdev || method == Method::Quality;
        FetchAll(steps, readBands, !stack, nullptr, Parallel(req, steps.size()), bands.size(),
                 true);
        if (stack)
            ComposeStack(steps, req, readBands, bands.size(), buf);
        else
            Aggregate(steps, req, bands.size(), buf);
        GiveBack(steps);
        return;
    }

    std::vector<Step> steps = SplitDirect(Plan(req, items, readBands, true)); // top first
    FillUnwritten(req, steps, bands.size(), buf, m_oMosaic.nodata.value_or(0.0));
    const bool parallel = Parallel(req, steps.size());
    FetchAll(steps, readBands, false, &buf, parallel, bands.size());
    // Painting bottom-up, each thread on its own band of rows: the order within a row is kept.
    const int parts = parallel ? static_cast<int>(m_apoPools.size()) : 1;
    ParallelFor(static_cast<size_t>(parts), parts, [&](size_t part, int) {
        const int rowBegin = static_cast<int>(static_cast<std::int64_t>(req.bufH) * part / parts);
        const int rowEnd =
            static_cast<int>(static_cast<std::int64_t>(req.bufH) * (part + 1) / parts);
        for (auto it = steps.rbegin(); it != steps.rend(); ++it)
            if (!it->direct && !it->skipped)
                Paint(*it, bands.size(), buf, rowBegin, rowEnd);
    });
    GiveBack(steps);
}

std::vector<CompositeReader::Step> CompositeReader::SplitDirect(std::vector<Step> steps) const
{
    // A step with no lower step under it is read straight into the caller's buffer when its
    // invalid pixels would leave the fill value anyway (opaque, or nodata = the fill value).
    // A full-resolution step that lower steps only partly underlie (neighbours of a grid that
    // overlap by a few pixels) is split: its parts clear of them read straight in, the rest
    // through a buffer. Direct parts never overlap one another, so they may be read in
    // parallel; the others are painted bottom-up after them.
    constexpr size_t kMaxParts = 16;
    std::vector<Step> out;
    out.reserve(steps.size());
    std::vector<Window> lower, clear, under;
    for (size_t i = 0; i < steps.size(); ++i)
    {
        Step& s = steps[i];
        lower.clear();
        for (size_t j = i + 1; j < steps.size(); ++j)
            if (Overlap(s.place.dst, steps[j].place.dst))
                lower.push_back(steps[j].place.dst);
        const bool plain = s.opaque || s.fillsLikeFill;
        s.direct = plain && lower.empty();
        if (!plain || s.direct || !s.place.integral || s.parts.size() != 1)
        {
            out.push_back(std::move(s));
            continue;
        }
        clear.clear();
        under.clear();
        SplitByCover(s.place.dst, lower, clear, under);
        if (clear.empty() || clear.size() + under.size() > kMaxParts)
        {
            out.push_back(std::move(s));
            continue;
        }
        for (const auto* parts : {&clear, &under})
            for (const Window& w : *parts)
            {
                out.push_back(s);
                out.back().place = s.place.Part(w);
                out.back().parts[0].place = out.back().place;
                out.back().direct = parts == &clear;
            }
    }
    return out;
}

void CompositeReader::ReadCoverage(const Request& req, const BufferSpec& buf, int overviewLevel)
{
    RetryStale([&] { ReadCoverageOnce(req, buf, overviewLevel); });
}

void CompositeReader::ReadCoverageOnce(const Request& req, const BufferSpec& buf,
                                       int overviewLevel)
{
    const std::vector<ItemRef> items = Items(req, overviewLevel);
    const std::vector<int> firstBand = ReadBands({1});
    std::vector<Step> steps = Plan(req, items, firstBand, true);
    Fill({0, 0, req.bufW, req.bufH}, 1, buf, 0);
    FetchAll(steps, firstBand, true, nullptr, Parallel(req, steps.size()), 1);
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
            const GByte* valid =
                s.valid.empty() ? nullptr : s.valid.data() + static_cast<size_t>(y) * p.dst.w;
            for (int x = 0; x < p.dst.w; ++x)
                if (!valid || valid[x])
                    GDALCopyWords(&full, GDT_Float64, 0, row + x * buf.pixelSpace, buf.type, 0, 1);
        }
    }
}

void CompositeReader::Fill(const Window& area, size_t bandCount, const BufferSpec& buf,
                           double value) const
{
    GByte* base = static_cast<GByte*>(buf.data) + area.x * buf.pixelSpace;
    for (size_t b = 0; b < bandCount; ++b)
        for (int y = area.y; y < area.y + area.h; ++y)
            GDALCopyWords64(&value, GDT_Float64, 0, base + b * buf.bandSpace + y * buf.lineSpace,
                            buf.type, static_cast<int>(buf.pixelSpace), area.w);
}

void CompositeReader::FillUnwritten(const Request& req, const std::vector<Step>& steps,
                                    size_t bandCount, const BufferSpec& buf, double value) const
{
    // Filling the whole buffer first cost a window of many items as much as decoding them:
    // only what no step writes whole is filled, band of rows by band of rows.
    std::vector<Window> written;
    std::vector<int> edges{0, req.bufH};
    for (const Step& s : steps)
        if (s.direct || s.opaque)
        {
            const int x0 = std::max(0, s.place.dst.x), y0 = std::max(0, s.place.dst.y);
            const int x1 = std::min(req.bufW, s.place.dst.x + s.place.dst.w);
            const int y1 = std::min(req.bufH, s.place.dst.y + s.place.dst.h);
            if (x1 <= x0 || y1 <= y0)
                continue;
            written.push_back({x0, y0, x1 - x0, y1 - y0});
            edges.push_back(y0);
            edges.push_back(y1);
        }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    std::vector<std::pair<int, int>> spans;
    for (size_t i = 0; i + 1 < edges.size(); ++i)
    {
        const int y0 = edges[i], y1 = edges[i + 1];
        spans.clear();
        for (const Window& w : written)
            if (w.y <= y0 && w.y + w.h >= y1)
                spans.push_back({w.x, w.x + w.w});
        std::sort(spans.begin(), spans.end());
        int x = 0;
        for (const auto& [a, b] : spans)
        {
            if (a > x)
                Fill({x, y0, a - x, y1 - y0}, bandCount, buf, value);
            x = std::max(x, b);
        }
        if (x < req.bufW)
            Fill({x, y0, req.bufW - x, y1 - y0}, bandCount, buf, value);
    }
}

void CompositeReader::Paint(const Step& step, size_t bandCount, const BufferSpec& buf, int rowBegin,
                            int rowEnd) const
{
    const Placement& p = step.place;
    const int yBegin = std::max(0, rowBegin - p.dst.y);
    const int yEnd = std::min(p.dst.h, rowEnd - p.dst.y);
    const int typeSize = GDALGetDataTypeSizeBytes(step.type);
    const size_t pixels = static_cast<size_t>(p.dst.w) * p.dst.h;
    for (size_t b = 0; b < bandCount; ++b)
    {
        const GByte* src = step.data.data() + b * pixels * typeSize;
        const GByte* valid = step.valid.empty() ? nullptr : step.valid.data() + b * pixels;
        const double* nodata = valid || !step.nodata[b] ? nullptr : &*step.nodata[b];
        GByte* dstBand = static_cast<GByte*>(buf.data) + b * buf.bandSpace;
        for (int y = yBegin; y < yEnd; ++y)
        {
            const size_t row = static_cast<size_t>(y) * p.dst.w;
            GByte* dst = dstBand + (p.dst.y + y) * buf.lineSpace + p.dst.x * buf.pixelSpace;
            ForValidRuns(step.type, src + row * typeSize, p.dst.w, nodata,
                         valid ? valid + row : nullptr, [&](int start, int count) {
                             GDALCopyWords64(src + (row + start) * typeSize, step.type, typeSize,
                                             dst + start * buf.pixelSpace, buf.type,
                                             static_cast<int>(buf.pixelSpace), count);
                         });
        }
    }
}

void CompositeReader::ComposeStack(std::vector<Step>& steps, const Request& req,
                                  const std::vector<int>& readBands, size_t bandCount,
                                  const BufferSpec& buf) const
{
    std::vector<ItemPixels> items;
    items.reserve(steps.size());
    for (const Step& s : steps)
    {
        if (s.skipped)
            continue;
        ItemPixels p;
        p.dst = s.place.dst;
        p.values = s.data.data();
        p.type = s.type;
        p.valid = s.valid.empty() ? nullptr : s.valid.data();
        p.itemValues = ItemValues(*s.item);
        items.push_back(std::move(p));
    }
    const double fill = m_oMosaic.nodata.value_or(0.0);
    const int threads = static_cast<int>(m_apoPools.size());
    if (m_oOptions.method == Method::Quality)
    {
        std::vector<int> slotOfBand(static_cast<size_t>(m_oMosaic.bandCount), -1);
        for (size_t k = 0; k < readBands.size(); ++k)
            slotOfBand[static_cast<size_t>(readBands[k] - 1)] = static_cast<int>(k);
        pgmosaic::ComposeQuality(*m_oQuality, slotOfBand, items, req.bufW, req.bufH, bandCount,
                                 fill, buf, threads, m_oOptions.cancel);
    }
    else
        pgmosaic::ComposeStack(m_oOptions.method, m_oOptions.percentile, items, req.bufW,
                               req.bufH, bandCount, fill, buf, threads, m_oOptions.cancel);
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

// Remote items (read/remote_source.h).

void CompositeReader::AttachRemoteRecords(std::vector<ItemRef>& items)
{
    std::vector<std::int64_t> unseen;
    for (const ItemRef& item : items)
        if (IsNetworkPath(item.path) && !m_oRemoteRecords.count(item.id))
            unseen.push_back(item.id);
    if (!unseen.empty())
    {
        if (m_oRemoteRecords.size() + unseen.size() > kMaxEmptyBlockItems)
            m_oRemoteRecords.clear();
        auto found = m_oCatalog.FindRemoteRecords(unseen);
        for (std::int64_t id : unseen)
        {
            auto it = found.find(id);
            m_oRemoteRecords[id] = it == found.end()
                                       ? nullptr
                                       : std::make_shared<const RemoteRecord>(std::move(it->second));
        }
    }
    for (ItemRef& item : items)
        if (IsNetworkPath(item.path))
            item.remote = m_oRemoteRecords[item.id];
}

bool CompositeReader::PrefetchRemoteBlocks(std::vector<Step>& steps)
{
    // What FetchPart will ask GDAL of each part read from a recorded object (its whole-pixel
    // window into its buffer size, or the window at full resolution when FetchPart decodes or
    // samples it itself), in the pool where Probe opened it. No reading thread runs meanwhile.
    // The batch outlives the read: a pool closing an item keeps its bytes for reopening.
    auto batch = std::make_unique<RemoteBatch>();
    for (Step& step : steps)
        for (const Part& part : step.parts)
        {
            if (!part.file->remote)
                continue; // local, or read through GDAL
            SourcePool& pool = PoolFor(step.thread);
            GDALDataset* ds = pool.Acquire(*part.file);
            std::shared_ptr<RemoteObject> object = pool.Remote();
            if (!object)
                continue;
            const Placement& p = part.place;
            Window enclosing = p.SrcWindowEnclosing();
            const int x1 = std::min(enclosing.x + enclosing.w, ds->GetRasterXSize());
            const int y1 = std::min(enclosing.y + enclosing.h, ds->GetRasterYSize());
            enclosing.x = std::max(0, enclosing.x);
            enclosing.y = std::max(0, enclosing.y);
            enclosing.w = std::max(1, x1 - enclosing.x);
            enclosing.h = std::max(1, y1 - enclosing.y);
            const Window src = p.req;
            const bool nearest = m_oOptions.resampling.rasterIO == GRIORA_NearestNeighbour;
            const bool sampleHere = nearest && (src.w != p.dst.w || src.h != p.dst.h) &&
                                    2 * src.w < 3 * p.dst.w && 2 * src.h < 3 * p.dst.h &&
                                    2 * enclosing.w < 3 * p.dst.w && 2 * enclosing.h < 3 * p.dst.h;
            const bool full =
                (src.w == p.dst.w && src.h == p.dst.h) || sampleHere ||
                (ds->GetRasterBand(1)->GetOverviewCount() == 0 && src.w < 16 * p.dst.w &&
                 src.h < 16 * p.dst.h);
            RemoteRead r;
            r.object = std::move(object);
            r.dataset = ds;
            r.window = full ? enclosing : src;
            r.bufW = p.dst.w;
            r.bufH = p.dst.h;
            r.fullResolution = full;
            r.resampling = m_oOptions.resampling.rasterIO;
            r.bands = part.fileBands;
            r.empty = part.emptyBlocks;
            r.label = ItemLabel(*part.file);
            batch->Add(r); // now: the pool may close the dataset at the next Acquire
        }
    if (batch->empty())
        return false;
    m_poRemoteBatch = std::move(batch);
    return m_poRemoteBatch->Fetch(m_oOptions.cancel);
}

void CompositeReader::RetryStale(const std::function<void()>& read)
{
    try
    {
        read();
    }
    catch (const Error& e)
    {
        // An object found changed by the read: its items are opened again (through GDAL) and
        // the read starts over, planned anew. Any other failure stands.
        int forgotten = 0;
        for (auto& pool : m_apoPools)
            forgotten += pool->ForgetStale();
        if (forgotten == 0 && dynamic_cast<const StaleSource*>(&e) == nullptr)
            throw;
        read();
    }
}

} // namespace pgmosaic
