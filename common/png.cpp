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

GByte Paeth(int a, int b, int c)
{
    const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
    return static_cast<GByte>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

// Row `row` filtered with `type` (`prev`: the previous row, or zeros) into `out`; returns the
// sum of the output's absolute values as signed bytes.
std::uint64_t Filter(int type, const GByte* row, const GByte* prev, size_t n, size_t bpp,
                     GByte* out)
{
    const size_t head = std::min(bpp, n); // the first pixel has no left neighbour
    for (size_t i = 0; i < head; ++i)
        out[i] = static_cast<GByte>(row[i] - (type == 2 || type == 4 ? prev[i]
                                              : type == 3            ? prev[i] / 2
                                                                     : 0));
    switch (type)
    {
    case 0:
        std::copy(row + head, row + n, out + head);
        break;
    case 1:
        for (size_t i = head; i < n; ++i)
            out[i] = static_cast<GByte>(row[i] - row[i - bpp]);
        break;
    case 2:
        for (size_t i = head; i < n; ++i)
            out[i] = static_cast<GByte>(row[i] - prev[i]);
        break;
    case 3:
        for (size_t i = head; i < n; ++i)
            out[i] = static_cast<GByte>(row[i] - (row[i - bpp] + prev[i]) / 2);
        break;
    default:
        for (size_t i = head; i < n; ++i)
            out[i] = static_cast<GByte>(row[i] - Paeth(row[i - bpp], prev[i], prev[i - bpp]));
    }
    std::uint64_t cost = 0;
    for (size_t i = 0; i < n; ++i)
        cost += static_cast<std::uint64_t>(std::abs(static_cast<signed char>(out[i])));
    return cost;
}

// Filters `row` into `out` (1 + n bytes: the filter type first) with the filter whose output
// has the smallest sum of absolute values.
void FilterRow(const GByte* row, const GByte* prev, size_t n, int bpp, std::vector<GByte>& trial,
               GByte* out)
{
    std::uint64_t best = UINT64_MAX;
    for (int type = 0; type < 5; ++type)
    {
        const std::uint64_t cost = Filter(type, row, prev, n, static_cast<size_t>(bpp), trial.data());
        if (cost < best)
        {
            best = cost;
            out[0] = static_cast<GByte>(type);
            std::copy(trial.begin(), trial.begin() + static_cast<std::ptrdiff_t>(n), out + 1);
        }
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
    std::vector<GByte> filtered((n + 1) * height), row(n), prev(n, 0), trial(n);
    for (int y = 0; y < height; ++y)
    {
        for (int x = 0; x < width; ++x)
            for (int b = 0; b < bands; ++b)
                row[static_cast<size_t>(x) * bands + b] =
                    planes[b * plane + static_cast<size_t>(y) * width + x];
        FilterRow(row.data(), prev.data(), n, bands, trial, filtered.data() + (n + 1) * y);
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
