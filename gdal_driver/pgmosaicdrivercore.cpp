// Driver core: Identify, the driver's metadata, and registration.
#include "pgmosaic_driver.h"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

#include "cpl_vsi.h"

int PGMosaicDriverIdentify(GDALOpenInfo* poOpenInfo)
{
    return pgmosaic::HasConnectionPrefix(poOpenInfo->pszFilename) ||
           pgmosaic::HasPathPrefix(poOpenInfo->pszFilename);
}

namespace
{

// /vsipgmosaic/<conninfo>/<mosaic> stats as an empty regular file (so that tools checking a
// file exists, such as gdal2tiles.py, go on to open it) and has no bytes to read; the driver
// opens it. Nothing here touches the server.
int PathStat(void*, const char* pszFilename, VSIStatBufL* pStatBuf, int)
{
    const char* last = strrchr(pszFilename, '/');
    if (last == nullptr || last[1] == '\0')
    {
        errno = ENOENT;
        return -1;
    }
    pStatBuf->st_mode = S_IFREG | 0444;
    pStatBuf->st_size = 0;
    return 0;
}

void* PathOpen(void*, const char*, const char*)
{
    errno = ENOENT;
    return nullptr;
}

void InstallPathHandler()
{
    VSIFilesystemPluginCallbacksStruct* cb = VSIAllocFilesystemPluginCallbacksStruct();
    cb->stat = PathStat;
    cb->open = PathOpen;
    VSIInstallPluginHandler(pgmosaic::kPathPrefix, cb);
    VSIFreeFilesystemPluginCallbacksStruct(cb);
}

} // namespace

