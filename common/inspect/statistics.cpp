#include "inspect/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "error.h"

namespace pgmosaic
{
namespace
{

// What to read for a band: a level (the band or one of its overviews) and the size to read it
// at (smaller than the level for a subsample); no band when Cheap finds nothing small.
struct Source
{
    GDALRasterBand* band = nullptr;
    int w = 0, h = 0;
};

Source ChooseSource(GDALRasterBand* band, StatisticsMode mode, std::int64_t maxPixels)
{
    const auto pixels = [](GDALRasterBand* b) {
        return static_cast<std::int64_t>(b->GetXSize()) * b->GetYSize();
    };
    if (mode == StatisticsMode::Exact || pixels(band) <= maxPixels)
        return {band, band->GetXSize(), band->GetYSize()};
    for (int i = 0; i < band->GetOverviewCount(); ++i)
    {
        GDALRasterBand* ov = band->GetOverview(i);
        if (ov && pixels(ov) <= maxPixels)
            return {ov, ov->GetXSize(), ov->GetYSize()};
    }
    if (mode == StatisticsMode::Cheap)
        return {};
    const double scale = std::sqrt(static_cast<double>(maxPixels) / pixels(band));
    return {band, std::max(1, static_cast<int>(band->GetXSize() * scale)),
            std::max(1, static_cast<int>(band->GetYSize() * scale))};
}

// Streams the valid values of `src` (rows of the level, or the whole subsample at once) to
// fn(values).
template <typename Fn> void ForEachValid(GDALDataset* ds, const Source& src, Fn&& fn)
{
    GDALRasterBand* band = src.band;
    const int w = band->GetXSize(), h = band->GetYSize();
    const bool subsample = src.w != w || src.h != h;
    int bh = 0, bw = 0;
    band->GetBlockSize(&bw, &bh);
    const int rows = subsample ? src.h : std::max(1, std::min(h, std::max(bh, 64)));
    std::vector<double> values(static_cast<size_t>(src.w) * rows);
    std::vector<GByte> mask(values.size());
    std::vector<double> valid;
    valid.reserve(values.size());
    const int flags = band->GetMaskFlags();
    int hasNodata = FALSE;
    const double nodata = band->GetNoDataValue(&hasNodata);
    const bool useMask = !(flags & GMF_ALL_VALID) && !(flags & GMF_NODATA);
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    extra.eResampleAlg = GRIORA_NearestNeighbour;
    for (int y = 0; y < src.h; y += rows)
    {
        const int n = std::min(rows, src.h - y);
        // In level pixels: the rows read, all of them for a subsample.
        const int y0 = subsample ? 0 : y, yn = subsample ? h : n;
        if (band->RasterIO(GF_Read, 0, y0, w, yn, values.data(), src.w, n, GDT_Float64, 0, 0,
                           &extra) != CE_None ||
            (useMask && band->GetMaskBand()->RasterIO(GF_Read, 0, y0, w, yn, mask.data(), src.w, n,
                                                      GDT_Byte, 0, 0, &extra) != CE_None))
            throw Error(ErrorKind::Io, std::string("cannot read ") + ds->GetDescription() +
                                           " for statistics: " + CPLGetLastErrorMsg());
        valid.clear();
        const size_t count = static_cast<size_t>(src.w) * n;
        for (size_t i = 0; i < count; ++i)
        {
            const double v = values[i];
            if (std::isnan(v) || (hasNodata && (flags & GMF_NODATA) && v == nodata) ||
                (useMask && mask[i] == 0))
                continue;
            valid.push_back(v);
        }
        fn(valid);
    }
}

} // namespace

StatisticsMode ParseStatisticsMode(const std::string& text)
{
    if (text == "none")
        return StatisticsMode::None;
    if (text == "cheap")
        return StatisticsMode::Cheap;
    if (text == "approximate" || text == "approx")
        return StatisticsMode::Approximate;
    if (text == "exact")
        return StatisticsMode::Exact;
    throw Error(ErrorKind::InvalidParameter,
                "unknown statistics mode \"" + text + "\": use none, cheap, approximate or exact");
}

std::vector<BandStatistics> ComputeStatistics(GDALDataset* ds, StatisticsMode mode,
                                              std::int64_t maxPixels)
{
    std::vector<BandStatistics> out;
    if (mode == StatisticsMode::None)
        return out;
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
    {
        GDALRasterBand* full = ds->GetRasterBand(b);
        const Source src = ChooseSource(full, mode, maxPixels);
        if (src.band == nullptr)
            return {}; // Cheap and nothing small: none rather than some bands only
        BandStatistics s;
        s.approximate = src.band != full || src.w != full->GetXSize();
        const GDALDataType type = full->GetRasterDataType();
        // 8 and 16 bit integers get one bin per value; others a histogram over [min, max].
        const bool perValue = type == GDT_Byte || type == GDT_UInt16 || type == GDT_Int16;
        const double binOrigin = type == GDT_Int16 ? -32768.0 : 0.0;
        std::vector<std::int64_t> bins(perValue ? 65536 : 4096, 0);
        // Other types keep their values while they fit, for exact percentiles.
        constexpr size_t kMaxKept = 16 * 1024 * 1024;
        std::vector<double> kept;
        bool keeping = !perValue;
        double sum = 0, sumSq = 0;
        s.min = std::numeric_limits<double>::infinity();
        s.max = -std::numeric_limits<double>::infinity();
        ForEachValid(ds, src, [&](const std::vector<double>& v) {
            for (double x : v)
            {
                sum += x;
                sumSq += x * x;
                s.min = std::min(s.min, x);
                s.max = std::max(s.max, x);
                if (perValue)
                    ++bins[static_cast<size_t>(x - binOrigin)];
            }
            s.count += static_cast<std::int64_t>(v.size());
            if (keeping && kept.size() + v.size() <= kMaxKept)
                kept.insert(kept.end(), v.begin(), v.end());
            else if (keeping)
            {
                keeping = false;
                std::vector<double>().swap(kept);
            }
        });
        if (s.count == 0)
        {
            s.min = s.max = 0;
            out.push_back(s);
            continue;
        }
        s.mean = sum / s.count;
        s.stddev = std::sqrt(std::max(0.0, sumSq / s.count - s.mean * s.mean));
        double binWidth = 1, origin = binOrigin;
        if (!perValue && !keeping)
        {
            origin = s.min;
            binWidth = (s.max - s.min) / bins.size();
            if (binWidth > 0)
                ForEachValid(ds, src, [&](const std::vector<double>& v) {
                    for (double x : v)
                        ++bins[std::min(bins.size() - 1,
                                        static_cast<size_t>((x - origin) / binWidth))];
                });
            else
                bins[0] = s.count;
        }
        // Nearest-rank percentile: the first value whose cumulative count reaches p * count.
        auto percentile = [&](double p) {
            const double target = std::max(1.0, std::ceil(p * s.count));
            if (keeping)
            {
                const auto k = kept.begin() + static_cast<std::ptrdiff_t>(target) - 1;
                std::nth_element(kept.begin(), k, kept.end());
                return *k;
            }
            std::int64_t cumulative = 0;
            for (size_t i = 0; i < bins.size(); ++i)
            {
                cumulative += bins[i];
                if (cumulative >= target)
                    return perValue ? origin + i : std::min(s.max, origin + (i + 0.5) * binWidth);
            }
            return s.max;
        };
        s.p0_5 = percentile(0.005);
        s.p2 = percentile(0.02);
        s.p98 = percentile(0.98);
        s.p99_5 = percentile(0.995);
        out.push_back(s);
    }
    return out;
}

} // namespace pgmosaic
