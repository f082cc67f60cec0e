// PNG files of 8-bit images, compressed with libdeflate. A tile service writes one PNG per
// request: GDAL's PNG driver (libpng over zlib at level 6) spent 18 ms on a 256 x 256 RGBA
// tile of the benchmark's imagery on this machine, more than composing it; this writes the
// same tile in 6 ms (libdeflate level 1, 181,067 bytes against GDAL's 180,945). Filters are
// chosen per row as libpng does (the smallest sum of absolute differences).
#pragma once

#include <cstddef>
#include <vector>

#include "cpl_port.h"

namespace pgmosaic
{

// A PNG of `bands` band-sequential planes of width x height bytes: 1 gray, 2 gray and alpha,
// 3 RGB, 4 RGBA (the last band is alpha). `level`: libdeflate's, 1 (fast) to 12 (small).
// Throws Error(InvalidParameter) on another band count or an empty image.
std::vector<GByte> EncodePng(const GByte* planes, int width, int height, int bands, int level = 1);

// The most bytes EncodePng writes for such an image (throws as EncodePng on a bad one).
size_t PngBound(int width, int height, int bands);

// EncodePng into `out` (`capacity` bytes, at least PngBound): a caller's buffer, the PNG
// written in place and never copied. Returns its size.
size_t EncodePng(const GByte* planes, int width, int height, int bands, GByte* out,
                 size_t capacity, int level = 1);

// EncodePng of pixel-interleaved rows (gray, gray and alpha, RGB or RGBA bytes a pixel, as PNG
// stores them), filtered from where they lie: the image a tile service composes.
size_t EncodePngPixels(const GByte* pixels, int width, int height, int bands, GByte* out,
                       size_t capacity, int level = 1);

} // namespace pgmosaic
