// GeoTIFF blocks read straight from their byte ranges (the DRAD's byte_offset, byte_length):
// one read of the compressed bytes, libdeflate or zstd, the horizontal predictor undone, the
// window's part copied into the caller's buffer. On this machine libtiff inflates DEFLATE
// blocks with zlib, at a third of libdeflate's speed; decoding is most of a read's time.
//
// Only the layouts GDAL's GTiff and COG drivers write are taken: little-endian, tiled or
// stripped, pixel or band interleaved, DEFLATE, ZSTD or no compression, predictor 1 or 2,
// whole-byte samples of one data type. Anything else is left to GDAL.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gdal_priv.h"

#include "grid.h"

struct libdeflate_decompressor;

namespace pgmosaic
{

class TiffBlockReader final
{
public:
    // A reader of `ds`'s full-resolution blocks, or nullptr when its layout is not one of the
    // above (or PGMOSAIC_DIRECT_DECODE=NO). `ds` must outlive the reader.
    static std::unique_ptr<TiffBlockReader> Open(GDALDataset* ds);
    ~TiffBlockReader();
    TiffBlockReader(const TiffBlockReader&) = delete;
    TiffBlockReader& operator=(const TiffBlockReader&) = delete;

    // Reads window `win` of the bands `bands` (1-based) into `data` (type and spacings as
    // RasterIO). Blocks absent from the file read as the band's nodata, or 0. Returns false,
    // having written nothing of use, when a block is not as expected: the caller reads
    // through GDAL instead.
    bool Read(const Window& win, const std::vector<int>& bands, void* data, GDALDataType type,
              GSpacing pixelSpace, GSpacing lineSpace, GSpacing bandSpace);

private:
    enum class Codec
    {
        None,
        Deflate,
        Zstd
    };
    TiffBlockReader() = default;
    // Decodes block (col, row) of `band` (1-based; any band when pixel interleaved) into
    // m_abyBlock: false when absent (offset 0), throws nothing, sets m_bBad on a bad block.
    bool Decode(int band, int col, int row);

    GDALDataset* m_poDS = nullptr;
    VSILFILE* m_fp = nullptr;
    libdeflate_decompressor* m_poInflater = nullptr;
    Codec m_eCodec = Codec::None;
    bool m_bPredictor = false;
    bool m_bPixelInterleaved = false;
    GDALDataType m_eType = GDT_Byte;
    int m_nTypeSize = 1, m_nBands = 1, m_nBlockW = 0, m_nBlockH = 0;
    int m_nWidth = 0, m_nHeight = 0;
    int m_nDecodedRows = 0; // rows of the last decoded block (a last strip may be short)
    bool m_bBad = false;
    std::vector<GByte> m_abyCompressed{}, m_abyBlock{};
};

} // namespace pgmosaic
