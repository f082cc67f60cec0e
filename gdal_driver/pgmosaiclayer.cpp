// The items and boundary layers, and raster registration through ogr2ogr.
#include "pgmosaic_driver.h"
#include "read/range_fetcher.h"

#include <cctype>
#include <cstdlib>

#include "cpl_json.h"
#include "ogr_p.h"

#include "error.h"
#include "parallel.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

std::string Num(double v)
{
    return CPLSPrintf("%.17g", v);
}

std::string Lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool IsArray(const CatalogColumn& c)
{
    return c.type == OFTRealList || c.type == OFTIntegerList || c.type == OFTInteger64List ||
           c.type == OFTStringList;
}

OGRGeometry* GeometryFromHex(const char* hex, OGRSpatialReference* srs)
{
    int n = 0;
    GByte* wkb = CPLHexToBinary(hex, &n);
    OGRGeometry* g = nullptr;
    OGRGeometryFactory::createFromWkb(wkb, srs, &g, n);
    CPLFree(wkb);
    return g;
}

// What a client opens for a reference as written in an index: VSI forms of URLs, absolute
// local paths.
std::string OpenablePath(const std::string& path)
{
    if (path.rfind("s3://", 0) == 0)
        return "/vsis3/" + path.substr(5);
    if (path.rfind("https://", 0) == 0 || path.rfind("http://", 0) == 0)
        return "/vsicurl/" + path;
    return path;
}

// A referenced multipolygon layer definition in EPSG:srid (none when srid is 0).
OGRFeatureDefn* NewLayerDefn(const std::string& name, int srid)
{
    auto* defn = new OGRFeatureDefn(name.c_str());
    defn->Reference();
    defn->SetGeomType(wkbMultiPolygon);
    if (srid > 0)
    {
        auto* srs = new OGRSpatialReference();
        srs->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        if (srs->importFromEPSG(srid) == OGRERR_NONE)
            defn->GetGeomFieldDefn(0)->SetSpatialRef(srs);
        srs->Release();
    }
    return defn;
}

// False, with an error, when the dataset was opened read-only: the layers' writing methods.
bool Updatable(bool update)
{
    if (!update)
        CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is not open for update");
    return update;
}

// The layers' CreateField: a field of the source joins the layer's definition unless one of
// that name is there (an item column, or a theme's).
OGRErr AcceptField(OGRFeatureDefn* defn, const OGRFieldDefn* field, bool update)
{
    if (!Updatable(update))
        return OGRERR_FAILURE;
    if (defn->GetFieldIndex(field->GetNameRef()) < 0)
        defn->AddFieldDefn(field);
    return OGRERR_NONE;
}

} // namespace

std::vector<CatalogColumn> LoadItemColumns(PgConnection& conn)
{
    auto res = conn.Exec(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, "
        "COALESCE(e.typname, t.typname) "
        "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
        "WHERE a.attrelid = 'pgmosaic.item'::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attname NOT IN ('mosaic_id', 'id', 'footprint') ORDER BY a.attnum");
    std::vector<CatalogColumn> cols;
    for (int i = 0; i < PQntuples(res.get()); ++i)
    {
        CatalogColumn c;
        c.name = PQgetvalue(res.get(), i, 0);
        c.sqlType = PQgetvalue(res.get(), i, 1);
        const std::string category = PQgetvalue(res.get(), i, 2);
        const std::string base = PQgetvalue(res.get(), i, 3);
        const bool array = category == "A";
        if (base == "int2" || base == "int4")
            c.type = array ? OFTIntegerList : OFTInteger;
        else if (base == "int8")
            c.type = array ? OFTInteger64List : OFTInteger64;
        else if (base == "float4" || base == "float8" || base == "numeric")
            c.type = array ? OFTRealList : OFTReal;
        else if (base == "bool" && !array)
        {
            c.type = OFTInteger;
            c.subType = OFSTBoolean;
        }
        else if ((base == "timestamptz" || base == "timestamp") && !array)
            c.type = OFTDateTime;
        else if (base == "date" && !array)
            c.type = OFTDate;
        else if ((base == "jsonb" || base == "json") && !array)
        {
            c.type = OFTString;
            c.subType = OFSTJSON;
        }
        else
            c.type = array ? OFTStringList : OFTString;
        cols.push_back(c);
    }
    return cols;
}

