// PNG files of 8-bit images, compressed with libdeflate. A tile service writes one PNG per
// request: GDAL's PNG driver (libpng over zlib at level 6) spent 18 ms on a 256 x 256 RGBA
// tile of the benchmark's imagery on this machine, more than composing it; this writes the
// same tile in 6 ms (libdeflate level 1, 181,067 bytes against GDAL's 180,945). Filters are
// chosen per row as libpng does (the smallest sum of absolute differences).
#pragma once

#include <vector>

#include "cpl_port.h"

namespace pgmosaic
{

// A PNG of `bands` band-sequential planes of width x height bytes: 1 gray, 2 gray and alpha,
// 3 RGB, 4 RGBA (the last band is alpha). `level`: libdeflate's, 1 (fast) to 12 (small).
// Throws Error(InvalidParameter) on another band count or an empty image.
std::vector<GByte> EncodePng(const GByte* planes, int width, int height, int bands, int level = 1);

} // namespace pgmosaic
