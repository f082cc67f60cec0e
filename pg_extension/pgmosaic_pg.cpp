// The backend module itself: its magic block, _PG_init with every pgmosaic.* setting, GDAL set
// up for the backend, and the file access policy the settings describe. The SQL-callable
// functions are in the topic files (pg_files.cpp, pg_dad.cpp, pg_read.cpp; the types in
// pg_types.cpp, a module of their own), each declared with PGMOSAIC_SQL_FUNCTION (pg_boundary.h).
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
    PG_MODULE_MAGIC;
}

#include <string>
#include <vector>

#include "gdal.h"
#include "cpl_conv.h"

#include "error.h"
#include "path_policy.h"
#include "pg_boundary.h"
#include "pg_module.h"

namespace
{

bool g_bEnableFileAccess = false;
char* g_pszAllowedRoots = nullptr;
char* g_pszAllowedDrivers = nullptr;
char* g_pszAllowedNetworkPrefixes = nullptr;
int g_nMaxReadPixels = 100000000;

} // namespace

namespace pgmosaic
{

namespace
{

// Loads PostGIS raster's library into this backend if it is not yet (looking its version
// function up, as the caller's search path finds it: pgmosaic's functions run with PostGIS's
// schema on theirs). Its module initialisation destroys GDAL's driver manager and registers
// the drivers of postgis.gdal_enabled_drivers again (GDALDestroyDriverManager): loaded after
// pgmosaic had set GDAL up, it would throw away every setting made here and the block cache's
// mutex, and reading threads would then share the block cache without a lock.
void LoadPostgisRaster()
{
    PgCall([] {
        List* name = list_make1(makeString(pstrdup("postgis_raster_lib_version")));
        const Oid fn = LookupFuncName(name, 0, nullptr, true);
        if (OidIsValid(fn))
        {
            FmgrInfo info;
            fmgr_info(fn, &info); // loads the function's library
        }
    });
}

} // namespace

void EnsureGdal()
{
    static bool registered = false; // the backend's own thread only
    if (!registered)
    {
        LoadPostgisRaster();
        // GDAL never prints: errors are collected per call and reported through ereport.
        CPLSetErrorHandler(CPLQuietErrorHandler);
        // GDAL's block cache in each backend: 256 MB unless the server's environment sets
        // GDAL_CACHEMAX (GDAL's default, 5% of the machine's memory, in every backend).
        if (CPLGetConfigOption("GDAL_CACHEMAX", nullptr) == nullptr)
            GDALSetCacheMax64(static_cast<GIntBig>(256) * 1024 * 1024);
        GDALAllRegister();
        registered = true;
    }
    // Each time a superuser assigns postgis.gdal_enabled_drivers, PostGIS raster destroys GDAL's
    // driver manager again, and GDAL's configuration and block cache mutex with it: what pgmosaic
    // relies on is set again on every call (cheap), before any reading thread starts.
    // The backend never writes side-car .aux.xml files next to the rasters it reads.
    if (!EQUAL(CPLGetConfigOption("GDAL_PAM_ENABLED", "YES"), "NO"))
        CPLSetConfigOption("GDAL_PAM_ENABLED", "NO");
    GDALSetCacheMax64(GDALGetCacheMax64()); // creates the block cache mutex if it is gone
}

namespace
{

// PostGIS raster, once loaded into the backend, deregisters every GDAL driver its own setting
// postgis.gdal_enabled_drivers does not enable (GDAL's driver list is the process's): then
// pgmosaic could open nothing, and says why instead of calling every file unreadable.
void CheckDriversRegistered(const FileAccessPolicy& policy)
{
    EnsureGdal();
    std::vector<std::string> wanted = policy.allowedDrivers;
    if (wanted.empty())
        wanted.push_back("GTiff");
    // Some of the allowed drivers may be off on purpose; none at all is PostGIS's default.
    std::string missing;
    size_t registered = 0;
    for (const auto& d : wanted)
    {
        if (GDALGetDriverByName(d.c_str()) != nullptr)
            ++registered;
        else
            missing += (missing.empty() ? "" : ", ") + d;
    }
    if (registered > 0)
        return;
    const char* postgis = GetConfigOption("postgis.gdal_enabled_drivers", true, false);
    throw Error(ErrorKind::Permission,
                "GDAL's drivers " + missing +
                    " are not registered in this session: PostGIS raster disables every GDAL "
                    "driver that postgis.gdal_enabled_drivers (here '" +
                    std::string(postgis ? postgis : "") +
                    "') does not name; enable the formats pgmosaic reads there, e.g. "
                    "postgis.gdal_enabled_drivers = 'GTiff PNG JPEG' in postgresql.conf or "
                    "ALTER DATABASE ... SET");
}

} // namespace

FileAccessPolicy CurrentFileAccessPolicy()
{
    FileAccessPolicy policy;
    policy.enabled = g_bEnableFileAccess;
    policy.allowedRoots = ParseRootList(g_pszAllowedRoots ? g_pszAllowedRoots : "");
    policy.allowedDrivers = ParseRootList(g_pszAllowedDrivers ? g_pszAllowedDrivers : "");
    policy.networkPrefixes =
        ParseRootList(g_pszAllowedNetworkPrefixes ? g_pszAllowedNetworkPrefixes : "");
    if (policy.enabled)
        CheckDriversRegistered(policy);
    return policy;
}

int MaxReadPixels()
{
    return g_nMaxReadPixels;
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
        DefineCustomIntVariable(
            "pgmosaic.max_read_pixels",
            "The most values (width x height x bands) one call of read(), export(), "
            "zonal_stats() or render_tile() composes.",
            "A call asking for more fails naming this setting and the size asked.",
            &g_nMaxReadPixels, 100000000, 1, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);
        MarkGUCPrefixReserved("pgmosaic");
    }

} // extern "C"
