// The PGMOSAIC raster dataset: opening, the connection and the catalog's capabilities, a
// mosaic of the catalog composed at read time, its metadata and statistics, its overview
// levels, and the vector layers it offers. Its bands are in pgmosaicband.cpp; what it writes
// (CreateCopy, IBuildOverviews, the items layers' registration) in pgmosaicwriter.cpp.
#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>

#include "error.h"
#include "read/area_reader.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// An option from -oo (upper-case key) or else from the connection string (lower-case key).
std::string Option(CSLConstList openOptions, const pgmosaic::ConnectionString& conn,
                   const char* key)
{
    std::string upper = key;
    for (auto& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* oo = CSLFetchNameValue(openOptions, upper.c_str());
    return oo ? oo : conn.Get(key);
}

pgmosaic::ReadOptions ParseReadOptions(CSLConstList openOptions,
                                       const pgmosaic::ConnectionString& conn)
{
    pgmosaic::ReadOptions options = pgmosaic::ParseReadOptions(
        [&](const char* key) { return Option(openOptions, conn, key); },
        CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS"));
    options.sourcePolicy = ClientOpenPolicy();
    return options;
}

// After a reconnection: the mosaic the dataset describes must still be there, the same one.
std::function<void()> MosaicRecheck(PgConnection& conn, const pgmosaic::MosaicInfo& mosaic)
{
    return [&conn, name = mosaic.name, id = mosaic.id] {
        auto res = conn.Exec("SELECT id FROM pgmosaic.mosaic WHERE name = $1", {name});
        if (PQntuples(res.get()) == 0)
            throw Error(ErrorKind::NotFound, "mosaic \"" + name +
                                                 "\" no longer exists (checked after "
                                                 "reconnecting to the server)");
        if (std::atoll(PQgetvalue(res.get(), 0, 0)) != id)
            throw Error(ErrorKind::Catalog, "mosaic \"" + name +
                                                "\" was dropped and created again meanwhile (id " +
                                                PQgetvalue(res.get(), 0, 0) + ", was " +
                                                std::to_string(id) + "): open it again");
    };
}

} // namespace

/************************************************************************/
/*                               Open()                                 */
/************************************************************************/

GDALDataset* PGMosaicDataset::Open(GDALOpenInfo* poOpenInfo)
{
    return OpenDataset(poOpenInfo, false);
}

GDALDataset* PGMosaicDataset::OpenDataset(GDALOpenInfo* poOpenInfo, bool mayCreate)
{
    if (!PGMosaicDriverIdentify(poOpenInfo))
        return nullptr;
    const bool wantRaster = (poOpenInfo->nOpenFlags & GDAL_OF_RASTER) != 0;
    const bool wantVector = (poOpenInfo->nOpenFlags & GDAL_OF_VECTOR) != 0;
    const bool update = poOpenInfo->eAccess == GA_Update;
    // Raster update access serves gdaladdo (mosaic-wide overviews); pixels stay read-only.
    auto poDS = std::make_unique<PGMosaicDataset>();
    poDS->m_bUpdate = update;
    poDS->eAccess = poOpenInfo->eAccess;
    poDS->m_aosOpenOptions = CPLStringList(CSLDuplicate(poOpenInfo->papszOpenOptions));
    const CPLErr err = Guarded([&] {
        auto conn = pgmosaic::ParseConnectionString(
            pgmosaic::ConnectionTextOf(poOpenInfo->pszFilename));
        const std::string mosaic = Option(poOpenInfo->papszOpenOptions, conn, pgmosaic::kKeyMosaic);
        ParseReadOptions(poOpenInfo->papszOpenOptions, conn); // bad options fail first
        ParseItemQuery(poOpenInfo->papszOpenOptions, conn);
        std::string timeout =
            Option(poOpenInfo->papszOpenOptions, conn, pgmosaic::kKeyStatementTimeout);
        if (timeout.empty())
            timeout = CPLGetConfigOption("PGMOSAIC_STATEMENT_TIMEOUT", "60");
        poDS->m_nStatementTimeoutMs = ParseStatementTimeoutMs(timeout);
        poDS->Connect(conn);
        poDS->m_osMosaicName = mosaic;
        if (wantRaster && (!update || !wantVector))
        {
            if (mosaic.empty())
                poDS->ListMosaics();
            else if (!wantVector)
                poDS->OpenMosaic(mosaic, conn, poOpenInfo->papszOpenOptions);
            else
            {
                // Opened for anything: the raster side if the mosaic has one, else vector.
                try
                {
                    poDS->OpenMosaic(mosaic, conn, poOpenInfo->papszOpenOptions);
                }
                catch (const Error& e)
                {
                    if (e.kind() != ErrorKind::NotFound)
                        throw;
                }
            }
        }
        if (wantVector)
            poDS->OpenLayers(mosaic, mayCreate);
    });
    if (err != CE_None)
        return nullptr;
    poDS->SetDescription(poOpenInfo->pszFilename);
    return poDS.release();
}

// ogr2ogr -f PGMOSAIC "PGMOSAIC:..." src: a vector dataset open for update.
GDALDataset* PGMosaicDataset::CreateVector(const char* pszName, int, int, int nBands, GDALDataType,
                                           char** papszOptions)
{
    if (nBands != 0)
    {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "PGMOSAIC: raster datasets cannot be created; use gdal_translate -of PGMOSAIC "
                 "(CreateCopy) or register rasters through the items layer");
        return nullptr;
    }
    GDALOpenInfo info(pszName, GA_Update | GDAL_OF_VECTOR);
    info.papszOpenOptions = papszOptions;
    return OpenDataset(&info, true);
}

