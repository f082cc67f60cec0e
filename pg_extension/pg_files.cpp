// The catalog's file functions: inspecting a raster (with statistics), inspecting without
// raising, the state of a file, the rasters of a directory (the settings that limit them are
// in pgmosaic_pg.cpp). Thin wrappers: the work is done by common/inspect/inspect.cpp and
// common/inspect/file_scan.cpp.
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

#include <string>

#include "cpl_json.h"
#include "cpl_vsi.h"
#include "gdal.h"

#include "error.h"

#include "inspect/file_scan.h"
#include "inspect/inspect.h"
#include "path_policy.h"
#include "pg_module.h"
#include "pg_spi_catalog.h"
#include "pg_util.h"

using pgmosaic::PgCall;

namespace
{

Datum JsonbDatum(const std::string& json)
{
    return PgCall([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
}

std::string InspectToJson(const std::string& path, const std::string& statistics)
{
    pgmosaic::InspectOptions options;
    options.statistics = pgmosaic::ParseStatisticsMode(statistics);
    options.cancel = pgmosaic::BackendCancel();
    const auto policy = pgmosaic::CurrentFileAccessPolicy();
    pgmosaic::EnsureGdal();
    if (policy.enabled && path.rfind("/vsi", 0) == 0)
        pgmosaic::SpiApplyRootOptions(policy);
    const pgmosaic::RasterInfo info = pgmosaic::InspectAllowedRaster(policy, path, options);
    // Formatting the record of a huge tile index takes seconds (and does not stop): not after
    // an interrupt.
    options.cancel.Check("inspecting " + path);
    return pgmosaic::RasterInfoToJson(info);
}

} // namespace

// inspect_raster(path text) -> jsonb: the symbol of the released 0.1 script, without statistics.
PGMOSAIC_SQL_FUNCTION(pgmosaic_inspect_raster)
{
    std::string path = pgmosaic::PgCall([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    pgmosaic::EnsureGdal();
    pgmosaic::InspectOptions options;
    options.cancel = pgmosaic::BackendCancel();
    const std::string json = pgmosaic::RasterInfoToJson(
        pgmosaic::InspectAllowedRaster(pgmosaic::CurrentFileAccessPolicy(), path, options));
    return pgmosaic::PgCall(
        [&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
}

// gdal_version() -> text: the GDAL release the backend module runs with.
PGMOSAIC_SQL_FUNCTION(pgmosaic_gdal_version)
{
    const char* v = GDALVersionInfo("RELEASE_NAME");
    return pgmosaic::PgCall([&] { return PointerGetDatum(cstring_to_text(v)); });
}

// inspect_raster(path text, statistics text) -> jsonb
PGMOSAIC_SQL_FUNCTION(pgmosaic_inspect_raster_v2)
{
    const std::string path = pgmosaic::TextArg(fcinfo, 0);
    const std::string statistics = pgmosaic::TextArg(fcinfo, 1);
    return JsonbDatum(InspectToJson(path, statistics));
}

// try_inspect_raster(path text, statistics text) -> jsonb: the header, or
// {"error": message, "sqlstate": code} for a file that cannot be inspected. Raises only when
// backend file access is disabled, or for an invalid statistics mode.
PGMOSAIC_SQL_FUNCTION(pgmosaic_try_inspect_raster)
{
    const std::string path = pgmosaic::TextArg(fcinfo, 0);
    const std::string statistics = pgmosaic::TextArg(fcinfo, 1);
    pgmosaic::ParseStatisticsMode(statistics);
    if (!pgmosaic::CurrentFileAccessPolicy().enabled)
        pgmosaic::CheckPathAllowed(pgmosaic::CurrentFileAccessPolicy(), path);
    std::string json;
    try
    {
        json = InspectToJson(path, statistics);
    }
    catch (const pgmosaic::Error& e)
    {
        CPLJSONObject o;
        o.Add("error", e.what());
        o.Add("sqlstate", unpack_sql_state(pgmosaic::SqlStateOf(e.kind())));
        json = o.Format(CPLJSONObject::PrettyFormat::Plain);
    }
    return JsonbDatum(json);
}

// stat_raster(path text, OUT state text, OUT size bigint, OUT mtime timestamptz,
//             OUT detail text): state is present, missing or denied.
PGMOSAIC_SQL_FUNCTION(pgmosaic_stat_raster)
{
    const std::string path = pgmosaic::TextArg(fcinfo, 0);
    const pgmosaic::FileState st =
        pgmosaic::StatRasterFile(pgmosaic::CurrentFileAccessPolicy(), path);
    const char* kind = st.kind == pgmosaic::FileState::Kind::Present   ? "present"
                       : st.kind == pgmosaic::FileState::Kind::Missing ? "missing"
                                                                       : "denied";
    const bool present = st.kind == pgmosaic::FileState::Kind::Present;
    return PgCall([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "stat_raster must return a record");
        desc = BlessTupleDesc(desc);
        Datum values[4];
        bool nulls[4] = {false, !present, !present, present};
        values[0] = PointerGetDatum(cstring_to_text(kind));
        values[1] = Int64GetDatum(st.size);
        values[2] = TimestampTzGetDatum(time_t_to_timestamptz(st.mtime));
        values[3] = PointerGetDatum(cstring_to_text(st.detail.c_str()));
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}

// list_rasters(directory text, pattern text, recursive boolean) -> SETOF text
PGMOSAIC_SQL_FUNCTION(pgmosaic_list_rasters)
{
    const std::string directory = pgmosaic::TextArg(fcinfo, 0);
    const std::string pattern = pgmosaic::TextArg(fcinfo, 1);
    const bool recursive = PG_GETARG_BOOL(2);
    const auto files = pgmosaic::ListRasterFiles(pgmosaic::CurrentFileAccessPolicy(), directory,
                                                 pattern, recursive);
    PgCall([&] {
        InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
        ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        bool isnull = false;
        for (const auto& f : files)
        {
            Datum d = PointerGetDatum(cstring_to_text_with_len(f.data(), (int)f.size()));
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
        }
    });
    return static_cast<Datum>(0);
}

// _read_json_file(path text) -> jsonb: a JSON file the backend may read (allowed roots or
// network prefixes), for import_stac_file. At most 256 MB; a file that is not JSON is refused
// without quoting it.
PGMOSAIC_SQL_FUNCTION(pgmosaic_read_json_file)
{
    const std::string path = pgmosaic::TextArg(fcinfo, 0);
    const auto policy = pgmosaic::CurrentFileAccessPolicy();
    if (!policy.enabled)
        throw pgmosaic::Error(pgmosaic::ErrorKind::Permission,
                              "reading " + path +
                                  " needs backend file access: a superuser must set "
                                  "pgmosaic.enable_file_access = on");
    pgmosaic::EnsureGdal();
    const std::string canonical = pgmosaic::CheckPathAllowed(policy, path);
    constexpr vsi_l_offset kMaxBytes = 256u << 20;
    VSILFILE* fp = VSIFOpenL(canonical.c_str(), "rb");
    if (fp == nullptr)
        throw pgmosaic::Error(pgmosaic::ErrorKind::NotFound, "cannot open " + path);
    std::string text;
    char chunk[65536];
    size_t n = 0;
    bool tooBig = false;
    while ((n = VSIFReadL(chunk, 1, sizeof(chunk), fp)) > 0)
    {
        text.append(chunk, n);
        if (text.size() > kMaxBytes)
        {
            tooBig = true;
            break;
        }
    }
    VSIFCloseL(fp);
    if (tooBig)
        throw pgmosaic::Error(pgmosaic::ErrorKind::InvalidParameter,
                              path + " is larger than 256 MB");
    CPLJSONDocument doc;
    {
        pgmosaic::GdalErrorCollector quiet; // the parser's message quotes the file
        if (!doc.LoadMemory(text))
            throw pgmosaic::Error(pgmosaic::ErrorKind::InvalidParameter,
                                  path + " is not a JSON file");
    }
    return JsonbDatum(text);
}
