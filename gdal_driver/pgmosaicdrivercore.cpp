// Driver core: Identify, the driver's metadata, and registration.
#include "pgmosaic_driver.h"

int PGMosaicDriverIdentify(GDALOpenInfo* poOpenInfo)
{
    return pgmosaic::HasConnectionPrefix(poOpenInfo->pszFilename);
}

void PGMosaicDriverSetCommonMetadata(GDALDriver* poDriver)
{
    poDriver->SetDescription(kDriverName);
    poDriver->SetMetadataItem(GDAL_DMD_LONGNAME, "PostgreSQL pgmosaic dynamic mosaic");
    poDriver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    poDriver->SetMetadataItem(GDAL_DMD_SUBDATASETS, "YES");
    poDriver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, pgmosaic::kConnectionPrefix);
    poDriver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "NO");
    poDriver->SetMetadataItem(
        GDAL_DMD_OPENOPTIONLIST,
        "<OpenOptionList>"
        "  <Option name='MOSAIC' type='string' description='Name of the mosaic to open "
        "(overrides mosaic= of the connection string)'/>"
        "  <Option name='METHOD' type='string-select' default='first' "
        "description='How overlapping items are composed'>"
        "    <Value>first</Value><Value>last</Value><Value>min</Value><Value>max</Value>"
        "    <Value>mean</Value><Value>sum</Value><Value>count</Value>"
        "  </Option>"
        "  <Option name='BANDS' type='string' description='Item bands to expose, in order, "
        "e.g. 4,3,2'/>"
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
        "description='Number of threads reading sources in parallel, or ALL_CPUS'/>"
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
    GetGDALDriverManager()->RegisterDriver(poDriver);
}
