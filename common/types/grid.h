// Grid math: where a source raster lands in a requested window of the mosaic grid.
#pragma once

#include <array>
#include <optional>
#include <vector>

namespace pgmosaic
{

// GDAL's affine geotransform: X = gt[0] + col*gt[1] + row*gt[2], Y = gt[3] + col*gt[4] + row*gt[5].
using GeoTransform = std::array<double, 6>;

inline bool IsNorthUp(const GeoTransform& gt)
{
    return gt[2] == 0.0 && gt[4] == 0.0;
}

struct Envelope
{
    double minx = 0, miny = 0, maxx = 0, maxy = 0;
};

// A pixel window: offset and size, in pixels of some grid.
struct Window
{
    int x = 0, y = 0, w = 0, h = 0;
    bool Contains(const Window& o) const
    {
        return o.x >= x && o.y >= y && o.x + o.w <= x + w && o.y + o.h <= y + h;
    }
};

// A read request against the mosaic grid: a window of mosaic pixels, delivered into a buffer of
// bufW x bufH pixels (smaller than the window when zoomed out).
struct Request
{
    Window win;
    int bufW = 0, bufH = 0;
};

// How one north-up source contributes to a request.
struct Placement
{
    Window dst;                // buffer pixels the source covers (pixel centres inside it)
    double srcX = 0, srcY = 0; // the matching source window, in source pixels
    double srcW = 0, srcH = 0;
    Window req;                        // the whole-pixel source window GDAL is asked for
    bool integral = false;             // source window is whole pixels, one per buffer pixel
    Window SrcWindowEnclosing() const; // the integer window enclosing the source window
    // The part of an integral placement that lands on `part` (inside dst).
    Placement Part(const Window& part) const;
};

// Splits `rect` into rectangles that no rectangle of `others` overlaps (`uncovered`) and
// rectangles inside their union (`covered`): together exactly `rect`, none overlapping another.
// Built band of rows by band of rows; a rectangle continues down while its columns stay the same.
void SplitByCover(const Window& rect, const std::vector<Window>& others,
                  std::vector<Window>& uncovered, std::vector<Window>& covered);

// The source pixels a nearest-neighbour RasterIO picks, as GDAL's GDALRasterBand::IRasterIO
// picks them when it resamples: for each of `buf` buffer pixels across the source span
// [off, off + size) of an axis of `rasterSize` pixels, the index of its source pixel relative
// to `first`, clamped to [0, count). GDAL steps along rows by adding the increment and computes
// each row from its index: `stepped` (true for x) says which, so that results match bit for bit.
std::vector<int> NearestSourcePixels(double off, double size, int buf, int rasterSize, int first,
                                     int count, bool stepped);

// The geographic envelope a request covers in a mosaic of transform `mosaic` (north-up).
Envelope RequestEnvelope(const GeoTransform& mosaic, const Window& win);

// Where a north-up source of srcW x srcH pixels with transform `src` lands in the request, or
// nothing when it fills no buffer pixel: the buffer pixels it fills and the source window
// sampled into them, as a VRT simple source of GDAL computes them (so that nearest reads at
// any scale pick the pixels a gdalbuildvrt VRT of the same files picks).
std::optional<Placement> PlaceSource(const GeoTransform& mosaic, const Request& req,
                                     const GeoTransform& src, int srcW, int srcH);

} // namespace pgmosaic
