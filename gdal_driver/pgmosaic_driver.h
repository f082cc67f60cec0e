// Private header of the PGMOSAIC GDAL driver.
#pragma once

#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "libpq-fe.h"
#include "ogrsf_frmts.h"

#include "catalog.h"
#include "catalog_sql.h"
#include "read/composite_reader.h"
#include "conninfo.h"
#include "inspect/inspect.h"
#include "item_areas.h"
#include "overview_builder.h"
#include "read/read_options.h"
#include "read/tile_cache.h"
#include "read/virtual_bands.h"

#include "pgguard.h"

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

// One libpq connection; query failures become pgmosaic::Error(Catalog). Taken from the
// process's pool of idle connections to the same server when it has one, and given back to it
// when destroyed (pgconnection.cpp).
//
// A ReadOnly connection runs every statement in a transaction of its own, read-only and under
// the statement timeout (both set in that transaction, so that nothing a where= filter does
// to the session can lift them), and reconnects once when the server ended the connection
// (restart, failover, pg_terminate_backend, idle timeout): its prepared statements are
// prepared again and the reconnect hook re-checks what the dataset relies on. A ReadWrite
// connection (registrations, overview builds) runs statements as sent, and reconnects before
// a statement when the server ended it meanwhile (never retrying one that was sent).
//
// Which server: a connection string may name several (libpq's host=a,b port=p,q) and say which
// kind it wants (target_session_attrs=prefer-standby, read-only, ...): reads go where it says. A
// connection to the Primary (every ReadWrite one, and the reads of a dataset open for update, so
// that a build reads what it has just registered) asks libpq for target_session_attrs=read-write
// whatever the string says, so that libpq picks the server that accepts writes among those
// named; when none does (only a hot standby named), the connection fails saying so.
class PgConnection final
{
public:
    enum class Access
    {
        ReadOnly,
        ReadWrite
    };
    enum class Server
    {
        AsNamed, // the string's own choice (any server, a standby if it prefers one)
        Primary  // a server that accepts writes
    };
    static constexpr int kDefaultStatementTimeoutMs = 60000;
    // Whether the server says it is a hot standby (PostgreSQL 14 and later report it).
    bool IsHotStandby() const;
    explicit PgConnection(const std::string& conninfo, Access access = Access::ReadOnly,
                          int statementTimeoutMs = kDefaultStatementTimeoutMs,
                          Server server = Server::AsNamed);
    ~PgConnection();
    // Closes the idle connections (when the driver is unloaded).
    static void ClosePool();
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
    // With NULL parameters (nullopt).
    Result ExecPrepared(const char* name, const std::vector<std::optional<std::string>>& params);
    // Run (on this connection) after a reconnection, before the statement is retried; throws
    // to fail it (e.g. the mosaic was dropped or re-created meanwhile).
    void SetOnReconnect(std::function<void()> fn) { m_fnOnReconnect = std::move(fn); }
    int StatementTimeoutMs() const { return m_nStatementTimeoutMs; }
    // LISTENs on `channel`; false where that cannot be (a hot standby, which notifies no one).
    bool Listen(const char* channel);
    // Whether a notification with this payload came on the channel listened to since the last
    // call (one round trip, which brings every notification of a change committed before
    // it), or notifications may have been missed (the connection was re-established, or
    // failed: the next statement re-establishes it).
    bool Notified(const std::string& payload);

private:
    Result Run(const char* what, const std::function<int(PGconn*)>& send);
    Result SendAndCollect(const std::function<int(PGconn*)>& send);
    void EnsureConnected();
    void Reconnect();
    [[noreturn]] void Fail(const char* what, const PGresult* r);
    std::string m_osPoolKey;
    PGconn* m_hConn = nullptr;
    Access m_eAccess = Access::ReadOnly;
    Server m_eServer = Server::AsNamed;
    int m_nStatementTimeoutMs = kDefaultStatementTimeoutMs; // 0: none
    bool m_bReconnecting = false;
    std::function<void()> m_fnOnReconnect{};
    std::string m_osListen{};    // the channel listened to (empty: none)
    bool m_bMissedNotifications = false; // reconnected since the last Notified()
    pid_t m_nPid = getpid();                          // the process that opened or took it
    std::map<std::string, std::string> m_oPrepared{}; // statement name -> SQL
};

