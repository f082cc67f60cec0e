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

namespace pgmosaic
{

// count, min, max, sum and sum of squares of values; sum of squares unknown once a part
// without one was merged.
struct ZoneSummary
{
    std::int64_t count = 0;
    double min = 0, max = 0, sum = 0, sumSq = 0;
    bool sumSqKnown = true;

    void Add(double v)
    {
        min = count ? std::min(min, v) : v;
        max = count ? std::max(max, v) : v;
        sum += v;
        sumSq += v * v;
        ++count;
    }
    void Merge(const ZoneSummary& o);
    // A recorded tile's statistics.
    static ZoneSummary Of(const RecordedTile& t);
    // count, min, max, mean, stddev (population), sum; NaN for "none" (min, max, mean and
    // stddev of an empty zone, stddev without sums of squares).
    std::vector<double> Values() const;
};

// The tiles among `tiles` (statistics of band `band`, 1-based) that answer for the composed
// pixels under them in `zone` (see the header comment). `items`: the items under the zone in
// mosaic order (top first), as the reader composes them with the `first` method. The file of every item answering is checked
// to be the one registered (its size and modification time, through `policy` when given):
// Error naming the item otherwise, as a read would fail.
std::vector<RecordedTile> TilesAnsweringForComposite(const MosaicInfo& mosaic,
                                                     const std::vector<ItemRef>& items,
                                                     const std::vector<RecordedTile>& tiles,
                                                     int band, const OGRGeometry& zone,
                                                     const FileAccessPolicy* policy);

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
