// DRAD: an item's internal tiles at every level of the file, with their minimum enclosing
// rectangles, byte ranges, emptiness and (at full resolution) statistics.
#pragma once

#include <cstdint>
#include <vector>

#include "gdal_priv.h"

namespace pgmosaic
{

struct TileBandStatistics
{
    double min = 0, max = 0, sum = 0;
    std::int64_t count = 0; // valid pixels
};

struct TileRecord
{
    int level = 0;        // 0: full resolution, then the file's overviews
    int col = 0, row = 0; // block position within the level
    int zoom = 0;         // levels - 1 - level: finer tiles have higher zooms (tilekey z)
    double minx = 0, miny = 0, maxx = 0, maxy = 0; // enclosing rectangle, raster CRS
    std::uint64_t offset = 0, length = 0;          // bytes in the file (0 when unknown)
    bool empty = false;                            // absent from the file, or no valid pixel
    std::vector<TileBandStatistics> stats;         // full-resolution tiles only
};

struct TileIndex
{
    int levels = 0;
    std::vector<TileRecord> tiles; // level by level, rows then columns
};

// Scans `ds` once at full resolution (every block: statistics and emptiness) and lists the
// blocks of every overview level (byte ranges; empty when absent or when every full-resolution
// tile below it is empty). Byte ranges come from GeoTIFF's TIFF metadata domain; other formats
// get 0. Throws Error naming the dataset on a read failure.
TileIndex ScanTiles(GDALDataset* ds);

} // namespace pgmosaic