// The statement timeout of a dataset's reads, in milliseconds: the statement_timeout option
// (-oo or connection string) or PGMOSAIC_STATEMENT_TIMEOUT, in seconds (default 60; 0: none).
// Throws Error(InvalidParameter) on a bad value.
int ParseStatementTimeoutMs(const std::string& value);

/************************************************************************/
/*                            PgItemCatalog                             */
/************************************************************************/

// The catalog over libpq: item lookups through pgmosaic.items(), the one definition of
// mosaic order, with the last window's answer cached for the bands that ask again.
//
// Between reads (a server such as MapServer keeps the dataset open from one request to the
// next), a window is answered without a query when it lies in an area already looked up
// (common/item_areas.h). The areas are dropped when the catalog notified a change of the
// mosaic (the pgmosaic_dirty notification its triggers send, in the changing transaction, for
// anything that changes what a mosaic shows), checked at every lookup by an empty round trip
// (so a change committed before a read is always seen, as with a query), when the connection
// was re-established, and after PGMOSAIC_ITEM_CACHE_SECONDS (default 30; 0: no areas kept) in
// any case (what no notification says: privileges). Only for the plain lookup (never with
// where=, time=, sort=, ids= or asof=), nor on a hot standby (which notifies no one).
using ItemQuery = pgmosaic::ItemQuery; // catalog_sql.h

// Parses where=, time=, sort= and ids= (open options or connection string). Throws Error.
ItemQuery ParseItemQuery(CSLConstList openOptions, const pgmosaic::ConnectionString& conn);

class PgItemCatalog final : public pgmosaic::ItemCatalog
{
public:
    PgItemCatalog(PgConnection& conn, const pgmosaic::MosaicInfo& mosaic,
                  const std::string& postgis, bool overviews, bool windowKey,
                  bool readItems, const ItemQuery& query = {});
    std::vector<pgmosaic::ItemRef> FindItems(const pgmosaic::Envelope& env) override;
    std::vector<pgmosaic::ItemRef> FindOverviewTiles(const pgmosaic::Envelope& env,
                                                     int level) override;
    std::map<std::int64_t, pgmosaic::EmptyBlocks>
    FindEmptyBlocks(const std::vector<std::int64_t>& ids) override;
    std::map<std::int64_t, pgmosaic::RemoteRecord>
    FindRemoteRecords(const std::vector<std::int64_t>& ids) override;
    std::map<std::pair<std::int64_t, std::string>, pgmosaic::EmptyBlocks>
    FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids) override;
    // Levels with up-to-date overview tiles (empty before extension 0.2).
    std::vector<int> BuiltLevels();
    void Invalidate()
    {
        m_bCached = false;
        if (m_poAreas)
            m_poAreas->Clear();
    }
    const ItemQuery& Query() const { return m_oQuery; }

private:
    std::vector<pgmosaic::ItemRef> Rows(PGresult* r);
    // Windows answered from looked-up areas (null: every window asks).
    std::unique_ptr<pgmosaic::ItemAreas> m_poAreas{};
    double m_dfAreaSeconds = 30;
    std::chrono::steady_clock::time_point m_oAreasSince{};
    PgConnection& m_oConn;
    const pgmosaic::MosaicInfo& m_oMosaic;
    bool m_bOverviews = false; // the catalog has overview tiles (extension 0.2 and later)
    std::optional<bool> m_obRemoteRecords{}; // the catalog has item_remote (0.3), once asked
    ItemQuery m_oQuery{};
    bool m_bCached = false;
    pgmosaic::Envelope m_oCachedEnv{};
    std::vector<pgmosaic::ItemRef> m_aoCachedItems{};
};

// `catalog` with the client's source policy on top (pgsourcepolicy.cpp): the items it returns
// are checked against PGMOSAIC_ALLOWED_NETWORK_PREFIXES and PGMOSAIC_ALLOWED_ROOTS before any
// is opened; a refused item fails the lookup (Error(Permission) naming it).
std::unique_ptr<pgmosaic::ItemCatalog> WithSourcePolicy(pgmosaic::ItemCatalog& catalog);

