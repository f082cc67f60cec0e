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
