// Mosaic-wide overviews (DAD): building the levels of tiles, each tile composed from the level
// below, written as a COG and registered through an OverviewStore (the catalog side, which the
// driver implements over libpq); and the pieces of that build (level grids, tile geotransforms,
// COG options, composing and writing one tile).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cpl_progress.h"
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

// The levels of overview factors (2 -> 1, 4 -> 2, ...), ascending and distinct. Throws
// Error(InvalidParameter) on a factor that is not a power of two of at least 2.
std::vector<int> OverviewLevels(const int* factors, int count);

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

// What a build needs from the catalog of the mosaic's overview tiles. Tiles are named by their
// path as the catalog stores it (e.g. "@root/m_overviews/L1/r00000_c00000.tif"). Every method
// may throw Error; none is called from more than one thread.
class OverviewStore
{
public:
    virtual ~OverviewStore() = default;
    // The registered tiles of `level`: stored path -> status ("ok" when up to date).
    virtual std::map<std::string, std::string> LevelTiles(int level) = 0;
    // What tile (col, row) of `grid` is composed from, as Register takes it; asked before the
    // tile is composed, so that a change meanwhile leaves the registered tile stale.
    virtual std::string TileSources(const OverviewLevelGrid& grid, int col, int row) = 0;
    // Registers (or re-registers) a written tile of `level`; may wait for Flush.
    virtual void Register(const std::string& stored, int level, const std::string& builtFrom) = 0;
    // Makes every registration so far visible to the reader (the next level reads this one).
    virtual void Flush() = 0;
    // Removes these registered tiles (their files are gone already).
    virtual void Remove(const std::vector<std::string>& stored) = 0;
    // Forgets cached catalog answers, so that the reader asks again.
    virtual void Invalidate() = 0;
    // Removes every overview tile of the mosaic from the catalog; returns their files
    // (resolved, openable paths).
    virtual std::vector<std::string> RemoveAll() = 0;
};

// One tile of a level, as OVERVIEW_TILES names it: "<level>/<col>/<row>".
struct OverviewTileId
{
    int level = 0, col = 0, row = 0;
    bool operator<(const OverviewTileId& o) const
    {
        return level != o.level ? level < o.level : row != o.row ? row < o.row : col < o.col;
    }
};

// Parses a list of tiles ("1/0/0,1/1/0 2/0/0": separated by commas or spaces), the open
// option that restricts a build to some tiles (a distributed build's task). Throws
// Error(InvalidParameter) naming the entry that is not <level>/<col>/<row> of non-negative
// integers with a level of at least 1.
std::vector<OverviewTileId> ParseOverviewTiles(const std::string& text);

// What to build: tiles of `levels` go to
// <directory>/<mosaic>_overviews/L<k>/r<row %05d>_c<col %05d>.tif, registered as
// <storedDirectory>/<mosaic>_overviews/... .
struct OverviewBuildPlan
{
    std::vector<int> levels; // ascending and distinct (OverviewLevels)
    int tileSize = 1024;
    std::string directory;       // on disk
    std::string storedDirectory; // the same place as the catalog stores it (through a root)
    CPLStringList cogOptions;    // OverviewTileOptions()
    // When not empty, only these tiles are considered (those of levels outside `levels` and
    // outside their level's grid are an error); the rest of each level is left as it is.
    std::vector<OverviewTileId> only;
};

// Builds the levels of `plan` in order, each from the one below through `reader` (whose
// resampling is the overview resampling and whose catalog answers from `store`): tiles that
// are missing or not "ok" are composed and written, a tile with no item under it any more is
// deleted and removed from the store at the end; up-to-date tiles are kept. A tile is written
// (on a thread of its own, with the caller's thread-local GDAL configuration, while the next
// one is composed) as <file>.partial.tif, moved into place, made readable by all (0644) and
// registered. With plan.only, just those tiles are considered, by the same rules: a task of
// a distributed build runs again without duplicating anything (up-to-date tiles are kept, a
// rebuilt one is registered again in place). `progress` is called after each tile of the plan;
// false stops the build with Error "interrupted". On an error or an interruption the tile being
// written is deleted; what was handed to Register before stays with the store. Throws Error.
void BuildOverviews(CompositeReader& reader, const MosaicInfo& mosaic, OverviewStore& store,
                    const OverviewBuildPlan& plan, GDALProgressFunc progress, void* progressData);

// gdaladdo -clean: removes every overview tile of the mosaic, from the store and from disk.
void CleanOverviews(OverviewStore& store);

} // namespace pgmosaic
