// A web tile's 8-bit image: the composed bands of an area read (read/area_reader.h) scaled to
// bytes, and an alpha band of where data lie, pixel-interleaved as PNG stores them. What
// render_tile() encodes; the one place its stretch is written.
#pragma once

#include <optional>
#include <vector>

#include "cpl_port.h"

#include "read/area_reader.h"

namespace pgmosaic
{

// How values become bytes: band k's [lo[k], hi[k]] mapped linearly to 0..255 as
// `gdal_translate -ot Byte -scale lo hi 0 255` computes it. Empty: the values as they are,
// clamped to 0..255 (NaN to 0).
struct ByteScale
{
    std::vector<double> lo, hi;
};

// The first `bands` bands of raster.ds (1 or 3), then alpha: 255 where raster.coverage says an
// item covers the pixel or, without coverage, where some band is neither NaN nor `nodata`.
// Writes width x height x (bands + 1) bytes into `out`, pixel after pixel.
void TileImage(const AreaRaster& raster, int bands, const std::optional<double>& nodata,
               const ByteScale& scale, GByte* out);

// When every pixel of a TileImage is opaque (alpha 255), drops its alpha in place (the image
// becomes `bands` bytes a pixel) and returns `bands`; otherwise leaves it and returns bands + 1.
// A tile inside the data then encodes as RGB or gray: a quarter (a half) fewer bytes to filter
// and compress, what PNG tile services send for opaque tiles.
int DropOpaqueAlpha(GByte* image, size_t pixels, int bands);

} // namespace pgmosaic
