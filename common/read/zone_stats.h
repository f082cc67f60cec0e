// Statistics of the composed mosaic over zones: what zonal_stats() answers in the backend.
// Overlaps count once, the pixel composed (the item on top for `first`) is the one counted,
// and a pixel belongs to a zone when its centre does. A zone is read in chunks of the mosaic
// grid, so memory stays bounded whatever its size.
//
// Approximate mode (exact => false): full-resolution DRAD tiles whose recorded statistics are
// the composed pixels' own answer from those statistics, and only the rest of the zone (its
// edge, and tiles other items overlap) is read. A tile answers when it lies inside the zone,
// its item is on the mosaic grid in the mosaic's data type, no item above it reaches into it,
// and either every pixel of it is valid or no item below reaches into it either.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ogr_geometry.h"

#include "catalog.h"
#include "path_policy.h"
#include "read/area_reader.h"
#include "read/composite_reader.h"
#include "zone_summary.h"

namespace pgmosaic
{

// A recorded tile's statistics as a summary (no sum of squares before 0.3).
ZoneSummary SummaryOf(const RecordedTile& t);

// The tiles among `tiles` (statistics of band `band`, 1-based) that answer for the composed
// pixels under them in `zone` (see the header comment). `items`: the items under the zone in
// mosaic order (top first), as the reader composes them with the `first` method. The file of every item answering is checked
// to be the one registered (its size and modification time, through `policy` when given):
// Error naming the item otherwise, as a read would fail; Cancelled when `cancel` says stop.
std::vector<RecordedTile> TilesAnsweringForComposite(const MosaicInfo& mosaic,
                                                     const std::vector<ItemRef>& items,
                                                     const std::vector<RecordedTile>& tiles,
                                                     int band, const OGRGeometry& zone,
                                                     const FileAccessPolicy* policy,
                                                     const Cancel& cancel);

// The statistics of band `band` (1-based) of the composite over `zone` (mosaic SRS): the
// `answered` tiles from their statistics (TilesAnsweringForComposite; ignored unless the
// reader composes with `first`), the rest read with `reader` in chunks. Throws Error naming
// the limit's setting when the pixels to read pass it, Cancelled when the reader's cancel
// says to stop.
ZoneSummary ComposedZoneStatistics(CompositeReader& reader, const MosaicInfo& mosaic,
                                   const OGRGeometry& zone, int band,
                                   const std::vector<RecordedTile>& answered,
                                   const AreaReadLimits& limits);

} // namespace pgmosaic
