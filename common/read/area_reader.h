// Reading a mosaic over an output grid of any SRS and resolution: what the backend's SQL
// functions (read, export, value, zonal_stats, render_tile) compose. A grid on the mosaic's
// own pixel grid (same SRS, a whole reduction factor) is one read of the compositing reader,
// exactly the read the GDAL driver makes for that window; any other grid is composed on the
// mosaic grid first (at the power-of-two reduction that GDAL's overview choice would take)
// and warped from there with an exact transformation, as gdalwarp does from the driver.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_geometry.h"
#include "ogr_spatialref.h"

#include "read/composite_reader.h"

namespace pgmosaic
{

// A north-up output grid.
struct OutputGrid
{
    std::string srsWkt;
    GeoTransform gt{};
    int width = 0, height = 0;
    // The warp's tolerance in output pixels: 0 transforms every pixel exactly (gdalwarp -et 0);
    // more interpolates the transformation where it stays within that (GDAL's approximation).
    double maxError = 0;
};

// The grid of an area whose envelope `env` is in `srs`: with `resolution` (or, when not given,
// the mosaic's own in its SRS, GDAL's suggested warp resolution in others) as the pixel size,
// aligned to the mosaic's origin in the mosaic's SRS and to multiples of the pixel size in
// others (gdalwarp -tap), covering the envelope (snapped outward). Throws Error naming a bad
// resolution or an empty area.
OutputGrid AreaGrid(const MosaicInfo& mosaic, const Envelope& env, const OGRSpatialReference& srs,
                    std::optional<double> resolution);

// The XYZ web-mercator tile z/x/y as a grid of size x size pixels (EPSG:3857).
OutputGrid WebMercatorTileGrid(int z, int x, int y, int size);

// Memory the composed bands are written to: band b (0-based) at data + b * bandSpace, each a
// width x height raster of rows one after the other.
struct BandMemory
{
    GByte* data = nullptr;
    GSpacing bandSpace = 0;
};

// Gives the memory of `bands` bands of `type` over `grid`, once the read passed its limits.
using BandAllocator =
    std::function<BandMemory(const OutputGrid& grid, size_t bands, GDALDataType type)>;

// The composed bands over a grid.
struct AreaRaster
{
    std::unique_ptr<GByte[]> owned; // the bands' memory, unless an allocator gave it
    GDALDatasetUniquePtr ds; // MEM over that memory, with the grid's SRS and geotransform and
                             // nodata when any
    // With a mosaic without nodata: 255 where some item has a valid pixel, 0 elsewhere (row
    // after row). Empty when the mosaic has nodata (its bands say it).
    std::vector<GByte> coverage;
};

// The level of built mosaic-wide overviews that serves a reduction (as GDAL picks overviews: a
// level up to 1.2 times coarser than asked still serves), 0 for none.
int BuiltLevelFor(const std::vector<int>& builtLevels, double reduction);

struct AreaReadLimits
{
    std::int64_t maxSamples = 0;   // width x height x bands of any raster composed; 0: none
    std::string setting;           // what an error names when a read exceeds it
};

// Composes item bands `bands` (1-based) over `grid` with `reader`, in `type`, into the memory
// `allocate` gives (when given: a caller's result composed in place, never copied) or memory of
// its own. `builtLevels`: the mosaic-wide overview levels with up-to-date tiles. Throws Error
// (InvalidParameter naming the limit's setting and the size asked when a raster composed would
// exceed it).
AreaRaster ReadArea(CompositeReader& reader, const MosaicInfo& mosaic,
                    const std::vector<int>& builtLevels, const OutputGrid& grid,
                    const std::vector<int>& bands, GDALDataType type, const AreaReadLimits& limits,
                    const BandAllocator& allocate = nullptr);

} // namespace pgmosaic
