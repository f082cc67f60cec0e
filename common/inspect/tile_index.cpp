#include "inspect/tile_index.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "error.h"

namespace pgmosaic
{
namespace
{

std::uint64_t TiffItem(GDALRasterBand* band, const char* key, int col, int row)
{
    const char* v = band->GetMetadataItem(CPLSPrintf("%s_%d_%d", key, col, row), "TIFF");
    return v ? std::strtoull(v, nullptr, 10) : 0;
}

// How a band's validity is known, and its running totals over the whole raster.
struct BandState
{
    GDALRasterBand* band = nullptr;
    GDALDataType type = GDT_Byte;
    bool hasNodata = false;
    double nodata = 0;
    bool useMask = false;     // validity from the mask band (mask, alpha)
    bool datasetMask = false; // ... shared by the bands
    bool isAlpha = false;     // the alpha band: its validity is the dataset mask
    bool histogram = false;   // 8/16-bit integers: per-value bins
    double origin = 0;
    std::vector<std::int64_t> bins;
    double sum = 0, sumSq = 0, min = std::numeric_limits<double>::infinity(),
           max = -std::numeric_limits<double>::infinity();
    std::int64_t count = 0;
};

// Accumulates one band of one block (n values of T) into the tile's and the band's totals,
// and marks valid pixels in `anyValid`.
template <typename T>
void AccumulateT(const T* v, size_t n, const GByte* mask, BandState& s, TileBandStatistics& t,
                 GByte* anyValid)
{
    const bool nodataIsNan = s.hasNodata && std::isnan(s.nodata);
    for (size_t i = 0; i < n; ++i)
    {
        const double x = static_cast<double>(v[i]);
        if (mask ? mask[i] == 0 : (s.hasNodata && (nodataIsNan ? std::isnan(x) : x == s.nodata)))
            continue;
        if (std::isnan(x))
            continue;
        if (anyValid)
            anyValid[i] = 1;
        if (t.count == 0 || x < t.min)
            t.min = x;
        if (t.count == 0 || x > t.max)
            t.max = x;
        t.sum += x;
        t.sumSq += x * x;
        ++t.count;
        s.sumSq += x * x;
        if (s.histogram)
            ++s.bins[static_cast<size_t>(x - s.origin)];
    }
}

// The common case, 8-bit bands: the inner loop only counts values (a 256-bin histogram of the
// block); extremes, sums and the band's histogram come from the counts.
void AccumulateByte(const GByte* v, size_t n, const GByte* mask, BandState& s,
                    TileBandStatistics& t, GByte* anyValid)
{
    std::int64_t h[256] = {0};
    const int nd =
        s.hasNodata && s.nodata == std::floor(s.nodata) && s.nodata >= 0 && s.nodata <= 255
            ? static_cast<int>(s.nodata)
            : -1;
    if (mask)
    {
        for (size_t i = 0; i < n; ++i)
            if (mask[i])
                ++h[v[i]];
        if (anyValid)
            for (size_t i = 0; i < n; ++i)
                anyValid[i] |= mask[i] != 0;
    }
    else if (nd >= 0)
    {
        for (size_t i = 0; i < n; ++i)
            ++h[v[i]];
        h[nd] = 0;
        if (anyValid)
            for (size_t i = 0; i < n; ++i)
                anyValid[i] |= v[i] != nd;
    }
    else
    {
        for (size_t i = 0; i < n; ++i)
            ++h[v[i]];
        if (anyValid)
            std::fill(anyValid, anyValid + n, 1);
    }
    for (int b = 0; b < 256; ++b)
    {
        if (h[b] == 0)
            continue;
        if (t.count == 0)
            t.min = b;
        t.max = b;
        t.count += h[b];
        t.sum += static_cast<double>(b) * h[b];
        t.sumSq += static_cast<double>(b) * b * h[b];
        s.sumSq += static_cast<double>(b) * b * h[b];
        s.bins[static_cast<size_t>(b)] += h[b];
    }
}

void Accumulate(GDALDataType type, const GByte* data, size_t n, const GByte* mask, BandState& s,
                TileBandStatistics& t, GByte* anyValid)
{
    switch (type)
    {
    case GDT_Byte:
        return AccumulateByte(data, n, mask, s, t, anyValid);
    case GDT_UInt16:
        return AccumulateT(reinterpret_cast<const GUInt16*>(data), n, mask, s, t, anyValid);
    case GDT_Int16:
        return AccumulateT(reinterpret_cast<const GInt16*>(data), n, mask, s, t, anyValid);
    case GDT_UInt32:
        return AccumulateT(reinterpret_cast<const GUInt32*>(data), n, mask, s, t, anyValid);
    case GDT_Int32:
        return AccumulateT(reinterpret_cast<const GInt32*>(data), n, mask, s, t, anyValid);
    case GDT_Float32:
        return AccumulateT(reinterpret_cast<const float*>(data), n, mask, s, t, anyValid);
    default:
        return AccumulateT(reinterpret_cast<const double*>(data), n, mask, s, t, anyValid);
    }
}

// The block layout of one level: its band, block size, size, and scale to full resolution.
struct LevelBlocks
{
    GDALRasterBand* band = nullptr;
    int bw = 0, bh = 0, w = 0, h = 0, cols = 0, rows = 0;
    double fx = 1, fy = 1;
};

LevelBlocks BlocksOf(GDALRasterBand* band, int fullW, int fullH)
{
    LevelBlocks l;
    l.band = band;
    band->GetBlockSize(&l.bw, &l.bh);
    l.w = band->GetXSize();
    l.h = band->GetYSize();
    l.fx = static_cast<double>(fullW) / l.w;
    l.fy = static_cast<double>(fullH) / l.h;
    l.cols = (l.w + l.bw - 1) / l.bw;
    l.rows = (l.h + l.bh - 1) / l.bh;
    return l;
}

// Block (col, row)'s record without statistics: level, position and quadtree zoom, its
// full-resolution rectangle through the geotransform, and, in a GeoTIFF, its byte range.
TileRecord BlockRecord(const LevelBlocks& l, const double* gt, int level, int fullZoom, int col,
                       int row, bool tiff)
{
    TileRecord t;
    t.level = level;
    t.col = col;
    t.row = row;
    t.zoom = std::max(0, fullZoom - level);
    const int x0 = col * l.bw, y0 = row * l.bh;
    const int tw = std::min(l.bw, l.w - x0), th = std::min(l.bh, l.h - y0);
    // Corners in full-resolution pixels, through the full geotransform.
    const double px[4] = {x0 * l.fx, (x0 + tw) * l.fx, x0 * l.fx, (x0 + tw) * l.fx};
    const double py[4] = {y0 * l.fy, y0 * l.fy, (y0 + th) * l.fy, (y0 + th) * l.fy};
    double xs[4], ys[4];
    for (int k = 0; k < 4; ++k)
    {
        xs[k] = gt[0] + px[k] * gt[1] + py[k] * gt[2];
        ys[k] = gt[3] + px[k] * gt[4] + py[k] * gt[5];
    }
    t.minx = *std::min_element(xs, xs + 4);
    t.maxx = *std::max_element(xs, xs + 4);
    t.miny = *std::min_element(ys, ys + 4);
    t.maxy = *std::max_element(ys, ys + 4);
    if (tiff)
    {
        t.offset = TiffItem(l.band, "BLOCK_OFFSET", col, row);
        t.length = TiffItem(l.band, "BLOCK_SIZE", col, row);
    }
    return t;
}

} // namespace

ItemScan ScanItem(GDALDataset* ds, int maxCells, const Cancel& cancel)
{
    GDALRasterBand* first = ds->GetRasterBand(1);
    double gt[6];
    if (ds->GetGeoTransform(gt) != CE_None)
        throw Error(ErrorKind::Mismatch,
                    std::string("raster ") + ds->GetDescription() + " has no geotransform");
    const bool tiff = ds->GetDriver() && EQUAL(ds->GetDriver()->GetDescription(), "GTiff");
    const int W = ds->GetRasterXSize(), H = ds->GetRasterYSize();
    const int bands = ds->GetRasterCount();
    ItemScan scan;
    TileIndex& index = scan.tiles;
    index.levels = 1 + first->GetOverviewCount();

    CellMask& cm = scan.cells;
    cm.k = std::max(1, (std::max(W, H) + maxCells - 1) / maxCells);
    cm.cw = (W + cm.k - 1) / cm.k;
    cm.ch = (H + cm.k - 1) / cm.k;
    cm.cells.assign(static_cast<size_t>(cm.cw) * cm.ch, 0);

    const bool datasetAlpha = (first->GetMaskFlags() & GMF_ALPHA) != 0;
    std::vector<BandState> state(static_cast<size_t>(bands));
    for (int b = 1; b <= bands; ++b)
    {
        BandState& s = state[static_cast<size_t>(b - 1)];
        s.band = ds->GetRasterBand(b);
        s.type = s.band->GetRasterDataType();
        s.isAlpha = datasetAlpha && s.band->GetColorInterpretation() == GCI_AlphaBand;
        const int flags = s.isAlpha ? (GMF_ALPHA | GMF_PER_DATASET) : s.band->GetMaskFlags();
        int has = FALSE;
        s.nodata = s.band->GetNoDataValue(&has);
        s.hasNodata = (flags & GMF_NODATA) && has;
        s.useMask = !(flags & GMF_NODATA) && flags != GMF_ALL_VALID;
        s.datasetMask = (flags & GMF_PER_DATASET) != 0;
        s.histogram = s.type == GDT_Byte || s.type == GDT_UInt16 || s.type == GDT_Int16;
        s.origin = s.type == GDT_Int16 ? -32768.0 : 0.0;
        if (s.histogram)
            s.bins.assign(65536, 0);
    }

    int fullBw = 0, fullBh = 0;
    first->GetBlockSize(&fullBw, &fullBh);
    const int fullCols = (W + fullBw - 1) / fullBw, fullRows = (H + fullBh - 1) / fullBh;
    std::vector<bool> fullEmpty(static_cast<size_t>(fullCols) * fullRows, false);
    // Quadtree zoom of full-resolution tiles: enough for its columns and rows, so that with
    // factor-2 overviews a tile's key holds the keys of the tiles under it.
    int fullZoom = 0;
    while ((1 << fullZoom) < std::max(fullCols, fullRows))
        ++fullZoom;

    std::vector<GByte> data, mask, datasetMask, anyValid;
    for (int level = 0; level < index.levels; ++level)
    {
        GDALRasterBand* band = level == 0 ? first : first->GetOverview(level - 1);
        if (band == nullptr)
            continue;
        const LevelBlocks l = BlocksOf(band, W, H);
        const int bw = l.bw, bh = l.bh, w = l.w, h = l.h;
        const double fx = l.fx, fy = l.fy;
        for (int row = 0; row < l.rows; ++row)
            for (int col = 0; col < l.cols; ++col)
            {
                cancel.Check(std::string("scanning ") + ds->GetDescription());
                TileRecord t = BlockRecord(l, gt, level, fullZoom, col, row, tiff);
                const int x0 = col * bw, y0 = row * bh;
                const int tw = std::min(bw, w - x0), th = std::min(bh, h - y0);
                const bool absent = tiff && t.offset == 0;
                if (level > 0)
                {
                    // Empty when every full-resolution block under it is.
                    const int c0 = static_cast<int>(x0 * fx) / fullBw;
                    const int c1 =
                        std::min(fullCols - 1, static_cast<int>((x0 + tw) * fx - 1) / fullBw);
                    const int r0 = static_cast<int>(y0 * fy) / fullBh;
                    const int r1 =
                        std::min(fullRows - 1, static_cast<int>((y0 + th) * fy - 1) / fullBh);
                    bool allEmpty = true;
                    for (int r = r0; r <= r1 && allEmpty; ++r)
                        for (int c = c0; c <= c1 && allEmpty; ++c)
                            allEmpty = fullEmpty[static_cast<size_t>(r) * fullCols + c];
                    t.empty = absent || allEmpty;
                    index.tiles.push_back(std::move(t));
                    continue;
                }
                // Full resolution: every band of the block once, in its own type.
                t.stats.resize(static_cast<size_t>(bands));
                const size_t n = static_cast<size_t>(tw) * th;
                anyValid.assign(n, 0);
                bool haveDatasetMask = false;
                for (int b = 0; b < bands && !absent; ++b)
                {
                    BandState& s = state[static_cast<size_t>(b)];
                    const int size = GDALGetDataTypeSizeBytes(s.type);
                    data.resize(n * size);
                    if (s.band->RasterIO(GF_Read, x0, y0, tw, th, data.data(), tw, th, s.type, 0, 0,
                                         nullptr) != CE_None)
                        throw Error(ErrorKind::Io, std::string("cannot read ") +
                                                       ds->GetDescription() + ": " +
                                                       CPLGetLastErrorMsg());
                    const GByte* m = nullptr;
                    if (s.useMask)
                    {
                        std::vector<GByte>& target = s.datasetMask ? datasetMask : mask;
                        if (!(s.datasetMask && haveDatasetMask))
                        {
                            target.resize(n);
                            GDALRasterBand* maskOf = s.isAlpha ? first : s.band;
                            if (maskOf->GetMaskBand()->RasterIO(GF_Read, x0, y0, tw, th,
                                                                target.data(), tw, th, GDT_Byte, 0,
                                                                0, nullptr) != CE_None)
                                throw Error(ErrorKind::Io, std::string("cannot read the mask of ") +
                                                               ds->GetDescription());
                            haveDatasetMask = haveDatasetMask || s.datasetMask;
                        }
                        m = target.data();
                    }
                    Accumulate(s.type, data.data(), n, m, s, t.stats[static_cast<size_t>(b)],
                               s.isAlpha ? nullptr : anyValid.data());
                }
                bool any = false;
                for (const auto& st : t.stats)
                    any = any || st.count > 0;
                t.empty = !any;
                fullEmpty[static_cast<size_t>(row) * fullCols + col] = t.empty;
                // The valid cells of the footprint.
                if (any)
                    for (int y = 0; y < th; ++y)
                    {
                        GByte* cellRow =
                            cm.cells.data() + static_cast<size_t>((y0 + y) / cm.k) * cm.cw;
                        const GByte* v = anyValid.data() + static_cast<size_t>(y) * tw;
                        for (int x = 0; x < tw; ++x)
                            if (v[x])
                                cellRow[(x0 + x) / cm.k] = 1;
                    }
                for (int b = 0; b < bands; ++b)
                {
                    const TileBandStatistics& ts = t.stats[static_cast<size_t>(b)];
                    BandState& s = state[static_cast<size_t>(b)];
                    if (ts.count == 0)
                        continue;
                    s.sum += ts.sum;
                    s.count += ts.count;
                    s.min = std::min(s.min, ts.min);
                    s.max = std::max(s.max, ts.max);
                }
                index.tiles.push_back(std::move(t));
            }
    }

    // Exact band statistics where per-value histograms give exact percentiles.
    if (std::all_of(state.begin(), state.end(), [](const BandState& s) { return s.histogram; }))
        for (auto& s : state)
        {
            BandStatistics st;
            st.count = s.count;
            if (s.count > 0)
            {
                st.min = s.min;
                st.max = s.max;
                st.mean = s.sum / s.count;
                st.stddev = std::sqrt(std::max(0.0, s.sumSq / s.count - st.mean * st.mean));
                auto percentile = [&](double p) {
                    const double target = std::max(1.0, std::ceil(p * s.count));
                    std::int64_t cumulative = 0;
                    for (size_t i = 0; i < s.bins.size(); ++i)
                    {
                        cumulative += s.bins[i];
                        if (cumulative >= target)
                            return s.origin + static_cast<double>(i);
                    }
                    return s.max;
                };
                st.p0_5 = percentile(0.005);
                st.p2 = percentile(0.02);
                st.p98 = percentile(0.98);
                st.p99_5 = percentile(0.995);
            }
            scan.statistics.push_back(st);
        }
    return scan;
}

TileIndex LayoutTiles(GDALDataset* ds)
{
    GDALRasterBand* first = ds->GetRasterBand(1);
    double gt[6];
    if (ds->GetGeoTransform(gt) != CE_None)
        throw Error(ErrorKind::Mismatch,
                    std::string("raster ") + ds->GetDescription() + " has no geotransform");
    const bool tiff = ds->GetDriver() && EQUAL(ds->GetDriver()->GetDescription(), "GTiff");
    const int W = ds->GetRasterXSize(), H = ds->GetRasterYSize();
    TileIndex index;
    index.levels = 1 + first->GetOverviewCount();
    int fullBw = 0, fullBh = 0;
    first->GetBlockSize(&fullBw, &fullBh);
    const int fullCols = (W + fullBw - 1) / fullBw, fullRows = (H + fullBh - 1) / fullBh;
    int fullZoom = 0;
    while ((1 << fullZoom) < std::max(fullCols, fullRows))
        ++fullZoom;
    for (int level = 0; level < index.levels; ++level)
    {
        GDALRasterBand* band = level == 0 ? first : first->GetOverview(level - 1);
        if (band == nullptr)
            continue;
        const LevelBlocks l = BlocksOf(band, W, H);
        for (int row = 0; row < l.rows; ++row)
            for (int col = 0; col < l.cols; ++col)
            {
                TileRecord t = BlockRecord(l, gt, level, fullZoom, col, row, tiff);
                t.empty = tiff && t.offset == 0;
                index.tiles.push_back(std::move(t));
            }
    }
    return index;
}

} // namespace pgmosaic
