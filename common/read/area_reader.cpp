#include "read/area_reader.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>

#include "cpl_string.h"
#include "gdal_alg.h"
#include "gdalwarper.h"
#include "ogr_spatialref.h"

#include "error.h"
#include "gdal_mem.h"
#include "parallel.h"

namespace pgmosaic
{
namespace
{

OGRSpatialReference SrsOf(const std::string& wkt)
{
    OGRSpatialReference srs;
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (!wkt.empty())
        srs.importFromWkt(wkt.c_str());
    return srs;
}

// The WKT of an EPSG code (empty when unknown), for a static: PROJ's database once, not at
// every call.
std::string EpsgWkt(int code)
{
    OGRSpatialReference srs;
    char* wkt = nullptr;
    if (srs.importFromEPSG(code) != OGRERR_NONE || srs.exportToWkt(&wkt) != OGRERR_NONE)
    {
        CPLFree(wkt);
        return "";
    }
    std::string text = wkt ? wkt : "";
    CPLFree(wkt);
    return text;
}

// The transformation from SRS `from` to `to` (WKT), made once a thread for the last few pairs:
// PROJ's choice of the operation (its database queries) took a seventh of a web tile's time.
// Used on the calling thread only. nullptr when there is none.
OGRCoordinateTransformation* CachedTransformation(const std::string& from, const std::string& to)
{
    struct Entry
    {
        std::string from, to;
        std::unique_ptr<OGRCoordinateTransformation> ct;
    };
    constexpr size_t kEntries = 4;
    // Never destroyed: at a process's exit PROJ's per-thread context may be gone first.
    thread_local std::vector<Entry>& cache = *new std::vector<Entry>();
    for (size_t i = 0; i < cache.size(); ++i)
        if (cache[i].from == from && cache[i].to == to)
        {
            std::rotate(cache.begin(), cache.begin() + static_cast<std::ptrdiff_t>(i),
                        cache.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            return cache.front().ct.get();
        }
    const OGRSpatialReference a = SrsOf(from), b = SrsOf(to);
    std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&a, &b));
    if (!ct)
        return nullptr;
    if (cache.size() == kEntries)
        cache.pop_back();
    cache.insert(cache.begin(), Entry{from, to, std::move(ct)});
    return cache.front().ct.get();
}

bool SameSrs(const OGRSpatialReference& a, const OGRSpatialReference& b)
{
    return (a.IsEmpty() && b.IsEmpty()) || a.IsSame(&b);
}

// A count of pixels along an axis, refused when GDAL cannot hold it.
int PixelCount(double extent, double res, const char* axis)
{
    const double n = std::round(extent / res);
    if (!(n >= 1 && n <= static_cast<double>(INT_MAX)))
        throw Error(ErrorKind::InvalidParameter,
                    std::string("the area is ") + CPLSPrintf("%.0f", n) + " pixels " + axis +
                        " at a resolution of " + CPLSPrintf("%.17g", res));
    return static_cast<int>(n);
}

// Whole steps of `step` from `origin` to `v`, rounded down (up: ceil), forgiving the rounding
// noise of coordinates that are meant to fall on the grid.
double StepsDown(double v, double origin, double step)
{
    return std::floor((v - origin) / step + 1e-9);
}
double StepsUp(double v, double origin, double step)
{
    return std::ceil((v - origin) / step - 1e-9);
}

// The mosaic's extent in degrees as "west,south,east,north"; empty when it cannot be had.
std::string AreaOfInterest(const MosaicInfo& mosaic)
{
    static const std::string kWgs84 = EpsgWkt(4326);
    if (mosaic.srsWkt.empty() || kWgs84.empty())
        return "";
    OGRCoordinateTransformation* ct = CachedTransformation(mosaic.srsWkt, kWgs84);
    const auto& gt = mosaic.gt;
    const double x0 = gt[0], x1 = gt[0] + mosaic.width * gt[1];
    const double y0 = gt[3] + mosaic.height * gt[5], y1 = gt[3];
    double w = 0, s = 0, e = 0, n = 0;
    if (!ct || !ct->TransformBounds(std::min(x0, x1), std::min(y0, y1), std::max(x0, x1),
                                    std::max(y0, y1), &w, &s, &e, &n, 21))
        return "";
    return CPLSPrintf("%.17g,%.17g,%.17g,%.17g", w, s, e, n);
}

void CheckSamples(std::int64_t w, std::int64_t h, size_t bands, const AreaReadLimits& limits,
                  const char* what)
{
    const std::int64_t samples = w * h * static_cast<std::int64_t>(bands);
    if (limits.maxSamples > 0 && samples > limits.maxSamples)
        throw Error(ErrorKind::InvalidParameter,
                    std::string(what) + " of " + std::to_string(w) + " x " + std::to_string(h) +
                        " pixels x " + std::to_string(bands) + " bands (" +
                        std::to_string(samples) + " values) exceeds " + limits.setting + " (" +
                        std::to_string(limits.maxSamples) + ")");
}

// Adds to a MEM dataset a band of `type` over memory it does not own (rows one after the
// other).
void AddBandOver(GDALDataset& ds, GByte* data, GDALDataType type)
{
    const int size = GDALGetDataTypeSizeBytes(type);
    CPLStringList options;
    char pointer[64] = {};
    CPLPrintPointer(pointer, data, sizeof(pointer) - 1);
    options.SetNameValue("DATAPOINTER", pointer);
    options.SetNameValue("PIXELOFFSET", CPLSPrintf("%d", size));
    options.SetNameValue("LINEOFFSET",
                         CPLSPrintf(CPL_FRMT_GIB, static_cast<GIntBig>(ds.GetRasterXSize()) * size));
    if (ds.AddBand(type, options.List()) != CE_None)
        throw Error(ErrorKind::Internal, "cannot make an in-memory raster");
}

// A MEM dataset of w x h pixels whose bands of `type` are the memory at `bands`.
GDALDatasetUniquePtr MemOver(int w, int h, const std::vector<GByte*>& bands, GDALDataType type,
                             const std::string& srsWkt, const GeoTransform& gt)
{
    GDALDatasetUniquePtr ds = MemRaster(w, h, 0, type);
    for (GByte* band : bands)
        AddBandOver(*ds, band, type);
    GeoTransform copy = gt;
    ds->SetGeoTransform(copy.data());
    if (!srsWkt.empty())
        ds->SetProjection(srsWkt.c_str());
    return ds;
}

std::vector<GByte*> Bands(GByte* data, GSpacing bandSpace, int count)
{
    std::vector<GByte*> out;
    for (int b = 0; b < count; ++b)
        out.push_back(data + b * bandSpace);
    return out;
}

// Composes on the mosaic grid: window `req` of full-resolution pixels into req.bufW x req.bufH
// pixels at `data` (bands `bandSpace` apart), every pixel written.
void Compose(CompositeReader& reader, const std::vector<int>& builtLevels, const Request& req,
             const std::vector<int>& bands, GDALDataType type, GByte* data, GSpacing bandSpace)
{
    const int size = GDALGetDataTypeSizeBytes(type);
    const double reduction = std::min(static_cast<double>(req.win.w) / req.bufW,
                                      static_cast<double>(req.win.h) / req.bufH);
    reader.Read(req, bands, {data, type, size, static_cast<GSpacing>(req.bufW) * size, bandSpace},
                BuiltLevelFor(builtLevels, reduction));
}

// Where some item has a valid pixel (255) or not (0), as Compose composes the window.
std::vector<GByte> Coverage(CompositeReader& reader, const std::vector<int>& builtLevels,
                            const Request& req)
{
    std::vector<GByte> coverage(static_cast<size_t>(req.bufW) * req.bufH);
    const double reduction = std::min(static_cast<double>(req.win.w) / req.bufW,
                                      static_cast<double>(req.win.h) / req.bufH);
    reader.ReadCoverage(req, {coverage.data(), GDT_Byte, 1, req.bufW, 0},
                        BuiltLevelFor(builtLevels, reduction));
    return coverage;
}

} // namespace

