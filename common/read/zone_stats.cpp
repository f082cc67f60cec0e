#include "read/zone_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "cpl_vsi.h"
#include "ogr_spatialref.h"

#include "error.h"
#include "gdal_mem.h"
#include "read/source_pool.h"

namespace pgmosaic
{

ZoneSummary SummaryOf(const RecordedTile& t)
{
    ZoneSummary s;
    s.count = t.count;
    s.min = t.min;
    s.max = t.max;
    s.sum = t.sum;
    s.sumSq = t.sumSq.value_or(0);
    s.sumSqKnown = t.sumSq.has_value();
    return s;
}

namespace
{

// True when the open rectangles share some area (touching edges do not).
bool Meet(const Envelope& a, const Envelope& b)
{
    return a.minx < b.maxx && b.minx < a.maxx && a.miny < b.maxy && b.miny < a.maxy;
}

// What an item's raster may cover in the mosaic SRS: its rectangle, or the bounding box of
// it reprojected padded by a mosaic pixel (a warp samples a little past the source's edge);
// nullopt when it cannot be reprojected (then it is taken to reach everywhere).
std::optional<Envelope> ItemReach(const MosaicInfo& mosaic, const ItemRef& item)
{
    const auto& g = item.gt;
    double xs[4], ys[4];
    const double corners[4][2] = {{0, 0}, {1.0 * item.width, 0}, {0, 1.0 * item.height},
                                  {1.0 * item.width, 1.0 * item.height}};
    for (int k = 0; k < 4; ++k)
    {
        xs[k] = g[0] + corners[k][0] * g[1] + corners[k][1] * g[2];
        ys[k] = g[3] + corners[k][0] * g[4] + corners[k][1] * g[5];
    }
    Envelope e{*std::min_element(xs, xs + 4), *std::min_element(ys, ys + 4),
               *std::max_element(xs, xs + 4), *std::max_element(ys, ys + 4)};
    if (item.srid == mosaic.srid)
        return e;
    OGRSpatialReference from, to;
    from.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    to.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (from.importFromEPSG(item.srid) != OGRERR_NONE ||
        to.importFromWkt(mosaic.srsWkt.c_str()) != OGRERR_NONE)
        return std::nullopt;
    std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&from, &to));
    Envelope out;
    if (!ct || !ct->TransformBounds(e.minx, e.miny, e.maxx, e.maxy, &out.minx, &out.miny,
                                    &out.maxx, &out.maxy, 21))
        return std::nullopt;
    const double px = std::fabs(mosaic.gt[1]), py = std::fabs(mosaic.gt[5]);
    return Envelope{out.minx - px, out.miny - py, out.maxx + px, out.maxy + py};
}

// The tile's pixels on the mosaic grid.
Window TileWindow(const MosaicInfo& mosaic, const Envelope& b)
{
    const auto& gt = mosaic.gt;
    const int x0 = static_cast<int>(std::lround((b.minx - gt[0]) / gt[1]));
    const int x1 = static_cast<int>(std::lround((b.maxx - gt[0]) / gt[1]));
    const int y0 = static_cast<int>(std::lround((b.maxy - gt[3]) / gt[5]));
    const int y1 = static_cast<int>(std::lround((b.miny - gt[3]) / gt[5]));
    return {x0, y0, x1 - x0, y1 - y0};
}

// Fails naming the item unless its file, through the policy, is the one registered.
void CheckFile(const ItemRef& item, const FileAccessPolicy* policy)
{
    const std::string path = policy ? CheckPathAllowed(*policy, item.path) : item.path;
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0)
        throw Error(ErrorKind::Io, "item " + std::to_string(item.id) + " (" + item.path +
                                       ") cannot be read: the file does not exist");
    CheckItemUnchanged(item, &st, nullptr);
}

} // namespace

std::vector<RecordedTile> TilesAnsweringForComposite(const MosaicInfo& mosaic,
                                                     const std::vector<ItemRef>& items,
                                                     const std::vector<RecordedTile>& tiles,
                                                     int band, const OGRGeometry& zone,
                                                     const FileAccessPolicy* policy,
                                                     const Cancel& cancel)
{
    std::vector<RecordedTile> out;
    if (!IsNorthUp(mosaic.gt) || tiles.empty())
        return out;
    std::vector<std::optional<Envelope>> reach;
    std::map<std::int64_t, size_t> position;
    for (size_t i = 0; i < items.size(); ++i)
    {
        reach.push_back(ItemReach(mosaic, items[i]));
        position.emplace(items[i].id, i);
    }
    auto reaches = [&](size_t i, const Envelope& b) { return !reach[i] || Meet(*reach[i], b); };
    const double pixelArea = std::fabs(mosaic.gt[1] * mosaic.gt[5]);
    std::vector<bool> checked(items.size(), false);
    size_t seen = 0;
    for (const RecordedTile& t : tiles)
    {
        if (++seen % 1024 == 0)
            cancel.Check("zonal statistics from the tile statistics");
        const auto at = position.find(t.itemId);
        if (at == position.end())
            continue;
        const size_t i = at->second;
        const ItemRef& item = items[i];
        if (!IsOnMosaicGrid(mosaic, item) || item.bandTypes.size() < static_cast<size_t>(band) ||
            item.bandTypes[static_cast<size_t>(band - 1)] != mosaic.dataType)
            continue;
        bool covered = false;
        for (size_t k = 0; k < i && !covered; ++k)
            covered = reaches(k, t.bounds);
        if (covered)
            continue;
        const double pixels =
            (t.bounds.maxx - t.bounds.minx) * (t.bounds.maxy - t.bounds.miny) / pixelArea;
        const bool full = std::fabs(pixels - static_cast<double>(t.count)) < 0.5;
        bool below = false;
        for (size_t k = i + 1; k < items.size() && !full && !below; ++k)
            below = reaches(k, t.bounds);
        if (below)
            continue;
        OGRPolygon rect;
        OGRLinearRing ring;
        ring.addPoint(t.bounds.minx, t.bounds.miny);
        ring.addPoint(t.bounds.maxx, t.bounds.miny);
        ring.addPoint(t.bounds.maxx, t.bounds.maxy);
        ring.addPoint(t.bounds.minx, t.bounds.maxy);
        ring.addPoint(t.bounds.minx, t.bounds.miny);
        rect.addRing(&ring);
        if (!zone.Contains(&rect))
            continue;
        if (!checked[i])
        {
            CheckFile(item, policy);
            checked[i] = true;
        }
        out.push_back(t);
    }
    return out;
}