/************************************************************************/
/*                          PGMosaicPagedLayer                          */
/************************************************************************/

void PGMosaicPagedLayer::ResetReading()
{
    m_apoPage.clear();
    m_nPagePos = 0;
    m_nLastId = 0;
    m_bEnd = false;
}

OGRFeature* PGMosaicPagedLayer::GetNextFeature()
{
    return GdalGuard(
        [&]() -> OGRFeature* {
            while (true)
            {
                if (m_nPagePos >= m_apoPage.size())
                {
                    if (m_bEnd)
                        return nullptr;
                    m_apoPage = FetchPage(m_nLastId);
                    m_nPagePos = 0;
                    if (!m_apoPage.empty())
                        m_nLastId = m_apoPage.back()->GetFID();
                    m_bEnd = m_apoPage.size() < static_cast<size_t>(kPageSize);
                    if (m_apoPage.empty())
                        return nullptr;
                }
                std::unique_ptr<OGRFeature> f = std::move(m_apoPage[m_nPagePos++]);
                if ((m_poFilterGeom == nullptr || FilterGeometry(f->GetGeometryRef())) &&
                    (m_poAttrQuery == nullptr || m_poAttrQuery->Evaluate(f.get())))
                    return f.release();
            }
        },
        nullptr);
}

/************************************************************************/
/*                          PGMosaicItemsLayer                          */
/************************************************************************/

PGMosaicItemsLayer::PGMosaicItemsLayer(PgConnection& conn, const std::string& postgis,
                                       const std::string& mosaic, const std::string& layerName,
                                       int srid, const std::vector<CatalogColumn>& columns,
                                       bool update, const LoadOptions& load)
    : m_oConn(conn), m_osPostgis(postgis), m_osMosaic(mosaic), m_nSrid(srid), m_aoColumns(columns),
      m_bUpdate(update), m_oLoad(load)
{
    m_poDefn = NewLayerDefn(layerName, srid);
    SetDescription(layerName.c_str());
    for (const auto& c : m_aoColumns)
    {
        OGRFieldDefn f(c.name.c_str(), c.type);
        if (c.subType != OFSTJSON || m_oLoad.jsonSubtype)
            f.SetSubType(c.subType);
        m_poDefn->AddFieldDefn(&f);
    }
}

PGMosaicItemsLayer::~PGMosaicItemsLayer()
{
    Flush();
    // PUBLISH=AT_END: every item of the load shows at once, or none (a failed load's are
    // removed).
    if (!m_osBatch.empty())
        GdalGuard(
            [&]() -> bool {
                m_oConn.Exec(m_bFailed ? "SELECT pgmosaic.discard($1, $2)"
                                       : "SELECT pgmosaic.publish($1, $2)",
                             {m_osMosaic, m_osBatch});
                return true;
            },
            false);
    m_poDefn->Release();
}