// The drivers a client opens items and their raster sidecars with, unless
// PGMOSAIC_ALLOWED_DRIVERS says otherwise.
constexpr const char* kDefaultClientDrivers = "GTiff,HFA,JP2OpenJPEG,PNG,JPEG";

// How the client opens items (ReadOptions::sourcePolicy): within PGMOSAIC_ALLOWED_ROOTS (any
// local path when unset) and PGMOSAIC_ALLOWED_NETWORK_PREFIXES, with PGMOSAIC_ALLOWED_DRIVERS,
// GDAL told of only the sidecars that are no raster of a refused driver (a VRT named .msk or
// .ovr would read any file or URL it names).
std::shared_ptr<const pgmosaic::FileAccessPolicy> ClientOpenPolicy();

// Sets the path roots' GDAL options (path_root_option) for the paths under them, endpoints only
// where PGMOSAIC_ALLOWED_NETWORK_PREFIXES allows them (pgsourcepolicy.cpp). With `ask`, asks
// first whether the catalog has them (extension 0.3).
void ApplyClientRootOptions(PgConnection& conn, bool ask = false);

// What the installed extension's catalog offers, computed once from its version when a dataset
// connects, so that no code compares version strings: a 0.1 catalog has mosaics and items
// only, 0.2 added everything below.
struct CatalogCapabilities
{
    bool mosaicDefaults = false; // the mosaic row's 0.2 columns (LoadMosaic's v02)
    bool itemCatalog = false;    // items() with where=/time=/sort=/ids=, the recorded file
                                 // layout and overview tiles (PgItemCatalog's overviews)
    bool overviews = false;      // mosaic-wide overviews built by gdaladdo
    bool itemStatistics = false; // per-item statistics that merge into the mosaic's
    bool themes = false;         // theme rules and the themes layer
    bool remote = false;         // remote items' records and path roots' GDAL options (0.3)
    bool collections = false;    // 0.3: items made of several files (band sources, assets)
    bool windowKey = false;      // 0.3: the mosaic window key and its index
    bool readItems = false;      // 0.3: _read_items(), items() with each file's record

    static CatalogCapabilities ForExtensionVersion(const std::string& version);
};

// Reads the mosaic row (grid, bands, type, nodata, SRS). Throws Error(NotFound) when unknown.
// With `asof`, its extent covers the items valid then too.
pgmosaic::MosaicInfo LoadMosaic(PgConnection& conn, const std::string& name,
                                const std::string& postgis, bool v02, bool v03 = false,
                                const std::optional<std::string>& asof = std::nullopt);

/************************************************************************/
/*                          OGR layers                                  */
/************************************************************************/

constexpr const char* kLayerItems = "items";
constexpr const char* kLayerBoundary = "boundary";

// How a registration treats a path already in the mosaic.
enum class OnDuplicate
{
    Skip,
    Update,
    Fail
};

struct LoadOptions
{
    int batchSize = 200;  // rasters registered per transaction
    bool skipBad = false; // SKIP_BAD=YES: report unreadable rasters and go on
    OnDuplicate onDuplicate = OnDuplicate::Skip;
    int numThreads = 1; // rasters inspected in parallel
    // JSON_FIELDS=JSON: jsonb columns carry OFSTJSON (default: plain strings, which QGIS 3.22
    // can save; written features are parsed as JSON either way).
    bool jsonSubtype = false;
    pgmosaic::InspectOptions inspect{};
    // ASSETS=red,nir,qa: the STAC asset keys a STAC item feature registers (they name the
    // mosaic's bands when it has none yet); empty: the assets its bands name.
    std::vector<std::string> stacAssets{};
    // PUBLISH=AT_END: the load's new items are registered in a batch that no read shows until
    // the layer closes without error (publish()); a failed load's are discarded.
    bool publishAtEnd = false;
};

class PGMosaicVectorContext; // shared by the layers of one dataset

