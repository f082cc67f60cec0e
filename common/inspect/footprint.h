// True footprints: the outline of a raster's valid pixels, not its bounding box.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "inspect/tile_index.h"

namespace pgmosaic
{

struct FootprintOptions
{
    int maxCells = 512;       // long side of the reduced mask the outline is traced on
    int maxVertices = 256;    // vertex budget of the simplified outline
    double minHoleCells = 16; // holes smaller than this many cells are filled
};

struct Footprint
{
    std::string wkt; // POLYGON or MULTIPOLYGON in the raster's own coordinates
    int vertices = 0;
    bool allValid = false; // no nodata, mask or alpha: the footprint is the raster outline
};

// Traces the valid pixels of `ds` (valid in any band: nodata, mask or alpha decide) on a reduced
// mask where a cell is valid when any of its pixels is, polygonizes it, fills small holes, and
// simplifies to the vertex budget by growing the simplified outline by the simplification
// tolerance, so that the result still contains every valid pixel. Clipped to the raster's
// outline. Throws Error naming the dataset on failure.
Footprint ComputeFootprint(GDALDataset* ds, const FootprintOptions& options = {});

// The same read from the smallest overview (header-only registration): a cell per overview
// pixel, valid where the overview's mask is, grown by one cell (an overview pixel can miss a
// valid pixel under it). Approximate; the full-resolution footprint when there is no overview.
Footprint ComputeOverviewFootprint(GDALDataset* ds, const FootprintOptions& options = {});

// The same from a valid-cell mask already read (ScanItem's).
Footprint TraceFootprint(GDALDataset* ds, const CellMask& cells, const FootprintOptions& options);

// The 8-connected regions of the non-zero pixels of a w x h byte mask, as polygons in the
// coordinates of the geotransform `gt`. Throws Error (Internal) naming `what` on failure.
std::vector<std::unique_ptr<OGRGeometry>> TraceMask(const GByte* mask, int w, int h,
                                                    const double gt[6], const std::string& what);

} // namespace pgmosaic
