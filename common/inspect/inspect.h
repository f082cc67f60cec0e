// Item inspection: what the catalog records about one raster file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cancel.h"
#include "cpl_json.h"
#include "inspect/footprint.h"
#include "gdal.h"
#include "types/grid.h"
#include "path_policy.h"
#include "inspect/statistics.h"
#include "inspect/themes.h"
#include "inspect/tile_index.h"

namespace pgmosaic
{

struct BandInfo
{
    GDALDataType type = GDT_Unknown;
    std::optional<double> nodata;
    std::string description;
    std::string colorInterp;
};

struct InspectOptions
{
    bool validFootprint = true; // trace the valid pixels (reads the mask); else the outline
    FootprintOptions footprint{};
    StatisticsMode statistics = StatisticsMode::None;
    std::vector<std::string> allowedDrivers; // GDAL short names; any when empty
    bool tiles = true; // DRAD: internal tiles per level, byte ranges, per-tile statistics
    std::vector<std::pair<std::string, Expression>> themes; // DAD rules: name, expression
    // false: no full-resolution read (header-only registration): the DRAD from the file's IFDs
    // (byte ranges; empty only where a block is absent; no per-tile statistics), the valid
    // footprint traced on an overview, statistics as `statistics` says.
    bool scan = true;
    // Full-resolution blocks the scan may read (it reads and records every one): a larger
    // raster is refused before anything is read, naming the file and the limit.
    std::int64_t maxBlocks = kDefaultMaxBlocks;
    static constexpr std::int64_t kDefaultMaxBlocks = 1000000;
    Cancel cancel{}; // checked between blocks
};

struct RasterInfo
{
    std::string path;
    std::string driver;
    int width = 0, height = 0;
    GeoTransform gt{};
    int srid = 0;                  // EPSG code of the file's SRS
    std::string footprintWkt;      // outline of the raster's extent, in its own SRS
    std::string validFootprintWkt; // outline of its valid pixels (or the extent's)
    int footprintVertices = 0;
    std::vector<BandInfo> bands;
    int blockW = 0, blockH = 0;
    int overviewCount = 0;
    std::int64_t fileSize = 0;
    std::int64_t mtime = 0;                 // seconds since the epoch
    bool isCog = false;                     // a Cloud Optimized GeoTIFF (GDAL reports LAYOUT=COG)
    std::vector<BandStatistics> statistics; // one per band when computed, else empty
    TileIndex tiles;                        // empty when not asked for
    std::vector<std::pair<std::string, ThemeResult>> themes;
    // Network files: the object's ETag and the bytes GDAL read to open it (remote_source.h),
    // which readers open it from without a request.
    std::string etag;
    std::string remoteHeader;
};

// Opens `path` with GDAL and reads its header, its valid footprint and the statistics the
// options ask for. Refuses drivers outside options.allowedDrivers (Error(Permission) naming
// the driver). Throws Error naming the path when the file is missing, unreadable, not
// georeferenced, or in an SRS without an EPSG code. GDAL never stores anything (no .aux.xml).
RasterInfo InspectRaster(const std::string& path, const InspectOptions& options = {});

// InspectRaster of a file the backend's policy allows, opened through OpenAllowed (its checked
// canonical path, which info.path names; sidecars only within the policy).
RasterInfo InspectAllowedRaster(const FileAccessPolicy& policy, const std::string& path,
                                const InspectOptions& options);

// The inspection of an open dataset; info.path names it, info.fileSize and info.mtime are the
// caller's.
void InspectDataset(GDALDataset* ds, const InspectOptions& options, RasterInfo& info);

// The JSON object the SQL layer stores (keys as the item table's columns).
std::string RasterInfoToJson(const RasterInfo& info);

// The polygons of a theme as a JSON array of {wkt, area, pixels}.
CPLJSONArray ThemeResultToJson(const ThemeResult& result);

} // namespace pgmosaic
