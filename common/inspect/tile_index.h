// One scan of an item at full resolution (DRAD and what registration needs): its internal
// tiles at every level with their rectangles, byte ranges, emptiness and statistics, the mask
// of its valid cells (for its footprint), and exact band statistics.
#pragma once

#include <cstdint>
#include <vector>

#include "gdal_priv.h"

#include "cancel.h"
#include "inspect/statistics.h"

namespace pgmosaic
{

struct TileBandStatistics
{
    double min = 0, max = 0, sum = 0, sumSq = 0;
    std::int64_t count = 0; // valid pixels
};

struct TileRecord
{
    int level = 0;        // 0: full resolution, then the file's overviews
    int col = 0, row = 0; // block position within the level
    int zoom = 0;         // quadtree zoom (tilekey z): full resolution's, minus the level
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

// Cells of k x k pixels; a cell is valid when any pixel of any band is.
struct CellMask
{
    int k = 1, cw = 0, ch = 0;
    std::vector<GByte> cells;
};

struct ItemScan
{
    TileIndex tiles;
    CellMask cells;
    // Exact statistics for 8 and 16 bit integer bands (from every pixel); empty otherwise.
    std::vector<BandStatistics> statistics;
};

// Reads every full-resolution block of `ds` once, in its own data type: per-tile statistics
// and emptiness, the valid-cell mask (cells of at most maxCells on the long side), and band
// statistics; lists the blocks of every overview level (byte ranges; empty when absent or
// when every full-resolution block under it is). Byte ranges come from GeoTIFF's TIFF
// metadata domain; other formats get 0. Throws Error naming the dataset on a read failure,
// Cancelled when `cancel` says to stop (checked before each block).
ItemScan ScanItem(GDALDataset* ds, int maxCells = 512, const Cancel& cancel = {});

// The tile index from the file's layout alone (header-only registration): every block of every
// level with its rectangle and byte range, empty only when absent from the file, no statistics.
// Reads no block.
TileIndex LayoutTiles(GDALDataset* ds);

inline TileIndex ScanTiles(GDALDataset* ds)
{
    return ScanItem(ds).tiles;
}

} // namespace pgmosaic
