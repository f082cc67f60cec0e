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
#include "read_options.h"

// GDAL 3.10 made the band map of IRasterIO const and names its type BANDMAP_TYPE.
#ifdef BANDMAP_TYPE
#define PGMOSAIC_BANDMAP_TYPE BANDMAP_TYPE
#else
#define PGMOSAIC_BANDMAP_TYPE int*
#endif

constexpr const char* kDriverName = "PGMOSAIC";
constexpr const char* kOpenOptionMosaic = "MOSAIC";
// Overview levels stop once the smaller side falls under this many pixels.
constexpr int kMinOverviewSize = 256;
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
class PGMosaicOverviewDataset;

class PGMosaicDataset final : public GDALDataset
{
    friend class PGMosaicRasterBand;
    friend class PGMosaicMaskBand;
    friend class PGMosaicOverviewDataset;

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

    // Reads a window of the full-resolution grid into a buffer of any size; `bands` are
    // dataset band numbers. The one read path of the dataset, its bands and its overviews.
    CPLErr ReadWindow(int nXOff, int nYOff, int nXSize, int nYSize, void* pData, int nBufXSize,
                      int nBufYSize, GDALDataType eBufType, const std::vector<int>& bands,
                      GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace);
    CPLErr ReadCoverage(int nXOff, int nYOff, int nXSize, int nYSize, void* pData, int nBufXSize,
                        int nBufYSize, GSpacing nPixelSpace, GSpacing nLineSpace);

    int OverviewCount() const { return static_cast<int>(m_apoOverviews.size()); }
    GDALDataset* Overview(int i) const;
    bool HasCoverageMask() const { return !m_oMosaic.nodata.has_value(); }

private:
    void OpenMosaic(const std::string& name, const pgmosaic::ConnectionString& conn,
                    CSLConstList openOptions);
    void ListMosaics();

    std::string m_osConninfo{};
    std::unique_ptr<PgConnection> m_poConn{};
    pgmosaic::MosaicInfo m_oMosaic{};
    std::vector<int> m_anItemBands{}; // dataset band i reads item band m_anItemBands[i - 1]
    OGRSpatialReference m_oSRS{};
    std::unique_ptr<PgItemCatalog> m_poCatalog{};
    std::unique_ptr<pgmosaic::CompositeReader> m_poReader{};
    std::vector<std::unique_ptr<PGMosaicOverviewDataset>> m_apoOverviews{};
    std::unique_ptr<GDALRasterBand> m_poMaskBand{};
};

// The raster bands of a mosaic and of its overview levels: `m_nFactor` full-resolution pixels
// per pixel, 1 for the mosaic itself. Overview levels read the sources' own overviews today;
// mosaic-wide overview items (DAD) plug in here.
class PGMosaicRasterBand final : public GDALRasterBand
{
public:
    PGMosaicRasterBand(GDALDataset* poOwner, PGMosaicDataset* poBase, int nBand, int nFactor);

    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                     int nBufXSize, int nBufYSize, GDALDataType eBufType, GSpacing nPixelSpace,
                     GSpacing nLineSpace, GDALRasterIOExtraArg* psExtraArg) override;
    double GetNoDataValue(int* pbSuccess = nullptr) override;
    GDALColorInterp GetColorInterpretation() override;
    int GetOverviewCount() override;
    GDALRasterBand* GetOverview(int i) override;
    int GetMaskFlags() override;
    GDALRasterBand* GetMaskBand() override;

private:
    PGMosaicDataset* m_poBase = nullptr;
    int m_nFactor = 1;
    GDALColorInterp m_eColorInterp = GCI_Undefined;
};

// Where some item has a valid pixel (255) or none (0): the mask of a mosaic without nodata.
class PGMosaicMaskBand final : public GDALRasterBand
{
public:
    PGMosaicMaskBand(GDALDataset* poOwner, PGMosaicDataset* poBase, int nFactor);
    CPLErr IReadBlock(int nBlockXOff, int nBlockYOff, void* pImage) override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                     int nBufXSize, int nBufYSize, GDALDataType eBufType, GSpacing nPixelSpace,
                     GSpacing nLineSpace, GDALRasterIOExtraArg* psExtraArg) override;

private:
    PGMosaicDataset* m_poBase = nullptr;
    int m_nFactor = 1;
};

// One overview level: the mosaic at 1/factor resolution.
class PGMosaicOverviewDataset final : public GDALDataset
{
    friend class PGMosaicRasterBand;
    friend class PGMosaicMaskBand;

public:
    PGMosaicOverviewDataset(PGMosaicDataset* poBase, int nFactor);
    CPLErr GetGeoTransform(double* padfTransform) override;
    const OGRSpatialReference* GetSpatialRef() const override;
    CPLErr IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                     int nBufXSize, int nBufYSize, GDALDataType eBufType, int nBandCount,
                     PGMOSAIC_BANDMAP_TYPE panBandMap, GSpacing nPixelSpace, GSpacing nLineSpace,
                     GSpacing nBandSpace, GDALRasterIOExtraArg* psExtraArg) override;
    GDALRasterBand* MaskBand() { return m_poMaskBand.get(); }

private:
    PGMosaicDataset* m_poBase = nullptr;
    int m_nFactor = 1;
    std::unique_ptr<GDALRasterBand> m_poMaskBand{};
};
