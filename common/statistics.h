// Per-band statistics of a raster, for stretching and coarse analysis without a full scan.
#pragma once

#include <cstdint>
#include <vector>

#include "gdal_priv.h"

namespace pgmosaic
{

struct BandStatistics
{
    double min = 0, max = 0, mean = 0, stddev = 0;
    std::int64_t count = 0; // valid pixels of the level read
    // Percentiles: 0.5/99.5 (a 99% clip) and 2/98 (a 96% clip) for linear stretches.
    double p0_5 = 0, p2 = 0, p98 = 0, p99_5 = 0;
    bool approximate = false; // computed on an overview level
};

// Statistics of every band over its valid pixels (nodata, mask and alpha honoured). Unless
// `exact`, computed on the largest overview with at most `approxMaxPixels` pixels when the
// band has such an overview. Percentiles are exact for 8 and 16 bit integers, else taken from
// a 4096-bin histogram. Throws Error naming the dataset on a read failure.
std::vector<BandStatistics> ComputeStatistics(GDALDataset* ds, bool exact,
                                              std::int64_t approxMaxPixels = 1024 * 1024);

} // namespace pgmosaic
