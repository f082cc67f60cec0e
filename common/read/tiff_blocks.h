// GeoTIFF blocks decoded straight from their byte ranges (the DRAD's byte_offset,
// byte_length) into GDAL's block cache: one read of the compressed bytes, libdeflate or zstd,
// the horizontal predictor undone with running sums in registers. GDAL then reads the window
// from its cache as usual (same bytes, same cache, same memory limit). On this machine
// libtiff undoes the predictor byte by byte through memory, and inflates some files with
// zlib: on the 8000x8000 map of seed 001 its reads are 4x slower.
//
// Only the layouts GDAL's GTiff and COG drivers write are taken: little-endian, tiled or
// stripped, pixel or band interleaved, DEFLATE, ZSTD or no compression, predictor 1 or 2,
// whole-byte samples of one data type, local files and network items opened from their record
// (read/remote_source.h). Anything else is left to GDAL.
#pragma once

#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "gdal_priv.h"

#include "catalog.h"
#include "types/grid.h"

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

    // Puts the full-resolution blocks of `bands` (1-based) under window `win` that GDAL's
    // cache lacks into it. Blocks listed in `empty` (the DRAD's blocks without a valid pixel)
    // are filled with nodata, not read, when every band has nodata and the file still has
    // their bytes where the DRAD recorded them.
    // Best effort: blocks absent from the file, or not as expected, are left for GDAL to
    // read. Returns the number of blocks decoded or filled.
    int Prefetch(const Window& win, const std::vector<int>& bands,
                 const EmptyBlocks* empty = nullptr);

    // Reads window `win` (full resolution, within the raster) of `bands` (1-based) straight
    // from the file into `out`, as GDALDataset::RasterIO would with `type` and these spacings,
    // decoding each block only down to the window's last row and never through GDAL's cache:
    // for reads of a few pixels (value() at scattered points), where GDAL would inflate and
    // cache whole blocks no later read uses. Blocks listed in `empty` are nodata, as for
    // Prefetch. False when a block is absent or not as expected: the caller reads through
    // GDAL (pixels already written are written again).
    bool ReadWindow(const Window& win, const std::vector<int>& bands, const EmptyBlocks* empty,
                    GDALDataType type, GByte* out, GSpacing pixelSpace, GSpacing lineSpace,
                    GSpacing bandSpace);

    // Closes the reader's own handle of the file (a file kept open between reads then holds
    // only GDAL's); ReopenFile opens it again by name (false when it cannot: the caller checks
    // the name still leads to the same file). Reads without the handle are left to GDAL.
    void CloseFile();
    bool ReopenFile();

private:
    enum class Codec
    {
        None,
        Deflate,
        Zstd
    };
    TiffBlockReader() = default;
    // Decodes block (col, row) of `band` (1-based; any band when pixel interleaved) into
    // the calling thread's block buffer, its first `rows` rows at least (the rest may be left
    // undecoded): false when absent from the file or not as expected.
    bool Decode(int band, int col, int row, int rows = INT_MAX);
    // Whether block (col, row) is in `empty` and the file still has its bytes there.
    bool Empty(const EmptyBlocks* empty, int col, int row) const;
    // Puts block (col, row) into GDAL's cache: the decoded block (every band of a
    // pixel-interleaved one, `band` of a band-interleaved one), or with `fill` every band's
    // nodata.
    void Adopt(int band, int col, int row, bool fill);

    GDALDataset* m_poDS = nullptr;
    VSILFILE* m_fp = nullptr;
    libdeflate_decompressor* m_poInflater = nullptr;
    Codec m_eCodec = Codec::None;
    bool m_bPredictor = false;
    bool m_bPixelInterleaved = false;
    GDALDataType m_eType = GDT_Byte;
    int m_nTypeSize = 1, m_nBands = 1, m_nBlockW = 0, m_nBlockH = 0;
    int m_nWidth = 0, m_nHeight = 0;
    int m_nDecodedRows = 0;            // rows of the last decoded block (a last strip may be short)
    std::vector<double> m_adfNodata{}; // per band; empty unless every band has nodata
};

} // namespace pgmosaic