// A column of pgmosaic.item exposed as a field.
struct CatalogColumn
{
    std::string name;
    std::string sqlType;
    OGRFieldType type = OFTString;
    OGRFieldSubType subType = OFSTNone;
};

// A catalog layer read page by page in id order (pages of features with ids above the last
// one read), OGR's spatial and attribute filters applied on top.
class PGMosaicPagedLayer : public OGRLayer
{
public:
    void ResetReading() override;
    OGRFeature* GetNextFeature() override;

protected:
    // The next features with ids above `afterId`, in id order; fewer than kPageSize ends the
    // reading. Throws.
    virtual std::vector<std::unique_ptr<OGRFeature>> FetchPage(GIntBig afterId) = 0;
    static constexpr int kPageSize = 500;

private:
    std::vector<std::unique_ptr<OGRFeature>> m_apoPage{};
    size_t m_nPagePos = 0;
    GIntBig m_nLastId = 0;
    bool m_bEnd = false;
};

class PGMosaicItemsLayer final : public PGMosaicPagedLayer
{
public:
    PGMosaicItemsLayer(PgConnection& conn, const std::string& postgis, const std::string& mosaic,
                       const std::string& layerName, int srid,
                       const std::vector<CatalogColumn>& columns, bool update,
                       const LoadOptions& load);
    ~PGMosaicItemsLayer() override;

    void SetSpatialFilter(OGRGeometry* poGeom) override;
    void SetSpatialFilter(int iGeomField, OGRGeometry* poGeom) override
    {
        OGRLayer::SetSpatialFilter(iGeomField, poGeom);
    }
    OGRFeature* GetFeature(GIntBig nFID) override;
    GIntBig GetFeatureCount(int bForce = TRUE) override;
    OGRErr GetExtent(OGREnvelope* psExtent, int bForce = TRUE) override;
    OGRErr GetExtent(int iGeomField, OGREnvelope* psExtent, int bForce) override
    {
        return OGRLayer::GetExtent(iGeomField, psExtent, bForce);
    }
    OGRFeatureDefn* GetLayerDefn() override { return m_poDefn; }
    int TestCapability(const char* pszCap) override;
    OGRErr CreateField(OGRFieldDefn* poField, int bApproxOK = TRUE) override;
    OGRErr SyncToDisk() override;

    // Registers what is still batched; false after an error (already reported).
    bool Flush();
    void DropPending() { m_aoPending.clear(); }
    int Registered() const { return m_nRegistered; }

protected:
    OGRErr ICreateFeature(OGRFeature* poFeature) override;

private:
    struct Pending
    {
        std::string path;       // as it will be stored
        std::string openPath;   // what GDAL opens (roots resolved)
        std::string properties; // JSON object of the other fields
        pgmosaic::RasterInfo info;
        std::string error;
        std::string stac; // a STAC item (GeoJSON feature): an item made of several files
    };
    // Registers the batch's STAC items (pgstac.cpp): their assets inspected here, registered
    // by register_item in one statement.
    void FlushStac(std::vector<Pending>& batch);
    std::string SelectList() const;
    const std::string& Batch(); // the load's batch with PUBLISH=AT_END (made at first use)
    OGRFeature* Translate(PGresult* r, int row);
    std::vector<std::unique_ptr<OGRFeature>> FetchPage(GIntBig afterId) override;
    std::string SpatialFilterSql(std::vector<std::string>& params) const;
    bool IsJsonColumn(const std::string& lowerName) const;

    PgConnection& m_oConn;
    std::string m_osPostgis;
    std::string m_osMosaic;
    int m_nSrid = 0;
    std::vector<CatalogColumn> m_aoColumns;
    OGRFeatureDefn* m_poDefn = nullptr;
    bool m_bUpdate = false;
    LoadOptions m_oLoad;
    // writing
    std::vector<Pending> m_aoPending{};
    std::vector<std::string> m_aosExtraFields{};
    int m_nRegistered = 0;
    bool m_bFailed = false;
    std::string m_osBatch{}; // PUBLISH=AT_END: the batch of this load
};

