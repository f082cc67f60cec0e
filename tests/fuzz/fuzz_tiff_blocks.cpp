// The direct TIFF block decoder against GDAL: the input describes a small little-endian
// GeoTIFF layout and the bytes of its blocks; the harness writes that TIFF into /vsimem/,
// lets TiffBlockReader decode what it takes into GDAL's cache, and reads the whole raster from
// that dataset and from a second, plain GDAL handle. Never a crash; when both reads succeed
// they give the same bytes (a block the decoder takes is decoded as libtiff decodes it).
//
// Input: byte 0: bits 0-1 codec (none, deflate, zstd, deflate), bit 2 predictor 2, bit 3 band
// interleaved (separate planes), bit 4 tiled (16x16 tiles; else strips of 5 rows), bit 5
// nodata 0 with block (0, 0) listed as empty; byte 1: bits 0-1 type (Byte, UInt16, Float32,
// Float64), bits 2-3 bands - 1. Then per block (plane by plane, row by row): a 16-bit
// little-endian length (0xFFFF: the block is absent) and that many bytes. The raster is 20x13.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cpl_vsi.h"
#include "gdal_priv.h"

#include "catalog.h"
#include "read/tiff_blocks.h"
#include "fuzz_check.h"

using namespace pgmosaic;

namespace
{

constexpr int kWidth = 20, kHeight = 13;

struct Entry
{
    std::uint16_t tag, type; // type 3 SHORT, 4 LONG, 2 ASCII
    std::vector<std::uint32_t> values;
    std::string ascii;
};

void Put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v)
{
    b[at] = static_cast<std::uint8_t>(v);
    b[at + 1] = static_cast<std::uint8_t>(v >> 8);
}
void Put32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

// A classic little-endian TIFF: header, one IFD, out-of-line values, then the blocks.
std::vector<std::uint8_t> WriteTiff(std::vector<Entry> entries,
                                    const std::vector<std::vector<std::uint8_t>>& blocks,
                                    const std::vector<bool>& present, bool tiled)
{
    const std::uint16_t offsetsTag = tiled ? 324 : 273, countsTag = tiled ? 325 : 279;
    entries.push_back({offsetsTag, 4, std::vector<std::uint32_t>(blocks.size()), {}});
    entries.push_back({countsTag, 4, std::vector<std::uint32_t>(blocks.size()), {}});
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.tag < b.tag; });
    auto bytesOf = [](const Entry& e) {
        return e.type == 2 ? e.ascii.size() + 1 : e.values.size() * (e.type == 3 ? 2 : 4);
    };
    const std::size_t ifd = 8, ifdSize = 2 + 12 * entries.size() + 4;
    std::size_t extra = ifd + ifdSize;
    std::vector<std::size_t> where(entries.size(), 0);
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (bytesOf(entries[i]) > 4)
        {
            where[i] = extra;
            extra += (bytesOf(entries[i]) + 1) & ~std::size_t{1};
        }
    std::size_t data = extra;
    for (std::size_t i = 0; i < blocks.size(); ++i)
    {
        for (auto& e : entries)
        {
            if (e.tag == offsetsTag)
                e.values[i] = present[i] ? static_cast<std::uint32_t>(data) : 0;
            if (e.tag == countsTag)
                e.values[i] = present[i] ? static_cast<std::uint32_t>(blocks[i].size()) : 0;
        }
        data += blocks[i].size();
    }
    std::vector<std::uint8_t> out(data, 0);
    out[0] = 'I';
    out[1] = 'I';
    Put16(out, 2, 42);
    Put32(out, 4, static_cast<std::uint32_t>(ifd));
    Put16(out, ifd, static_cast<std::uint32_t>(entries.size()));
    for (std::size_t i = 0; i < entries.size(); ++i)
    {
        const Entry& e = entries[i];
        const std::size_t at = ifd + 2 + 12 * i;
        Put16(out, at, e.tag);
        Put16(out, at + 2, e.type);
        Put32(out, at + 4,
              static_cast<std::uint32_t>(e.type == 2 ? e.ascii.size() + 1 : e.values.size()));
        std::size_t p = bytesOf(e) > 4 ? where[i] : at + 8;
        if (bytesOf(e) > 4)
            Put32(out, at + 8, static_cast<std::uint32_t>(p));
        if (e.type == 2)
            std::memcpy(out.data() + p, e.ascii.c_str(), e.ascii.size() + 1);
        else
            for (std::uint32_t v : e.values)
            {
                if (e.type == 3)
                    Put16(out, p, v);
                else
                    Put32(out, p, v);
                p += e.type == 3 ? 2 : 4;
            }
    }
    std::size_t at = extra;
    for (const auto& b : blocks)
    {
        if (!b.empty())
            std::memcpy(out.data() + at, b.data(), b.size());
        at += b.size();
    }
    return out;
}

