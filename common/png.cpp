#include "png.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <libdeflate.h>

#include "error.h"

namespace pgmosaic
{

namespace
{

void Put32(std::vector<GByte>& out, std::uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<GByte>(v >> shift));
}

void Chunk(std::vector<GByte>& out, const char type[4], const GByte* data, size_t size)
{
    Put32(out, static_cast<std::uint32_t>(size));
    const size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    if (size)
        out.insert(out.end(), data, data + size);
    Put32(out, libdeflate_crc32(0, out.data() + start, size + 4));
}

// The predictor of filter `type` (1 Sub, 2 Up, 3 Average, 4 Paeth) from the left, upper and
// upper-left bytes. Paeth without branches, so that the loops below vectorize.
inline int Predict(int type, int a, int b, int c)
{
    switch (type)
    {
    case 1:
        return a;
    case 2:
        return b;
    case 3:
        return (a + b) / 2;
    case 4:
    {
        const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    default:
        return 0;
    }
}

// The sum of the absolute values (as signed bytes) of `row` filtered with `type` (`prev`: the
// previous row, or zeros): libpng's measure for choosing a row's filter, without writing it.
template <int Type> std::uint64_t Cost(const GByte* row, const GByte* prev, size_t n, size_t bpp)
{
    std::uint64_t cost = 0;
    const size_t head = std::min(bpp, n); // the first pixel has no left neighbour
    for (size_t i = 0; i < head; ++i)
    {
        const auto d = static_cast<signed char>(row[i] - Predict(Type, 0, prev[i], 0));
        cost += static_cast<std::uint64_t>(d < 0 ? -d : d);
    }
    // The rest without branches, which vectorizes (png.cpp is built with -O3), summed in 32
    // bits over runs of 2^24 bytes (at most 128 a byte).
    constexpr size_t kRun = size_t{1} << 24;
    for (size_t start = head; start < n; start += kRun)
    {
        const size_t end = std::min(n, start + kRun);
        std::uint32_t run = 0;
        for (size_t i = start; i < end; ++i)
        {
            const auto d = static_cast<signed char>(
                row[i] - Predict(Type, row[i - bpp], prev[i], prev[i - bpp]));
            run += static_cast<std::uint32_t>(d < 0 ? -d : d);
        }
        cost += run;
    }
    return cost;
}

// Filters `row` into `out` (1 + n bytes: the filter type first) with the filter whose output
// has the smallest sum of absolute values: every filter measured, the best one written.
void FilterRow(const GByte* row, const GByte* prev, size_t n, int bpp, GByte* out)
{
    const size_t px = static_cast<size_t>(bpp);
    const std::uint64_t costs[5] = {Cost<0>(row, prev, n, px), Cost<1>(row, prev, n, px),
                                    Cost<2>(row, prev, n, px), Cost<3>(row, prev, n, px),
                                    Cost<4>(row, prev, n, px)};
    const int type = static_cast<int>(std::min_element(costs, costs + 5) - costs);
    out[0] = static_cast<GByte>(type);
    for (size_t i = 0; i < n; ++i)
    {
        const int a = i >= px ? row[i - px] : 0;
        const int c = i >= px ? prev[i - px] : 0;
        out[1 + i] = static_cast<GByte>(row[i] - Predict(type, a, prev[i], c));
    }
}

} // namespace

std::vector<GByte> EncodePng(const GByte* planes, int width, int height, int bands, int level)
{
    static const GByte kColourType[5] = {0, 0, 4, 2, 6};
    if (bands < 1 || bands > 4 || width < 1 || height < 1)
        throw Error(ErrorKind::InvalidParameter,
                    "a PNG holds 1 to 4 bands of a non-empty image, not " +
                        std::to_string(bands) + " bands of " + std::to_string(width) + " x " +
                        std::to_string(height));
    const size_t n = static_cast<size_t>(width) * bands;
    const size_t plane = static_cast<size_t>(width) * height;
    std::vector<GByte> filtered((n + 1) * height), row(n), prev(n, 0);
    for (int y = 0; y < height; ++y)
    {
        for (int x = 0; x < width; ++x)
            for (int b = 0; b < bands; ++b)
                row[static_cast<size_t>(x) * bands + b] =
                    planes[b * plane + static_cast<size_t>(y) * width + x];
        FilterRow(row.data(), prev.data(), n, bands, filtered.data() + (n + 1) * y);
        row.swap(prev);
    }
    std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> compressor(
        libdeflate_alloc_compressor(level), libdeflate_free_compressor);
    if (!compressor)
        throw Error(ErrorKind::Internal, "cannot allocate a deflate compressor");
    std::vector<GByte> idat(libdeflate_zlib_compress_bound(compressor.get(), filtered.size()));
    const size_t size = libdeflate_zlib_compress(compressor.get(), filtered.data(),
                                                 filtered.size(), idat.data(), idat.size());
    if (size == 0)
        throw Error(ErrorKind::Internal, "cannot compress a PNG image");

    std::vector<GByte> out{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<GByte> header;
    Put32(header, static_cast<std::uint32_t>(width));
    Put32(header, static_cast<std::uint32_t>(height));
    header.insert(header.end(), {8, kColourType[bands], 0, 0, 0}); // 8 bits, deflate, no interlace
    Chunk(out, "IHDR", header.data(), header.size());
    Chunk(out, "IDAT", idat.data(), size);
    Chunk(out, "IEND", nullptr, 0);
    return out;
}

} // namespace pgmosaic
