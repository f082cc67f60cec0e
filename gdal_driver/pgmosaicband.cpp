// The PGMOSAIC raster bands: the mosaic's bands (and those of its overview levels), read
// through the dataset's one read path, and the coverage mask band.
#include "pgmosaic_driver.h"

/************************************************************************/
/*                          PGMosaicRasterBand                          */
/************************************************************************/

PGMosaicRasterBand::PGMosaicRasterBand(GDALDataset* poOwner, PGMosaicDataset* poBase, int nBandIn,
                                       int nFactor)
    : m_poBase(poBase), m_nFactor(nFactor)
{
    poDS = poOwner;
    nBand = nBandIn;
    eDataType =
        pgmosaic::MethodDataType(poBase->m_poReader->options().method, poBase->m_oMosaic.dataType);
    const pgmosaic::OutputBand& output = poBase->m_aoOutputBands[static_cast<size_t>(nBandIn - 1)];
    if (output.band == 0)
    {
        // A virtual band: its own type and name.
        eDataType = output.type;
        nRasterXSize = poOwner->GetRasterXSize();
        nRasterYSize = poOwner->GetRasterYSize();
        nBlockXSize = std::min(kBlockSize, nRasterXSize);
        nBlockYSize = std::min(kBlockSize, nRasterYSize);
        GDALRasterBand::SetDescription(output.name.c_str());
        return;
    }
    nRasterXSize = poOwner->GetRasterXSize();
    nRasterYSize = poOwner->GetRasterYSize();
    nBlockXSize = std::min(kBlockSize, nRasterXSize);
    nBlockYSize = std::min(kBlockSize, nRasterYSize);
    // Colour interpretation and description from the catalog, unless bands= picked and
    // reordered bands, or the catalog says nothing useful: then by position (RGB(A), gray).
    const auto& cat = poBase->m_oMosaic;
    const size_t count = poBase->m_anItemBands.size();
    const int itemBand = poBase->m_anItemBands[static_cast<size_t>(nBandIn - 1)];
    const bool reordered = itemBand != nBandIn || count != static_cast<size_t>(cat.bandCount);
    bool informative = false;
    for (const auto& ci : cat.colorInterp)
        informative =
            informative || (!EQUAL(ci.c_str(), "Undefined") && !EQUAL(ci.c_str(), "Gray"));
    if (!reordered && informative && static_cast<size_t>(itemBand) <= cat.colorInterp.size())
        m_eColorInterp = GDALGetColorInterpretationByName(cat.colorInterp[itemBand - 1].c_str());
    else if (count == 3 || count == 4)
    {
        static const GDALColorInterp rgba[] = {GCI_RedBand, GCI_GreenBand, GCI_BlueBand,
                                               GCI_AlphaBand};
        m_eColorInterp = rgba[nBandIn - 1];
    }
    else if (count == 1)
        m_eColorInterp = GCI_GrayIndex;
    if (static_cast<size_t>(itemBand) <= cat.bandDescriptions.size())
        GDALRasterBand::SetDescription(cat.bandDescriptions[itemBand - 1].c_str());
}

CPLErr PGMosaicRasterBand::IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage)
{
    const int x = nBlockXOff * nBlockXSize, y = nBlockYOff * nBlockYSize;
    const int w = std::min(nBlockXSize, nRasterXSize - x);
    const int h = std::min(nBlockYSize, nRasterYSize - y);
    const int typeSize = GDALGetDataTypeSizeBytes(eDataType);
    if (w < nBlockXSize || h < nBlockYSize)
        memset(pImage, 0, static_cast<size_t>(nBlockXSize) * nBlockYSize * typeSize);
    const int f = m_nFactor;
    return m_poBase->ReadWindow(x * f, y * f, w * f, h * f, pImage, w, h, eDataType, {nBand},
                                typeSize, static_cast<GSpacing>(nBlockXSize) * typeSize, 0);
}

CPLErr PGMosaicRasterBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                     int nYSize, void* pData, int nBufXSize, int nBufYSize,
                                     GDALDataType eBufType, GSpacing nPixelSpace,
                                     GSpacing nLineSpace, GDALRasterIOExtraArg*)
{
    if (eRWFlag != GF_Read)
        return ReadOnly();
    const int f = m_nFactor;
    return m_poBase->ReadWindow(nXOff * f, nYOff * f, nXSize * f, nYSize * f, pData, nBufXSize,
                                nBufYSize, eBufType, {nBand}, nPixelSpace, nLineSpace, 0);
}

