#include "png.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <libdeflate.h>

#include "error.h"

namespace pgmosaic
{

namespace
{

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

// `row` filtered with `Type` into `out` (n bytes), written without branches on the type so that
// the loop vectorizes (a switch a byte cost a third of a web tile's encoding).
template <int Type> void Filter(const GByte* row, const GByte* prev, size_t n, size_t bpp, GByte* out)
{
    const size_t head = std::min(bpp, n);
    for (size_t i = 0; i < head; ++i)
        out[i] = static_cast<GByte>(row[i] - Predict(Type, 0, prev[i], 0));
    for (size_t i = head; i < n; ++i)
        out[i] = static_cast<GByte>(row[i] - Predict(Type, row[i - bpp], prev[i], prev[i - bpp]));
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
    switch (type)
    {
    case 0:
        std::memcpy(out + 1, row, n);
        break;
    case 1:
        Filter<1>(row, prev, n, px, out + 1);
        break;
    case 2:
        Filter<2>(row, prev, n, px, out + 1);
        break;
    case 3:
        Filter<3>(row, prev, n, px, out + 1);
        break;
    default:
        Filter<4>(row, prev, n, px, out + 1);
        break;
    }
}

// The chunks around the compressed data: signature, IHDR (8 + 13 + 4 bytes), the IDAT's
// length and type, its CRC, IEND.
constexpr size_t kHead = 8 + 25 + 8, kTail = 4 + 12;

void CheckImage(int width, int height, int bands)
{
    if (bands < 1 || bands > 4 || width < 1 || height < 1)
        throw Error(ErrorKind::InvalidParameter,
                    "a PNG holds 1 to 4 bands of a non-empty image, not " +
                        std::to_string(bands) + " bands of " + std::to_string(width) + " x " +
                        std::to_string(height));
}

size_t FilteredSize(int width, int height, int bands)
{
    return (static_cast<size_t>(width) * bands + 1) * static_cast<size_t>(height);
}

void Put32At(GByte* out, std::uint32_t v)
{
    for (int k = 0; k < 4; ++k)
        out[k] = static_cast<GByte>(v >> (24 - 8 * k));
}

// This thread's compressor of `level` and filtering buffer, kept between images: allocating
// them (and faulting in their pages) on every call cost a tenth of a web tile's encoding.
// Buffers past kKeepBytes go back after the image.
struct Scratch
{
    std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> compressor{
        nullptr, libdeflate_free_compressor};
    int level = 0;
    std::vector<GByte> filtered;
};
constexpr size_t kKeepBytes = size_t{4} << 20;

} // namespace

size_t PngBound(int width, int height, int bands)
{
    CheckImage(width, height, bands);
    return kHead + libdeflate_zlib_compress_bound(nullptr, FilteredSize(width, height, bands)) +
           kTail;
}

namespace
{

// The PNG of the rows row(y) gives (width * bands interleaved bytes each, valid until the next
// call but one), into `out`.
template <typename Rows>
size_t Encode(const Rows& row, int width, int height, int bands, GByte* out, size_t capacity,
              int level)
{
    static const GByte kColourType[5] = {0, 0, 4, 2, 6};
    if (capacity < PngBound(width, height, bands)) // checks the image too
        throw Error(ErrorKind::Internal, "the PNG buffer is too small");
    static thread_local Scratch scratch;
    if (!scratch.compressor || scratch.level != level)
    {
        scratch.compressor.reset(libdeflate_alloc_compressor(level));
        scratch.level = level;
        if (!scratch.compressor)
            throw Error(ErrorKind::Internal, "cannot allocate a deflate compressor");
    }
    const size_t n = static_cast<size_t>(width) * bands;
    std::vector<GByte>& filtered = scratch.filtered;
    filtered.resize(FilteredSize(width, height, bands));
    struct Release // a large image's buffer is not kept
    {
        std::vector<GByte>& v;
        ~Release()
        {
            if (v.capacity() > kKeepBytes)
                std::vector<GByte>().swap(v);
        }
    } release{filtered};
    const std::vector<GByte> zeros(n, 0); // the row above the first
    const GByte* prev = zeros.data();
    for (int y = 0; y < height; ++y)
    {
        const GByte* current = row(y);
        FilterRow(current, prev, n, bands, filtered.data() + (n + 1) * y);
        prev = current;
    }
    // Compressed in place, between the head and the tail.
    const size_t size =
        libdeflate_zlib_compress(scratch.compressor.get(), filtered.data(), filtered.size(),
                                 out + kHead, capacity - kHead - kTail);
    if (size == 0)
        throw Error(ErrorKind::Internal, "cannot compress a PNG image");

    static const GByte kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::memcpy(out, kSignature, 8);
    GByte* ihdr = out + 8;
    Put32At(ihdr, 13);
    std::memcpy(ihdr + 4, "IHDR", 4);
    Put32At(ihdr + 8, static_cast<std::uint32_t>(width));
    Put32At(ihdr + 12, static_cast<std::uint32_t>(height));
    const GByte rest[5] = {8, kColourType[bands], 0, 0, 0}; // 8 bits, deflate, no interlace
    std::memcpy(ihdr + 16, rest, 5);
    Put32At(ihdr + 21, libdeflate_crc32(0, ihdr + 4, 17));
    GByte* idat = out + 8 + 25;
    Put32At(idat, static_cast<std::uint32_t>(size));
    std::memcpy(idat + 4, "IDAT", 4);
    Put32At(out + kHead + size, libdeflate_crc32(0, idat + 4, size + 4));
    GByte* iend = out + kHead + size + 4;
    Put32At(iend, 0);
    std::memcpy(iend + 4, "IEND", 4);
    Put32At(iend + 8, libdeflate_crc32(0, iend + 4, 4));
    return kHead + size + kTail;
}

} // namespace

size_t EncodePng(const GByte* planes, int width, int height, int bands, GByte* out,
                 size_t capacity, int level)
{
    CheckImage(width, height, bands);
    const size_t n = static_cast<size_t>(width) * bands;
    const size_t plane = static_cast<size_t>(width) * height;
    // Two rows interleaved by turns: the row above must stay valid while the next is filtered.
    std::vector<GByte> rows(2 * n);
    auto row = [&](int y) {
        GByte* r = rows.data() + (y % 2) * n;
        for (int x = 0; x < width; ++x)
            for (int b = 0; b < bands; ++b)
                r[static_cast<size_t>(x) * bands + b] =
                    planes[b * plane + static_cast<size_t>(y) * width + x];
        return static_cast<const GByte*>(r);
    };
    return Encode(row, width, height, bands, out, capacity, level);
}

size_t EncodePngPixels(const GByte* pixels, int width, int height, int bands, GByte* out,
                       size_t capacity, int level)
{
    CheckImage(width, height, bands);
    const size_t n = static_cast<size_t>(width) * bands;
    return Encode([&](int y) { return pixels + static_cast<size_t>(y) * n; }, width, height,
                  bands, out, capacity, level);
}

std::vector<GByte> EncodePng(const GByte* planes, int width, int height, int bands, int level)
{
    std::vector<GByte> out(PngBound(width, height, bands));
    out.resize(EncodePng(planes, width, height, bands, out.data(), out.size(), level));
    return out;
}

} // namespace pgmosaic
