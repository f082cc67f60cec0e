// Pixel statistics of one raster file inside a polygon: what summary() reports per item (the
// composed mosaic's statistics are read/area_reader's and the backend's zonal_stats()).
#pragma once

#include <cstdint>
#include <string>

#include "gdal_priv.h"

#include "cancel.h"

namespace pgmosaic
{

struct ZoneSummary
{
    std::int64_t count = 0;
    double min = 0, max = 0, sum = 0;
};

// count, min, max and sum of the valid pixels of band `bandNumber` whose centres fall inside
// `wkt` (coordinates of the raster's own SRS). Throws Error naming a bad band, geometry or read;
// Cancelled when `cancel` says stop.
ZoneSummary ZonalStatistics(GDALDataset* ds, int bandNumber, const std::string& wkt,
                            const Cancel& cancel);

} // namespace pgmosaic