void PGMosaicDataset::Connect(const pgmosaic::ConnectionString& conn)
{
    m_osConninfo = conn.conninfo;
    // Reads (where=, sort= included) go through a read-only connection; registrations and
    // overview builds through a writable one, only opened for update. Both then go to the
    // primary, also when the string prefers a standby: a build reads the tiles it has just
    // registered, which a standby may not have replayed yet.
    m_poConn = std::make_unique<PgConnection>(
        conn.conninfo, PgConnection::Access::ReadOnly, m_nStatementTimeoutMs,
        m_bUpdate ? PgConnection::Server::Primary : PgConnection::Server::AsNamed);
    if (m_bUpdate)
        m_poWriteConn =
            std::make_unique<PgConnection>(conn.conninfo, PgConnection::Access::ReadWrite);
    auto res = m_poConn->Exec(
        "SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgmosaic'), "
        "(SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
        "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'postgis')");
    if (PQgetisnull(res.get(), 0, 0))
        throw Error(ErrorKind::NotFound, "the database has no pgmosaic extension "
                                         "(run CREATE EXTENSION pgmosaic CASCADE)");
    m_oCaps = CatalogCapabilities::ForExtensionVersion(PQgetvalue(res.get(), 0, 0));
    m_osPostgis = PQgetisnull(res.get(), 0, 1) ? "public" : PQgetvalue(res.get(), 0, 1);
}