void PGMosaicDriverSetCommonMetadata(GDALDriver* poDriver)
{
    poDriver->SetDescription(kDriverName);
    poDriver->SetMetadataItem(GDAL_DMD_LONGNAME, "PostgreSQL pgmosaic dynamic mosaic");
    poDriver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    poDriver->SetMetadataItem(GDAL_DCAP_VECTOR, "YES");
    poDriver->SetMetadataItem(GDAL_DCAP_CREATE, "YES");
    poDriver->SetMetadataItem(GDAL_DCAP_CREATECOPY, "YES");
    poDriver->SetMetadataItem(
        GDAL_DMD_CREATIONOPTIONLIST,
        "<CreationOptionList>"
        "  <Option name='DIRECTORY' type='string' description='Where the COG is written (a "
        "directory or @root/sub); default: the path root named after the mosaic'/>"
        "  <Option name='NAME' type='string' description='File name of the COG'/>"
        "  <Option name='COMPRESS' type='string' default='DEFLATE' description='COG "
        "compression (and any other COG driver creation option)'/>"
        "</CreationOptionList>");
    poDriver->SetMetadataItem(
        GDAL_DS_LAYER_CREATIONOPTIONLIST,
        "<LayerCreationOptionList>"
        "  <Option name='SKIP_BAD' type='boolean' default='NO' description='Skip and report "
        "rasters that cannot be read instead of failing the load'/>"
        "  <Option name='ON_DUPLICATE' type='string-select' default='SKIP' description='What "
        "to do with a path already in the mosaic'>"
        "    <Value>SKIP</Value><Value>UPDATE</Value><Value>FAIL</Value>"
        "  </Option>"
        "  <Option name='BATCH_SIZE' type='int' default='200' description='Rasters registered "
        "per transaction'/>"
        "  <Option name='FOOTPRINT' type='string-select' default='VALID' description='Outline "
        "of the valid pixels, or of the raster extent'>"
        "    <Value>VALID</Value><Value>EXTENT</Value>"
        "  </Option>"
        "  <Option name='STATISTICS' type='string-select' default='APPROX' "
        "description='Per-band statistics from an overview, at full resolution, or none'>"
        "    <Value>APPROX</Value><Value>EXACT</Value><Value>NONE</Value>"
        "  </Option>"
        "  <Option name='MAX_BLOCKS' type='int' default='1000000' description='Rasters with "
        "more full-resolution blocks are refused (the scan reads every block); 0: no limit'/>"
        "  <Option name='SCAN' type='string-select' default='FULL' description='FULL reads "
        "every block (exact DRAD statistics and footprint); HEADER reads the header only: "
        "byte ranges from the IFDs, footprint traced on an overview'>"
        "    <Value>FULL</Value><Value>HEADER</Value>"
        "  </Option>"
        "  <Option name='PUBLISH' type='string-select' default='IMMEDIATE' description='AT_END: "
        "no read shows the new items of the load before it ends without error, then all of "
        "them'>"
        "    <Value>IMMEDIATE</Value><Value>AT_END</Value>"
        "  </Option>"
        "  <Option name='ASSETS' type='string' description='STAC item features (GeoJSON "
        "opened with -oo NATIVE_DATA=YES): the asset keys to register, e.g. red,nir,qa (they "
        "name the bands of a mosaic without bands yet)'/>"
        "</LayerCreationOptionList>");
    poDriver->SetMetadataItem(GDAL_DMD_SUBDATASETS, "YES");
    poDriver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, pgmosaic::kConnectionPrefix);
    poDriver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "NO");
    poDriver->SetMetadataItem(
        GDAL_DMD_OPENOPTIONLIST,
        "<OpenOptionList>"
        "  <Option name='MOSAIC' type='string' description='Name of the mosaic to open "
        "(overrides mosaic= of the connection string)'/>"
        "  <Option name='METHOD' type='string' default='first' "
        "description='How overlapping items are composed: first, last, min, max, mean, sum, "
        "count, median, stdev, percentile:P or quality:&lt;band expression&gt;'/>"
        "  <Option name='MAX_ITEMS' type='int' description='Compose only the first N items "
        "in mosaic order'/>"
        "  <Option name='ASOF' type='string' description='The catalog as it stood at this "
        "time (ISO 8601): items registered, removed or re-pointed later are ignored'/>"
        "  <Option name='BANDS' type='string' description='Bands to expose, in order, by "
        "number or name, e.g. 4,3,2 or nir,red,green'/>"
        "  <Option name='MASK' type='string' description='Band expression true where an "
        "item&apos;s pixels are transparent (e.g. bit(qa, 3) or bit(qa, 4)); none: not the "
        "mosaic&apos;s stored mask'/>"
        "  <Option name='RESAMPLING' type='string-select' default='nearest' "
        "description='Resampling of items off the mosaic grid and of zoomed-out reads'>"
        "    <Value>nearest</Value><Value>bilinear</Value><Value>cubic</Value>"
        "    <Value>cubicspline</Value><Value>lanczos</Value><Value>average</Value>"
        "    <Value>mode</Value>"
        "  </Option>"
        "  <Option name='MISSING' type='string-select' default='fail' "
        "description='What a read does with a missing or unreadable item'>"
        "    <Value>fail</Value><Value>skip</Value>"
        "  </Option>"
        "  <Option name='NUM_THREADS' type='string' default='ALL_CPUS' "
        "description='Number of threads reading or inspecting sources in parallel, or "
        "ALL_CPUS'/>"
        "  <Option name='PREFETCH' type='string-select' default='none' description='Compose "
        "the 8 tiles around each read in the background (zoom and pan)'>"
        "    <Value>none</Value><Value>neighbors</Value>"
        "  </Option>"
        "  <Option name='JSON_FIELDS' type='string-select' default='STRING' "
        "description='jsonb columns of the items and themes layers as plain strings (QGIS 3.22 "
        "cannot save JSON-subtype fields) or with GDAL&apos;s JSON subtype (nested objects in "
        "GeoJSON output)'>"
        "    <Value>STRING</Value><Value>JSON</Value>"
        "  </Option>"
        "  <Option name='SKIP_BAD' type='boolean' default='NO' description='Loading: skip "
        "unreadable rasters'/>"
        "  <Option name='ON_DUPLICATE' type='string' default='SKIP' description='Loading: "
        "SKIP, UPDATE or FAIL on a path already registered'/>"
        "  <Option name='BATCH_SIZE' type='int' default='200' description='Loading: rasters "
        "per transaction'/>"
        "  <Option name='FOOTPRINT' type='string' default='VALID' description='Loading: VALID "
        "or EXTENT'/>"
        "  <Option name='STATISTICS' type='string' default='APPROX' description='Loading: "
        "APPROX, EXACT or NONE'/>"
        "  <Option name='MAX_BLOCKS' type='int' default='1000000' description='Loading: "
        "rasters with more full-resolution blocks are refused; 0: no limit'/>"
        "  <Option name='SCAN' type='string' default='FULL' description='Loading: FULL "
        "(read every block) or HEADER (the header only: byte ranges from the IFDs, footprint "
        "from an overview)'/>"
        "  <Option name='ASSETS' type='string' description='Loading STAC items: the asset "
        "keys to register'/>"
        "  <Option name='OVERVIEW_TILES' type='string' description='gdaladdo builds only "
        "these tiles of its levels, e.g. 1/0/0,1/1/0 (level/col/row; level 1 is factor 2): "
        "one task of a distributed build'/>"
        "  <Option name='STATEMENT_TIMEOUT' type='float' default='60' description='Seconds a "
        "catalog query of a read may run (where= and sort= included); 0: no limit. Default "
        "from PGMOSAIC_STATEMENT_TIMEOUT'/>"
        "</OpenOptionList>");
}

extern "C" __attribute__((visibility("default"))) void GDALRegister_PGMOSAIC();

extern "C" void GDALRegister_PGMOSAIC()
{
    if (!GDAL_CHECK_VERSION("PGMOSAIC"))
        return;
    if (GDALGetDriverByName(kDriverName) != nullptr)
        return;
    auto* poDriver = new GDALDriver();
    PGMosaicDriverSetCommonMetadata(poDriver);
    poDriver->pfnIdentify = PGMosaicDriverIdentify;
    poDriver->pfnOpen = PGMosaicDataset::Open;
    poDriver->pfnCreate = PGMosaicDataset::CreateVector;
    poDriver->pfnCreateCopy = PGMosaicDataset::CreateCopy;
    poDriver->pfnUnloadDriver = [](GDALDriver*) {
        PgConnection::ClosePool();
    };
    GetGDALDriverManager()->RegisterDriver(poDriver);
    InstallPathHandler();
}