// A quoted SQL identifier (libpq's PQescapeIdentifier needs a connection; names here are
// catalog column names, so doubling quotes is enough).
static std::string QuoteIdent(const std::string& name)
{
    std::string out = "\"";
    for (char c : name)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string PGMosaicItemsLayer::SelectList() const
{
    std::string sql = "i.id, encode(" + m_osPostgis + ".ST_AsBinary(" + m_osPostgis +
                      ".ST_Multi(i.footprint)), 'hex')";
    for (const auto& c : m_aoColumns)
    {
        const std::string col = "i." + QuoteIdent(c.name);
        sql += IsArray(c) ? ", to_jsonb(" + col + ")::text" : ", " + col + "::text";
    }
    return sql;
}

void PGMosaicItemsLayer::SetSpatialFilter(OGRGeometry* poGeom)
{
    OGRLayer::SetSpatialFilter(poGeom);
    ResetReading();
}

// " AND ..." keeping the items whose footprint intersects the spatial filter (none without
// one), its values appended to `params`; the same test as OGRLayer::FilterGeometry, so that
// the server's count agrees with the features read.
std::string PGMosaicItemsLayer::SpatialFilterSql(std::vector<std::string>& params) const
{
    if (m_poFilterGeom == nullptr)
        return std::string();
    const std::string& pg = m_osPostgis;
    const size_t first = params.size() + 1;
    auto arg = [&](size_t k) { return "$" + std::to_string(first + k); };
    params.push_back(Num(m_sFilterEnvelope.MinX));
    params.push_back(Num(m_sFilterEnvelope.MinY));
    params.push_back(Num(m_sFilterEnvelope.MaxX));
    params.push_back(Num(m_sFilterEnvelope.MaxY));
    std::string sql = " AND i.footprint OPERATOR(" + pg + ".&&) " + pg + ".ST_MakeEnvelope(" +
                      arg(0) + ", " + arg(1) + ", " + arg(2) + ", " + arg(3) + ", m.srid)";
    char* wkt = nullptr;
    if (m_poFilterGeom->exportToWkt(&wkt) == OGRERR_NONE && wkt != nullptr)
    {
        params.push_back(wkt);
        sql += " AND " + pg + ".ST_Intersects(i.footprint, " + pg + ".ST_GeomFromText(" +
               arg(4) + ", m.srid))";
    }
    CPLFree(wkt);
    return sql;
}

std::vector<std::unique_ptr<OGRFeature>> PGMosaicItemsLayer::FetchPage(GIntBig afterId)
{
    std::string sql = "SELECT " + SelectList() +
                      " FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id "
                      "WHERE m.name = $1 AND i.id > $2";
    std::vector<std::string> params{m_osMosaic, std::to_string(afterId)};
    sql += SpatialFilterSql(params);
    sql += " ORDER BY i.id LIMIT " + std::to_string(kPageSize);
    auto res = m_oConn.Exec(sql.c_str(), params);
    std::vector<std::unique_ptr<OGRFeature>> page;
    for (int i = 0; i < PQntuples(res.get()); ++i)
        page.emplace_back(Translate(res.get(), i));
    return page;
}

OGRFeature* PGMosaicItemsLayer::Translate(PGresult* r, int row)
{
    auto* f = new OGRFeature(m_poDefn);
    f->SetFID(std::atoll(PQgetvalue(r, row, 0)));
    if (!PQgetisnull(r, row, 1))
        f->SetGeometryDirectly(
            GeometryFromHex(PQgetvalue(r, row, 1), m_poDefn->GetGeomFieldDefn(0)->GetSpatialRef()));
    for (size_t i = 0; i < m_aoColumns.size(); ++i)
    {
        const int col = static_cast<int>(i) + 2;
        if (PQgetisnull(r, row, col))
        {
            f->SetFieldNull(static_cast<int>(i));
            continue;
        }
        const char* v = PQgetvalue(r, row, col);
        const CatalogColumn& c = m_aoColumns[i];
        if (c.subType == OFSTBoolean)
            f->SetField(static_cast<int>(i), v[0] == 't' ? 1 : 0);
        else if (IsArray(c))
        {
            CPLJSONDocument doc;
            if (!doc.LoadMemory(v))
                continue;
            CPLJSONArray a = doc.GetRoot().ToArray();
            if (c.type == OFTRealList)
            {
                std::vector<double> d;
                for (int k = 0; k < a.Size(); ++k)
                    d.push_back(a[k].ToDouble());
                f->SetField(static_cast<int>(i), static_cast<int>(d.size()), d.data());
            }
            else if (c.type == OFTIntegerList || c.type == OFTInteger64List)
            {
                std::vector<GIntBig> d;
                for (int k = 0; k < a.Size(); ++k)
                    d.push_back(a[k].ToLong());
                f->SetField(static_cast<int>(i), static_cast<int>(d.size()), d.data());
            }
            else
            {
                CPLStringList l;
                for (int k = 0; k < a.Size(); ++k)
                    l.AddString(a[k].ToString().c_str());
                f->SetField(static_cast<int>(i), l.List());
            }
        }
        else
            f->SetField(static_cast<int>(i), v);
    }
    return f;
}

OGRFeature* PGMosaicItemsLayer::GetFeature(GIntBig nFID)
{
    return GdalGuard(
        [&]() -> OGRFeature* {
            const std::string sql = "SELECT " + SelectList() +
                                    " FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = "
                                    "i.mosaic_id WHERE m.name = $1 AND i.id = $2";
            auto res = m_oConn.Exec(sql.c_str(), {m_osMosaic, std::to_string(nFID)});
            return PQntuples(res.get()) ? Translate(res.get(), 0) : nullptr;
        },
        nullptr);
}

GIntBig PGMosaicItemsLayer::GetFeatureCount(int bForce)
{
    if (m_poAttrQuery != nullptr)
        return OGRLayer::GetFeatureCount(bForce);
    return GdalGuard(
        [&]() -> GIntBig {
            std::vector<std::string> params{m_osMosaic};
            const std::string sql = "SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                                    "ON m.id = i.mosaic_id WHERE m.name = $1" +
                                    SpatialFilterSql(params);
            auto res = m_oConn.Exec(sql.c_str(), params);
            return std::atoll(PQgetvalue(res.get(), 0, 0));
        },
        -1);
}

OGRErr PGMosaicItemsLayer::GetExtent(OGREnvelope* psExtent, int)
{
    return GdalGuard(
        [&]() -> OGRErr {
            auto res = m_oConn.Exec(("SELECT " + m_osPostgis + ".ST_XMin(e), " + m_osPostgis +
                                     ".ST_YMin(e), " + m_osPostgis + ".ST_XMax(e), " + m_osPostgis +
                                     ".ST_YMax(e) FROM (SELECT " + m_osPostgis +
                                     ".ST_Extent(i.footprint) AS e FROM pgmosaic.item i JOIN "
                                     "pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = $1) s")
                                        .c_str(),
                                    {m_osMosaic});
            if (PQgetisnull(res.get(), 0, 0))
                return OGRERR_FAILURE;
            psExtent->MinX = CPLAtof(PQgetvalue(res.get(), 0, 0));
            psExtent->MinY = CPLAtof(PQgetvalue(res.get(), 0, 1));
            psExtent->MaxX = CPLAtof(PQgetvalue(res.get(), 0, 2));
            psExtent->MaxY = CPLAtof(PQgetvalue(res.get(), 0, 3));
            return OGRERR_NONE;
        },
        OGRERR_FAILURE);
}

int PGMosaicItemsLayer::TestCapability(const char* pszCap)
{
    if (EQUAL(pszCap, OLCFastFeatureCount))
        return m_poAttrQuery == nullptr;
    if (EQUAL(pszCap, OLCRandomRead) || EQUAL(pszCap, OLCFastSpatialFilter) ||
        EQUAL(pszCap, OLCStringsAsUTF8) || EQUAL(pszCap, OLCFastGetExtent))
        return TRUE;
    if (EQUAL(pszCap, OLCSequentialWrite) || EQUAL(pszCap, OLCCreateField))
        return m_bUpdate;
    return FALSE;
}

// A jsonb column of the catalog, by lower-case name: written values are parsed as JSON even
// when the field shows as a plain string.
bool PGMosaicItemsLayer::IsJsonColumn(const std::string& lowerName) const
{
    for (const auto& c : m_aoColumns)
        if (c.subType == OFSTJSON && Lower(c.name) == lowerName)
            return true;
    return false;
}

OGRErr PGMosaicItemsLayer::CreateField(OGRFieldDefn* poField, int)
{
    // Fields of the source become catalog columns when the names match, else attributes.
    return AcceptField(m_poDefn, poField, m_bUpdate);
}

OGRErr PGMosaicItemsLayer::ICreateFeature(OGRFeature* poFeature)
{
    if (!Updatable(m_bUpdate))
        return OGRERR_FAILURE;
    if (m_bFailed)
        return OGRERR_FAILURE;
    Pending p;
    // A STAC item (GeoJSON with -oo NATIVE_DATA=YES): an item made of its assets.
    if (const char* native = poFeature->GetNativeData())
    {
        CPLJSONDocument doc;
        if (doc.LoadMemory(native) && doc.GetRoot().GetObj("assets").GetType() ==
                                          CPLJSONObject::Type::Object)
        {
            p.stac = native;
            p.path = "STAC item " + doc.GetRoot().GetString("id", "?");
            m_aoPending.push_back(std::move(p));
            if (static_cast<int>(m_aoPending.size()) >= m_oLoad.batchSize && !Flush())
                return OGRERR_FAILURE;
            return OGRERR_NONE;
        }
    }
    CPLJSONObject props;
    for (int i = 0; i < m_poDefn->GetFieldCount(); ++i)
    {
        if (!poFeature->IsFieldSetAndNotNull(i))
            continue;
        const OGRFieldDefn* fd = m_poDefn->GetFieldDefn(i);
        const std::string name = Lower(fd->GetNameRef());
        if (name == "location" || (name == "path" && p.path.empty()))
        {
            p.path = poFeature->GetFieldAsString(i);
            continue;
        }
        switch (fd->GetType())
        {
        case OFTInteger:
            if (fd->GetSubType() == OFSTBoolean)
                props.Add(fd->GetNameRef(), poFeature->GetFieldAsInteger(i) != 0);
            else
                props.Add(fd->GetNameRef(), poFeature->GetFieldAsInteger(i));
            break;
        case OFTInteger64:
            props.Add(fd->GetNameRef(), static_cast<GInt64>(poFeature->GetFieldAsInteger64(i)));
            break;
        case OFTReal:
            props.Add(fd->GetNameRef(), poFeature->GetFieldAsDouble(i));
            break;
        case OFTDate:
        case OFTDateTime:
        {
            char* iso = OGRGetXMLDateTime(poFeature->GetRawFieldRef(i));
            props.Add(fd->GetNameRef(), iso);
            CPLFree(iso);
            break;
        }
        default:
            if (fd->GetSubType() == OFSTJSON || IsJsonColumn(name))
            {
                CPLJSONDocument doc;
                if (doc.LoadMemory(poFeature->GetFieldAsString(i)))
                {
                    props.Add(fd->GetNameRef(), doc.GetRoot());
                    break;
                }
            }
            props.Add(fd->GetNameRef(), poFeature->GetFieldAsString(i));
        }
    }
    if (p.path.empty())
    {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "PGMOSAIC: feature " CPL_FRMT_GIB " has no \"location\" or \"path\" field "
                 "naming its raster",
                 poFeature->GetFID());
        return OGRERR_FAILURE;
    }
    if (p.path[0] != '/' && p.path[0] != '@' && p.path.find("://") == std::string::npos)
        p.path = CPLFormFilename(CPLGetCurrentDir(), p.path.c_str(), nullptr);
    if (!Batch().empty())
        props.Set("publish_batch", Batch());
    p.properties = props.Format(CPLJSONObject::PrettyFormat::Plain);
    m_aoPending.push_back(std::move(p));
    if (static_cast<int>(m_aoPending.size()) >= m_oLoad.batchSize && !Flush())
        return OGRERR_FAILURE;
    return OGRERR_NONE;
}