int BuiltLevelFor(const std::vector<int>& builtLevels, double reduction)
{
    int level = 0;
    for (int k : builtLevels)
        if ((1 << k) <= reduction * 1.2)
            level = std::max(level, k);
    return level;
}

OutputGrid AreaGrid(const MosaicInfo& mosaic, const Envelope& env, const OGRSpatialReference& srs,
                    std::optional<double> resolution)
{
    if (resolution && !(*resolution > 0 && std::isfinite(*resolution)))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid resolution " + std::string(CPLSPrintf("%.17g", *resolution)) +
                        ": expected a positive pixel size");
    if (!(env.maxx > env.minx && env.maxy > env.miny) || !std::isfinite(env.minx) ||
        !std::isfinite(env.maxx) || !std::isfinite(env.miny) || !std::isfinite(env.maxy))
        throw Error(ErrorKind::InvalidParameter, "the area is empty: it covers no pixel");
    OutputGrid g;
    const OGRSpatialReference mosaicSrs = SrsOf(mosaic.srsWkt);
    if (SameSrs(srs, mosaicSrs))
    {
        // On the mosaic's grid: its origin, its pixel size or the one given.
        const double rx = resolution.value_or(mosaic.gt[1]);
        const double ry = resolution.value_or(-mosaic.gt[5]);
        const double ox = mosaic.gt[0], oy = mosaic.gt[3];
        const double x0 = ox + StepsDown(env.minx, ox, rx) * rx;
        const double x1 = ox + StepsUp(env.maxx, ox, rx) * rx;
        const double y1 = oy - StepsDown(oy - env.maxy, 0, ry) * ry;
        const double y0 = oy - StepsUp(oy - env.miny, 0, ry) * ry;
        g.srsWkt = mosaic.srsWkt;
        g.width = PixelCount(x1 - x0, rx, "wide");
        g.height = PixelCount(y1 - y0, ry, "high");
        g.gt = {x0, rx, 0, y1, 0, -ry};
        return g;
    }
    double res = 0;
    if (resolution)
        res = *resolution;
    else
    {
        // GDAL's suggested warp output for the whole mosaic, as gdalwarp -t_srs would make it.
        GDALDatasetUniquePtr grid = MemRaster(mosaic.width, mosaic.height, 0, GDT_Byte);
        GeoTransform gt = mosaic.gt;
        grid->SetGeoTransform(gt.data());
        grid->SetProjection(mosaic.srsWkt.c_str());
        char* wkt = nullptr;
        srs.exportToWkt(&wkt);
        CPLStringList options;
        options.SetNameValue("DST_SRS", wkt ? wkt : "");
        CPLFree(wkt);
        GdalErrorCollector errors;
        void* transformer = GDALCreateGenImgProjTransformer2(grid.get(), nullptr, options.List());
        double suggested[6];
        int sw = 0, sh = 0;
        const bool ok = transformer != nullptr &&
                        GDALSuggestedWarpOutput(grid.get(), GDALGenImgProjTransform, transformer,
                                                suggested, &sw, &sh) == CE_None;
        if (transformer != nullptr)
            GDALDestroyGenImgProjTransformer(transformer);
        if (!ok)
            throw Error(ErrorKind::InvalidParameter,
                        "no resolution in the output SRS (give one): " + errors.Message());
        res = suggested[1];
    }
    // gdalwarp -tap: edges on multiples of the pixel size.
    const double x0 = StepsDown(env.minx, 0, res) * res, x1 = StepsUp(env.maxx, 0, res) * res;
    const double y0 = StepsDown(env.miny, 0, res) * res, y1 = StepsUp(env.maxy, 0, res) * res;
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    g.srsWkt = wkt ? wkt : "";
    CPLFree(wkt);
    g.width = PixelCount(x1 - x0, res, "wide");
    g.height = PixelCount(y1 - y0, res, "high");
    g.gt = {x0, res, 0, y1, 0, -res};
    return g;
}

