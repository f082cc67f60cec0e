// Compositing methods over the stack of items under each pixel, beyond the streaming ones of the
// compositing reader: the median, percentiles and standard deviation of the items' valid
// values, and quality mosaics (per pixel, the item whose expression is highest, all bands from
// it: greenest pixel by NDVI, most recent clear by acquisition time, least cloudy by cloud
// cover). The reader reads the items of a window (a strip of it at a time for large windows)
// and hands their pixels here.
#pragma once

#include <cstddef>
#include <vector>

#include "cancel.h"
#include "inspect/expression.h"
#include "read/composite_reader.h"
#include "read/read_options.h"
#include "types/grid.h"

namespace pgmosaic
{

// One item's pixels: where they land in the buffer, its values (bands x rows x cols of
// dst.w x dst.h values of `type`, band after band, in the order the bands were read) and their
// validity (the same layout, 0/1; null: all valid), and its values for quality expressions
// (ItemValues).
struct ItemPixels
{
    Window dst;
    GDALDataType type = GDT_Float64;
    const GByte* values = nullptr;
    const GByte* valid = nullptr;
    std::vector<double> itemValues;
};

// The median, a percentile (`percentile`, 0-100, linear between the nearest ranks as numpy's
// percentile) or the population standard deviation of the valid values under each pixel, for
// the first `bands` bands read, into `buf` (bufW x bufH); `fill` where no item has a valid
// value. Rows in parallel on `threads` threads; `cancel` checked between rows.
void ComposeStack(Method method, double percentile, const std::vector<ItemPixels>& items,
                  int bufW, int bufH, size_t bands, double fill, const BufferSpec& buf,
                  int threads, const Cancel& cancel);

// Per pixel, the item (in `items`' order, the first winning ties) whose `score` is highest,
// every one of the first `bands` bands read from it (`fill` where that item has no valid
// value in a band). `slotOfBand[b - 1]`: the index among the bands read of mosaic band b the
// score uses. A pixel is a candidate in an item where the bands the score uses are valid
// (some band read, when it uses none) and the score is a number.
void ComposeQuality(const Expression& score, const std::vector<int>& slotOfBand,
                    const std::vector<ItemPixels>& items, int bufW, int bufH, size_t bands,
                    double fill, const BufferSpec& buf, int threads, const Cancel& cancel);

} // namespace pgmosaic
