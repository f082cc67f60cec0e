// What the PGMOSAIC driver writes: CreateCopy (a raster written as a COG under the mosaic's
// managed root and registered), IBuildOverviews (gdaladdo's entry: its checks, the build's
// reader and directory; the build is common/overview_builder, its catalog side
// pgoverviewstore.cpp), and the vector side's registration glue (load options, layer creation,
// transactions of the items layers).
#include <cctype>
#include <memory>
#include <sys/stat.h>

#include "error.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

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
    const std::string json = get("JSON_FIELDS", "STRING");
    if (!EQUAL(json.c_str(), "STRING") && !EQUAL(json.c_str(), "JSON"))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid JSON_FIELDS \"" + json + "\": expected STRING or JSON");
    o.jsonSubtype = EQUAL(json.c_str(), "JSON");
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
    const std::string scan = get("SCAN", "FULL");
    if (!EQUAL(scan.c_str(), "FULL") && !EQUAL(scan.c_str(), "HEADER"))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid SCAN \"" + scan + "\": expected FULL or HEADER");
    o.inspect.scan = EQUAL(scan.c_str(), "FULL");
    const std::string publish = get("PUBLISH", "IMMEDIATE");
    if (!EQUAL(publish.c_str(), "IMMEDIATE") && !EQUAL(publish.c_str(), "AT_END"))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid PUBLISH \"" + publish + "\": expected IMMEDIATE or AT_END");
    o.publishAtEnd = EQUAL(publish.c_str(), "AT_END");
    const CPLStringList assets(CSLTokenizeString2(get("ASSETS", "").c_str(), ",", 0));
    for (int i = 0; i < assets.Count(); ++i)
        o.stacAssets.push_back(assets[i]);
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
                Writer(), m_osPostgis, mosaic, name, std::atoi(PQgetvalue(res.get(), 0, 0)), true,
                ParseLoadOptions(m_aosOpenOptions.List(), papszOptions).jsonSubtype));
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
        auto conn = pgmosaic::ParseConnectionString(pgmosaic::ConnectionTextOf(pszName));
        const std::string mosaic = conn.Get(pgmosaic::kKeyMosaic);
        if (mosaic.empty())
            throw Error(ErrorKind::InvalidParameter,
                        "gdal_translate -of PGMOSAIC needs mosaic= in the connection string");
        GDALOpenInfo info(pszName, GA_Update | GDAL_OF_VECTOR);
        std::unique_ptr<PGMosaicDataset> ds(static_cast<PGMosaicDataset*>(OpenDataset(&info, true)));
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
        if (!m_oCaps.overviews)
            throw Error(ErrorKind::InvalidParameter,
                        "mosaic-wide overviews need pgmosaic 0.2 or later "
                        "(ALTER EXTENSION pgmosaic UPDATE)");
        if (!m_poWriteConn)
        {
            // Opened read-only (gdal.Open, or gdaladdo after its update open failed): the
            // tiles still go into the catalog, through a connection to the primary (failing
            // with what the string lacks when it names only a standby). The build reads the
            // tiles of the levels it has just built: never through a standby that may not
            // have replayed them yet.
            m_poWriteConn =
                std::make_unique<PgConnection>(m_osConninfo, PgConnection::Access::ReadWrite);
            if (m_poConn->IsHotStandby())
                throw Error(ErrorKind::InvalidParameter,
                            "mosaic-wide overviews are built through the primary, and this "
                            "dataset reads from a hot standby: open it for update (gdaladdo "
                            "without -ro, gdal.OpenEx(..., gdal.OF_UPDATE))");
        }
        PgOverviewStore store(*m_poConn, Writer(), *m_poCatalog, m_osPostgis, m_oMosaic);
        if (nOverviews == 0)
        {
            pgmosaic::CleanOverviews(store);
            m_anBuiltLevels.clear();
            return;
        }
        pgmosaic::OverviewBuildPlan plan;
        plan.levels = pgmosaic::OverviewLevels(panOverviewList, nOverviews);

        pgmosaic::ReadOptions options = m_poReader->options();
        std::string resampling = pszResampling ? pszResampling : "nearest";
        for (auto& c : resampling)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        options.resampling = pgmosaic::ParseResampling(resampling);
        pgmosaic::CompositeReader builder(m_oMosaic, *m_poCheckedCatalog, options,
                                          kDefaultSourcePoolSize);
        plan.directory = ManagedDirectory(
            CSLFetchNameValueDef(m_aosOpenOptions.List(), "DIRECTORY", ""), &plan.storedDirectory);
        plan.cogOptions = pgmosaic::OverviewTileOptions();
        // A distributed build's task (python/pgmosaic_dask): some tiles of its levels only.
        if (const char* tiles = CSLFetchNameValue(m_aosOpenOptions.List(), "OVERVIEW_TILES"))
            plan.only = pgmosaic::ParseOverviewTiles(tiles);
        pgmosaic::BuildOverviews(builder, m_oMosaic, store, plan, pfnProgress, pProgressData);
        m_anBuiltLevels = m_poCatalog->BuiltLevels();
    });
}
