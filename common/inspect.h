// Item inspection: what the catalog records about one raster file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gdal.h"
#include "grid.h"

namespace pgmosaic
{

struct BandInfo
{
    GDALDataType type = GDT_Unknown;
    std::optional<double> nodata;
    std::string description;
    std::string colorInterp;
};

// Per-band statistics: exact when read from every pixel, approximate when read from an overview
// or a subsample. Pixels equal to the band's nodata value and NaN are not counted.
struct BandStatistics
{
    std::int64_t count = 0; // valid pixels in what was read
    double min = 0, max = 0, mean = 0, stddev = 0;
    // Percentiles of what was read: 0.5/99.5 and 2/98, the usual linear-stretch clips.
    double p0_5 = 0, p2 = 0, p98 = 0, p99_5 = 0;
    bool approximate = false;
};

enum class StatisticsMode
{
    None,        // no statistics
    Cheap,       // approximate statistics, only when an overview or the raster itself is small
    Approximate, // approximate statistics always (may read a subsample of a large raster)
};

// Throws Error(InvalidParameter) for anything but "none", "cheap" and "approximate".
StatisticsMode ParseStatisticsMode(const std::string& text);

struct InspectOptions
{
    StatisticsMode statistics = StatisticsMode::None;
    std::vector<std::string> allowedDrivers; // GDAL short names; any when empty
};

struct RasterInfo
{
    std::string path;
    std::string driver;
    int width = 0, height = 0;
    GeoTransform gt{};
    int srid = 0;             // EPSG code of the file's SRS
    std::string footprintWkt; // outline of the raster's extent, in its own SRS
    std::vector<BandInfo> bands;
    int blockW = 0, blockH = 0;
    int overviewCount = 0;
    std::int64_t fileSize = 0;
    std::int64_t mtime = 0;                 // seconds since the epoch
    bool isCog = false;                     // a Cloud Optimized GeoTIFF (GDAL reports LAYOUT=COG)
    std::vector<BandStatistics> statistics; // one per band when computed, else empty
};

// Opens `path` with GDAL and reads its header. Throws Error naming the path when the file is
// missing, unreadable, not georeferenced, or in an SRS without an EPSG code.
RasterInfo InspectRaster(const std::string& path);
// The same, refusing drivers outside options.allowedDrivers (Error(Permission) naming the driver)
// and computing statistics as options.statistics asks. Statistics are read through GDAL and never
// stored by GDAL (no .aux.xml is written).
RasterInfo InspectRaster(const std::string& path, const InspectOptions& options);

// The JSON object the SQL layer stores (keys as the item table's columns).
std::string RasterInfoToJson(const RasterInfo& info);

} // namespace pgmosaic