PGMosaicDataset::~PGMosaicDataset()
{
    m_poTileCache.reset(); // its worker composes through the reader
    // Layers flush their last batch; overviews and the reader refer to the mosaic and the
    // catalog: tear down in order.
    m_apoLayers.clear();
    m_apoOverviews.clear();
    m_poReader.reset();
    m_poCheckedCatalog.reset();
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
        // The mosaic first: QGIS shows (and names the layer) by the whole string, which a
        // host's address would otherwise push the mosaic's name out of sight in.
        subdatasets.SetNameValue((key + "NAME").c_str(),
                                 (std::string(pgmosaic::kConnectionPrefix) +
                                  "mosaic=" + pgmosaic::QuoteConnValue(name) +
                                  (m_osConninfo.empty() ? "" : " " + m_osConninfo))
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

void PGMosaicDataset::OpenMosaic(const std::string& name, const pgmosaic::ConnectionString& conn,
                                 CSLConstList openOptions)
{
    pgmosaic::ReadOptions options = ParseReadOptions(openOptions, conn);
    const ItemQuery query = ParseItemQuery(openOptions, conn);
    m_oMosaic = LoadMosaic(*m_poConn, name, m_osPostgis, m_oCaps.mosaicDefaults,
                           m_oCaps.collections, query.asof);
    m_poConn->SetOnReconnect(MosaicRecheck(*m_poConn, m_oMosaic));
    if (Option(openOptions, conn, pgmosaic::kKeyMethod).empty() && !m_oMosaic.defaultMethod.empty())
        options.method = pgmosaic::ParseMethod(m_oMosaic.defaultMethod);
    // Bands of the mosaic by number or name, and virtual bands (bands=, else every band and the
    // mosaic's stored virtual bands).
    m_aoOutputBands = pgmosaic::ParseOutputBands(Option(openOptions, conn, pgmosaic::kKeyBands),
                                                 m_oMosaic, m_oMosaic.virtualBands);
    for (const auto& o : m_aoOutputBands)
        m_anItemBands.push_back(o.band);
    m_oSRS.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (!m_oMosaic.srsWkt.empty())
        m_oSRS.importFromWkt(m_oMosaic.srsWkt.c_str());
    nRasterXSize = m_oMosaic.width;
    nRasterYSize = m_oMosaic.height;
    if (m_oCaps.remote)
        ApplyClientRootOptions(*m_poConn);
    m_poCatalog = std::make_unique<PgItemCatalog>(*m_poConn, m_oMosaic, m_osPostgis,
                                                  m_oCaps.itemCatalog, m_oCaps.windowKey,
                                                  m_oCaps.readItems, query);
    // The mosaic-wide overview tiles show the catalog as it is: not read as of another time.
    if (!query.asof)
        m_anBuiltLevels = m_poCatalog->BuiltLevels();
    const char* poolSize = CPLGetConfigOption("PGMOSAIC_SOURCE_POOL_SIZE", nullptr);
    m_poCheckedCatalog = WithSourcePolicy(*m_poCatalog);
    m_poReader = std::make_unique<pgmosaic::CompositeReader>(
        m_oMosaic, *m_poCheckedCatalog, options,
        poolSize ? static_cast<size_t>(std::atoi(poolSize)) : kDefaultSourcePoolSize);
    for (int i = 1; i <= static_cast<int>(m_anItemBands.size()); ++i)
        SetBand(i, new PGMosaicRasterBand(this, this, i, 1));
    if (HasCoverageMask())
        m_poMaskBand = std::make_unique<PGMosaicMaskBand>(this, this, 1);
    for (int f = 2; std::min(nRasterXSize, nRasterYSize) / f >= kMinOverviewSize; f *= 2)
        m_apoOverviews.push_back(std::make_unique<PGMosaicOverviewDataset>(this, f));
    const std::string prefetch = Option(openOptions, conn, pgmosaic::kKeyPrefetch);
    if (!prefetch.empty() && EQUAL(prefetch.c_str(), "neighbors"))
        EnablePrefetch(options);
    else if (!prefetch.empty() && !EQUAL(prefetch.c_str(), "none"))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid prefetch \"" + prefetch + "\": expected none or neighbors");
    SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
    SetMetadataItem("MOSAIC_NAME", name.c_str());
    SetMetadataItem("COMPOSITING_METHOD", pgmosaic::MethodText(options).c_str());
    SetMetadataItem("RESAMPLING", options.resampling.name.c_str());
}

// Composed tiles in memory, and a worker that composes the neighbours of each read with its
// own connection, catalog and reader.
void PGMosaicDataset::EnablePrefetch(const pgmosaic::ReadOptions& options)
{
    const int bands = m_oMosaic.bandCount;
    const GDALDataType type = pgmosaic::MethodDataType(options.method, m_oMosaic.dataType);
    const int t = pgmosaic::TileCache::kTileSize;
    auto compose = [bands, type, t](pgmosaic::CompositeReader& reader, int factor, int col, int row,
                                    void* data) {
        std::vector<int> all;
        for (int b = 1; b <= bands; ++b)
            all.push_back(b);
        const int typeSize = GDALGetDataTypeSizeBytes(type);
        reader.Read({{col * t * factor, row * t * factor, t * factor, t * factor}, t, t}, all,
                    {data, type, typeSize, static_cast<GSpacing>(t) * typeSize,
                     static_cast<GSpacing>(t) * t * typeSize});
    };
    struct Worker
    {
        std::unique_ptr<PgConnection> conn;
        pgmosaic::MosaicInfo mosaic;
        std::unique_ptr<PgItemCatalog> catalog;
        std::unique_ptr<pgmosaic::ItemCatalog> checked;
        std::unique_ptr<pgmosaic::CompositeReader> reader;
    };
    const std::string conninfo = m_osConninfo, postgis = m_osPostgis;
    const bool overviews = m_oCaps.itemCatalog, windowKey = m_oCaps.windowKey,
               readItems = m_oCaps.readItems;
    const int timeoutMs = m_nStatementTimeoutMs;
    const auto server = m_bUpdate ? PgConnection::Server::Primary : PgConnection::Server::AsNamed;
    const ItemQuery query = m_poCatalog->Query();
    const pgmosaic::MosaicInfo mosaic = m_oMosaic;
    auto makeWorker = [=]() -> pgmosaic::TileComposer {
        auto w = std::make_shared<Worker>();
        w->conn = std::make_unique<PgConnection>(conninfo, PgConnection::Access::ReadOnly,
                                                 timeoutMs, server);
        w->mosaic = mosaic;
        w->conn->SetOnReconnect(MosaicRecheck(*w->conn, w->mosaic));
        w->catalog =
            std::make_unique<PgItemCatalog>(*w->conn, w->mosaic, postgis, overviews, windowKey,
                                            readItems, query);
        w->checked = WithSourcePolicy(*w->catalog);
        w->reader = std::make_unique<pgmosaic::CompositeReader>(w->mosaic, *w->checked, options,
                                                                kDefaultSourcePoolSize);
        return [w, compose](int f, int c, int r, void* d) {
            compose(*w->reader, f, c, r, d);
        };
    };
    const size_t capacity =
        static_cast<size_t>(std::atoi(CPLGetConfigOption("PGMOSAIC_TILE_CACHE_MB", "256"))) * 1024 *
        1024;
    m_poTileCache = std::make_unique<pgmosaic::TileCache>(
        bands, type, capacity,
        [this, compose](int f, int c, int r, void* d) { compose(*m_poReader, f, c, r, d); },
        makeWorker);
    SetMetadataItem("PREFETCH", "neighbors");
}

const char* PGMosaicDataset::GetMetadataItem(const char* pszName, const char* pszDomain)
{
    // Live counters of the tile cache, for clients and tests that watch prefetching.
    if (m_poTileCache && pszDomain && EQUAL(pszDomain, "PGMOSAIC") && pszName)
    {
        const std::uint64_t v = EQUAL(pszName, "PREFETCH_HITS")     ? m_poTileCache->Hits()
                                : EQUAL(pszName, "PREFETCH_MISSES") ? m_poTileCache->Misses()
                                : EQUAL(pszName, "PREFETCHED")      ? m_poTileCache->Prefetched()
                                                                    : UINT64_MAX;
        if (v != UINT64_MAX)
            return CPLSPrintf("%llu", static_cast<unsigned long long>(v));
    }
    return GDALDataset::GetMetadataItem(pszName, pszDomain);
}

// Mosaic statistics from the catalog, so that QGIS stretches and MapServer SCALE=AUTO need no
// full scan: extremes of the items' extremes, pooled mean and standard deviation, and
// count-weighted means of their 2/98 percentiles. Asked for lazily: opening never scans the
// item table.
void PGMosaicDataset::LoadStatistics()
{
    if (m_bStatisticsLoaded || !m_poReader)
        return;
    m_bStatisticsLoaded = true;
    const auto method = m_poReader->options().method;
    if (!m_oCaps.itemStatistics || method == pgmosaic::Method::Sum ||
        method == pgmosaic::Method::Count || method == pgmosaic::Method::Stdev)
        return;
    Guarded([&] {
        // Exact merges of the items' statistics: min, max, the count-weighted mean and the
        // pooled (population) standard deviation. Percentiles do not merge: the mosaic's 2nd
        // percentile is somewhere between the smallest and the largest of the items' (when
        // items do not overlap), so that range is published in the PGMOSAIC domain, never as
        // STATISTICS_PERCENTILE_* (which gdal_translate would copy as if exact).
        auto res = m_poConn->Exec(pgmosaic::MergedStatisticsSql().c_str(),
                                  {std::to_string(m_oMosaic.id)});
        for (int r = 0; r < PQntuples(res.get()); ++r)
        {
            const int itemBand = std::atoi(PQgetvalue(res.get(), r, 0));
            for (int b = 1; b <= GetRasterCount(); ++b)
            {
                if (m_anItemBands[static_cast<size_t>(b - 1)] != itemBand)
                    continue;
                GDALRasterBand* band = GetRasterBand(b);
                const char* keys[] = {"STATISTICS_MINIMUM", "STATISTICS_MAXIMUM",
                                      "STATISTICS_MEAN", "STATISTICS_STDDEV"};
                for (int k = 0; k < 4; ++k)
                    band->GDALRasterBand::SetMetadataItem(keys[k], PQgetvalue(res.get(), r, k + 1));
                band->GDALRasterBand::SetMetadataItem("STATISTICS_APPROXIMATE", "YES");
                const char* ranges[] = {"ITEM_PERCENTILE_2_MIN", "ITEM_PERCENTILE_2_MAX",
                                        "ITEM_PERCENTILE_98_MIN", "ITEM_PERCENTILE_98_MAX"};
                for (int k = 0; k < 4; ++k)
                    if (!PQgetisnull(res.get(), r, k + 5))
                        band->GDALRasterBand::SetMetadataItem(
                            ranges[k], PQgetvalue(res.get(), r, k + 5), "PGMOSAIC");
            }
        }
    });
}

int PGMosaicDataset::LevelFor(double reduction) const
{
    return pgmosaic::BuiltLevelFor(m_anBuiltLevels, reduction);
}

GDALDataset* PGMosaicDataset::Overview(int i) const
{
    return i >= 0 && i < OverviewCount() ? m_apoOverviews[static_cast<size_t>(i)].get() : nullptr;
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
    return Guarded([&] {
        std::vector<int> which;
        for (int b : bands)
            which.push_back(b - 1);
        // Virtual bands are computed from the composed bands they use.
        const bool count = m_poReader->options().method == pgmosaic::Method::Count;
        pgmosaic::ReadOutputBands(
            m_aoOutputBands, which, nBufXSize, nBufYSize,
            {pData, eBufType, nPixelSpace, nLineSpace, nBandSpace},
            count ? std::nullopt : m_oMosaic.nodata,
            [&](const std::vector<int>& itemBands, const pgmosaic::BufferSpec& buf) {
                // With prefetch, a read on a zoom level's pixel grid (1:1, 1:2, 1:4, ...) comes
                // from the composed tiles of that level.
                const int f = nXSize / std::max(1, nBufXSize);
                if (m_poTileCache && f >= 1 && (f & (f - 1)) == 0 && nXSize == f * nBufXSize &&
                    nYSize == f * nBufYSize && nXOff % f == 0 && nYOff % f == 0)
                {
                    std::vector<int> zeroBased;
                    for (int b : itemBands)
                        zeroBased.push_back(b - 1);
                    m_poTileCache->Read(f, {nXOff / f, nYOff / f, nBufXSize, nBufYSize},
                                        zeroBased, buf.data, buf.type, buf.pixelSpace,
                                        buf.lineSpace, buf.bandSpace);
                    SetMetadataItem("PREFETCH_HITS",
                                    std::to_string(m_poTileCache->Hits()).c_str(), "PGMOSAIC");
                    return;
                }
                m_poReader->Read(
                    {{nXOff, nYOff, nXSize, nYSize}, nBufXSize, nBufYSize}, itemBands, buf,
                    LevelFor(std::min(static_cast<double>(nXSize) / std::max(1, nBufXSize),
                                      static_cast<double>(nYSize) / std::max(1, nBufYSize))));
            });
    });
}

CPLErr PGMosaicDataset::ReadCoverage(int nXOff, int nYOff, int nXSize, int nYSize, void* pData,
                                     int nBufXSize, int nBufYSize, GSpacing nPixelSpace,
                                     GSpacing nLineSpace)
{
    return Guarded([&] {
        m_poReader->ReadCoverage(
            {{nXOff, nYOff, nXSize, nYSize}, nBufXSize, nBufYSize},
            {pData, GDT_Byte, nPixelSpace, nLineSpace, 0},
            LevelFor(std::min(static_cast<double>(nXSize) / std::max(1, nBufXSize),
                              static_cast<double>(nYSize) / std::max(1, nBufYSize))));
    });
}

CPLErr PGMosaicDataset::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize, int nYSize,
                                  void* pData, int nBufXSize, int nBufYSize, GDALDataType eBufType,
                                  int nBandCount, PGMOSAIC_BANDMAP_TYPE panBandMap,
                                  GSpacing nPixelSpace, GSpacing nLineSpace, GSpacing nBandSpace,
                                  GDALRasterIOExtraArg*)
{
    if (eRWFlag != GF_Read)
        return ReadOnly();
    return ReadWindow(nXOff, nYOff, nXSize, nYSize, pData, nBufXSize, nBufYSize, eBufType,
                      std::vector<int>(panBandMap, panBandMap + nBandCount), nPixelSpace,
                      nLineSpace, nBandSpace);
}

