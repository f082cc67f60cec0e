#include "composite_reader.h"

#include <cmath>
#include <cstring>

#include "error.h"

namespace pgmosaic
{

struct CompositeReader::Step
{
    const ItemRef* item = nullptr;
    GDALDataset* ds = nullptr;
    Placement place;
    bool opaque = false; // every pixel valid: read straight into the caller's buffer
};

namespace
{

// Copies the runs of valid pixels of one row of a source band (native type T) into the
// caller's row, converting to the buffer type.
template <typename T>
void CopyValidRow(const T* src, GDALDataType srcType, int n, double nodata, GByte* dst,
                  GDALDataType dstType, GSpacing pixelSpace)
{
    const bool nanNodata = std::isnan(nodata);
    const T nd = nanNodata ? T{} : static_cast<T>(nodata);
    auto valid = [&](T v)
    {
        if constexpr (std::is_floating_point<T>::value)
        {
            if (std::isnan(v))
                return !nanNodata;
            return nanNodata || v != nd;
        }
        else
            return v != nd;
    };
    int i = 0;
    while (i < n)
    {
        while (i < n && !valid(src[i]))
            ++i;
        int start = i;
        while (i < n && valid(src[i]))
            ++i;
        if (i > start)
            GDALCopyWords64(src + start, srcType, sizeof(T), dst + start * pixelSpace, dstType,
                            static_cast<int>(pixelSpace), i - start);
    }
}

void CopyValidRowAnyType(GDALDataType type, const GByte* src, int n, double nodata, GByte* dst,
                         GDALDataType dstType, GSpacing pixelSpace)
{
    switch (type)
    {
    case GDT_Byte:
        return CopyValidRow(reinterpret_cast<const GByte*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_UInt16:
        return CopyValidRow(reinterpret_cast<const GUInt16*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_Int16:
        return CopyValidRow(reinterpret_cast<const GInt16*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_UInt32:
        return CopyValidRow(reinterpret_cast<const GUInt32*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_Int32:
        return CopyValidRow(reinterpret_cast<const GInt32*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_Float32:
        return CopyValidRow(reinterpret_cast<const float*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    case GDT_Float64:
        return CopyValidRow(reinterpret_cast<const double*>(src), type, n, nodata, dst, dstType,
                            pixelSpace);
    default:
        throw Error(ErrorKind::Mismatch, std::string("data type ") + GDALGetDataTypeName(type) +
                                             " is not supported for items with nodata");
    }
}

} // namespace

void CompositeReader::Read(const Request& req, const std::vector<int>& bands, const BufferSpec& buf)
{
    const std::vector<ItemRef> items = m_oCatalog.FindItems(RequestEnvelope(m_oMosaic.gt, req.win));

    // Plan top-down: drop items hidden under an opaque item above them, stop at an item that
    // covers the whole buffer.
    std::vector<Step> plan;
    std::vector<Window> opaqueRects;
    const Window whole{0, 0, req.bufW, req.bufH};
    bool covered = false;
    for (const ItemRef& item : items)
    {
        GDALDataset* ds = m_oPool.Acquire(item);
        GeoTransform gt{};
        ds->GetGeoTransform(gt.data());
        auto place = PlaceSource(m_oMosaic.gt, req, gt, ds->GetRasterXSize(), ds->GetRasterYSize());
        if (!place)
            continue;
        bool hidden = false;
        for (const auto& r : opaqueRects)
            hidden = hidden || r.Contains(place->dst);
        if (hidden)
            continue;
        Step step;
        step.item = &item;
        step.ds = ds;
        step.place = *place;
        step.opaque = true;
        for (int b : bands)
        {
            GDALRasterBand* band = ds->GetRasterBand(b);
            int hasNodata = FALSE;
            band->GetNoDataValue(&hasNodata);
            step.opaque = step.opaque && !hasNodata && band->GetMaskFlags() == GMF_ALL_VALID;
        }
        plan.push_back(step);
        if (step.opaque)
        {
            opaqueRects.push_back(step.place.dst);
            if (step.place.dst.Contains(whole))
            {
                covered = true;
                break;
            }
        }
    }
    if (!covered)
        Fill(req, bands.size(), buf);
    // Paint bottom-up, so that higher items overwrite lower ones where they are valid. The
    // pool may evict a dataset planned earlier only if a window needs more items than the pool
    // holds; re-acquire to be safe.
    for (auto it = plan.rbegin(); it != plan.rend(); ++it)
    {
        it->ds = m_oPool.Acquire(*it->item);
        Paint(*it, req, bands, buf);
    }
}

void CompositeReader::Fill(const Request& req, size_t bandCount, const BufferSpec& buf) const
{
    const double value = m_oMosaic.nodata ? *m_oMosaic.nodata : 0.0;
    GByte* base = static_cast<GByte*>(buf.data);
    for (size_t b = 0; b < bandCount; ++b)
        for (int y = 0; y < req.bufH; ++y)
            GDALCopyWords64(&value, GDT_Float64, 0, base + b * buf.bandSpace + y * buf.lineSpace,
                            buf.type, static_cast<int>(buf.pixelSpace), req.bufW);
}

void CompositeReader::Paint(const Step& step, const Request&, const std::vector<int>& bands,
                            const BufferSpec& buf)
{
    const Placement& p = step.place;
    const Window src = p.SrcWindowEnclosing();
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    extra.eResampleAlg = GRIORA_NearestNeighbour;
    if (!p.integral)
    {
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = p.srcX;
        extra.dfYOff = p.srcY;
        extra.dfXSize = p.srcW;
        extra.dfYSize = p.srcH;
    }
    std::vector<int> bandMap(bands);
    GdalErrorCollector errors;
    auto readFailed = [&]()
    {
        return Error(ErrorKind::Io, "cannot read item " + std::to_string(step.item->id) + " (" +
                                        step.item->path + "): " + errors.Message("read failed"));
    };
    if (step.opaque)
    {
        GByte* dst =
            static_cast<GByte*>(buf.data) + p.dst.y * buf.lineSpace + p.dst.x * buf.pixelSpace;
        if (step.ds->RasterIO(GF_Read, src.x, src.y, src.w, src.h, dst, p.dst.w, p.dst.h, buf.type,
                              static_cast<int>(bandMap.size()), bandMap.data(), buf.pixelSpace,
                              buf.lineSpace, buf.bandSpace, &extra) != CE_None)
            throw readFailed();
        return;
    }
    // Items with nodata: read in their native type, then copy only the valid pixels.
    const GDALDataType type = step.ds->GetRasterBand(bands[0])->GetRasterDataType();
    const int typeSize = GDALGetDataTypeSizeBytes(type);
    const size_t bandBytes = static_cast<size_t>(p.dst.w) * p.dst.h * typeSize;
    m_abyScratch.resize(bandBytes * bands.size());
    if (step.ds->RasterIO(GF_Read, src.x, src.y, src.w, src.h, m_abyScratch.data(), p.dst.w,
                          p.dst.h, type, static_cast<int>(bandMap.size()), bandMap.data(), typeSize,
                          static_cast<GSpacing>(p.dst.w) * typeSize, bandBytes, &extra) != CE_None)
        throw readFailed();
    for (size_t b = 0; b < bands.size(); ++b)
    {
        GDALRasterBand* band = step.ds->GetRasterBand(bands[b]);
        int hasNodata = FALSE;
        const double nodata = band->GetNoDataValue(&hasNodata);
        const GByte* srcBand = m_abyScratch.data() + b * bandBytes;
        GByte* dstBand = static_cast<GByte*>(buf.data) + b * buf.bandSpace;
        for (int y = 0; y < p.dst.h; ++y)
        {
            const GByte* srcRow = srcBand + static_cast<size_t>(y) * p.dst.w * typeSize;
            GByte* dstRow = dstBand + (p.dst.y + y) * buf.lineSpace + p.dst.x * buf.pixelSpace;
            if (hasNodata)
                CopyValidRowAnyType(type, srcRow, p.dst.w, nodata, dstRow, buf.type,
                                    buf.pixelSpace);
            else
                GDALCopyWords64(srcRow, type, typeSize, dstRow, buf.type,
                                static_cast<int>(buf.pixelSpace), p.dst.w);
        }
    }
}

} // namespace pgmosaic
