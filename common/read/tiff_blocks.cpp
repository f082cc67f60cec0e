#include "read/tiff_blocks.h"

#include <libdeflate.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cpl_conv.h"

namespace pgmosaic
{

namespace
{

// Undoes TIFF's horizontal differencing on one row of `pixels` pixels of SPP samples of T,
// with running sums held in scalar registers (v[i] += v[i - spp] waits on every store).
template <typename T, int SPP> void UndoPredictorN(T* v, int pixels)
{
    static_assert(SPP >= 1 && SPP <= 4, "1 to 4 samples per pixel");
    using Acc = typename std::conditional<(sizeof(T) < sizeof(unsigned)), unsigned, T>::type;
    Acc a0 = v[0], a1 = SPP > 1 ? v[1] : 0, a2 = SPP > 2 ? v[2] : 0, a3 = SPP > 3 ? v[3] : 0;
    const int n = pixels * SPP;
    for (int i = SPP; i < n; i += SPP)
    {
        v[i] = static_cast<T>(a0 += v[i]);
        if (SPP > 1)
            v[i + 1] = static_cast<T>(a1 += v[i + 1]);
        if (SPP > 2)
            v[i + 2] = static_cast<T>(a2 += v[i + 2]);
        if (SPP > 3)
            v[i + 3] = static_cast<T>(a3 += v[i + 3]);
    }
}

template <typename T> void UndoPredictor(GByte* row, int pixels, int spp)
{
    T* v = reinterpret_cast<T*>(row);
    switch (spp)
    {
    case 1:
        return UndoPredictorN<T, 1>(v, pixels);
    case 2:
        return UndoPredictorN<T, 2>(v, pixels);
    case 3:
        return UndoPredictorN<T, 3>(v, pixels);
    case 4:
        return UndoPredictorN<T, 4>(v, pixels);
    default:
        for (int i = spp; i < pixels * spp; ++i)
            v[i] = static_cast<T>(v[i] + v[i - spp]);
    }
}

// The decoding buffers of the calling thread, shared by every reader it runs: a reader per
// open item had its own, allocated (and zeroed) afresh for each item a read opened.
struct DecodeBuffers
{
    std::vector<GByte> compressed, block, spare;
};
DecodeBuffers& ThreadBuffers()
{
    thread_local DecodeBuffers buffers;
    return buffers;
}

std::uint64_t BlockItem(GDALRasterBand* band, const char* what, int col, int row)
{
    const char* v = band->GetMetadataItem(CPLSPrintf("%s_%d_%d", what, col, row), "TIFF");
    return v ? std::strtoull(v, nullptr, 10) : 0;
}

} // namespace

std::unique_ptr<TiffBlockReader> TiffBlockReader::Open(GDALDataset* ds)
{
    if (!CPLTestBool(CPLGetConfigOption("PGMOSAIC_DIRECT_DECODE", "YES")) || !CPL_IS_LSB ||
        ds == nullptr || ds->GetDriver() == nullptr ||
        !EQUAL(ds->GetDriver()->GetDescription(), "GTiff") || ds->GetRasterCount() < 1)
        return nullptr;
    std::unique_ptr<TiffBlockReader> r(new TiffBlockReader());
    r->m_poDS = ds;
    GDALRasterBand* first = ds->GetRasterBand(1);
    r->m_eType = first->GetRasterDataType();
    r->m_nTypeSize = GDALGetDataTypeSizeBytes(r->m_eType);
    r->m_nBands = ds->GetRasterCount();
    r->m_nWidth = ds->GetRasterXSize();
    r->m_nHeight = ds->GetRasterYSize();
    first->GetBlockSize(&r->m_nBlockW, &r->m_nBlockH);
    if (GDALDataTypeIsComplex(r->m_eType) || r->m_nTypeSize < 1 || r->m_nTypeSize > 8 ||
        r->m_nBlockW < 1 || r->m_nBlockH < 1)
        return nullptr;
    for (int b = 2; b <= r->m_nBands; ++b)
    {
        int bw = 0, bh = 0;
        ds->GetRasterBand(b)->GetBlockSize(&bw, &bh);
        if (ds->GetRasterBand(b)->GetRasterDataType() != r->m_eType || bw != r->m_nBlockW ||
            bh != r->m_nBlockH)
            return nullptr;
    }
    const char* compression = ds->GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE");
    if (compression == nullptr)
        r->m_eCodec = Codec::None;
    else if (EQUAL(compression, "DEFLATE"))
        r->m_eCodec = Codec::Deflate;
    else if (EQUAL(compression, "ZSTD"))
        r->m_eCodec = Codec::Zstd;
    else
        return nullptr;
    // GDAL splits big uncompressed strips into blocks of its own: not the file's.
    if (r->m_eCodec == Codec::None && r->m_nBlockW == r->m_nWidth)
        return nullptr;
    const char* predictor = ds->GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE");
    if (predictor != nullptr && !EQUAL(predictor, "1") && !EQUAL(predictor, "2"))
        return nullptr;
    r->m_bPredictor = predictor != nullptr && EQUAL(predictor, "2");
    const char* interleave = ds->GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE");
    r->m_bPixelInterleaved = r->m_nBands > 1 && interleave && EQUAL(interleave, "PIXEL");
    // Packed bits, colour spaces GDAL converts (YCbCr, CMYK, CIELab), files read over the
    // network by GDAL (it merges their range requests) are left to GDAL; network items opened
    // from their record (remote_source.h) are decoded here from the bytes prefetched.
    const std::string name = ds->GetDescription();
    if (first->GetMetadataItem("NBITS", "IMAGE_STRUCTURE") != nullptr ||
        ds->GetMetadataItem("SOURCE_COLOR_SPACE", "IMAGE_STRUCTURE") != nullptr ||
        (name.rfind("/vsi", 0) == 0 && name.rfind("/vsimem/", 0) != 0 &&
         name.rfind("/vsipgmremote/", 0) != 0))
        return nullptr;
    for (int b = 1; b <= r->m_nBands; ++b)
    {
        int has = FALSE;
        const double v = ds->GetRasterBand(b)->GetNoDataValue(&has);
        if (!has || (ds->GetRasterBand(b)->GetMaskFlags() & GMF_NODATA) == 0)
        {
            r->m_adfNodata.clear();
            break;
        }
        r->m_adfNodata.push_back(v);
    }
    r->m_fp = VSIFOpenL(ds->GetDescription(), "rb");
    if (r->m_fp == nullptr)
        return nullptr;
    char magic[2] = {0, 0};
    if (VSIFReadL(magic, 1, 2, r->m_fp) != 2 || magic[0] != 'I' || magic[1] != 'I')
        return nullptr;
    if (r->m_eCodec == Codec::Deflate &&
        (r->m_poInflater = libdeflate_alloc_decompressor()) == nullptr)
        return nullptr;
    return r;
}

void TiffBlockReader::CloseFile()
{
    if (m_fp)
        VSIFCloseL(m_fp);
    m_fp = nullptr;
}

bool TiffBlockReader::ReopenFile()
{
    if (!m_fp)
        m_fp = VSIFOpenL(m_poDS->GetDescription(), "rb");
    return m_fp != nullptr;
}

TiffBlockReader::~TiffBlockReader()
{
    if (m_fp)
        VSIFCloseL(m_fp);
    if (m_poInflater)
        libdeflate_free_decompressor(m_poInflater);
}

// Room left past the rows a partial inflate needs. libdeflate stops, out of room, before the
// first match (at most 258 bytes) or stored block (at most 65,535) that would not fit: every
// byte before it is written. With this much room, all the rows needed are.
constexpr size_t kInflateSlack = 65535 + 258;

bool TiffBlockReader::Decode(int band, int col, int row, int rows)
{
    GDALRasterBand* b = m_poDS->GetRasterBand(m_bPixelInterleaved ? 1 : band);
    const std::uint64_t offset = BlockItem(b, "BLOCK_OFFSET", col, row);
    const std::uint64_t length = BlockItem(b, "BLOCK_SIZE", col, row);
    if (offset == 0 || m_fp == nullptr)
        return false; // absent (sparse file), or no handle
    const int spp = m_bPixelInterleaved ? m_nBands : 1;
    const size_t rowBytes = static_cast<size_t>(m_nBlockW) * spp * m_nTypeSize;
    const size_t full = rowBytes * m_nBlockH;
    // Tiles are whole; the last strip of a stripped file may hold only the rows left.
    const size_t lastStrip =
        m_nBlockW == m_nWidth
            ? rowBytes * static_cast<size_t>(std::min(m_nBlockH, m_nHeight - row * m_nBlockH))
            : full;
    if (length == 0 || length > 2 * full + 65536) // no codec here expands data that much
        return false;
    DecodeBuffers& buffers = ThreadBuffers();
    std::vector<GByte>& block = buffers.block;
    std::vector<GByte>& compressed = buffers.compressed;
    if (block.size() < full)
        block.resize(full);
    if (compressed.size() < length)
        compressed.resize(length);
    if (VSIFSeekL(m_fp, offset, SEEK_SET) != 0 ||
        VSIFReadL(compressed.data(), 1, length, m_fp) != length)
        return false;
    // The bytes of the rows asked, when fewer than the block's.
    const size_t wanted = rows < m_nBlockH ? rowBytes * static_cast<size_t>(std::max(rows, 1))
                                           : lastStrip;
    size_t produced = 0;
    bool partial = false; // stopped past the rows asked: those are whole
    switch (m_eCodec)
    {
    case Codec::None:
        produced = std::min<size_t>(length, full);
        memcpy(block.data(), compressed.data(), produced);
        break;
    case Codec::Deflate:
    {
        const size_t room = std::min(full, wanted + kInflateSlack);
        const libdeflate_result res = libdeflate_zlib_decompress(
            m_poInflater, compressed.data(), length, block.data(), room, &produced);
        partial = res == LIBDEFLATE_INSUFFICIENT_SPACE && room < full;
        if (partial)
            produced = wanted;
        else if (res != LIBDEFLATE_SUCCESS)
            produced = 0;
        break;
    }
    case Codec::Zstd:
    {
        const size_t n = ZSTD_decompress(block.data(), full, compressed.data(), length);
        produced = ZSTD_isError(n) ? 0 : n;
        break;
    }
    }
    if (produced != full && produced != lastStrip && !partial)
        return false; // not the block GDAL would read: left to GDAL
    m_nDecodedRows = static_cast<int>(std::min(produced, lastStrip) / rowBytes);
    if (m_bPredictor)
        for (int y = 0; y < m_nDecodedRows; ++y)
        {
            GByte* p = block.data() + y * rowBytes;
            switch (m_nTypeSize)
            {
            case 1:
                UndoPredictor<std::uint8_t>(p, m_nBlockW, spp);
                break;
            case 2:
                UndoPredictor<std::uint16_t>(p, m_nBlockW, spp);
                break;
            case 4:
                UndoPredictor<std::uint32_t>(p, m_nBlockW, spp);
                break;
            default:
                UndoPredictor<std::uint64_t>(p, m_nBlockW, spp);
                break;
            }
        }
    return true;
}

void TiffBlockReader::Adopt(int band, int col, int row, bool fill)
{
    // GDAL's cache blocks of every band this block holds; bands already cached are decoded
    // into scratch space. Blocks "just initialised" are not read from the file, and not dirty:
    // GDAL never writes them back.
    const int spp = m_bPixelInterleaved || fill ? m_nBands : 1;
    const size_t bandBlock = static_cast<size_t>(m_nBlockW) * m_nBlockH * m_nTypeSize;
    std::vector<GDALRasterBlock*> locked;
    std::vector<void*> targets(static_cast<size_t>(spp));
    DecodeBuffers& buffers = ThreadBuffers();
    if (buffers.spare.size() < bandBlock)
        buffers.spare.resize(bandBlock);
    for (int k = 0; k < spp; ++k)
    {
        GDALRasterBand* b = m_poDS->GetRasterBand(spp > 1 ? k + 1 : band);
        targets[static_cast<size_t>(k)] = buffers.spare.data();
        // A block cached already is left alone: once its lock is dropped, any thread's cache
        // eviction may free it, so it is never written.
        if (GDALRasterBlock* cached = b->TryGetLockedBlockRef(col, row))
        {
            cached->DropLock();
            continue;
        }
        GDALRasterBlock* block = b->GetLockedBlockRef(col, row, TRUE);
        if (block == nullptr)
            continue;
        if (block->GetDataRef() == nullptr)
        {
            block->DropLock();
            continue;
        }
        locked.push_back(block); // locked until written, so no eviction frees it
        targets[static_cast<size_t>(k)] = block->GetDataRef();
    }
    const size_t pixels = static_cast<size_t>(m_nBlockW) * m_nDecodedRows;
    if (fill)
        for (int k = 0; k < spp; ++k)
            GDALCopyWords64(&m_adfNodata[static_cast<size_t>(k)], GDT_Float64, 0,
                            targets[static_cast<size_t>(k)], m_eType, m_nTypeSize,
                            static_cast<GPtrDiff_t>(m_nBlockW) * m_nBlockH);
    else if (spp == 1)
        memcpy(targets[0], buffers.block.data(), pixels * m_nTypeSize);
    else
        GDALDeinterleave(buffers.block.data(), m_eType, spp, targets.data(), m_eType, pixels);
    if (!fill && m_nDecodedRows < m_nBlockH) // past the end of a short last strip
        for (void* t : targets)
            memset(static_cast<GByte*>(t) + pixels * m_nTypeSize, 0,
                   bandBlock - pixels * m_nTypeSize);
    for (GDALRasterBlock* block : locked)
        block->DropLock();
}

bool TiffBlockReader::Empty(const EmptyBlocks* empty, int col, int row) const
{
    if (empty == nullptr || m_adfNodata.empty())
        return false;
    const EmptyBlock key{col, row, 0, 0};
    const auto known = std::lower_bound(empty->begin(), empty->end(), key);
    return known != empty->end() && known->col == col && known->row == row &&
           BlockItem(m_poDS->GetRasterBand(1), "BLOCK_OFFSET", col, row) == known->offset &&
           BlockItem(m_poDS->GetRasterBand(1), "BLOCK_SIZE", col, row) == known->length;
}

bool TiffBlockReader::ReadWindow(const Window& win, const std::vector<int>& bands,
                                 const EmptyBlocks* empty, GDALDataType type, GByte* out,
                                 GSpacing pixelSpace, GSpacing lineSpace, GSpacing bandSpace)
{
    if (win.x < 0 || win.y < 0 || win.w < 1 || win.h < 1 || win.x + win.w > m_nWidth ||
        win.y + win.h > m_nHeight)
        return false;
    const int spp = m_bPixelInterleaved ? m_nBands : 1;
    const size_t rowBytes = static_cast<size_t>(m_nBlockW) * spp * m_nTypeSize;
    const int c0 = win.x / m_nBlockW, c1 = (win.x + win.w - 1) / m_nBlockW;
    const int r0 = win.y / m_nBlockH, r1 = (win.y + win.h - 1) / m_nBlockH;
    for (int row = r0; row <= r1; ++row)
        for (int col = c0; col <= c1; ++col)
        {
            // The part of the window in this block, in block coordinates.
            const int x0 = std::max(win.x, col * m_nBlockW) - col * m_nBlockW;
            const int x1 = std::min(win.x + win.w, (col + 1) * m_nBlockW) - col * m_nBlockW;
            const int y0 = std::max(win.y, row * m_nBlockH) - row * m_nBlockH;
            const int y1 = std::min(win.y + win.h, (row + 1) * m_nBlockH) - row * m_nBlockH;
            GByte* at = out + (static_cast<GSpacing>(row * m_nBlockH + y0 - win.y) * lineSpace) +
                        static_cast<GSpacing>(col * m_nBlockW + x0 - win.x) * pixelSpace;
            const bool fill = Empty(empty, col, row);
            for (size_t k = 0; k < bands.size(); ++k)
            {
                const int b = bands[k];
                if (b < 1 || b > m_nBands)
                    return false;
                // A pixel-interleaved block is decoded once for all its bands.
                if (!fill && (k == 0 || !m_bPixelInterleaved) && !Decode(b, col, row, y1))
                    return false;
                for (int y = y0; y < y1; ++y)
                {
                    GByte* dst = at + static_cast<GSpacing>(y - y0) * lineSpace +
                                 static_cast<GSpacing>(k) * bandSpace;
                    if (fill)
                        GDALCopyWords64(&m_adfNodata[static_cast<size_t>(b - 1)], GDT_Float64, 0,
                                        dst, type, static_cast<int>(pixelSpace), x1 - x0);
                    else
                        GDALCopyWords64(ThreadBuffers().block.data() + y * rowBytes +
                                            static_cast<size_t>(x0 * spp +
                                                                (m_bPixelInterleaved ? b - 1 : 0)) *
                                                m_nTypeSize,
                                        m_eType, spp * m_nTypeSize, dst, type,
                                        static_cast<int>(pixelSpace), x1 - x0);
                }
            }
        }
    return true;
}

int TiffBlockReader::Prefetch(const Window& win, const std::vector<int>& bands,
                              const EmptyBlocks* empty)
{
    if (m_adfNodata.empty())
        empty = nullptr;
    int decoded = 0;
    const int c0 = win.x / m_nBlockW, c1 = (win.x + win.w - 1) / m_nBlockW;
    const int r0 = win.y / m_nBlockH, r1 = (win.y + win.h - 1) / m_nBlockH;
    auto cached = [&](int band, int col, int row) {
        GDALRasterBlock* block = m_poDS->GetRasterBand(band)->TryGetLockedBlockRef(col, row);
        if (block)
            block->DropLock();
        return block != nullptr;
    };
    for (int row = r0; row <= r1; ++row)
        for (int col = c0; col <= c1; ++col)
        {
            if (Empty(empty, col, row))
            {
                if (!std::all_of(bands.begin(), bands.end(),
                                 [&](int b) { return cached(b, col, row); }))
                {
                    Adopt(1, col, row, true);
                    ++decoded;
                }
                continue;
            }
            if (m_bPixelInterleaved)
            {
                // One decode holds every band: it fills each band GDAL's cache lacks.
                if (std::all_of(bands.begin(), bands.end(),
                                [&](int b) { return cached(b, col, row); }) ||
                    !Decode(1, col, row))
                    continue;
                ++decoded;
                Adopt(1, col, row, false);
                continue;
            }
            for (int b : bands)
                if (!cached(b, col, row) && Decode(b, col, row))
                {
                    ++decoded;
                    Adopt(b, col, row, false);
                }
        }
    return decoded;
}

} // namespace pgmosaic