const std::string& PGMosaicItemsLayer::Batch()
{
    if (m_oLoad.publishAtEnd && m_osBatch.empty())
        m_osBatch = CPLSPrintf("load-%lld-%d-%p", static_cast<long long>(time(nullptr)),
                               static_cast<int>(getpid()), static_cast<void*>(this));
    return m_osBatch;
}

OGRErr PGMosaicItemsLayer::SyncToDisk()
{
    return Flush() ? OGRERR_NONE : OGRERR_FAILURE;
}

bool PGMosaicItemsLayer::Flush()
{
    if (m_aoPending.empty())
        return !m_bFailed;
    std::vector<Pending> batch;
    batch.swap(m_aoPending);
    const bool ok = GdalGuard(
        [&]() -> bool {
            // STAC items go their own way (pgstac.cpp); files of one raster on.
            std::vector<Pending> stac;
            for (auto it = batch.begin(); it != batch.end();)
                if (!it->stac.empty())
                {
                    stac.push_back(std::move(*it));
                    it = batch.erase(it);
                }
                else
                    ++it;
            if (!stac.empty())
                FlushStac(stac);
            if (batch.empty())
                return true;
            // Client-side inspection, in parallel: the server needs no access to the files.
            for (auto& p : batch)
            {
                p.openPath = OpenablePath(p.path);
                if (p.path[0] == '@')
                {
                    auto res = m_oConn.Exec("SELECT pgmosaic.resolve_path($1)", {p.path});
                    p.openPath = PQgetvalue(res.get(), 0, 0);
                }
            }
            // Remote files are read with their path roots' GDAL options.
            ApplyClientRootOptions(m_oConn, true);
            // The mosaic's theme rules are computed here too, with the rest of the inspection.
            pgmosaic::InspectOptions inspect = m_oLoad.inspect;
            {
                auto rules =
                    m_oConn.Exec("SELECT r.theme, r.expression FROM pgmosaic.theme_rule r JOIN "
                                 "pgmosaic.mosaic m "
                                 "ON m.id = r.mosaic_id WHERE m.name = $1 ORDER BY r.theme",
                                 {m_osMosaic});
                for (int i = 0; i < PQntuples(rules.get()); ++i)
                    inspect.themes.emplace_back(
                        PQgetvalue(rules.get(), i, 0),
                        pgmosaic::Expression::Parse(PQgetvalue(rules.get(), i, 1)));
            }
            // Network files wait on round trips, not on the CPU: inspected as many at once as
            // the I/O concurrency allows.
            int threads = m_oLoad.numThreads;
            for (const auto& p : batch)
                if (pgmosaic::IsNetworkPath(p.openPath))
                    threads = std::max(threads, pgmosaic::IoConcurrency());
            pgmosaic::ParallelFor(batch.size(), threads, [&](size_t i, int) {
                try
                {
                    batch[i].info = pgmosaic::InspectRaster(batch[i].openPath, inspect);
                }
                catch (const std::exception& e)
                {
                    batch[i].error = e.what();
                }
            });
            CPLJSONArray rows;
            for (auto& p : batch)
            {
                if (!p.error.empty())
                {
                    if (!m_oLoad.skipBad)
                        throw Error(ErrorKind::Io, "cannot register " + p.path + ": " + p.error +
                                                       " (nothing of this batch was registered; "
                                                       "SKIP_BAD=YES skips bad files)");
                    CPLError(CE_Warning, CPLE_AppDefined, "PGMOSAIC: skipped %s: %s",
                             p.path.c_str(), p.error.c_str());
                    continue;
                }
                CPLJSONObject row;
                row.Add("path", p.path);
                CPLJSONDocument info, props;
                info.LoadMemory(pgmosaic::RasterInfoToJson(p.info));
                props.LoadMemory(p.properties);
                row.Add("info", info.GetRoot());
                row.Add("properties", props.GetRoot());
                rows.Add(row);
            }
            if (rows.Size() == 0)
                return true;
            const char* dup = m_oLoad.onDuplicate == OnDuplicate::Skip     ? "skip"
                              : m_oLoad.onDuplicate == OnDuplicate::Update ? "update"
                                                                           : "fail";
            // One statement, one transaction: the batch registers wholly or not at all.
            auto res = m_oConn.Exec(
                "SELECT count(r) FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n), "
                "LATERAL pgmosaic.register_raster($1, e->>'path', e->'info', e->'properties', $3) "
                "AS r",
                {m_osMosaic, rows.Format(CPLJSONObject::PrettyFormat::Plain), dup});
            m_nRegistered += std::atoi(PQgetvalue(res.get(), 0, 0));
            return true;
        },
        false);
    if (!ok)
        m_bFailed = true;
    return ok;
}

