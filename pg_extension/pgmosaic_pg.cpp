// The backend module: GUCs and the SQL-callable functions. Each function is a thin wrapper; the
// work is done by common/.
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
    PG_MODULE_MAGIC;
}

#include <mutex>
#include <string>

#include "gdal.h"
#include "cpl_conv.h"

#include "inspect/inspect.h"
#include "path_policy.h"
#include "pg_boundary.h"
#include "pg_module.h"

namespace
{

bool g_bEnableFileAccess = false;
char* g_pszAllowedRoots = nullptr;

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
    AddCatalogSettings(policy);
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
        pgmosaic::CatalogInit();
        MarkGUCPrefixReserved("pgmosaic");
    }

    PG_FUNCTION_INFO_V1(pgmosaic_inspect_raster);
    Datum pgmosaic_inspect_raster(PG_FUNCTION_ARGS)
    {
        return pgmosaic::CppBoundary([&]() -> Datum {
            std::string path =
                pgmosaic::PgCall([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
            pgmosaic::EnsureGdal();
            pgmosaic::InspectOptions options;
            options.cancel = pgmosaic::BackendCancel();
            const std::string json = pgmosaic::RasterInfoToJson(
                pgmosaic::InspectAllowedRaster(pgmosaic::CurrentFileAccessPolicy(), path, options));
            return pgmosaic::PgCall(
                [&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
        });
    }

    PG_FUNCTION_INFO_V1(pgmosaic_gdal_version);
    Datum pgmosaic_gdal_version(PG_FUNCTION_ARGS)
    {
        (void)fcinfo;
        return pgmosaic::CppBoundary([&]() -> Datum {
            const char* v = GDALVersionInfo("RELEASE_NAME");
            return pgmosaic::PgCall([&] { return PointerGetDatum(cstring_to_text(v)); });
        });
    }

} // extern "C"
