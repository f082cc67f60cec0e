// Masks of items: an expression over the mosaic's bands, true where an item's pixels are to be
// transparent exactly as nodata is (lower items show through). Written over a quality band
// (Landsat QA_PIXEL: bit(qa, 1) or bit(qa, 3) or bit(qa, 4)), a class list (Sentinel-2 SCL:
// scl in (3, 8, 9, 10)) or the band of a separate mask file (cloudmask > 0), and evaluated for
// each item over its own bands.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "gdal.h"

#include "catalog.h"
#include "inspect/expression.h"

namespace pgmosaic
{

// The mask of a read: the read's mask option, or when empty the mosaic's stored mask; "none":
// no mask. Bands by number (b4) or by name. Throws Error(InvalidParameter) naming a bad
// expression or a band the mosaic does not have.
std::optional<Expression> ParseMask(const MosaicInfo& mosaic, const std::string& option);

// Clears the validity of every slot (band read) of the `pixels` pixels of an item where the mask
// holds: `data` holds the slots' values in `type`, slot after slot; `valid` their 0/1 validity;
// slotOfBand[b - 1] is the slot of mosaic band b (or -1 when not read). A pixel whose mask
// bands are not all valid is not masked (its own nodata decides).
void ApplyMask(const Expression& mask, const std::vector<int>& slotOfBand, GDALDataType type,
               const GByte* data, GByte* valid, size_t slots, size_t pixels);

} // namespace pgmosaic
