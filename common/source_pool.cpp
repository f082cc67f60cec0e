#include "source_pool.h"

#include <cmath>

#include "gdalwarper.h"
#include "ogr_spatialref.h"

#include "error.h"

namespace pgmosaic
{

SourcePool::SourcePool(const MosaicInfo& mosaic, size_t capacity)
    : m_oMosaic(mosaic), m_nCapacity(capacity < 1 ? 1 : capacity)
{
}

SourcePool::~SourcePool()
{
    for (auto& e : m_aoEntries)
        e.warped.reset();
}

GDALDataset* SourcePool::Acquire(const ItemRef& item)
{
    auto it = m_oIndex.find(item.path);
    if (it != m_oIndex.end())
    {
        m_aoEntries.splice(m_aoEntries.begin(), m_aoEntries, it->second);
        Entry& e = m_aoEntries.front();
        return e.warped ? e.warped.get() : e.source.get();
    }
    Entry entry;
    entry.key = item.path;
    Open(item, entry);
    if (m_aoEntries.size() >= m_nCapacity)
    {
        Entry& last = m_aoEntries.back();
        m_oIndex.erase(last.key);
        last.warped.reset();
        m_aoEntries.pop_back();
    }
    m_aoEntries.push_front(std::move(entry));
    m_oIndex[item.path] = m_aoEntries.begin();
    Entry& e = m_aoEntries.front();
    return e.warped ? e.warped.get() : e.source.get();
}

void SourcePool::Open(const ItemRef& item, Entry& entry)
{
    GdalErrorCollector errors;
    entry.source.reset(GDALDataset::Open(item.path.c_str(), GDAL_OF_RASTER));
    if (!entry.source)
        throw Error(ErrorKind::Io, "cannot open item " + std::to_string(item.id) + " (" +
                                       item.path + "): " + errors.Message("open failed"));
    GDALDataset* src = entry.source.get();
    if (src->GetRasterCount() < m_oMosaic.bandCount)
        throw Error(ErrorKind::Mismatch, "item " + std::to_string(item.id) + " (" + item.path +
                                             ") has fewer bands than its mosaic");
    GeoTransform gt{};
    src->GetGeoTransform(gt.data());
    if (item.srid == m_oMosaic.srid && IsNorthUp(gt))
        return;

    // Warp onto the mosaic grid: the suggested output extent, snapped outward to mosaic pixels.
    CPLStringList transformerOpts;
    transformerOpts.SetNameValue("DST_SRS", m_oMosaic.srsWkt.c_str());
    void* transformer = GDALCreateGenImgProjTransformer2(src, nullptr, transformerOpts.List());
    if (transformer == nullptr)
        throw Error(ErrorKind::Io, "cannot reproject item " + std::to_string(item.id) + " (" +
                                       item.path + "): " + errors.Message());
    double suggested[6];
    int sw = 0, sh = 0;
    double extent[4];
    CPLErr err = GDALSuggestedWarpOutput2(src, GDALGenImgProjTransform, transformer, suggested, &sw,
                                          &sh, extent, 0);
    GDALDestroyGenImgProjTransformer(transformer);
    if (err != CE_None)
        throw Error(ErrorKind::Io, "cannot compute the warped extent of item " +
                                       std::to_string(item.id) + " (" + item.path + ")");
    const auto& m = m_oMosaic.gt;
    const double c0 = std::floor((extent[0] - m[0]) / m[1]);
    const double c1 = std::ceil((extent[2] - m[0]) / m[1]);
    const double r0 = std::floor((extent[3] - m[3]) / m[5]);
    const double r1 = std::ceil((extent[1] - m[3]) / m[5]);
    double dstGt[6] = {m[0] + c0 * m[1], m[1], 0, m[3] + r0 * m[5], 0, m[5]};
    const int dw = static_cast<int>(c1 - c0), dh = static_cast<int>(r1 - r0);

    GDALWarpOptions* wo = GDALCreateWarpOptions();
    wo->hSrcDS = src;
    wo->eResampleAlg = GRA_NearestNeighbour;
    wo->nBandCount = m_oMosaic.bandCount;
    wo->panSrcBands = static_cast<int*>(CPLMalloc(sizeof(int) * wo->nBandCount));
    wo->panDstBands = static_cast<int*>(CPLMalloc(sizeof(int) * wo->nBandCount));
    wo->padfDstNoDataReal = static_cast<double*>(CPLMalloc(sizeof(double) * wo->nBandCount));
    bool srcHasNodata = false;
    for (int b = 0; b < wo->nBandCount; ++b)
    {
        wo->panSrcBands[b] = wo->panDstBands[b] = b + 1;
        int has = FALSE;
        src->GetRasterBand(b + 1)->GetNoDataValue(&has);
        srcHasNodata = srcHasNodata || has;
    }
    if (srcHasNodata)
    {
        wo->padfSrcNoDataReal = static_cast<double*>(CPLMalloc(sizeof(double) * wo->nBandCount));
        for (int b = 0; b < wo->nBandCount; ++b)
            wo->padfSrcNoDataReal[b] = src->GetRasterBand(b + 1)->GetNoDataValue();
    }
    // Pixels the source does not cover are nodata in the warped view, so they never hide lower
    // items: the mosaic nodata when it has one, else the source's own.
    for (int b = 0; b < wo->nBandCount; ++b)
        wo->padfDstNoDataReal[b] =
            m_oMosaic.nodata ? *m_oMosaic.nodata : (srcHasNodata ? wo->padfSrcNoDataReal[b] : 0.0);
    wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST", "NO_DATA");
    wo->pTransformerArg = GDALCreateGenImgProjTransformer3(src->GetProjectionRef(), nullptr,
                                                           m_oMosaic.srsWkt.c_str(), dstGt);
    wo->pfnTransformer = GDALGenImgProjTransform;
    GDALDatasetH warped = GDALCreateWarpedVRT(src, dw, dh, dstGt, wo);
    GDALDestroyWarpOptions(wo);
    if (warped == nullptr)
        throw Error(ErrorKind::Io, "cannot reproject item " + std::to_string(item.id) + " (" +
                                       item.path + "): " + errors.Message());
    entry.warped.reset(GDALDataset::FromHandle(warped));
    for (int b = 1; b <= m_oMosaic.bandCount; ++b)
        entry.warped->GetRasterBand(b)->SetNoDataValue(
            m_oMosaic.nodata ? *m_oMosaic.nodata
                             : (srcHasNodata ? src->GetRasterBand(b)->GetNoDataValue() : 0.0));
}

} // namespace pgmosaic
