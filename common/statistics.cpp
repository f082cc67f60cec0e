#include "statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "error.h"

namespace pgmosaic
{
namespace
{

// The band to read: the largest overview within the pixel budget, else the band itself.
GDALRasterBand* ChooseLevel(GDALRasterBand* band, bool exact, std::int64_t maxPixels)
{
    if (exact)
        return band;
    for (int i = 0; i < band->GetOverviewCount(); ++i)
    {
        GDALRasterBand* ov = band->GetOverview(i);
        if (ov && static_cast<std::int64_t>(ov->GetXSize()) * ov->GetYSize() <= maxPixels)
            return ov;
    }
    return band;
}

// Streams the valid pixels of `band` row by row to fn(values, count).
template <typename Fn> void ForEachValid(GDALDataset* ds, GDALRasterBand* band, Fn&& fn)
{
    const int w = band->GetXSize(), h = band->GetYSize();
    int bh = 0, bw = 0;
    band->GetBlockSize(&bw, &bh);
    const int rows = std::max(1, std::min(h, std::max(bh, 64)));
    std::vector<double> values(static_cast<size_t>(w) * rows);
    std::vector<GByte> mask(values.size());
    std::vector<double> valid;
    valid.reserve(values.size());
    const int flags = band->GetMaskFlags();
    int hasNodata = FALSE;
    const double nodata = band->GetNoDataValue(&hasNodata);
    for (int y = 0; y < h; y += rows)
    {
        const int n = std::min(rows, h - y);
        const size_t count = static_cast<size_t>(w) * n;
        if (band->RasterIO(GF_Read, 0, y, w, n, values.data(), w, n, GDT_Float64, 0, 0, nullptr) !=
            CE_None)
            throw Error(ErrorKind::Io, std::string("cannot read ") + ds->GetDescription() +
                                           " for statistics: " + CPLGetLastErrorMsg());
        const bool useMask = !(flags & GMF_ALL_VALID) && !(flags & GMF_NODATA);
        if (useMask && band->GetMaskBand()->RasterIO(GF_Read, 0, y, w, n, mask.data(), w, n,
                                                     GDT_Byte, 0, 0, nullptr) != CE_None)
            throw Error(ErrorKind::Io, std::string("cannot read the mask of ") +
                                           ds->GetDescription() + ": " + CPLGetLastErrorMsg());
        valid.clear();
        for (size_t i = 0; i < count; ++i)
        {
            const double v = values[i];
            if (std::isnan(v))
                continue;
            if (hasNodata && (flags & GMF_NODATA) && v == nodata)
                continue;
            if (useMask && mask[i] == 0)
                continue;
            valid.push_back(v);
        }
        fn(valid);
    }
}

} // namespace

std::vector<BandStatistics> ComputeStatistics(GDALDataset* ds, bool exact,
                                              std::int64_t approxMaxPixels)
{
    std::vector<BandStatistics> out;
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
    {
        GDALRasterBand* full = ds->GetRasterBand(b);
        GDALRasterBand* band = ChooseLevel(full, exact, approxMaxPixels);
        BandStatistics s;
        s.approximate = band != full;
        const GDALDataType type = full->GetRasterDataType();
        // 8 and 16 bit integers get one bin per value; others a histogram over [min, max].
        const bool perValue = type == GDT_Byte || type == GDT_UInt16 || type == GDT_Int16;
        const double binOrigin = type == GDT_Int16 ? -32768.0 : 0.0;
        std::vector<std::int64_t> bins(perValue ? 65536 : 4096, 0);
        double sum = 0, sumSq = 0;
        s.min = std::numeric_limits<double>::infinity();
        s.max = -std::numeric_limits<double>::infinity();
        ForEachValid(ds, band, [&](const std::vector<double>& v) {
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
        if (!perValue)
        {
            origin = s.min;
            binWidth = (s.max - s.min) / bins.size();
            if (binWidth > 0)
                ForEachValid(ds, band, [&](const std::vector<double>& v) {
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