bool ReadAll(GDALDataset* ds, std::vector<std::uint8_t>& out)
{
    const int n = ds->GetRasterCount();
    const GDALDataType t = ds->GetRasterBand(1)->GetRasterDataType();
    out.assign(static_cast<std::size_t>(kWidth) * kHeight * n * GDALGetDataTypeSizeBytes(t), 0);
    return ds->RasterIO(GF_Read, 0, 0, kWidth, kHeight, out.data(), kWidth, kHeight, t, n,
                        nullptr, 0, 0, 0, nullptr) == CE_None;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    GDALRegister_GTiff();
    CPLSetErrorHandler(CPLQuietErrorHandler);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    static const std::uint32_t kCodecs[] = {1, 8, 50000, 32946};
    static const struct
    {
        std::uint32_t bits, format;
    } kTypes[] = {{8, 1}, {16, 1}, {32, 3}, {64, 3}};
    const std::uint32_t codec = kCodecs[data[0] & 3];
    const bool predictor = (data[0] & 4) != 0, separate = (data[0] & 8) != 0;
    const bool tiled = (data[0] & 16) != 0, nodata = (data[0] & 32) != 0;
    const auto type = kTypes[data[1] & 3];
    const std::uint32_t bands = ((data[1] >> 2) & 3) + 1;
    const std::size_t perPlane = tiled ? 2 : 3;
    const std::size_t count = perPlane * (separate && bands > 1 ? bands : 1);

    std::vector<std::vector<std::uint8_t>> blocks(count);
    std::vector<bool> present(count, false);
    std::size_t pos = 2;
    for (std::size_t i = 0; i < count && pos + 2 <= size; ++i)
    {
        const std::size_t len = data[pos] | (data[pos + 1] << 8);
        pos += 2;
        if (len == 0xFFFF)
            continue;
        const std::size_t take = std::min(len, size - pos);
        blocks[i].assign(data + pos, data + pos + take);
        present[i] = !blocks[i].empty();
        pos += take;
    }

    std::vector<Entry> e;
    e.push_back({256, 4, {kWidth}, {}});
    e.push_back({257, 4, {kHeight}, {}});
    e.push_back({258, 3, std::vector<std::uint32_t>(bands, type.bits), {}});
    e.push_back({259, 3, {codec}, {}});
    e.push_back({262, 3, {1}, {}}); // min-is-black
    e.push_back({277, 3, {bands}, {}});
    e.push_back({284, 3, {separate ? 2u : 1u}, {}});
    if (predictor)
        e.push_back({317, 3, {2}, {}});
    if (tiled)
    {
        e.push_back({322, 3, {16}, {}});
        e.push_back({323, 3, {16}, {}});
    }
    else
        e.push_back({278, 4, {5}, {}});
    if (bands > 1)
        e.push_back({338, 3, std::vector<std::uint32_t>(bands - 1, 0), {}});
    e.push_back({339, 3, std::vector<std::uint32_t>(bands, type.format), {}});
    if (nodata)
        e.push_back({42113, 2, {}, "0"});
    const std::vector<std::uint8_t> file = WriteTiff(e, blocks, present, tiled);

    const std::string path = "/vsimem/fuzz_tiff_blocks.tif";
    VSILFILE* fp = VSIFileFromMemBuffer(path.c_str(), const_cast<GByte*>(file.data()),
                                        static_cast<vsi_l_offset>(file.size()), FALSE);
    if (fp == nullptr)
        return 0;
    VSIFCloseL(fp);
    {
        static const char* const kDrivers[] = {"GTiff", nullptr};
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER, kDrivers));
        GDALDatasetUniquePtr plain(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER, kDrivers));
        if (ds && plain)
        {
            FUZZ_CHECK(ds->GetRasterXSize() == kWidth && ds->GetRasterYSize() == kHeight);
            auto reader = TiffBlockReader::Open(ds.get());
            if (reader)
            {
                std::vector<int> all;
                for (int b = 1; b <= ds->GetRasterCount(); ++b)
                    all.push_back(b);
                EmptyBlocks empty;
                if (nodata && present[0])
                    empty.push_back({0, 0, 0, 0});
                if (!empty.empty())
                {
                    const char* off = ds->GetRasterBand(1)->GetMetadataItem("BLOCK_OFFSET_0_0",
                                                                             "TIFF");
                    const char* len =
                        ds->GetRasterBand(1)->GetMetadataItem("BLOCK_SIZE_0_0", "TIFF");
                    empty[0].offset = off ? std::strtoull(off, nullptr, 10) : 0;
                    empty[0].length = len ? std::strtoull(len, nullptr, 10) : 0;
                }
                Window first{0, 0, 7, 5}, whole{0, 0, kWidth, kHeight};
                const int n1 = reader->Prefetch(first, {all.back()}, empty.empty() ? nullptr : &empty);
                const int n2 = reader->Prefetch(whole, all, empty.empty() ? nullptr : &empty);
                FUZZ_CHECK(n1 >= 0 && n2 >= 0);
                FUZZ_CHECK(static_cast<std::size_t>(n1 + n2) <= count);
            }
            std::vector<std::uint8_t> ours, theirs;
            const bool okOurs = ReadAll(ds.get(), ours);
            const bool okTheirs = ReadAll(plain.get(), theirs);
            if (okOurs && okTheirs && !nodata)
                FUZZ_CHECK(ours == theirs);
        }
    }
    VSIUnlink(path.c_str());
    return 0;
}
