// The backend module itself: its magic block, _PG_init with every pgmosaic.* setting, GDAL set
// up for the backend, and the file access policy the settings describe. The SQL-callable
// functions are in the topic files (pg_files.cpp, pg_dad.cpp; the types in pg_types.cpp, a
// module of their own), each declared with PGMOSAIC_SQL_FUNCTION (pg_boundary.h).
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"
    PG_MODULE_MAGIC;
}

#include <mutex>
#include <string>

#include "gdal.h"
#include "cpl_conv.h"

#include "path_policy.h"
#include "pg_module.h"

namespace
{

bool g_bEnableFileAccess = false;
char* g_pszAllowedRoots = nullptr;
char* g_pszAllowedDrivers = nullptr;
char* g_pszAllowedNetworkPrefixes = nullptr;

} // namespace

namespace pgmosaic
{

void EnsureGdal()
{
    static std::once_flag once;
    std::call_once(once, [] {
        // The backend never writes side-car .aux.xml files next to the rasters it
        // inspects, and GDAL never prints: errors are collected per call and
        // reported through ereport.
        CPLSetConfigOption("GDAL_PAM_ENABLED", "NO");
        CPLSetErrorHandler(CPLQuietErrorHandler);
        GDALAllRegister();
    });
}

FileAccessPolicy CurrentFileAccessPolicy()
{
    FileAccessPolicy policy;
    policy.enabled = g_bEnableFileAccess;
    policy.allowedRoots = ParseRootList(g_pszAllowedRoots ? g_pszAllowedRoots : "");
    policy.allowedDrivers = ParseRootList(g_pszAllowedDrivers ? g_pszAllowedDrivers : "");
    policy.networkPrefixes =
        ParseRootList(g_pszAllowedNetworkPrefixes ? g_pszAllowedNetworkPrefixes : "");
    return policy;
}

} // namespace pgmosaic

extern "C"
{

    void _PG_init(void);

    void _PG_init(void)
    {
        DefineCustomBoolVariable("pgmosaic.enable_file_access",
                                 "Lets the backend open raster files (add_raster, inspect_raster).",
                                 "Off by default; only a superuser can change it.",
                                 &g_bEnableFileAccess, false, PGC_SUSET, 0, nullptr, nullptr,
                                 nullptr);
        DefineCustomStringVariable("pgmosaic.allowed_roots",
                                   "Comma-separated directories below which the backend may open "
                                   "raster files.",
                                   "Checked after resolving symbolic links and \"..\".",
                                   &g_pszAllowedRoots, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
        DefineCustomStringVariable(
            "pgmosaic.allowed_drivers",
            "Comma-separated GDAL drivers the backend may open raster files with.",
            "Formats that can reference other files (VRT, for one) are left out by default.",
            &g_pszAllowedDrivers, "GTiff,HFA,JP2OpenJPEG,PNG,JPEG", PGC_SUSET, 0, nullptr, nullptr,
            nullptr);
        DefineCustomStringVariable(
            "pgmosaic.allowed_network_prefixes",
            "Comma-separated network prefixes (/vsis3/bucket, https://host/dir, ...) below which "
            "the backend may open rasters.",
            "Empty by default: no network access.", &g_pszAllowedNetworkPrefixes, "", PGC_SUSET, 0,
            nullptr, nullptr, nullptr);
        MarkGUCPrefixReserved("pgmosaic");
    }

} // extern "C"