class PGMosaicBoundaryLayer final : public OGRLayer
{
public:
    PGMosaicBoundaryLayer(PgConnection& conn, const std::string& postgis, const std::string& mosaic,
                          const std::string& layerName, int srid);
    ~PGMosaicBoundaryLayer() override;
    void ResetReading() override { m_bDone = false; }
    OGRFeature* GetNextFeature() override;
    OGRFeatureDefn* GetLayerDefn() override { return m_poDefn; }
    int TestCapability(const char* pszCap) override;
    GIntBig GetFeatureCount(int bForce = TRUE) override;

private:
    OGRFeature* ReadBoundary();
    PgConnection& m_oConn;
    std::string m_osPostgis;
    std::string m_osMosaic;
    OGRFeatureDefn* m_poDefn = nullptr;
    bool m_bDone = false;
};

// A mosaic's theme polygons (DAD); features written to it are loaded polygons (e.g. cloud
// masks delivered with a product): a "theme" field names the theme, "class" the class, other
// fields become attributes.
class PGMosaicThemesLayer final : public PGMosaicPagedLayer
{
public:
    PGMosaicThemesLayer(PgConnection& conn, const std::string& postgis, const std::string& mosaic,
                        const std::string& layerName, int srid, bool update, bool jsonSubtype);
    ~PGMosaicThemesLayer() override;
    OGRFeatureDefn* GetLayerDefn() override { return m_poDefn; }
    int TestCapability(const char* pszCap) override;
    GIntBig GetFeatureCount(int bForce = TRUE) override;
    OGRErr CreateField(OGRFieldDefn* poField, int bApproxOK = TRUE) override;

protected:
    OGRErr ICreateFeature(OGRFeature* poFeature) override;
    std::vector<std::unique_ptr<OGRFeature>> FetchPage(GIntBig afterId) override;

private:
    PgConnection& m_oConn;
    std::string m_osPostgis;
    std::string m_osMosaic;
    int m_nSrid = 0;
    bool m_bUpdate = false;
    OGRFeatureDefn* m_poDefn = nullptr;
};

constexpr const char* kLayerThemes = "themes";

// The catalog columns of pgmosaic.item that become fields (all but keys and the footprint).
std::vector<CatalogColumn> LoadItemColumns(PgConnection& conn);

// The catalog side of a gdaladdo build (pgoverviewstore.cpp): tiles and their sources read
// through `reads`, registered through an items layer on `writes` (category 'overview', with
// overview_level and built_from), removed through remove_rasters; Invalidate forgets what
// `catalog` cached.
class PgOverviewStore final : public pgmosaic::OverviewStore
{
public:
    PgOverviewStore(PgConnection& reads, PgConnection& writes, PgItemCatalog& catalog,
                    const std::string& postgis, const pgmosaic::MosaicInfo& mosaic);
    ~PgOverviewStore() override; // registers what the items layer still holds
    std::map<std::string, std::string> LevelTiles(int level) override;
    std::string TileSources(const pgmosaic::OverviewLevelGrid& grid, int col, int row) override;
    void Register(const std::string& stored, int level, const std::string& builtFrom) override;
    void Flush() override;
    void Remove(const std::vector<std::string>& stored) override;
    void Invalidate() override;
    std::vector<std::string> RemoveAll() override;

private:
    PgConnection& m_oReads;
    PgConnection& m_oWrites;
    PgItemCatalog& m_oCatalog;
    std::string m_osPostgis;
    const pgmosaic::MosaicInfo& m_oMosaic;
    std::unique_ptr<PGMosaicItemsLayer> m_poLayer{}; // made at the first registration
};

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
    // Open() that, for update, may also name a mosaic that does not exist yet (Create: its
    // items layer creates it).
    static GDALDataset* OpenDataset(GDALOpenInfo* poOpenInfo, bool mayCreate);

    CPLErr GetGeoTransform(double* padfTransform) override;
    const OGRSpatialReference* GetSpatialRef() const override;
    const char* GetMetadataItem(const char* pszName, const char* pszDomain = "") override;
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

    int GetLayerCount() override { return static_cast<int>(m_apoLayers.size()); }
    OGRLayer* GetLayer(int i) override;
    int TestCapability(const char* pszCap) override;
    OGRErr StartTransaction(int bForce = FALSE) override;
    OGRErr CommitTransaction() override;
    OGRErr RollbackTransaction() override;

    int OverviewCount() const { return static_cast<int>(m_apoOverviews.size()); }
    // The built overview level to read for a reduction by `reduction` (0: none).
    int LevelFor(double reduction) const;
    // Sets STATISTICS_* on the bands from the items' statistics, the first time it is asked.
    void LoadStatistics();
    GDALDataset* Overview(int i) const;
    bool HasCoverageMask() const { return !m_oMosaic.nodata.has_value(); }

    static GDALDataset* CreateVector(const char* pszName, int nXSize, int nYSize, int nBands,
                                     GDALDataType eType, char** papszOptions);
    static GDALDataset* CreateCopy(const char* pszName, GDALDataset* poSrc, int bStrict,
                                   char** papszOptions, GDALProgressFunc pfnProgress,
                                   void* pProgressData);