/************************************************************************/
/*                         PGMosaicBoundaryLayer                        */
/************************************************************************/

PGMosaicBoundaryLayer::PGMosaicBoundaryLayer(PgConnection& conn, const std::string& postgis,
                                             const std::string& mosaic,
                                             const std::string& layerName, int srid)
    : m_oConn(conn), m_osPostgis(postgis), m_osMosaic(mosaic)
{
    m_poDefn = NewLayerDefn(layerName, srid);
    SetDescription(layerName.c_str());
    OGRFieldDefn name("mosaic", OFTString);
    m_poDefn->AddFieldDefn(&name);
    OGRFieldDefn count("item_count", OFTInteger64);
    m_poDefn->AddFieldDefn(&count);
}

PGMosaicBoundaryLayer::~PGMosaicBoundaryLayer()
{
    m_poDefn->Release();
}

OGRFeature* PGMosaicBoundaryLayer::GetNextFeature()
{
    if (m_bDone)
        return nullptr;
    m_bDone = true;
    OGRFeature* f = ReadBoundary();
    if (f != nullptr && ((m_poFilterGeom != nullptr && !FilterGeometry(f->GetGeometryRef())) ||
                         (m_poAttrQuery != nullptr && !m_poAttrQuery->Evaluate(f))))
    {
        delete f;
        return nullptr;
    }
    return f;
}