ZoneSummary ComposedZoneStatistics(CompositeReader& reader, const MosaicInfo& mosaic,
                                   const OGRGeometry& zone, int band,
                                   const std::vector<RecordedTile>& answered,
                                   const AreaReadLimits& limits)
{
    ZoneSummary total;
    const auto& gt = mosaic.gt;
    OGREnvelope e;
    zone.getEnvelope(&e);
    // The zone's envelope in pixels of the mosaic grid, within the mosaic: nothing is
    // composed outside it.
    const double fx0 = std::floor((e.MinX - gt[0]) / gt[1]);
    const double fx1 = std::ceil((e.MaxX - gt[0]) / gt[1]);
    const double fy0 = std::floor((e.MaxY - gt[3]) / gt[5]);
    const double fy1 = std::ceil((e.MinY - gt[3]) / gt[5]);
    const int x0 = static_cast<int>(std::clamp(fx0, 0.0, 1.0 * mosaic.width));
    const int x1 = static_cast<int>(std::clamp(fx1, 0.0, 1.0 * mosaic.width));
    const int y0 = static_cast<int>(std::clamp(fy0, 0.0, 1.0 * mosaic.height));
    const int y1 = static_cast<int>(std::clamp(fy1, 0.0, 1.0 * mosaic.height));
    if (x1 <= x0 || y1 <= y0)
        return total;

    std::vector<Window> skip;
    if (reader.options().method == Method::First && !reader.Masked())
        for (const RecordedTile& t : answered)
        {
            total.Merge(SummaryOf(t));
            skip.push_back(TileWindow(mosaic, t.bounds));
        }

    constexpr int kChunk = 1024;
    const bool coverage = !mosaic.nodata.has_value();
    const std::optional<double> nodata = mosaic.nodata;
    std::int64_t toRead = 0;
    std::vector<double> values;
    std::vector<GByte> valid;
    for (int cy = y0; cy < y1; cy += kChunk)
        for (int cx = x0; cx < x1; cx += kChunk)
        {
            reader.options().cancel.Check("zonal statistics");
            const Window c{cx, cy, std::min(kChunk, x1 - cx), std::min(kChunk, y1 - cy)};
            const GeoTransform cgt{gt[0] + c.x * gt[1], gt[1], 0, gt[3] + c.y * gt[5], 0, gt[5]};
            std::vector<GByte> inside = InsideMask(cgt, c.w, c.h, zone);
            for (const Window& s : skip)
            {
                const int ax = std::max(s.x, c.x), bx = std::min(s.x + s.w, c.x + c.w);
                const int ay = std::max(s.y, c.y), by = std::min(s.y + s.h, c.y + c.h);
                for (int y = ay; y < by && ax < bx; ++y)
                    std::fill_n(inside.begin() + static_cast<size_t>(y - c.y) * c.w + (ax - c.x),
                                bx - ax, GByte{0});
            }
            if (std::find(inside.begin(), inside.end(), GByte{1}) == inside.end())
                continue;
            toRead += static_cast<std::int64_t>(c.w) * c.h;
            if (limits.maxSamples > 0 && toRead > limits.maxSamples)
                throw Error(ErrorKind::InvalidParameter,
                            "zonal statistics of a zone of " + std::to_string(x1 - x0) + " x " +
                                std::to_string(y1 - y0) + " pixels x 1 band need more than " +
                                std::to_string(limits.maxSamples) + " values read, the limit " +
                                "of " + limits.setting);
            const Request req{c, c.w, c.h};
            values.resize(static_cast<size_t>(c.w) * c.h);
            reader.Read(req, {band},
                        {values.data(), GDT_Float64, 8, static_cast<GSpacing>(c.w) * 8, 0});
            if (coverage)
            {
                valid.resize(values.size());
                reader.ReadCoverage(req, {valid.data(), GDT_Byte, 1, c.w, 0});
            }
            for (size_t i = 0; i < values.size(); ++i)
            {
                const double v = values[i];
                if (!inside[i] || std::isnan(v) || (coverage ? !valid[i] : v == *nodata))
                    continue;
                total.Add(v);
            }
        }
    return total;
}

} // namespace pgmosaic
