// count, min, max, sum and sum of squares of pixel values: what zonal statistics add up, for
// one file (inspect/zonal_stats, summary()) and for the composed mosaic (read/zone_stats,
// zonal_stats()). Tiny and without GDAL on purpose.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace pgmosaic
{

struct ZoneSummary
{
    std::int64_t count = 0;
    double min = 0, max = 0, sum = 0, sumSq = 0;
    bool sumSqKnown = true; // false once a part without a sum of squares was merged

    void Add(double v)
    {
        min = count ? std::min(min, v) : v;
        max = count ? std::max(max, v) : v;
        sum += v;
        sumSq += v * v;
        ++count;
    }

    void Merge(const ZoneSummary& o)
    {
        if (o.count == 0)
            return;
        min = count ? std::min(min, o.min) : o.min;
        max = count ? std::max(max, o.max) : o.max;
        sum += o.sum;
        sumSq += o.sumSq;
        sumSqKnown = sumSqKnown && o.sumSqKnown;
        count += o.count;
    }

    // count, min, max, mean, stddev (population), sum; NaN for "none" (min, max, mean and
    // stddev of an empty zone, stddev without sums of squares).
    std::vector<double> Values() const
    {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        if (count == 0)
            return {0, nan, nan, nan, nan, 0};
        const double n = static_cast<double>(count), mean = sum / n;
        return {n, min, max, mean, sumSqKnown ? std::sqrt(std::max(0.0, sumSq / n - mean * mean)) : nan,
                sum};
    }
};

} // namespace pgmosaic