/************************************************************************/
/*                        PGMosaicOverviewDataset                       */
/************************************************************************/

PGMosaicOverviewDataset::PGMosaicOverviewDataset(PGMosaicDataset* poBase, int nFactor)
    : m_poBase(poBase), m_nFactor(nFactor)
{
    // In 64 bits: a mosaic up to INT_MAX pixels wide must not wrap rounding up.
    nRasterXSize = static_cast<int>((std::int64_t{poBase->GetRasterXSize()} + nFactor - 1) / nFactor);
    nRasterYSize = static_cast<int>((std::int64_t{poBase->GetRasterYSize()} + nFactor - 1) / nFactor);
    for (int i = 1; i <= poBase->GetRasterCount(); ++i)
        SetBand(i, new PGMosaicRasterBand(this, poBase, i, nFactor));
    if (poBase->HasCoverageMask())
        m_poMaskBand = std::make_unique<PGMosaicMaskBand>(this, poBase, nFactor);
}

CPLErr PGMosaicOverviewDataset::GetGeoTransform(double* padfTransform)
{
    m_poBase->GetGeoTransform(padfTransform);
    padfTransform[1] *= m_nFactor;
    padfTransform[5] *= m_nFactor;
    return CE_None;
}

const OGRSpatialReference* PGMosaicOverviewDataset::GetSpatialRef() const
{
    return m_poBase->GetSpatialRef();
}