double PGMosaicRasterBand::GetNoDataValue(int* pbSuccess)
{
    const auto& nodata = m_poBase->m_oMosaic.nodata;
    const bool has =
        nodata.has_value() && m_poBase->m_poReader->options().method != pgmosaic::Method::Count;
    if (pbSuccess)
        *pbSuccess = has;
    return has ? *nodata : 0.0;
}

GDALColorInterp PGMosaicRasterBand::GetColorInterpretation()
{
    return m_eColorInterp;
}

int PGMosaicRasterBand::GetOverviewCount()
{
    return m_nFactor == 1 ? m_poBase->OverviewCount() : 0;
}

GDALRasterBand* PGMosaicRasterBand::GetOverview(int i)
{
    GDALDataset* ov = m_nFactor == 1 ? m_poBase->Overview(i) : nullptr;
    return ov ? ov->GetRasterBand(nBand) : nullptr;
}

char** PGMosaicRasterBand::GetMetadata(const char* pszDomain)
{
    if ((pszDomain == nullptr || *pszDomain == '\0' || EQUAL(pszDomain, "PGMOSAIC")) &&
        m_nFactor == 1)
        m_poBase->LoadStatistics();
    return GDALRasterBand::GetMetadata(pszDomain);
}

const char* PGMosaicRasterBand::GetMetadataItem(const char* pszName, const char* pszDomain)
{
    if (m_nFactor == 1 && pszName &&
        (((pszDomain == nullptr || *pszDomain == '\0') && STARTS_WITH(pszName, "STATISTICS_")) ||
         (pszDomain != nullptr && EQUAL(pszDomain, "PGMOSAIC") &&
          STARTS_WITH(pszName, "ITEM_PERCENTILE_"))))
        m_poBase->LoadStatistics();
    return GDALRasterBand::GetMetadataItem(pszName, pszDomain);
}

int PGMosaicRasterBand::GetMaskFlags()
{
    return m_poBase->HasCoverageMask() ? GMF_PER_DATASET : GDALRasterBand::GetMaskFlags();
}

GDALRasterBand* PGMosaicRasterBand::GetMaskBand()
{
    if (!m_poBase->HasCoverageMask())
        return GDALRasterBand::GetMaskBand();
    if (m_nFactor == 1)
        return m_poBase->m_poMaskBand.get();
    return static_cast<PGMosaicOverviewDataset*>(poDS)->MaskBand();
}

/************************************************************************/
/*                           PGMosaicMaskBand                           */
/************************************************************************/

PGMosaicMaskBand::PGMosaicMaskBand(GDALDataset* poOwner, PGMosaicDataset* poBase, int nFactor)
    : m_poBase(poBase), m_nFactor(nFactor)
{
    poDS = poOwner;
    nBand = 0;
    eDataType = GDT_Byte;
    nRasterXSize = poOwner->GetRasterXSize();
    nRasterYSize = poOwner->GetRasterYSize();
    nBlockXSize = std::min(kBlockSize, nRasterXSize);
    nBlockYSize = std::min(kBlockSize, nRasterYSize);
}

CPLErr PGMosaicMaskBand::IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage)
{
    const int x = nBlockXOff * nBlockXSize, y = nBlockYOff * nBlockYSize;
    const int w = std::min(nBlockXSize, nRasterXSize - x);
    const int h = std::min(nBlockYSize, nRasterYSize - y);
    if (w < nBlockXSize || h < nBlockYSize)
        memset(pImage, 0, static_cast<size_t>(nBlockXSize) * nBlockYSize);
    const int f = m_nFactor;
    return m_poBase->ReadCoverage(x * f, y * f, w * f, h * f, pImage, w, h, 1, nBlockXSize);
}

CPLErr PGMosaicMaskBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                                   void* pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                                   GSpacing nPixelSpace, GSpacing nLineSpace,
                                   GDALRasterIOExtraArg* psExtraArg)
{
    if (eRWFlag != GF_Read)
        return ReadOnly();
    if (eBufType != GDT_Byte)
        return GDALRasterBand::IRasterIO(eRWFlag, nXOff, nYOff, nXSize, nYSize, pData, nBufXSize,
                                         nBufYSize, eBufType, nPixelSpace, nLineSpace, psExtraArg);
    const int f = m_nFactor;
    return m_poBase->ReadCoverage(nXOff * f, nYOff * f, nXSize * f, nYSize * f, pData, nBufXSize,
                                  nBufYSize, nPixelSpace, nLineSpace);
}