OutputGrid WebMercatorTileGrid(int z, int x, int y, int size)
{
    if (z < 0 || z > 30 || x < 0 || y < 0 || x >= (1 << z) || y >= (1 << z))
        throw Error(ErrorKind::InvalidParameter,
                    "tile " + std::to_string(z) + "/" + std::to_string(x) + "/" +
                        std::to_string(y) + " does not exist (z in 0..30, x and y in 0..2^z-1)");
    constexpr double kHalf = 20037508.342789244; // pi * 6378137
    const double tile = 2 * kHalf / (1 << z);
    static const std::string kWkt = EpsgWkt(3857);
    OutputGrid g;
    g.srsWkt = kWkt;
    g.width = g.height = size;
    g.gt = {-kHalf + x * tile, tile / size, 0, kHalf - y * tile, 0, -tile / size};
    g.maxError = 0.125; // gdalwarp's default, as map servers warp
    return g;
}

// The output pixels from which a warp is split among the reading threads.
constexpr std::int64_t kThreadedWarpPixels = std::int64_t{1} << 20;

// Warps `src` (the composed window: `count` bands of `type`, and the coverage at `srcCoverage`
// when not null) into rows y0 .. y0 + rows of the output grid (`memory`, and `dstCoverage`).
// `aoi`: AreaOfInterest(mosaic), computed on the caller's thread (its transformation cache is
// the thread's, and a reading thread ends with the read).
void WarpRows(CompositeReader& reader, const MosaicInfo& mosaic, const OutputGrid& grid,
              GDALDataType type, int count, double fill, const std::string& aoi,
              GDALDatasetUniquePtr src, GByte* srcCoverage, const BandMemory& memory,
              GByte* dstCoverage, int y0, int rows)
{
    const bool alpha = srcCoverage != nullptr;
    const GSpacing rowBytes =
        static_cast<GSpacing>(grid.width) * GDALGetDataTypeSizeBytes(type);
    GeoTransform gt = grid.gt;
    gt[0] += y0 * grid.gt[2];
    gt[3] += y0 * grid.gt[5];
    GDALDatasetUniquePtr target =
        MemOver(grid.width, rows, Bands(memory.data + y0 * rowBytes, memory.bandSpace, count),
                type, grid.srsWkt, gt);
    // Every row starts as the fill (and uncovered): GDAL skips a chunk whose source window it
    // cannot work out (too few of its points transform) and still reports success.
    for (int b = 1; b <= count; ++b)
    {
        if (mosaic.nodata)
            target->GetRasterBand(b)->SetNoDataValue(fill);
        if (target->GetRasterBand(b)->Fill(fill) != CE_None)
            throw Error(ErrorKind::Internal, "cannot fill an in-memory raster");
    }
    if (alpha)
    {
        GByte* rowsCoverage = dstCoverage + static_cast<size_t>(y0) * grid.width;
        std::fill(rowsCoverage, rowsCoverage + static_cast<size_t>(rows) * grid.width, GByte{0});
        AddBandOver(*src, srcCoverage, GDT_Byte);
        AddBandOver(*target, rowsCoverage, GDT_Byte);
        src->GetRasterBand(count + 1)->SetColorInterpretation(GCI_AlphaBand);
        target->GetRasterBand(count + 1)->SetColorInterpretation(GCI_AlphaBand);
    }

    // The exact transformation (gdalwarp -et 0), approximated within the grid's tolerance. The
    // coordinate operation is chosen for the whole mosaic (as a gdalwarp of all its files
    // would), not for this window: one choice for every read of the mosaic (PROJ's database
    // lookups fell from 9.5% to 5% of a web tile's time).
    GdalErrorCollector errors;
    CPLStringList transformerOptions;
    if (!aoi.empty())
        transformerOptions.SetNameValue("AREA_OF_INTEREST", aoi.c_str());
    void* transformer =
        GDALCreateGenImgProjTransformer2(src.get(), target.get(), transformerOptions.List());
    if (transformer == nullptr)
        throw Error(ErrorKind::InvalidParameter,
                    "cannot transform the mosaic to the output SRS: " + errors.Message());
    struct TransformerFree
    {
        void* t;
        ~TransformerFree() { GDALDestroyGenImgProjTransformer(t); }
    } freeTransformer{transformer};
    void* approx = grid.maxError > 0 ? GDALCreateApproxTransformer(GDALGenImgProjTransform,
                                                                   transformer, grid.maxError)
                                     : nullptr;
    struct ApproxFree
    {
        void* t;
        ~ApproxFree()
        {
            if (t)
                GDALDestroyApproxTransformer(t);
        }
    } freeApprox{approx};
    GDALWarpOptions* wo = GDALCreateWarpOptions();
    struct WarpFree
    {
        GDALWarpOptions* o;
        ~WarpFree() { GDALDestroyWarpOptions(o); }
    } freeWarp{wo};
    wo->hSrcDS = src.get();
    wo->hDstDS = target.get();
    wo->eResampleAlg = reader.options().resampling.warp;
    wo->eWorkingDataType = type;
    // Nearest neighbour copies a pixel GDAL would skip just as skipping leaves it: uncovered
    // pixels hold the fill (the output starts as the fill) and, without nodata, coverage 0 (the
    // output's coverage starts at 0). So it warps the coverage as one more band, and no nodata
    // values: GDAL then builds no validity or alpha masks (float densities for every source
    // pixel) and warps with its kernel for rasters without masks. Other resamplings weigh
    // valid pixels only.
    const bool plain = wo->eResampleAlg == GRA_NearestNeighbour && (alpha || !std::isnan(fill));
    const int warped = count + (alpha ? 1 : 0);
    wo->nBandCount = plain ? warped : count;
    wo->panSrcBands = static_cast<int*>(CPLMalloc(sizeof(int) * warped));
    wo->panDstBands = static_cast<int*>(CPLMalloc(sizeof(int) * warped));
    for (int b = 0; b < warped; ++b)
        wo->panSrcBands[b] = wo->panDstBands[b] = b + 1;
    if (alpha && !plain)
    {
        wo->nSrcAlphaBand = count + 1;
        wo->nDstAlphaBand = count + 1;
    }
    if (!alpha && !plain)
    {
        wo->padfSrcNoDataReal = static_cast<double*>(CPLMalloc(sizeof(double) * count));
        wo->padfDstNoDataReal = static_cast<double*>(CPLMalloc(sizeof(double) * count));
        for (int b = 0; b < count; ++b)
            wo->padfSrcNoDataReal[b] = wo->padfDstNoDataReal[b] = fill;
    }
    // With coverage, the fill is 0 (the mosaic has no nodata), as the coverage's.
    wo->papszWarpOptions =
        CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST",
                        alpha   ? "0"
                        : plain ? CPLSPrintf("%.17g", fill)
                                : "NO_DATA");
    // GDAL's own threads never: unset, GDAL_NUM_THREADS would start its pool from this thread,
    // with the backend's signals unblocked (the split among threads is ReadArea's).
    wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "NUM_THREADS", "1");
    wo->pfnTransformer = approx ? GDALApproxTransform : GDALGenImgProjTransform;
    wo->pTransformerArg = approx ? approx : transformer;
    wo->pfnProgress = Cancel::Progress; // callable from any thread
    wo->pProgressArg = const_cast<Cancel*>(&reader.options().cancel);
    GDALWarpOperation op;
    if (op.Initialize(wo) != CE_None || op.ChunkAndWarpImage(0, 0, grid.width, rows) != CE_None)
    {
        reader.options().cancel.Check("warping the mosaic");
        throw Error(ErrorKind::Internal, "cannot warp the mosaic: " + errors.Message());
    }
}

