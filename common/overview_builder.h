// Mosaic-wide overviews (DAD): the tiles of a level, each composed from the level below.
#pragma once

#include <string>

#include "cpl_string.h"

#include "read/composite_reader.h"

namespace pgmosaic
{

// The grid of one overview level: factor 2^level, tiles of tileSize pixels of that level.
struct OverviewLevelGrid
{
    int level = 1;
    int tileSize = 1024;
    int width = 0, height = 0; // pixels of the level
    int cols = 0, rows = 0;    // tiles
};

OverviewLevelGrid LevelGrid(const MosaicInfo& mosaic, int level, int tileSize);

// The geotransform of tile (col, row) of a level.
GeoTransform TileGeoTransform(const MosaicInfo& mosaic, const OverviewLevelGrid& grid, int col,
                              int row);

// The COG creation options of overview tiles, from GDAL's overview configuration options:
// COMPRESS_OVERVIEW (default ZSTD, which decodes about three times as fast as DEFLATE; DEFLATE
// when the GDAL build has no ZSTD), ZSTD_LEVEL_OVERVIEW or ZLEVEL_OVERVIEW, PREDICTOR_OVERVIEW.
CPLStringList OverviewTileOptions();

// Composes tile (col, row) of `grid` with `reader` (whose resampling is the overview
// resampling) from level grid.level - 1: the overview tiles of that level where they are up to
// date, the items elsewhere. An in-memory dataset with the mosaic's nodata, or, when the mosaic
// has none, a mask unless every pixel is valid; nullptr when no item covers the tile. Throws
// Error.
GDALDatasetUniquePtr ComposeOverviewTile(CompositeReader& reader, const MosaicInfo& mosaic,
                                         const OverviewLevelGrid& grid, int col, int row);

// Writes a composed tile as a Cloud Optimized GeoTIFF at `path` (any thread; one per tile).
// Throws Error.
void WriteOverviewTile(GDALDataset& tile, const std::string& path, CSLConstList cogOptions);

// ComposeOverviewTile then WriteOverviewTile: false, writing nothing, when no item covers the
// tile.
bool BuildOverviewTile(CompositeReader& reader, const MosaicInfo& mosaic,
                       const OverviewLevelGrid& grid, int col, int row, const std::string& path,
                       CSLConstList cogOptions);

} // namespace pgmosaic
