// STAC items written to the items layer (ogr2ogr of a STAC ItemCollection GeoJSON opened with
// -oo NATIVE_DATA=YES): each becomes an item made of several files. The STAC mapping (which
// assets, their hrefs, the item's properties) is the catalog's (_stac_assets,
// _stac_properties); the files are inspected here, so the server needs no access to them.
#include <algorithm>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "cpl_string.h"

#include "error.h"
#include "parallel.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// A text[] literal of `values` (NULL when empty), elements quoted.
std::string TextArray(const std::vector<std::string>& values)
{
    std::string out = "{";
    for (size_t i = 0; i < values.size(); ++i)
    {
        out += i ? ",\"" : "\"";
        for (char c : values[i])
        {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

// The directory relative hrefs are under: the feature's self link's, else the current one.
std::string BaseOf(const CPLJSONObject& feature)
{
    const CPLJSONArray links = feature.GetArray("links");
    for (int i = 0; i < links.Size(); ++i)
        if (links[i].GetString("rel") == "self")
        {
            const std::string href = links[i].GetString("href");
            if (!href.empty() && (href[0] == '/' || href.find("://") != std::string::npos))
                return href.substr(0, href.rfind('/'));
        }
    return CPLGetCurrentDir();
}

struct StacFile
{
    size_t item = 0;
    std::string key, path, openPath, error;
    pgmosaic::RasterInfo info;
};

} // namespace

void PGMosaicItemsLayer::FlushStac(std::vector<Pending>& batch)
{
    // The keys: ASSETS=, else the assets the mosaic's bands name.
    std::vector<std::string> keys = m_oLoad.stacAssets;
    {
        auto res = m_oConn.Exec("SELECT (SELECT pg_catalog.array_agg(DISTINCT e ->> 'asset') "
                                "FROM pg_catalog.jsonb_array_elements(m.band_sources) e) "
                                "FROM pgmosaic.mosaic m WHERE m.name = $1",
                                {m_osMosaic});
        if (keys.empty() && PQntuples(res.get()) == 1 && !PQgetisnull(res.get(), 0, 0))
        {
            const CPLStringList names(CSLTokenizeString2(
                std::string(PQgetvalue(res.get(), 0, 0)).substr(1).c_str(), ",}", 0));
            for (int i = 0; i < names.Count(); ++i)
                keys.push_back(names[i]);
        }
        if (keys.empty())
            throw Error(ErrorKind::InvalidParameter,
                        "mosaic \"" + m_osMosaic +
                            "\" has no bands by asset: give the STAC asset keys to register "
                            "with the load option ASSETS (e.g. -lco ASSETS=red,nir,qa)");
    }
    // The assets of each feature, as the catalog picks them.
    CPLJSONArray features, bases;
    for (const Pending& p : batch)
    {
        CPLJSONDocument doc;
        doc.LoadMemory(p.stac);
        features.Add(doc.GetRoot());
        bases.Add(BaseOf(doc.GetRoot()));
    }
    auto res = m_oConn.Exec(
        "SELECT pgmosaic._stac_assets(e, $2::text[], b #>> '{}')::text FROM "
        "pg_catalog.jsonb_array_elements($1::jsonb) WITH ORDINALITY x(e, n) JOIN "
        "pg_catalog.jsonb_array_elements($3::jsonb) WITH ORDINALITY y(b, m) ON x.n = y.m "
        "ORDER BY x.n",
        {features.Format(CPLJSONObject::PrettyFormat::Plain), TextArray(keys),
         bases.Format(CPLJSONObject::PrettyFormat::Plain)});
    std::vector<StacFile> files;
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        CPLJSONDocument doc;
        doc.LoadMemory(PQgetvalue(res.get(), i, 0));
        for (const auto& a : doc.GetRoot().GetChildren())
        {
            StacFile f;
            f.item = static_cast<size_t>(i);
            f.key = a.GetName();
            f.path = a.GetString("href");
            files.push_back(f);
        }
    }
    for (StacFile& f : files)
    {
        f.openPath = f.path;
        if (f.path.rfind("s3://", 0) == 0)
            f.openPath = "/vsis3/" + f.path.substr(5);
        else if (f.path.rfind("https://", 0) == 0 || f.path.rfind("http://", 0) == 0)
            f.openPath = "/vsicurl/" + f.path;
        else if (f.path[0] == '@')
        {
            auto r = m_oConn.Exec("SELECT pgmosaic.resolve_path($1)", {f.path});
            f.openPath = PQgetvalue(r.get(), 0, 0);
        }
    }
    pgmosaic::ParallelFor(files.size(), m_oLoad.numThreads, [&](size_t i, int) {
        try
        {
            files[i].info = pgmosaic::InspectRaster(files[i].openPath, m_oLoad.inspect);
        }
        catch (const std::exception& e)
        {
            files[i].error = e.what();
        }
    });
    // Items with a bad file are skipped whole (SKIP_BAD) or fail the batch.
    std::vector<bool> bad(batch.size(), false);
    for (const StacFile& f : files)
        if (!f.error.empty())
        {
            if (!m_oLoad.skipBad)
                throw Error(ErrorKind::Io, "cannot register " + batch[f.item].path + ": asset " +
                                               f.key + " (" + f.path + "): " + f.error +
                                               " (nothing of this batch was registered; "
                                               "SKIP_BAD=YES skips bad items)");
            if (!bad[f.item])
                CPLError(CE_Warning, CPLE_AppDefined, "PGMOSAIC: skipped %s: asset %s (%s): %s",
                         batch[f.item].path.c_str(), f.key.c_str(), f.path.c_str(),
                         f.error.c_str());
            bad[f.item] = true;
        }
    CPLJSONArray rows;
    int srid = 0;
    for (size_t i = 0; i < batch.size(); ++i)
    {
        if (bad[i])
            continue;
        CPLJSONObject assets;
        for (const StacFile& f : files)
            if (f.item == i)
            {
                CPLJSONObject a;
                a.Add("href", f.path);
                CPLJSONDocument info;
                info.LoadMemory(pgmosaic::RasterInfoToJson(f.info));
                a.Add("info", info.GetRoot());
                assets.Add(f.key, a);
                srid = srid ? srid : f.info.srid;
            }
        CPLJSONObject row;
        row.Add("feature", features[static_cast<int>(i)]);
        row.Add("assets", assets);
        rows.Add(row);
    }
    if (rows.Size() == 0)
        return;
    const char* dup = m_oLoad.onDuplicate == OnDuplicate::Skip     ? "skip"
                      : m_oLoad.onDuplicate == OnDuplicate::Update ? "update"
                                                                   : "fail";
    // One statement, one transaction: the mosaic made ready (created in the first file's SRID
    // and its bands declared by the keys when needed), then the batch, wholly or not at all.
    auto reg = m_oConn.Exec(
        "WITH k AS MATERIALIZED (SELECT pgmosaic._stac_collection($1, NULLIF($4, '')::text[], "
        "$5::integer) AS keys) SELECT count(r) FROM k, "
        "pg_catalog.jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n), LATERAL "
        "pgmosaic.register_item(CASE WHEN k.keys IS NOT NULL THEN $1 END, e->'assets', "
        "pgmosaic._stac_properties(e->'feature') || pg_catalog.jsonb_strip_nulls("
        "pg_catalog.jsonb_build_object('publish_batch', NULLIF($6, ''))), $3) AS r",
        {m_osMosaic, rows.Format(CPLJSONObject::PrettyFormat::Plain), dup,
         m_oLoad.stacAssets.empty() ? std::string() : TextArray(m_oLoad.stacAssets),
         std::to_string(srid), Batch()});
    m_nRegistered += std::atoi(PQgetvalue(reg.get(), 0, 0));
}
