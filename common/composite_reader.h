// The compositing reader: reads a window of a mosaic from its items, in mosaic order.
#pragma once

#include <vector>

#include "gdal_priv.h"

#include "catalog.h"
#include "source_pool.h"

namespace pgmosaic
{

// A caller's buffer, as in GDALDataset::RasterIO.
struct BufferSpec
{
    void* data = nullptr;
    GDALDataType type = GDT_Byte;
    GSpacing pixelSpace = 0, lineSpace = 0, bandSpace = 0;
};

class CompositeReader final
{
public:
    CompositeReader(const MosaicInfo& mosaic, ItemCatalog& catalog, SourcePool& pool)
        : m_oMosaic(mosaic), m_oCatalog(catalog), m_oPool(pool)
    {
    }

    // Fills `buf` with mosaic bands `bands` (1-based) of the request. Under the "first" method
    // the topmost item with a valid pixel wins; nodata lets lower items show through; pixels no
    // item covers get the mosaic nodata (0 without one). Throws Error.
    void Read(const Request& req, const std::vector<int>& bands, const BufferSpec& buf);

private:
    struct Step;
    void Paint(const Step& step, const Request& req, const std::vector<int>& bands,
               const BufferSpec& buf);
    void Fill(const Request& req, size_t bandCount, const BufferSpec& buf) const;

    const MosaicInfo& m_oMosaic;
    ItemCatalog& m_oCatalog;
    SourcePool& m_oPool;
    std::vector<GByte> m_abyScratch{};
};

} // namespace pgmosaic