// One feature, always (the union of no footprints is empty).
int PGMosaicBoundaryLayer::TestCapability(const char* pszCap)
{
    return EQUAL(pszCap, OLCFastFeatureCount) && m_poFilterGeom == nullptr &&
           m_poAttrQuery == nullptr;
}

GIntBig PGMosaicBoundaryLayer::GetFeatureCount(int bForce)
{
    if (m_poFilterGeom == nullptr && m_poAttrQuery == nullptr)
        return 1;
    return OGRLayer::GetFeatureCount(bForce);
}

OGRFeature* PGMosaicBoundaryLayer::ReadBoundary()
{
    return GdalGuard(
        [&]() -> OGRFeature* {
            const std::string& pg = m_osPostgis;
            auto res =
                m_oConn.Exec(("SELECT encode(" + pg + ".ST_AsBinary(" + pg + ".ST_Multi(" + pg +
                              ".ST_Union(i.footprint))), 'hex'), count(*) "
                              "FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = "
                              "i.mosaic_id WHERE m.name = $1")
                                 .c_str(),
                             {m_osMosaic});
            auto* f = new OGRFeature(m_poDefn);
            f->SetFID(1);
            f->SetField(0, m_osMosaic.c_str());
            f->SetField(1, static_cast<GIntBig>(std::atoll(PQgetvalue(res.get(), 0, 1))));
            if (!PQgetisnull(res.get(), 0, 0))
                f->SetGeometryDirectly(GeometryFromHex(
                    PQgetvalue(res.get(), 0, 0), m_poDefn->GetGeomFieldDefn(0)->GetSpatialRef()));
            return f;
        },
        nullptr);
}

