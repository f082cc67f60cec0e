// The PGMOSAIC raster dataset: a mosaic of the catalog composed at read time, its bands, its
// overview levels and its coverage mask.
#include <algorithm>
#include <cctype>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>

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

// A text[] literal element, double-quoted with backslash escapes.
std::string QuoteArrayElement(const std::string& v)
{
    std::string out = "\"";
    for (char c : v)
    {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

CPLErr ReadOnly()
{
    CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is read-only");
    return CE_Failure;
}

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
    pgmosaic::ReadOptions o;
    std::string v = Option(openOptions, conn, pgmosaic::kKeyMethod);
    if (!v.empty())
        o.method = pgmosaic::ParseMethod(v);
    v = Option(openOptions, conn, pgmosaic::kKeyResampling);
    if (!v.empty())
        o.resampling = pgmosaic::ParseResampling(v);
    v = Option(openOptions, conn, pgmosaic::kKeyMissing);
    if (!v.empty())
        o.skipMissing = pgmosaic::ParseMissing(v);
    v = Option(openOptions, conn, pgmosaic::kKeyNumThreads);
    if (v.empty())
        v = CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    o.numThreads = pgmosaic::ParseNumThreads(v);
    return o;
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
        auto conn = pgmosaic::ParseConnectionString(poOpenInfo->pszFilename +
                                                    strlen(pgmosaic::kConnectionPrefix));
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
            poDS->OpenLayers(mosaic);
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
    return Open(&info);
}

void PGMosaicDataset::Connect(const pgmosaic::ConnectionString& conn)
{
    m_osConninfo = conn.conninfo;
    // Reads (where=, sort= included) go through a read-only connection; registrations and
    // overview builds through a writable one, only opened for update.
    m_poConn = std::make_unique<PgConnection>(conn.conninfo, PgConnection::Access::ReadOnly,
                                              m_nStatementTimeoutMs);
    if (m_bUpdate)
        m_poWriteConn =
            std::make_unique<PgConnection>(conn.conninfo, PgConnection::Access::ReadWrite);
    auto res = m_poConn->Exec(
        "SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgmosaic'), "
        "(SELECT quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
        "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'postgis')");
    if (PQgetisnull(res.get(), 0, 0))
        throw Error(ErrorKind::NotFound, "the database has no pgmosaic extension "
                                         "(run CREATE EXTENSION pgmosaic CASCADE)");
    m_osExtVersion = PQgetvalue(res.get(), 0, 0);
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

void PGMosaicDataset::OpenMosaic(const std::string& name, const pgmosaic::ConnectionString& conn,
                                 CSLConstList openOptions)
{
    pgmosaic::ReadOptions options = ParseReadOptions(openOptions, conn);
    const ItemQuery query = ParseItemQuery(openOptions, conn);
    m_oMosaic = LoadMosaic(*m_poConn, name, m_osPostgis, m_osExtVersion != "0.1");
    m_poConn->SetOnReconnect(MosaicRecheck(*m_poConn, m_oMosaic));
    if (Option(openOptions, conn, pgmosaic::kKeyMethod).empty() && !m_oMosaic.defaultMethod.empty())
        options.method = pgmosaic::ParseMethod(m_oMosaic.defaultMethod);
    const std::string bands = Option(openOptions, conn, pgmosaic::kKeyBands);
    if (bands.empty())
        for (int b = 1; b <= m_oMosaic.bandCount; ++b)
            m_anItemBands.push_back(b);
    else
        m_anItemBands = pgmosaic::ParseBandList(bands, m_oMosaic.bandCount);
    m_oSRS.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (!m_oMosaic.srsWkt.empty())
        m_oSRS.importFromWkt(m_oMosaic.srsWkt.c_str());
    nRasterXSize = m_oMosaic.width;
    nRasterYSize = m_oMosaic.height;
    m_poCatalog = std::make_unique<PgItemCatalog>(*m_poConn, m_oMosaic, m_osPostgis,
                                                  m_osExtVersion != "0.1", query);
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
    SetMetadataItem("COMPOSITING_METHOD", pgmosaic::MethodName(options.method));
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
    const bool overviews = m_osExtVersion != "0.1";
    const int timeoutMs = m_nStatementTimeoutMs;
    const ItemQuery query = m_poCatalog->Query();
    const pgmosaic::MosaicInfo mosaic = m_oMosaic;
    auto makeWorker = [=]() -> pgmosaic::TileComposer {
        auto w = std::make_shared<Worker>();
        w->conn =
            std::make_unique<PgConnection>(conninfo, PgConnection::Access::ReadOnly, timeoutMs);
        w->mosaic = mosaic;
        w->conn->SetOnReconnect(MosaicRecheck(*w->conn, w->mosaic));
        w->catalog =
            std::make_unique<PgItemCatalog>(*w->conn, w->mosaic, postgis, overviews, query);
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
    if (m_osExtVersion == "0.1" || method == pgmosaic::Method::Sum ||
        method == pgmosaic::Method::Count)
        return;
    Guarded([&] {
        // Exact merges of the items' statistics: min, max, the count-weighted mean and the
        // pooled (population) standard deviation. Percentiles do not merge: the mosaic's 2nd
        // percentile is somewhere between the smallest and the largest of the items' (when
        // items do not overlap), so that range is published in the PGMOSAIC domain, never as
        // STATISTICS_PERCENTILE_* (which gdal_translate would copy as if exact).
        auto res = m_poConn->Exec(
            "SELECT b.n, min(x.min), max(x.max), sum(x.mean * x.count) / sum(x.count), "
            "sqrt(greatest(0, sum((x.stddev ^ 2 + x.mean ^ 2) * x.count) / sum(x.count) - "
            "(sum(x.mean * x.count) / sum(x.count)) ^ 2)), "
            "min(x.p2), max(x.p2), min(x.p98), max(x.p98) "
            "FROM pgmosaic.item i, jsonb_array_elements(i.statistics) WITH ORDINALITY b(e, n), "
            "jsonb_to_record(b.e) AS x(count double precision, min double precision, "
            "max double precision, mean double precision, stddev double precision, "
            "p2 double precision, p98 double precision) "
            "WHERE i.mosaic_id = $1 AND i.category = 'primary' AND x.count > 0 "
            "GROUP BY b.n ORDER BY b.n",
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
    // As GDAL picks overviews: a level up to 1.2 times coarser than asked still serves.
    int level = 0;
    for (int k : m_anBuiltLevels)
        if ((1 << k) <= reduction * 1.2)
            level = std::max(level, k);
    return level;
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
        std::vector<int> itemBands;
        for (int b : bands)
            itemBands.push_back(m_anItemBands[static_cast<size_t>(b - 1)]);
        // With prefetch, a read on a zoom level's pixel grid (1:1, 1:2, 1:4, ...) comes from the
        // composed tiles of that level.
        const int f = nXSize / std::max(1, nBufXSize);
        if (m_poTileCache && f >= 1 && (f & (f - 1)) == 0 && nXSize == f * nBufXSize &&
            nYSize == f * nBufYSize && nXOff % f == 0 && nYOff % f == 0)
        {
            std::vector<int> zeroBased;
            for (int b : itemBands)
                zeroBased.push_back(b - 1);
            m_poTileCache->Read(f, {nXOff / f, nYOff / f, nBufXSize, nBufYSize}, zeroBased, pData,
                                eBufType, nPixelSpace, nLineSpace, nBandSpace);
            SetMetadataItem("PREFETCH_HITS", std::to_string(m_poTileCache->Hits()).c_str(),
                            "PGMOSAIC");
            return;
        }
        m_poReader->Read({{nXOff, nYOff, nXSize, nYSize}, nBufXSize, nBufYSize}, itemBands,
                         {pData, eBufType, nPixelSpace, nLineSpace, nBandSpace},
                         LevelFor(std::min(static_cast<double>(nXSize) / std::max(1, nBufXSize),
                                           static_cast<double>(nYSize) / std::max(1, nBufYSize))));
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

/************************************************************************/
/*                            Vector side                               */
/************************************************************************/

LoadOptions ParseLoadOptions(CSLConstList datasetOptions, CSLConstList layerOptions)
{
    auto get = [&](const char* key, const char* def) {
        const char* v = CSLFetchNameValue(layerOptions, key);
        if (v == nullptr)
            v = CSLFetchNameValue(datasetOptions, key);
        return std::string(v ? v : def);
    };
    LoadOptions o;
    o.skipBad = CPLTestBool(get("SKIP_BAD", "NO").c_str());
    const std::string dup = get("ON_DUPLICATE", "SKIP");
    if (EQUAL(dup.c_str(), "SKIP"))
        o.onDuplicate = OnDuplicate::Skip;
    else if (EQUAL(dup.c_str(), "UPDATE"))
        o.onDuplicate = OnDuplicate::Update;
    else if (EQUAL(dup.c_str(), "FAIL"))
        o.onDuplicate = OnDuplicate::Fail;
    else
        throw Error(ErrorKind::InvalidParameter,
                    "invalid ON_DUPLICATE \"" + dup + "\": expected SKIP, UPDATE or FAIL");
    o.batchSize = std::atoi(get("BATCH_SIZE", "200").c_str());
    if (o.batchSize < 1)
        throw Error(ErrorKind::InvalidParameter, "BATCH_SIZE must be at least 1");
    o.numThreads = pgmosaic::ParseNumThreads(
        get("NUM_THREADS", CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")));
    const std::string fp = get("FOOTPRINT", "VALID");
    if (!EQUAL(fp.c_str(), "VALID") && !EQUAL(fp.c_str(), "EXTENT"))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid FOOTPRINT \"" + fp + "\": expected VALID or EXTENT");
    o.inspect.validFootprint = EQUAL(fp.c_str(), "VALID");
    std::string stats = get("STATISTICS", "APPROX");
    for (auto& c : stats)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    o.inspect.statistics = pgmosaic::ParseStatisticsMode(stats);
    const std::string maxBlocks = get("MAX_BLOCKS", "");
    if (!maxBlocks.empty())
    {
        char* end = nullptr;
        const long long n = std::strtoll(maxBlocks.c_str(), &end, 10);
        if (end == maxBlocks.c_str() || *end != '\0' || n < 0)
            throw Error(ErrorKind::InvalidParameter,
                        "invalid MAX_BLOCKS \"" + maxBlocks +
                            "\": expected a number of blocks (0 for no limit)");
        o.inspect.maxBlocks = n;
    }
    return o;
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

void PGMosaicDataset::OpenLayers(const std::string& mosaic)
{
    // Open for update, the layers appear as ogr2ogr creates them (so that "ogr2ogr -update
    // ... -nln items" registers without -append).
    if (m_bUpdate)
        return;
    auto res =
        mosaic.empty()
            ? m_poConn->Exec("SELECT name, srid FROM pgmosaic.mosaic ORDER BY name")
            : m_poConn->Exec("SELECT name, srid FROM pgmosaic.mosaic WHERE name = $1", {mosaic});
    if (!mosaic.empty() && PQntuples(res.get()) == 0)
        throw Error(ErrorKind::NotFound, "unknown mosaic \"" + mosaic + "\"");
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        const std::string name = PQgetvalue(res.get(), i, 0);
        const int srid = std::atoi(PQgetvalue(res.get(), i, 1));
        const std::string prefix = mosaic.empty() ? name + "." : "";
        AddItemsLayer(name, prefix + kLayerItems, srid, nullptr);
        m_apoLayers.push_back(std::make_unique<PGMosaicBoundaryLayer>(
            *m_poConn, m_osPostgis, name, prefix + kLayerBoundary, srid));
        if (m_osExtVersion != "0.1")
            m_apoLayers.push_back(std::make_unique<PGMosaicThemesLayer>(
                *m_poConn, m_osPostgis, name, prefix + kLayerThemes, srid, false));
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

OGRLayer* PGMosaicDataset::ICreateLayer(const char* pszName, OGRSpatialReference* poSpatialRef,
                                        OGRwkbGeometryType, char** papszOptions)
{
    if (!m_bUpdate)
    {
        CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is not open for update");
        return nullptr;
    }
    OGRLayer* created = nullptr;
    const CPLErr err = Guarded([&] {
        // "items" writes to the mosaic of the connection string; "<mosaic>.items" names it.
        std::string name = pszName, mosaic = m_osMosaicName, kind = pszName;
        const size_t dot = name.rfind('.');
        if (dot != std::string::npos)
        {
            mosaic = name.substr(0, dot);
            kind = name.substr(dot + 1);
        }
        if (EQUAL(kind.c_str(), kLayerThemes))
        {
            auto res = m_poConn->Exec("SELECT srid FROM pgmosaic.mosaic WHERE name = $1", {mosaic});
            if (PQntuples(res.get()) == 0)
                throw Error(ErrorKind::NotFound, "unknown mosaic \"" + mosaic + "\"");
            m_apoLayers.push_back(std::make_unique<PGMosaicThemesLayer>(
                Writer(), m_osPostgis, mosaic, name, std::atoi(PQgetvalue(res.get(), 0, 0)), true));
            created = m_apoLayers.back().get();
            return;
        }
        if (!EQUAL(kind.c_str(), kLayerItems))
            throw Error(ErrorKind::InvalidParameter,
                        "cannot write layer \"" + name +
                            "\": rasters are registered through \"items\", polygons "
                            "through \"themes\"");
        if (mosaic.empty())
            throw Error(ErrorKind::InvalidParameter,
                        "no mosaic to register into: give mosaic= in the connection string or "
                        "name the layer <mosaic>.items");
        int srid = 0;
        if (poSpatialRef != nullptr)
        {
            OGRSpatialReference srs(*poSpatialRef);
            const char* auth = srs.GetAuthorityName(nullptr);
            if ((auth && EQUAL(auth, "EPSG")) || srs.AutoIdentifyEPSG() == OGRERR_NONE)
                srid = std::atoi(srs.GetAuthorityCode(nullptr));
        }
        created = AddItemsLayer(mosaic, name, srid, papszOptions);
    });
    return err == CE_None ? created : nullptr;
}

OGRErr PGMosaicDataset::StartTransaction(int)
{
    return m_bUpdate ? OGRERR_NONE : OGRERR_FAILURE;
}

// Registers what the items layers still hold; batches are atomic, so a failure leaves no
// partial batch and is reported to ogr2ogr here.
OGRErr PGMosaicDataset::CommitTransaction()
{
    bool ok = true;
    for (auto& layer : m_apoLayers)
        if (auto* items = dynamic_cast<PGMosaicItemsLayer*>(layer.get()))
            ok = items->Flush() && ok;
    return ok ? OGRERR_NONE : OGRERR_FAILURE;
}

OGRErr PGMosaicDataset::RollbackTransaction()
{
    for (auto& layer : m_apoLayers)
        if (auto* items = dynamic_cast<PGMosaicItemsLayer*>(layer.get()))
            items->DropPending();
    return OGRERR_NONE;
}

/************************************************************************/
/*                             CreateCopy()                             */
/************************************************************************/

// gdal_translate -of PGMOSAIC in.tif "PGMOSAIC:... mosaic=m": the input is written as a Cloud
// Optimized GeoTIFF under the mosaic's managed root (the path root named after the mosaic,
// or -co DIRECTORY=), registered, and the mosaic is returned.
GDALDataset* PGMosaicDataset::CreateCopy(const char* pszName, GDALDataset* poSrc, int,
                                         char** papszOptions, GDALProgressFunc pfnProgress,
                                         void* pProgressData)
{
    std::string written;
    GDALDatasetUniquePtr result;
    const CPLErr err = Guarded([&] {
        auto conn = pgmosaic::ParseConnectionString(pszName + strlen(pgmosaic::kConnectionPrefix));
        const std::string mosaic = conn.Get(pgmosaic::kKeyMosaic);
        if (mosaic.empty())
            throw Error(ErrorKind::InvalidParameter,
                        "gdal_translate -of PGMOSAIC needs mosaic= in the connection string");
        GDALOpenInfo info(pszName, GA_Update | GDAL_OF_VECTOR);
        std::unique_ptr<PGMosaicDataset> ds(static_cast<PGMosaicDataset*>(Open(&info)));
        if (!ds)
            throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());

        // Where the file goes: -co DIRECTORY (a directory or @root/sub), else the mosaic's root.
        std::string storedDir;
        const std::string dir =
            ds->ManagedDirectory(CSLFetchNameValueDef(papszOptions, "DIRECTORY", ""), &storedDir);
        std::string name = CSLFetchNameValueDef(papszOptions, "NAME", "");
        if (name.empty())
            name = CPLGetBasename(poSrc->GetDescription());
        if (name.empty())
            name = CPLSPrintf("raster_%lld", static_cast<long long>(CPLGetPID()));
        if (!EQUAL(CPLGetExtension(name.c_str()), "tif"))
            name += ".tif";
        const std::string target = CPLFormFilename(dir.c_str(), name.c_str(), nullptr);
        VSIStatBufL st;
        if (VSIStatL(target.c_str(), &st) == 0)
            throw Error(ErrorKind::InvalidParameter,
                        target + " exists already: give another -co NAME= or remove it");

        // The COG driver's own creation options pass through (COMPRESS, BLOCKSIZE, ...).
        CPLStringList cogOptions;
        for (char** p = papszOptions; p && *p; ++p)
        {
            char* key = nullptr;
            const char* value = CPLParseNameValue(*p, &key);
            if (key && !EQUAL(key, "DIRECTORY") && !EQUAL(key, "NAME"))
                cogOptions.SetNameValue(key, value);
            CPLFree(key);
        }
        if (cogOptions.FetchNameValue("COMPRESS") == nullptr)
            cogOptions.SetNameValue("COMPRESS", "DEFLATE");
        auto* cog = GetGDALDriverManager()->GetDriverByName("COG");
        if (cog == nullptr)
            throw Error(ErrorKind::Internal, "GDAL's COG driver is not available");
        {
            pgmosaic::GdalErrorCollector errors;
            GDALDatasetUniquePtr out(cog->CreateCopy(
                target.c_str(), poSrc, FALSE, cogOptions.List(), pfnProgress, pProgressData));
            if (!out)
                throw Error(ErrorKind::Io,
                            "cannot write " + target + ": " + errors.Message("COG failed"));
        }
        written = target;
        chmod(target.c_str(), 0644); // the database server may read it too (local files)

        // Register it as the items layer would: inspected here, one transaction.
        OGRSpatialReference srs;
        if (poSrc->GetSpatialRef())
            srs = *poSrc->GetSpatialRef();
        OGRLayer* layer =
            ds->ICreateLayer(kLayerItems, srs.IsEmpty() ? nullptr : &srs, wkbMultiPolygon, nullptr);
        if (layer == nullptr)
            throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
        OGRFieldDefn pathField("path", OFTString);
        layer->CreateField(&pathField);
        OGRFeature feature(layer->GetLayerDefn());
        feature.SetField("path", (storedDir == dir ? target : storedDir + "/" + name).c_str());
        if (layer->CreateFeature(&feature) != OGRERR_NONE ||
            !static_cast<PGMosaicItemsLayer*>(layer)->Flush())
            throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
        ds.reset();
        GDALOpenInfo rasterInfo(pszName, GA_ReadOnly | GDAL_OF_RASTER);
        result.reset(Open(&rasterInfo));
        if (!result)
            throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
    });
    if (err != CE_None)
    {
        if (!written.empty())
            VSIUnlink(written.c_str()); // nothing half-loaded: no file without its item
        return nullptr;
    }
    return result.release();
}

/************************************************************************/
/*                        Mosaic-wide overviews                         */
/************************************************************************/

// Where the driver writes files for a mosaic: `explicitDir` (a directory or @root/sub), else
// the path root named after the mosaic. *stored gets the same place as the catalog stores it
// (through the root when there is one).
std::string PGMosaicDataset::ManagedDirectory(const std::string& explicitDir, std::string* stored)
{
    std::string dir = explicitDir;
    if (dir.empty())
    {
        auto res = m_poConn->Exec("SELECT prefix FROM pgmosaic.path_root WHERE name = $1",
                                  {m_osMosaicName});
        if (PQntuples(res.get()) == 0)
            throw Error(ErrorKind::InvalidParameter,
                        "mosaic \"" + m_osMosaicName +
                            "\" has no managed root: add a path root named after it (INSERT INTO "
                            "pgmosaic.path_root VALUES ('" +
                            m_osMosaicName + "', '/data/dir')) or give a DIRECTORY option");
        *stored = "@" + m_osMosaicName;
        dir = PQgetvalue(res.get(), 0, 0);
    }
    else if (dir[0] == '@')
    {
        *stored = dir;
        auto res = m_poConn->Exec("SELECT pgmosaic.resolve_path($1)", {dir});
        dir = PQgetvalue(res.get(), 0, 0);
    }
    else
        *stored = dir;
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    while (stored->size() > 1 && stored->back() == '/')
        stored->pop_back();
    return dir;
}

// The _overview_sources of tile (col, row) of a level, as register_raster's built_from takes
// it: '{xmin,ymin,xmax,ymax}|digest'.
std::string PGMosaicDataset::OverviewSources(const pgmosaic::OverviewLevelGrid& grid, int col,
                                             int row)
{
    const auto gt = pgmosaic::TileGeoTransform(m_oMosaic, grid, col, row);
    const double x1 = gt[0] + grid.tileSize * gt[1], y0 = gt[3] + grid.tileSize * gt[5];
    const std::string bounds = CPLSPrintf("{%.17g,%.17g,%.17g,%.17g}", std::min(gt[0], x1),
                                          std::min(gt[3], y0), std::max(gt[0], x1),
                                          std::max(gt[3], y0));
    auto res = m_poConn->Exec("SELECT pgmosaic._overview_sources($1, $2::float8[])",
                              {std::to_string(m_oMosaic.id), bounds});
    return bounds + "|" + PQgetvalue(res.get(), 0, 0);
}

// gdaladdo "PGMOSAIC:... mosaic=m" 2 4 8 ...: builds the levels as COG tiles under the managed
// root, each level from the one below, registered as overview items; up-to-date tiles are
// kept, stale and missing ones (re)built. gdaladdo -clean removes them.
CPLErr PGMosaicDataset::IBuildOverviews(const char* pszResampling, int nOverviews,
                                        const int* panOverviewList, int, const int*,
                                        GDALProgressFunc pfnProgress, void* pProgressData,
                                        CSLConstList)
{
    return Guarded([&] {
        if (!m_poReader)
            throw Error(ErrorKind::InvalidParameter,
                        "name a mosaic (mosaic=) to build its overviews");
        if (m_osExtVersion == "0.1")
            throw Error(ErrorKind::InvalidParameter,
                        "mosaic-wide overviews need pgmosaic 0.2 or later "
                        "(ALTER EXTENSION pgmosaic UPDATE)");
        const std::string mosaicId = std::to_string(m_oMosaic.id);
        if (nOverviews == 0)
        {
            auto res = Writer().Exec("DELETE FROM pgmosaic.item WHERE mosaic_id = $1 AND "
                                     "category = 'overview' RETURNING pgmosaic.resolve(path)",
                                     {mosaicId});
            for (int i = 0; i < PQntuples(res.get()); ++i)
                VSIUnlink(PQgetvalue(res.get(), i, 0));
            m_anBuiltLevels.clear();
            m_poCatalog->Invalidate();
            return;
        }
        std::vector<int> levels;
        for (int i = 0; i < nOverviews; ++i)
        {
            const int f = panOverviewList[i];
            if (f < 2 || (f & (f - 1)) != 0)
                throw Error(ErrorKind::InvalidParameter,
                            "overview factor " + std::to_string(f) +
                                " is not a power of two: mosaic-wide levels are 2, 4, 8, ...");
            int k = 0;
            while ((1 << k) < f)
                ++k;
            levels.push_back(k);
        }
        std::sort(levels.begin(), levels.end());
        levels.erase(std::unique(levels.begin(), levels.end()), levels.end());

        pgmosaic::ReadOptions options = m_poReader->options();
        std::string resampling = pszResampling ? pszResampling : "nearest";
        for (auto& c : resampling)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        options.resampling = pgmosaic::ParseResampling(resampling);
        pgmosaic::CompositeReader builder(m_oMosaic, *m_poCheckedCatalog, options,
                                          kDefaultSourcePoolSize);
        std::string stored;
        const std::string root = ManagedDirectory(
            CSLFetchNameValueDef(m_aosOpenOptions.List(), "DIRECTORY", ""), &stored);

        // Registration as the items layer does it, tiles inspected here.
        const char* loadOptions[] = {"FOOTPRINT=EXTENT", "STATISTICS=APPROX", "ON_DUPLICATE=UPDATE",
                                     "BATCH_SIZE=64", nullptr};
        PGMosaicItemsLayer layer(Writer(), m_osPostgis, m_osMosaicName, kLayerItems, m_oMosaic.srid,
                                 LoadItemColumns(*m_poConn), true,
                                 ParseLoadOptions(nullptr, loadOptions));
        for (const char* field : {"category", "overview_level", "built_from"})
        {
            OGRFieldDefn fd(field, EQUAL(field, "overview_level") ? OFTInteger : OFTString);
            layer.CreateField(&fd);
        }
        const int tileSize = 1024;
        double total = 0, done = 0;
        for (int k : levels)
        {
            const auto g = pgmosaic::LevelGrid(m_oMosaic, k, tileSize);
            total += static_cast<double>(g.cols) * g.rows;
        }
        const CPLStringList cogOptions = pgmosaic::OverviewTileOptions();
        // The caller's thread-local configuration (gdal.config_option in Python) holds on the
        // writer's thread too.
        const CPLStringList threadConfig(CPLGetThreadLocalConfigOptions(), TRUE);
        std::vector<std::string> obsolete;
        // A composed tile is written (compressed) on a thread of its own while the next one
        // is composed; it is moved into place and registered once written, in tile order.
        struct Writing
        {
            std::future<void> done;
            std::string tmp, file, ref;
            int level;
            std::string builtFrom; // the items under the tile when it was composed
        };
        std::optional<Writing> writing;
        struct RemoveUnfinished // interrupted or failed: the tile being written is dropped
        {
            std::optional<Writing>& writing;
            ~RemoveUnfinished()
            {
                if (writing)
                {
                    writing->done.wait();
                    VSIUnlink(writing->tmp.c_str());
                }
            }
        } removeUnfinished{writing};
        auto finishWriting = [&] {
            if (!writing)
                return;
            Writing w = std::move(*writing);
            writing.reset();
            try
            {
                w.done.get(); // the writer's Error, if any
            }
            catch (...)
            {
                VSIUnlink(w.tmp.c_str());
                throw;
            }
            if (VSIRename(w.tmp.c_str(), w.file.c_str()) != 0)
            {
                VSIUnlink(w.tmp.c_str());
                throw Error(ErrorKind::Io, "cannot move " + w.tmp + " to " + w.file);
            }
            chmod(w.file.c_str(), 0644);
            OGRFeature f(layer.GetLayerDefn());
            f.SetField("path", w.ref.c_str());
            f.SetField("category", "overview");
            f.SetField("overview_level", w.level);
            f.SetField("built_from", w.builtFrom.c_str());
            if (layer.CreateFeature(&f) != OGRERR_NONE)
                throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
        };
        for (int k : levels)
        {
            const auto grid = pgmosaic::LevelGrid(m_oMosaic, k, tileSize);
            const std::string sub = "/" + m_osMosaicName + "_overviews/L" + std::to_string(k);
            if (VSIMkdirRecursive((root + sub).c_str(), 0755) != 0)
                throw Error(ErrorKind::Io, "cannot create " + root + sub);
            // Tiles of this level already in the catalog, with their status.
            std::map<std::string, std::string> existing;
            auto res = m_poConn->Exec("SELECT path::text, status FROM pgmosaic.item WHERE "
                                      "mosaic_id = $1 AND category = 'overview' AND "
                                      "overview_level = $2",
                                      {mosaicId, std::to_string(k)});
            for (int i = 0; i < PQntuples(res.get()); ++i)
                existing[PQgetvalue(res.get(), i, 0)] = PQgetvalue(res.get(), i, 1);
            for (int row = 0; row < grid.rows; ++row)
                for (int col = 0; col < grid.cols; ++col)
                {
                    const std::string name = CPLSPrintf("/r%05d_c%05d.tif", row, col);
                    const std::string ref = stored + sub + name, file = root + sub + name;
                    auto it = existing.find(ref);
                    if (it == existing.end() || it->second != "ok")
                    {
                        // What the tile is composed from, taken before the items are asked
                        // for: registration marks it stale if that changed meanwhile.
                        const std::string builtFrom = OverviewSources(grid, col, row);
                        m_poCatalog->Invalidate();
                        std::shared_ptr<GDALDataset> tile =
                            pgmosaic::ComposeOverviewTile(builder, m_oMosaic, grid, col, row);
                        if (tile)
                        {
                            finishWriting();
                            const std::string tmp = file + ".partial.tif";
                            writing = Writing{
                                std::async(std::launch::async,
                                           [tile, tmp, &cogOptions, &threadConfig] {
                                               CPLSetThreadLocalConfigOptions(threadConfig.List());
                                               pgmosaic::WriteOverviewTile(*tile, tmp,
                                                                           cogOptions.List());
                                           }),
                                tmp, file, ref, k, builtFrom};
                        }
                        else if (it != existing.end())
                        {
                            obsolete.push_back(ref);
                            VSIUnlink(file.c_str());
                        }
                    }
                    ++done;
                    if (pfnProgress && !pfnProgress(done / total, nullptr, pProgressData))
                        throw Error(ErrorKind::Internal, "interrupted");
                }
            // The next level reads this one: register it first.
            finishWriting();
            if (!layer.Flush())
                throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
            m_poCatalog->Invalidate();
        }
        if (!obsolete.empty())
        {
            std::string array = "{";
            for (size_t i = 0; i < obsolete.size(); ++i)
                array += (i ? "," : "") + QuoteArrayElement(obsolete[i]);
            Writer().Exec("SELECT pgmosaic.remove_rasters($1, $2::text[])",
                          {m_osMosaicName, array + "}"});
        }
        m_anBuiltLevels = m_poCatalog->BuiltLevels();
    });
}