CPLErr PGMosaicOverviewDataset::IRasterIO(GDALRWFlag eRWFlag, int nXOff, int nYOff, int nXSize,
                                          int nYSize, void* pData, int nBufXSize, int nBufYSize,
                                          GDALDataType eBufType, int nBandCount,
                                          PGMOSAIC_BANDMAP_TYPE panBandMap, GSpacing nPixelSpace,
                                          GSpacing nLineSpace, GSpacing nBandSpace,
                                          GDALRasterIOExtraArg*)
{
    if (eRWFlag != GF_Read)
        return ReadOnly();
    const int f = m_nFactor;
    return m_poBase->ReadWindow(
        nXOff * f, nYOff * f, nXSize * f, nYSize * f, pData, nBufXSize, nBufYSize, eBufType,
        std::vector<int>(panBandMap, panBandMap + nBandCount), nPixelSpace, nLineSpace, nBandSpace);
}

PGMosaicItemsLayer* PGMosaicDataset::AddItemsLayer(const std::string& mosaic,
                                                   const std::string& layerName, int srid,
                                                   CSLConstList options)
{
    const LoadOptions load = ParseLoadOptions(m_aosOpenOptions.List(), options);
    auto layer =
        std::make_unique<PGMosaicItemsLayer>(Writer(), m_osPostgis, mosaic, layerName, srid,
                                             LoadItemColumns(*m_poConn), m_bUpdate, load);
    PGMosaicItemsLayer* raw = layer.get();
    m_apoLayers.push_back(std::move(layer));
    return raw;
}