protected:
    CPLErr IBuildOverviews(const char* pszResampling, int nOverviews, const int* panOverviewList,
                           int nListBands, const int* panBandList, GDALProgressFunc pfnProgress,
                           void* pProgressData, CSLConstList papszOptions) override;
    OGRLayer* ICreateLayer(const char* pszName, OGRSpatialReference* poSpatialRef,
                           OGRwkbGeometryType eGType, char** papszOptions) override;

private:
    void Connect(const pgmosaic::ConnectionString& conn);
    void OpenMosaic(const std::string& name, const pgmosaic::ConnectionString& conn,
                    CSLConstList openOptions);
    void ListMosaics();
    void EnablePrefetch(const pgmosaic::ReadOptions& options);
    void OpenLayers(const std::string& mosaic, bool mayCreate);
    std::string ManagedDirectory(const std::string& explicitDir, std::string* stored);
    PGMosaicItemsLayer* AddItemsLayer(const std::string& mosaic, const std::string& layerName,
                                      int srid, CSLConstList options);

    std::string m_osConninfo{};
    std::string m_osPostgis{}; // quoted schema of PostGIS
    CatalogCapabilities m_oCaps{}; // of the installed extension, from Connect()
    std::vector<int> m_anBuiltLevels{}; // overview levels with up-to-date tiles
    bool m_bStatisticsLoaded = false;
    std::string m_osMosaicName{};
    bool m_bUpdate = false;
    CPLStringList m_aosOpenOptions{};
    std::unique_ptr<PgConnection> m_poConn{};      // reads: read-only, time-limited
    std::unique_ptr<PgConnection> m_poWriteConn{}; // writes, when open for update
    int m_nStatementTimeoutMs = PgConnection::kDefaultStatementTimeoutMs;
    PgConnection& Writer() { return m_poWriteConn ? *m_poWriteConn : *m_poConn; }
    std::vector<std::unique_ptr<OGRLayer>> m_apoLayers{};
    pgmosaic::MosaicInfo m_oMosaic{};
    std::vector<int> m_anItemBands{}; // dataset band i reads item band m_anItemBands[i - 1]
                                      // (0: a virtual band)
    std::vector<pgmosaic::OutputBand> m_aoOutputBands{}; // per dataset band
    OGRSpatialReference m_oSRS{};
    std::unique_ptr<PgItemCatalog> m_poCatalog{};
    std::unique_ptr<pgmosaic::ItemCatalog> m_poCheckedCatalog{}; // what the readers ask
    std::unique_ptr<pgmosaic::CompositeReader> m_poReader{};
    std::vector<std::unique_ptr<PGMosaicOverviewDataset>> m_apoOverviews{};
    std::unique_ptr<GDALRasterBand> m_poMaskBand{};
    std::unique_ptr<pgmosaic::TileCache> m_poTileCache{}; // prefetch=neighbors
};

// Load options of a registration through ogr2ogr, from -doo / -lco (upper-case keys).
LoadOptions ParseLoadOptions(CSLConstList datasetOptions, CSLConstList layerOptions);

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
    char** GetMetadata(const char* pszDomain = "") override;
    const char* GetMetadataItem(const char* pszName, const char* pszDomain = "") override;

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