AreaRaster ReadArea(CompositeReader& reader, const MosaicInfo& mosaic,
                    const std::vector<int>& builtLevels, const OutputGrid& grid,
                    const std::vector<int>& bands, GDALDataType type, const AreaReadLimits& limits,
                    const BandAllocator& allocate)
{
    CheckSamples(grid.width, grid.height, bands.size(), limits, "the output");
    const int count = static_cast<int>(bands.size());
    // Where nothing covers: the mosaic's nodata, or 0 for a count (never a count of nodata).
    const double fill = MethodFill(reader.options().method, mosaic.nodata);
    const int size = GDALGetDataTypeSizeBytes(type);
    AreaRaster out;
    BandMemory memory;
    if (allocate)
        memory = allocate(grid, bands.size(), type);
    else
    {
        memory.bandSpace = static_cast<GSpacing>(grid.width) * grid.height * size;
        out.owned.reset(new GByte[static_cast<size_t>(memory.bandSpace) * bands.size()]);
        memory.data = out.owned.get();
        AdviseHugePages(memory.data, static_cast<size_t>(memory.bandSpace) * bands.size());
    }
    out.ds = MemOver(grid.width, grid.height, Bands(memory.data, memory.bandSpace, count), type,
                     grid.srsWkt, grid.gt);
    for (int b = 1; b <= count; ++b)
        if (mosaic.nodata)
            out.ds->GetRasterBand(b)->SetNoDataValue(fill);

    // On the mosaic's grid: one read of the window, as the driver makes it, straight into the
    // output.
    const OGRSpatialReference mosaicSrs = SrsOf(mosaic.srsWkt), gridSrs = SrsOf(grid.srsWkt);
    const double fx = grid.gt[1] / mosaic.gt[1], fy = grid.gt[5] / mosaic.gt[5];
    const double ox = (grid.gt[0] - mosaic.gt[0]) / mosaic.gt[1];
    const double oy = (grid.gt[3] - mosaic.gt[3]) / mosaic.gt[5];
    auto whole = [](double v) { return std::fabs(v - std::round(v)) < 1e-6; };
    if (SameSrs(gridSrs, mosaicSrs) && whole(fx) && whole(fy) && fx >= 1 && fy >= 1 &&
        whole(ox) && whole(oy) && std::fabs(ox) < 1e15 && std::fabs(oy) < 1e15)
    {
        const auto f = [](double v) { return static_cast<std::int64_t>(std::llround(v)); };
        const std::int64_t winW = f(fx) * grid.width, winH = f(fy) * grid.height;
        if (winW > INT_MAX || winH > INT_MAX || std::fabs(ox) > INT_MAX ||
            std::fabs(oy) > INT_MAX)
            throw Error(ErrorKind::InvalidParameter, "the area is too large for the mosaic grid");
        const Request req{{static_cast<int>(f(ox)), static_cast<int>(f(oy)),
                           static_cast<int>(winW), static_cast<int>(winH)},
                          grid.width,
                          grid.height};
        Compose(reader, builtLevels, req, bands, type, memory.data, memory.bandSpace);
        if (!mosaic.nodata)
            out.coverage = Coverage(reader, builtLevels, req);
        return out;
    }

    // Elsewhere: composed on the mosaic grid around the grid's footprint, then warped.
    OGRCoordinateTransformation* ct = CachedTransformation(grid.srsWkt, mosaic.srsWkt);
    if (!ct)
        throw Error(ErrorKind::InvalidParameter, "cannot transform the output SRS to the mosaic's");
    // The grid's edges, pixel corner by pixel corner (at most 64 points a side), into mosaic
    // pixels.
    std::vector<double> xs, ys;
    const int steps = 64;
    for (int i = 0; i <= steps; ++i)
    {
        const double t = static_cast<double>(i) / steps;
        const double px[4] = {t * grid.width, t * grid.width, 0, double(grid.width)};
        const double py[4] = {0, double(grid.height), t * grid.height, t * grid.height};
        for (int k = 0; k < 4; ++k)
        {
            xs.push_back(grid.gt[0] + px[k] * grid.gt[1]);
            ys.push_back(grid.gt[3] + py[k] * grid.gt[5]);
        }
    }
    std::vector<int> ok(xs.size(), 0);
    ct->Transform(static_cast<int>(xs.size()), xs.data(), ys.data(), nullptr, ok.data());
    double minx = HUGE_VAL, maxx = -HUGE_VAL, miny = HUGE_VAL, maxy = -HUGE_VAL;
    for (size_t i = 0; i < xs.size(); ++i)
    {
        if (!ok[i] || !std::isfinite(xs[i]) || !std::isfinite(ys[i]))
            continue;
        const double c = (xs[i] - mosaic.gt[0]) / mosaic.gt[1];
        const double r = (ys[i] - mosaic.gt[3]) / mosaic.gt[5];
        minx = std::min(minx, c);
        maxx = std::max(maxx, c);
        miny = std::min(miny, r);
        maxy = std::max(maxy, r);
    }
    // Clipped to the mosaic: nothing is composed outside it.
    const double x0 = std::max(0.0, std::floor(minx) - 2), y0 = std::max(0.0, std::floor(miny) - 2);
    const double x1 = std::min<double>(mosaic.width, std::ceil(maxx) + 2);
    const double y1 = std::min<double>(mosaic.height, std::ceil(maxy) + 2);
    if (!(x1 > x0 && y1 > y0))
    {
        // The grid misses the mosaic: nothing covers it.
        for (int b = 1; b <= count; ++b)
            out.ds->GetRasterBand(b)->Fill(fill);
        if (!mosaic.nodata)
            out.coverage.assign(static_cast<size_t>(grid.width) * grid.height, 0);
        return out;
    }
    // The reduction GDAL's overview choice would read at: the largest power of two not
    // coarser than the grid's pixels.
    const double ratio = std::min((x1 - x0) / grid.width, (y1 - y0) / grid.height);
    int f = 1;
    while (2.0 * f <= ratio)
        f *= 2;
    const int wx0 = static_cast<int>(std::floor(x0 / f)) * f;
    const int wy0 = static_cast<int>(std::floor(y0 / f)) * f;
    const int bufW = static_cast<int>(std::ceil((x1 - wx0) / f));
    const int bufH = static_cast<int>(std::ceil((y1 - wy0) / f));
    const bool alpha = !mosaic.nodata.has_value();
    CheckSamples(bufW, bufH, bands.size() + (alpha ? 1 : 0), limits,
                 "the mosaic window under the output");
    const Request req{{wx0, wy0, bufW * f, bufH * f}, bufW, bufH};
    const GSpacing srcBand = static_cast<GSpacing>(bufW) * bufH * size;
    std::unique_ptr<GByte[]> data(new GByte[static_cast<size_t>(srcBand) * count]);
    AdviseHugePages(data.get(), static_cast<size_t>(srcBand) * count);
    Compose(reader, builtLevels, req, bands, type, data.get(), srcBand);
    const GeoTransform srcGt{mosaic.gt[0] + wx0 * mosaic.gt[1], mosaic.gt[1] * f, 0,
                             mosaic.gt[3] + wy0 * mosaic.gt[5], 0, mosaic.gt[5] * f};
    // A mosaic without nodata: where items cover, warped as one more band into out.coverage.
    std::vector<GByte> coverage;
    if (alpha)
    {
        coverage = Coverage(reader, builtLevels, req);
        out.coverage.resize(static_cast<size_t>(grid.width) * grid.height);
    }
    // A large output is warped with nearest neighbour on the reading threads (the engine's,
    // which block the backend's signals: GDAL's NUM_THREADS starts threads of its own that take
    // them), each a band of rows through MEM views of its own: its rows do not depend on one
    // another. Other resamplings are warped whole: GDAL scales their kernels from each chunk's
    // source window, so a split would change pixels.
    const int threads = reader.options().numThreads;
    const int parts = threads > 1 && reader.options().resampling.warp == GRA_NearestNeighbour &&
                              static_cast<std::int64_t>(grid.width) * grid.height >=
                                  kThreadedWarpPixels
                          ? std::min(threads, grid.height)
                          : 1;
    const std::string aoi = AreaOfInterest(mosaic);
    ParallelFor(static_cast<size_t>(parts), parts, [&](size_t part, int) {
        const int y0 = static_cast<int>(static_cast<std::int64_t>(grid.height) *
                                        static_cast<std::int64_t>(part) / parts);
        const int y1 = static_cast<int>(static_cast<std::int64_t>(grid.height) *
                                        static_cast<std::int64_t>(part + 1) / parts);
        WarpRows(reader, mosaic, grid, type, count, fill, aoi,
                 MemOver(bufW, bufH, Bands(data.get(), srcBand, count), type, mosaic.srsWkt,
                         srcGt),
                 alpha ? coverage.data() : nullptr, memory, alpha ? out.coverage.data() : nullptr,
                 y0, y1 - y0);
    });
    return out;
}

} // namespace pgmosaic
