// Per-band statistics of a raster, for stretching and coarse analysis without a full scan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gdal_priv.h"

namespace pgmosaic
{

struct BandStatistics
{
    double min = 0, max = 0, mean = 0, stddev = 0;
    std::int64_t count = 0; // valid pixels of what was read
    // Percentiles: 0.5/99.5 (a 99% clip) and 2/98 (a 96% clip) for linear stretches.
    double p0_5 = 0, p2 = 0, p98 = 0, p99_5 = 0;
    bool approximate = false; // computed on an overview or a subsample
};

enum class StatisticsMode
{
    None,        // no statistics
    Cheap,       // approximate, only when an overview or the raster itself is small
    Approximate, // from a small overview, else a subsample of the raster
    Exact,       // every pixel at full resolution
};

// "none", "cheap", "approximate" (or "approx"), "exact"; Error(InvalidParameter) otherwise.
StatisticsMode ParseStatisticsMode(const std::string& text);

// Statistics of every band over its valid pixels (nodata, mask and alpha honoured), read as
// `mode` says: small means at most `maxPixels` pixels. Empty for None, and for Cheap when
// nothing small enough exists. Percentiles are nearest-rank (the smallest value with at least
// p of the values at or below it), exact for 8 and 16 bit integers and for up to 16M values of
// other types, else from a 4096-bin histogram. Throws Error naming the dataset on a read failure.
std::vector<BandStatistics> ComputeStatistics(GDALDataset* ds, StatisticsMode mode,
                                              std::int64_t maxPixels = 1024 * 1024);

} // namespace pgmosaic
