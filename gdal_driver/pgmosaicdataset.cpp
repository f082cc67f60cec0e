// The PGMOSAIC raster dataset: a mosaic of the catalog composed at read time.
#include <algorithm>
#include <numeric>

#include "error.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// Runs `fn`, turning any exception into a CPLError: no exception may cross into GDAL.
template <typename Fn> CPLErr Guarded(Fn&& fn)
{
    try
    {
        fn();
        return CE_None;
    }
    catch (const std::exception& e)
    {
        CPLError(CE_Failure, CPLE_AppDefined, "PGMOSAIC: %s", e.what());
    }
    catch (...)
    {
        CPLError(CE_Failure, CPLE_AppDefined, "PGMOSAIC: unexpected error");
    }
    return CE_Failure;
}

} // namespace

/************************************************************************/
/*                               Open()                                 */
/************************************************************************/

GDALDataset* PGMosaicDataset::Open(GDALOpenInfo* poOpenInfo)
{
    if (!PGMosaicDriverIdentify(poOpenInfo))
        return nullptr;
    if (poOpenInfo->eAccess == GA_Update)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: update access is not supported");
        return nullptr;
    }
    if ((poOpenInfo->nOpenFlags & GDAL_OF_RASTER) == 0)
        return nullptr; // the vector side comes in a later version
    auto poDS = std::make_unique<PGMosaicDataset>();
    const CPLErr err = Guarded(
        [&]
        {
            auto conn = pgmosaic::ParseConnectionString(poOpenInfo->pszFilename +
                                                        strlen(pgmosaic::kConnectionPrefix));
            const char* pszOOMosaic =
                CSLFetchNameValue(poOpenInfo->papszOpenOptions, kOpenOptionMosaic);
            std::string mosaic = pszOOMosaic ? pszOOMosaic : conn.Get(pgmosaic::kKeyMosaic);
            poDS->m_osConninfo = conn.conninfo;
            poDS->m_poConn = std::make_unique<PgConnection>(conn.conninfo);
            auto res = poDS->m_poConn->Exec(
                "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgmosaic'");
            if (PQntuples(res.get()) == 0)
                throw Error(ErrorKind::NotFound, "the database has no pgmosaic extension "
                                                 "(run CREATE EXTENSION pgmosaic CASCADE)");
            if (mosaic.empty())
                poDS->ListMosaics();
            else
                poDS->OpenMosaic(mosaic);
        });
    if (err != CE_None)
        return nullptr;
    poDS->SetDescription(poOpenInfo->pszFilename);
    return poDS.release();
}

PGMosaicDataset::~PGMosaicDataset()
{
    // The reader and pool refer to the mosaic and catalog: tear down in dependency order.
    m_poReader.reset();
    m_poPool.reset();
    m_poCatalog.reset();
}

void PGMosaicDataset::ListMosaics()
{
    auto res = m_poConn->Exec("SELECT name, srid, band_count, data_type FROM pgmosaic.mosaic "
                              "ORDER BY name");
    CPLStringList subdatasets;
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        const std::string name = PQgetvalue(res.get(), i, 0);
        const std::string key = CPLSPrintf("SUBDATASET_%d_", i + 1);
        subdatasets.SetNameValue((key + "NAME").c_str(),
                                 (std::string(pgmosaic::kConnectionPrefix) + m_osConninfo +
                                  " mosaic=" + pgmosaic::QuoteConnValue(name))
                                     .c_str());
        subdatasets.SetNameValue(
            (key + "DESC").c_str(),
            CPLSPrintf("Mosaic %s (EPSG:%s, %s bands of %s)", name.c_str(),
                       PQgetvalue(res.get(), i, 1),
                       PQgetisnull(res.get(), i, 2) ? "?" : PQgetvalue(res.get(), i, 2),
                       PQgetisnull(res.get(), i, 3) ? "?" : PQgetvalue(res.get(), i, 3)));
    }
    SetMetadata(subdatasets.List(), "SUBDATASETS");
}

void PGMosaicDataset::OpenMosaic(const std::string& name)
{
    m_oMosaic = LoadMosaic(*m_poConn, name);
    m_oSRS.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (!m_oMosaic.srsWkt.empty())
        m_oSRS.importFromWkt(m_oMosaic.srsWkt.c_str());
    nRasterXSize = m_oMosaic.width;
    nRasterYSize = m_oMosaic.height;
    m_poCatalog = std::make_unique<PgItemCatalog>(*m_poConn, m_oMosaic);
    const char* poolSize = CPLGetConfigOption("PGMOSAIC_SOURCE_POOL_SIZE", nullptr);
    m_poPool = std::make_unique<pgmosaic::SourcePool>(
        m_oMosaic, poolSize ? static_cast<size_t>(std::atoi(poolSize)) : kDefaultSourcePoolSize);
    m_poReader = std::make_unique<pgmosaic::CompositeReader>(m_oMosaic, *m_poCatalog, *m_poPool);
    for (int i = 1; i <= m_oMosaic.bandCount; ++i)
        SetBand(i, new PGMosaicRasterBand(this, i));
    SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
    SetMetadataItem("MOSAIC_NAME", name.c_str());
}

