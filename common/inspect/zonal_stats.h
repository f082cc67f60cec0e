// Pixel statistics of one raster file inside a polygon: what summary() reports per item (the
// composed mosaic's statistics are read/area_reader's and the backend's zonal_stats()).
#pragma once

#include <cstdint>
#include <string>

#include "gdal_priv.h"

#include "cancel.h"
#include "zone_summary.h"

namespace pgmosaic
{

// The statistics of the valid pixels of band `bandNumber` whose centres fall inside
// `wkt` (coordinates of the raster's own SRS). Throws Error naming a bad band, geometry or read;
// Cancelled when `cancel` says stop.
ZoneSummary ZonalStatistics(GDALDataset* ds, int bandNumber, const std::string& wkt,
                            const Cancel& cancel);

} // namespace pgmosaic