void PGMosaicDataset::OpenLayers(const std::string& mosaic, bool mayCreate)
{
    if (m_bUpdate && mosaic.empty())
        return; // layers appear as they are created, in mosaics named by the layers
    auto res =
        mosaic.empty()
            ? m_poConn->Exec("SELECT name, srid FROM pgmosaic.mosaic ORDER BY name")
            : m_poConn->Exec("SELECT name, srid FROM pgmosaic.mosaic WHERE name = $1", {mosaic});
    // A named mosaic must exist, in update mode too (ogrinfo retries a failed open for
    // update and would list nothing with success); only Create (ogr2ogr -f PGMOSAIC, or
    // -append, which falls back to it) may name a new one.
    if (!mosaic.empty() && PQntuples(res.get()) == 0 && !mayCreate)
        throw Error(ErrorKind::NotFound,
                    "unknown mosaic \"" + mosaic +
                        "\"" + (m_bUpdate ? " (to create it while loading, use \"ogr2ogr -f "
                                             "PGMOSAIC\" instead of -update)"
                                           : ""));
    // Open for update, the layers appear as ogr2ogr creates them (so that "ogr2ogr -update
    // ... -nln items" registers without -append).
    if (m_bUpdate)
        return;
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        const std::string name = PQgetvalue(res.get(), i, 0);
        const int srid = std::atoi(PQgetvalue(res.get(), i, 1));
        const std::string prefix = mosaic.empty() ? name + "." : "";
        AddItemsLayer(name, prefix + kLayerItems, srid, nullptr);
        m_apoLayers.push_back(std::make_unique<PGMosaicBoundaryLayer>(
            *m_poConn, m_osPostgis, name, prefix + kLayerBoundary, srid));
        if (m_oCaps.themes)
            m_apoLayers.push_back(std::make_unique<PGMosaicThemesLayer>(
                *m_poConn, m_osPostgis, name, prefix + kLayerThemes, srid, false,
                ParseLoadOptions(m_aosOpenOptions.List(), nullptr).jsonSubtype));
    }
}

OGRLayer* PGMosaicDataset::GetLayer(int i)
{
    return i >= 0 && i < GetLayerCount() ? m_apoLayers[static_cast<size_t>(i)].get() : nullptr;
}

int PGMosaicDataset::TestCapability(const char* pszCap)
{
    if (EQUAL(pszCap, ODsCCreateLayer) || EQUAL(pszCap, ODsCTransactions))
        return m_bUpdate;
    return FALSE;
}