/************************************************************************/
/*                          PGMosaicThemesLayer                         */
/************************************************************************/

PGMosaicThemesLayer::PGMosaicThemesLayer(PgConnection& conn, const std::string& postgis,
                                         const std::string& mosaic, const std::string& layerName,
                                         int srid, bool update, bool jsonSubtype)
    : m_oConn(conn), m_osPostgis(postgis), m_osMosaic(mosaic), m_nSrid(srid), m_bUpdate(update)
{
    m_poDefn = NewLayerDefn(layerName, srid);
    SetDescription(layerName.c_str());
    for (const auto& [name, type] : {std::pair<const char*, OGRFieldType>{"theme", OFTString},
                                     {"class", OFTString},
                                     {"item_id", OFTInteger64},
                                     {"area", OFTReal},
                                     {"pixels", OFTInteger64},
                                     {"attributes", OFTString}})
    {
        OGRFieldDefn f(name, type);
        if (EQUAL(name, "attributes") && jsonSubtype)
            f.SetSubType(OFSTJSON);
        m_poDefn->AddFieldDefn(&f);
    }
}

PGMosaicThemesLayer::~PGMosaicThemesLayer()
{
    m_poDefn->Release();
}

std::vector<std::unique_ptr<OGRFeature>> PGMosaicThemesLayer::FetchPage(GIntBig afterId)
{
    const std::string& pg = m_osPostgis;
    auto res = m_oConn.Exec(
        ("SELECT t.id, encode(" + pg + ".ST_AsBinary(" + pg +
         ".ST_Multi(t.polygon)), 'hex'), t.theme, t.class, t.item_id, t.area, t.pixels, "
         "t.attributes::text FROM pgmosaic.theme t JOIN pgmosaic.mosaic m ON m.id = t.mosaic_id "
         "WHERE m.name = $1 AND t.id > $2 ORDER BY t.id LIMIT " +
         std::to_string(kPageSize))
            .c_str(),
        {m_osMosaic, std::to_string(afterId)});
    std::vector<std::unique_ptr<OGRFeature>> page;
    for (int r = 0; r < PQntuples(res.get()); ++r)
    {
        auto f = std::make_unique<OGRFeature>(m_poDefn);
        f->SetFID(std::atoll(PQgetvalue(res.get(), r, 0)));
        f->SetGeometryDirectly(GeometryFromHex(PQgetvalue(res.get(), r, 1),
                                               m_poDefn->GetGeomFieldDefn(0)->GetSpatialRef()));
        for (int c = 2; c < 8; ++c)
            if (!PQgetisnull(res.get(), r, c))
                f->SetField(c - 2, PQgetvalue(res.get(), r, c));
        page.push_back(std::move(f));
    }
    return page;
}