CPLErr PGMosaicDataset::GetGeoTransform(double* padfTransform)
{
    if (!m_poReader)
        return CE_Failure;
    std::copy(m_oMosaic.gt.begin(), m_oMosaic.gt.end(), padfTransform);
    return CE_None;
}

const OGRSpatialReference* PGMosaicDataset::GetSpatialRef() const
{
    return m_poReader && !m_oSRS.IsEmpty() ? &m_oSRS : nullptr;
}

CPLErr PGMosaicDataset::ReadWindow(int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                                   int nBufXSize, int nBufYSize, GDALDataType eBufType,
                                   const std::vector<int>& bands, GSpacing nPixelSpace,
                                   GSpacing nLineSpace, GSpacing nBandSpace)
{
    return Guarded(
        [&]
        {
            pgmosaic::Request req;
            req.win = {nXOff, nYOff, nXSize, nYSize};
            req.bufW = nBufXSize;
            req.bufH = nBufYSize;
            pgmosaic::BufferSpec buf;
            buf.data = pData;
            buf.type = eBufType;
            buf.pixelSpace = nPixelSpace;
            buf.lineSpace = nLineSpace;
            buf.bandSpace = nBandSpace;
            m_poReader->Read(req, bands, buf);
        });
}

CPLErr PGMosaicDataset::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                                  void* pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                                  int nBandCount, PGMOSAIC_BANDMAP_TYPE panBandMap,
                                  GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace,
                                  GDALRasterIOExtraArg*)
{
    if (eRWFlag != GF_Read)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is read-only");
        return CE_Failure;
    }
    std::vector<int> bands(panBandMap, panBandMap + nBandCount);
    return ReadWindow(nXOff, nYOff, nXSize, nYSize, pData, nBufXSize, nBufYSize, eBufType, bands,
                      nPixelSpace, nLineSpace, nBandSpace);
}

/************************************************************************/
/*                          PGMosaicRasterBand                          */
/************************************************************************/

PGMosaicRasterBand::PGMosaicRasterBand(PGMosaicDataset* poDSIn, int nBandIn)
{
    poDS = poDSIn;
    nBand = nBandIn;
    eDataType = poDSIn->m_oMosaic.dataType;
    nBlockXSize = std::min(kBlockSize, poDSIn->GetRasterXSize());
    nBlockYSize = std::min(kBlockSize, poDSIn->GetRasterYSize());
    if (poDSIn->m_oMosaic.bandCount == 3 || poDSIn->m_oMosaic.bandCount == 4)
    {
        static const GDALColorInterp rgba[] = {GCI_RedBand, GCI_GreenBand, GCI_BlueBand,
                                               GCI_AlphaBand};
        m_eColorInterp = rgba[nBandIn - 1];
    }
    else if (poDSIn->m_oMosaic.bandCount == 1)
        m_eColorInterp = GCI_GrayIndex;
}

CPLErr PGMosaicRasterBand::IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage)
{
    auto* ds = static_cast<PGMosaicDataset*>(poDS);
    const int x = nBlockXOff * nBlockXSize, y = nBlockYOff * nBlockYSize;
    const int w = std::min(nBlockXSize, nRasterXSize - x);
    const int h = std::min(nBlockYSize, nRasterYSize - y);
    const int typeSize = GDALGetDataTypeSizeBytes(eDataType);
    if (w < nBlockXSize || h < nBlockYSize)
        memset(pImage, 0, static_cast<size_t>(nBlockXSize) * nBlockYSize * typeSize);
    return ds->ReadWindow(x, y, w, h, pImage, w, h, eDataType, {nBand}, typeSize,
                          static_cast<GSpacing>(nBlockXSize) * typeSize, 0);
}

CPLErr PGMosaicRasterBand::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                     int nYSize, void* pData, int nBufXSize, int nBufYSize,
                                     GDALDataType eBufType, GSpacing nPixelSpace,
                                     GSpacing nLineSpace, GDALRasterIOExtraArg*)
{
    if (eRWFlag != GF_Read)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is read-only");
        return CE_Failure;
    }
    return static_cast<PGMosaicDataset*>(poDS)->ReadWindow(nXOff, nYOff, nXSize, nYSize, pData,
                                                           nBufXSize, nBufYSize, eBufType, {nBand},
                                                           nPixelSpace, nLineSpace, 0);
}

double PGMosaicRasterBand::GetNoDataValue(int* pbSuccess)
{
    const auto& nodata = static_cast<PGMosaicDataset*>(poDS)->m_oMosaic.nodata;
    if (pbSuccess)
        *pbSuccess = nodata.has_value();
    return nodata.value_or(0.0);
}

GDALColorInterp PGMosaicRasterBand::GetColorInterpretation()
{
    return m_eColorInterp;
}
