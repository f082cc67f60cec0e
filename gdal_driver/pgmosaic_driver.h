// Private header of the PGMOSAIC GDAL driver.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "libpq-fe.h"

#include "catalog.h"
#include "composite_reader.h"
#include "conninfo.h"
#include "source_pool.h"

// GDAL 3.10 made the band map of IRasterIO const and names its type BANDMAP_TYPE.
#ifdef BANDMAP_TYPE
#define PGMOSAIC_BANDMAP_TYPE BANDMAP_TYPE
#else
#define PGMOSAIC_BANDMAP_TYPE int*
#endif

constexpr const char* kDriverName = "PGMOSAIC";
constexpr const char* kOpenOptionMosaic = "MOSAIC";
constexpr int kBlockSize = 256;
constexpr size_t kDefaultSourcePoolSize = 128;

int PGMosaicDriverIdentify(GDALOpenInfo* poOpenInfo);
void PGMosaicDriverSetCommonMetadata(GDALDriver* poDriver);

/************************************************************************/
/*                            PgConnection                              */
/************************************************************************/

// One libpq connection; query failures become pgmosaic::Error(Catalog).
class PgConnection final
{
public:
    explicit PgConnection(const std::string& conninfo);
    ~PgConnection();
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    struct ResultDeleter
    {
        void operator()(PGresult* r) const { PQclear(r); }
    };
    using Result = std::unique_ptr<PGresult, ResultDeleter>;

    Result Exec(const char* sql, const std::vector<std::string>& params = {});
    void Prepare(const char* name, const char* sql, int nParams);
    Result ExecPrepared(const char* name, const std::vector<std::string>& params);

private:
    Result Check(PGresult* r, const char* what);
    PGconn* m_hConn = nullptr;
};

/************************************************************************/
/*                            PgItemCatalog                             */
/************************************************************************/

// The catalog over libpq: item lookups through pgmosaic.items(), the one definition of
// mosaic order, with the last window's answer cached for the bands that ask again.
class PgItemCatalog final : public pgmosaic::ItemCatalog
{
public:
    PgItemCatalog(PgConnection& conn, const pgmosaic::MosaicInfo& mosaic);
    std::vector<pgmosaic::ItemRef> FindItems(const pgmosaic::Envelope& env) override;

private:
    PgConnection& m_oConn;
    const pgmosaic::MosaicInfo& m_oMosaic;
    bool m_bCached = false;
    pgmosaic::Envelope m_oCachedEnv{};
    std::vector<pgmosaic::ItemRef> m_aoCachedItems{};
};

// Reads the mosaic row (grid, bands, type, nodata, SRS). Throws Error(NotFound) when unknown.
pgmosaic::MosaicInfo LoadMosaic(PgConnection& conn, const std::string& name);

/************************************************************************/
/*                           PGMosaicDataset                            */
/************************************************************************/

class PGMosaicRasterBand;

class PGMosaicDataset final : public GDALDataset
{
    friend class PGMosaicRasterBand;

public:
    PGMosaicDataset() = default;
    ~PGMosaicDataset() override;

    static GDALDataset* Open(GDALOpenInfo* poOpenInfo);

    CPLErr GetGeoTransform(double* padfTransform) override;
    const OGRSpatialReference* GetSpatialRef() const override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                     int nBufXSize, int nBufYSize, GDALDataType eBufType, int nBandCount,
                     PGMOSAIC_BANDMAP_TYPE panBandMap, GSpacing nPixelSpace, GSpacing nLineSpace,
                     GSpacing nBandSpace, GDALRasterIOExtraArg* psExtraArg) override;

private:
    void OpenMosaic(const std::string& name);
    void ListMosaics();
    CPLErr ReadWindow(int nXOff, int nYOff, int nXSize, int nYSize, void* pData, int nBufXSize,
                      int nBufYSize, GDALDataType eBufType, const std::vector<int>& bands,
                      GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace);

    std::string m_osConninfo{};
    std::unique_ptr<PgConnection> m_poConn{};
    pgmosaic::MosaicInfo m_oMosaic{};
    OGRSpatialReference m_oSRS{};
    std::unique_ptr<PgItemCatalog> m_poCatalog{};
    std::unique_ptr<pgmosaic::SourcePool> m_poPool{};
    std::unique_ptr<pgmosaic::CompositeReader> m_poReader{};
};

class PGMosaicRasterBand final : public GDALRasterBand
{
public:
    PGMosaicRasterBand(PGMosaicDataset* poDS, int nBand);

    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                     int nBufXSize, int nBufYSize, GDALDataType eBufType, GSpacing nPixelSpace,
                     GSpacing nLineSpace, GDALRasterIOExtraArg* psExtraArg) override;
    double GetNoDataValue(int* pbSuccess = nullptr) override;
    GDALColorInterp GetColorInterpretation() override;

private:
    GDALColorInterp m_eColorInterp = GCI_Undefined;
};