int PGMosaicThemesLayer::TestCapability(const char* pszCap)
{
    if (EQUAL(pszCap, OLCSequentialWrite) || EQUAL(pszCap, OLCCreateField))
        return m_bUpdate;
    if (EQUAL(pszCap, OLCFastFeatureCount))
        return m_poFilterGeom == nullptr && m_poAttrQuery == nullptr;
    return EQUAL(pszCap, OLCStringsAsUTF8);
}

GIntBig PGMosaicThemesLayer::GetFeatureCount(int bForce)
{
    if (m_poFilterGeom != nullptr || m_poAttrQuery != nullptr)
        return OGRLayer::GetFeatureCount(bForce);
    return GdalGuard(
        [&]() -> GIntBig {
            auto res = m_oConn.Exec("SELECT count(*) FROM pgmosaic.theme t JOIN pgmosaic.mosaic m "
                                    "ON m.id = t.mosaic_id WHERE m.name = $1",
                                    {m_osMosaic});
            return std::atoll(PQgetvalue(res.get(), 0, 0));
        },
        -1);
}

OGRErr PGMosaicThemesLayer::CreateField(OGRFieldDefn* poField, int)
{
    return AcceptField(m_poDefn, poField, m_bUpdate);
}

OGRErr PGMosaicThemesLayer::ICreateFeature(OGRFeature* poFeature)
{
    if (!Updatable(m_bUpdate))
        return OGRERR_FAILURE;
    return GdalGuard(
        [&]() -> OGRErr {
            const OGRGeometry* g = poFeature->GetGeometryRef();
            if (g == nullptr)
                throw Error(ErrorKind::InvalidParameter, "theme feature " +
                                                             std::to_string(poFeature->GetFID()) +
                                                             " has no geometry");
            int srid = m_nSrid;
            if (const OGRSpatialReference* srs = g->getSpatialReference())
            {
                OGRSpatialReference copy(*srs);
                const char* auth = copy.GetAuthorityName(nullptr);
                if ((auth && EQUAL(auth, "EPSG")) || copy.AutoIdentifyEPSG() == OGRERR_NONE)
                    srid = std::atoi(copy.GetAuthorityCode(nullptr));
            }
            std::string theme, klass;
            CPLJSONObject attributes;
            for (int i = 0; i < m_poDefn->GetFieldCount(); ++i)
            {
                if (!poFeature->IsFieldSetAndNotNull(i))
                    continue;
                const char* name = m_poDefn->GetFieldDefn(i)->GetNameRef();
                if (EQUAL(name, "theme"))
                    theme = poFeature->GetFieldAsString(i);
                else if (EQUAL(name, "class"))
                    klass = poFeature->GetFieldAsString(i);
                else if (!EQUAL(name, "item_id") && !EQUAL(name, "area") &&
                         !EQUAL(name, "pixels") && !EQUAL(name, "attributes"))
                    attributes.Add(name, poFeature->GetFieldAsString(i));
            }
            if (theme.empty())
                throw Error(ErrorKind::InvalidParameter,
                            "theme feature " + std::to_string(poFeature->GetFID()) +
                                " has no \"theme\" field naming its theme");
            char* wkt = nullptr;
            g->exportToWkt(&wkt, wkbVariantIso);
            const std::string geomWkt = wkt ? wkt : "";
            CPLFree(wkt);
            const std::string& pg = m_osPostgis;
            m_oConn.Exec(("INSERT INTO pgmosaic.theme (mosaic_id, theme, class, polygon, area, "
                          "attributes) SELECT m.id, $2, NULLIF($3, ''), g, " +
                          pg + ".ST_Area(g), $6::jsonb FROM pgmosaic.mosaic m, " + pg +
                          ".ST_Transform(" + pg + ".ST_SetSRID(" + pg +
                          ".ST_GeomFromText($4), $5::integer), m.srid) AS g "
                          "WHERE m.name = $1")
                             .c_str(),
                         {m_osMosaic, theme, klass, geomWkt,
                          std::to_string(srid > 0 ? srid : m_nSrid),
                          attributes.Format(CPLJSONObject::PrettyFormat::Plain)});
            return OGRERR_NONE;
        },
        OGRERR_FAILURE);
}
