// The SQL door: mosaic pixels composed in the backend by the engine the GDAL driver uses —
// read() and export() (a raster over an area, as PostGIS raster WKB or a file), value() at
// points, zonal_stats() over zones, render_tile() of an XYZ tile. The SQL wrappers
// (sql/src/55_pixels.sql) put the geometries in the right SRS; here the mosaic and its items
// come from the catalog over SPI as the calling role (row-level security holds), the files are
// opened only as the backend's file access settings allow, reading threads never call
// PostgreSQL, and every long loop stops on a pending cancel or statement_timeout.
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "cpl_vsi.h"
#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "catalog_sql.h"
#include "conninfo.h"
#include "gdal_mem.h"
#include "pg_module.h"
#include "pg_spi_catalog.h"
#include "pg_util.h"
#include "png.h"
#include "read/area_reader.h"
#include "read/tile_image.h"
#include "read/catalog_relay.h"
#include "read/composite_reader.h"
#include "read/read_options.h"
#include "read/source_pool.h"
#include "read/zone_stats.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

constexpr size_t kSourcePoolSize = 128;

// Files kept open from one statement to the next (read/source_pool.h), one descriptor each.
constexpr size_t kKeptSources = 400;

// The backend's kept files: never destroyed (GDAL may be gone at the process's exit).
std::shared_ptr<pgmosaic::KeptSources> BackendKeptSources()
{
    static std::shared_ptr<pgmosaic::KeptSources>& kept =
        *new std::shared_ptr<pgmosaic::KeptSources>(
            std::make_shared<pgmosaic::KeptSources>(kKeptSources));
    return kept;
}

// The options jsonb of a call ({"where": ..., "method": ...}), text values by key.
class JsonOptions
{
public:
    explicit JsonOptions(const std::string& json)
    {
        if (!json.empty() && !m_oDoc.LoadMemory(json))
            throw Error(ErrorKind::InvalidParameter, "options must be a JSON object");
        m_oRoot = m_oDoc.GetRoot();
        if (m_oRoot.GetType() != CPLJSONObject::Type::Object &&
            m_oRoot.GetType() != CPLJSONObject::Type::Null)
            throw Error(ErrorKind::InvalidParameter, "options must be a JSON object");
    }
    std::string Text(const char* key) const
    {
        const CPLJSONObject v = m_oRoot.GetObj(key);
        if (!v.IsValid() || v.GetType() == CPLJSONObject::Type::Null)
            return "";
        return v.GetType() == CPLJSONObject::Type::String ? v.ToString() : v.Format(CPLJSONObject::PrettyFormat::Plain);
    }
    // A number or an array of numbers: one per band (a single number for every band).
    std::vector<double> Numbers(const char* key) const
    {
        std::vector<double> out;
        const CPLJSONObject v = m_oRoot.GetObj(key);
        if (!v.IsValid())
            return out;
        if (v.GetType() == CPLJSONObject::Type::Array)
        {
            const CPLJSONArray a = v.ToArray();
            for (int i = 0; i < a.Size(); ++i)
                out.push_back(a[i].ToDouble());
        }
        else if (v.GetType() == CPLJSONObject::Type::Integer ||
                 v.GetType() == CPLJSONObject::Type::Long ||
                 v.GetType() == CPLJSONObject::Type::Double)
            out.push_back(v.ToDouble());
        else
            throw Error(ErrorKind::InvalidParameter,
                        std::string("option ") + key + " must be a number or an array of numbers");
        return out;
    }

private:
    CPLJSONDocument m_oDoc;
    CPLJSONObject m_oRoot;
};

// A mosaic opened for composing in this call: its row, its catalog over SPI, a reader.
struct BackendMosaic
{
    pgmosaic::MosaicInfo mosaic;
    std::unique_ptr<pgmosaic::SpiItemCatalog> catalog;
    std::unique_ptr<pgmosaic::CompositeReader> reader;
    std::vector<int> builtLevels;
    GDALDataType type = GDT_Unknown; // of the composed bands (the method decides)
    // ForEachRead's readers, one a reading thread, and the relay of their catalog calls
    // (declared after the catalog, which they use, and the readers after the relay).
    std::unique_ptr<pgmosaic::CatalogRelay> relay;
    std::vector<std::unique_ptr<pgmosaic::CompositeReader>> readers;

    BackendMosaic(const std::string& name, const JsonOptions& options)
    {
        const pgmosaic::FileAccessPolicy policy = pgmosaic::CurrentFileAccessPolicy();
        if (!policy.enabled)
            throw Error(ErrorKind::Permission,
                        "reading pixels needs backend file access: a superuser must set "
                        "pgmosaic.enable_file_access = on (and pgmosaic.allowed_roots)");
        pgmosaic::EnsureGdal();
        pgmosaic::SpiApplyRootOptions(policy);
        auto lookup = [&](const char* key) { return options.Text(key); };
        const pgmosaic::ItemQuery query = pgmosaic::ParseItemQuery(lookup);
        mosaic = pgmosaic::SpiLoadMosaic(name, query.asof);
        pgmosaic::ReadOptions read = pgmosaic::ParseReadOptions(
            lookup, CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS"));
        if (options.Text(pgmosaic::kKeyMethod).empty() && !mosaic.defaultMethod.empty())
            read.method = pgmosaic::ParseMethod(mosaic.defaultMethod);
        read.cancel = pgmosaic::BackendCancel();
        read.sourcePolicy = std::make_shared<const pgmosaic::FileAccessPolicy>(policy);
        read.keptSources = BackendKeptSources();
        catalog = std::make_unique<pgmosaic::SpiItemCatalog>(mosaic, query);
        if (!query.asof) // overview tiles show the catalog as it is now
            builtLevels = catalog->BuiltLevels();
        reader = std::make_unique<pgmosaic::CompositeReader>(mosaic, *catalog, read, kSourcePoolSize);
        type = pgmosaic::MethodDataType(read.method, mosaic.dataType);
    }

    // Runs fn(task, reader) for every task on the reading threads (num_threads), each thread
    // with a reader of its own whose catalog calls this thread answers (read/catalog_relay.h):
    // the small reads of value() and zonal_stats() decode in parallel while the backend runs
    // their catalog queries.
    void ForEachRead(size_t tasks,
                     const std::function<void(size_t task, pgmosaic::CompositeReader& r)>& fn)
    {
        pgmosaic::ReadOptions one = reader->options();
        if (!relay)
        {
            relay = std::make_unique<pgmosaic::CatalogRelay>(*catalog, one.numThreads);
            readers.resize(static_cast<size_t>(relay->Workers()));
        }
        one.numThreads = 1; // the tasks are the parallel part
        relay->For(tasks, one.cancel,
                   [&](size_t task, int worker, pgmosaic::ItemCatalog& workerCatalog) {
                       auto& r = readers[static_cast<size_t>(worker)];
                       if (!r)
                           r = std::make_unique<pgmosaic::CompositeReader>(
                               mosaic, workerCatalog, one, kSourcePoolSize);
                       fn(task, *r);
                   });
    }

    // The bands asked by number, else options.bands as the driver's bands= (numbers or band
    // names), else every band.
    std::vector<int> Bands(const std::vector<int>& asked, const JsonOptions& options) const
    {
        std::vector<int> bands = asked;
        if (bands.empty() && !options.Text(pgmosaic::kKeyBands).empty())
            bands = pgmosaic::ParseBandList(options.Text(pgmosaic::kKeyBands), mosaic.bandCount,
                                            pgmosaic::BandNames(mosaic));
        if (bands.empty())
            for (int b = 1; b <= mosaic.bandCount; ++b)
                bands.push_back(b);
        for (int b : bands)
            if (b < 1 || b > mosaic.bandCount)
                throw Error(ErrorKind::InvalidParameter,
                            "band " + std::to_string(b) + " does not exist: mosaic \"" +
                                mosaic.name + "\" has " + std::to_string(mosaic.bandCount) +
                                " bands");
        return bands;
    }

    // The value that marks no data in the composed bands.
    double Fill() const
    {
        return pgmosaic::MethodFill(reader->options().method, mosaic.nodata);
    }
};

pgmosaic::AreaReadLimits Limits()
{
    pgmosaic::AreaReadLimits l;
    l.maxSamples = pgmosaic::MaxReadPixels();
    l.setting = "pgmosaic.max_read_pixels";
    return l;
}

std::unique_ptr<OGRGeometry> GeometryFromWkb(const std::string& wkb)
{
    OGRGeometry* raw = nullptr;
    if (OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &raw, wkb.size()) != OGRERR_NONE ||
        raw == nullptr)
        throw Error(ErrorKind::InvalidParameter, "invalid geometry");
    return std::unique_ptr<OGRGeometry>(raw);
}

// A jsonb argument as JSON text ("" when NULL).
std::string JsonbArg(FunctionCallInfo fcinfo, int n)
{
    if (PG_ARGISNULL(n))
        return "";
    char* text = pgmosaic::PgCall(
        [&] { return DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(n))); });
    std::string out(text);
    pgmosaic::PgCall([&] { pfree(text); });
    return out;
}

std::string BytesArg(FunctionCallInfo fcinfo, int n)
{
    return pgmosaic::TextArg(fcinfo, n); // bytea and text share the varlena layout
}

std::vector<int> IntArrayArg(FunctionCallInfo fcinfo, int n)
{
    std::vector<int> out;
    if (PG_ARGISNULL(n))
        return out;
    ArrayType* array = pgmosaic::PgCall([&] { return PG_GETARG_ARRAYTYPE_P(n); });
    Datum* values = nullptr;
    bool* nulls = nullptr;
    int count = 0;
    pgmosaic::PgCall([&] {
        deconstruct_array(array, INT4OID, sizeof(int32), true, TYPALIGN_INT, &values, &nulls, &count);
    });
    for (int i = 0; i < count; ++i)
    {
        if (nulls[i])
            throw Error(ErrorKind::InvalidParameter, "a band number is NULL");
        out.push_back(DatumGetInt32(values[i]));
    }
    return out;
}

// The elements of a bytea[] argument (WKB geometries).
std::vector<std::string> ByteaArrayArg(FunctionCallInfo fcinfo, int n)
{
    std::vector<std::string> out;
    ArrayType* array = pgmosaic::PgCall([&] { return PG_GETARG_ARRAYTYPE_P(n); });
    Datum* values = nullptr;
    bool* nulls = nullptr;
    int count = 0;
    pgmosaic::PgCall([&] {
        deconstruct_array(array, BYTEAOID, -1, false, TYPALIGN_INT, &values, &nulls, &count);
    });
    for (int i = 0; i < count; ++i)
    {
        if (nulls[i])
        {
            out.emplace_back();
            continue;
        }
        struct varlena* v = pgmosaic::PgCall([&] { return PG_DETOAST_DATUM_PACKED(values[i]); });
        out.emplace_back(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
    }
    return out;
}

Datum ByteaDatum(const GByte* data, size_t size)
{
    return pgmosaic::PgCall([&] {
        bytea* out = static_cast<bytea*>(palloc(VARHDRSZ + size));
        SET_VARSIZE(out, VARHDRSZ + size);
        memcpy(VARDATA(out), data, size);
        return PointerGetDatum(out);
    });
}

// A float8[] of `values`, NaN standing for NULL.
Datum Float8ArrayDatum(const std::vector<double>& values)
{
    const int n = static_cast<int>(values.size());
    return pgmosaic::PgCall([&] {
        Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * std::max(1, n)));
        bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * std::max(1, n)));
        for (int i = 0; i < n; ++i)
        {
            nulls[i] = std::isnan(values[static_cast<size_t>(i)]);
            d[i] = Float8GetDatum(nulls[i] ? 0.0 : values[static_cast<size_t>(i)]);
        }
        int dims[1] = {n}, lbs[1] = {1};
        return PointerGetDatum(
            construct_md_array(d, nulls, 1, dims, lbs, FLOAT8OID, sizeof(float8), true, TYPALIGN_DOUBLE));
    });
}

// The output SRS of `srid`, from spatial_ref_sys (EPSG codes from PROJ's database).
OGRSpatialReference SrsOfSrid(int srid)
{
    OGRSpatialReference srs;
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    const auto rows = pgmosaic::SpiRows(
        "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid OPERATOR(pg_catalog.=) $1::integer",
        {std::to_string(srid)});
    if (rows.empty())
        throw Error(ErrorKind::InvalidParameter, "unknown SRID " + std::to_string(srid));
    const auto& r = rows[0];
    if (r[0] && EQUAL(r[0]->c_str(), "EPSG") && r[1] &&
        srs.importFromEPSG(std::atoi(r[1]->c_str())) == OGRERR_NONE)
        return srs;
    if (!r[2] || srs.importFromWkt(r[2]->c_str()) != OGRERR_NONE)
        throw Error(ErrorKind::InvalidParameter,
                    "SRID " + std::to_string(srid) + " has no usable definition");
    return srs;
}

// The composed area: the grid of the area's envelope, pixels outside the area set to nodata.
struct ComposedArea
{
    pgmosaic::OutputGrid grid;
    pgmosaic::AreaRaster raster;
    int srid = 0;
};

// The grid read() and export() compose for an area (its envelope) in `srid`.
pgmosaic::OutputGrid GridOfArea(const pgmosaic::MosaicInfo& mosaic, const OGRGeometry& area,
                                int srid, std::optional<double> resolution)
{
    OGREnvelope e;
    area.getEnvelope(&e);
    const OGRSpatialReference srs =
        srid == mosaic.srid ? [&] {
            OGRSpatialReference s;
            s.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
            s.importFromWkt(mosaic.srsWkt.c_str());
            return s;
        }()
                            : SrsOfSrid(srid);
    return pgmosaic::AreaGrid(mosaic, {e.MinX, e.MinY, e.MaxX, e.MaxY}, srs, resolution);
}

ComposedArea ComposeArea(BackendMosaic& m, const std::string& areaWkb, int srid,
                         std::optional<double> resolution, const std::vector<int>& bands,
                         double maxError, const pgmosaic::BandAllocator& allocate = nullptr)
{
    const auto area = GeometryFromWkb(areaWkb);
    OGREnvelope e;
    area->getEnvelope(&e);
    ComposedArea out;
    out.srid = srid;
    out.grid = GridOfArea(m.mosaic, *area, srid, resolution);
    out.grid.maxError = maxError;
    out.raster = pgmosaic::ReadArea(*m.reader, m.mosaic, m.builtLevels, out.grid, bands, m.type,
                                    Limits(), allocate);
    // A rectangle whose corners are the grid's keeps every pixel: no mask to burn.
    const auto& g = out.grid;
    const double tol = 1e-9 * std::fabs(g.gt[1]);
    const bool rectangle =
        area->getGeometryType() == wkbPolygon &&
        area->toPolygon()->getExteriorRing()->getNumPoints() == 5 &&
        area->toPolygon()->getNumInteriorRings() == 0 &&
        std::fabs(area->toPolygon()->get_Area() - (e.MaxX - e.MinX) * (e.MaxY - e.MinY)) <=
            1e-9 * (e.MaxX - e.MinX) * (e.MaxY - e.MinY) &&
        std::fabs(e.MinX - g.gt[0]) <= tol && std::fabs(e.MaxY - g.gt[3]) <= tol &&
        std::fabs(e.MaxX - (g.gt[0] + g.width * g.gt[1])) <= tol &&
        std::fabs(e.MinY - (g.gt[3] + g.height * g.gt[5])) <= tol;
    if (!rectangle)
    {
        const std::vector<GByte> inside = pgmosaic::InsideMask(out.grid.gt, out.grid.width, out.grid.height, *area);
        const int w = out.grid.width, h = out.grid.height;
        // The fill written over each run of pixels outside the area, in place (not every row
        // read and written back through doubles, as it was).
        const std::vector<double> fill(static_cast<size_t>(w), m.Fill());
        for (int y = 0; y < h; ++y)
        {
            const GByte* in = inside.data() + static_cast<size_t>(y) * w;
            for (int x = 0; x < w;)
            {
                if (in[x])
                {
                    ++x;
                    continue;
                }
                int end = x + 1;
                while (end < w && !in[end])
                    ++end;
                for (int b = 1; b <= out.raster.ds->GetRasterCount(); ++b)
                    if (out.raster.ds->GetRasterBand(b)->RasterIO(
                            GF_Write, x, y, end - x, 1, const_cast<double*>(fill.data()), end - x,
                            1, GDT_Float64, 0, 0, nullptr) != CE_None)
                        throw Error(ErrorKind::Internal, "cannot write an in-memory raster");
                x = end;
            }
        }
        if (!out.raster.coverage.empty())
            for (size_t i = 0; i < inside.size(); ++i)
                if (!inside[i])
                    out.raster.coverage[i] = 0;
    }
    // Every band says what marks no data (the mosaic's nodata, else 0).
    for (int b = 1; b <= out.raster.ds->GetRasterCount(); ++b)
        out.raster.ds->GetRasterBand(b)->SetNoDataValue(m.Fill());
    return out;
}

// PostGIS raster's pixel type of a GDAL data type.
int PixType(GDALDataType type)
{
    switch (type)
    {
    case GDT_Byte: return 4;
    case GDT_Int16: return 5;
    case GDT_UInt16: return 6;
    case GDT_Int32: return 7;
    case GDT_UInt32: return 8;
    case GDT_Float32: return 10;
    case GDT_Float64: return 11;
    default:
        throw Error(ErrorKind::InvalidParameter, std::string("PostGIS rasters have no ") +
                                                     GDALGetDataTypeName(type) + " pixels");
    }
}

// An in-db PostGIS raster value in its serialized form (PostGIS's RFC1 format, this machine's
// byte order), palloc'd with its bands' pixels left for the caller to write: a 64-byte header
// (varlena size, version 0, band count, scale x/y, origin x/y, skew x/y, SRID, width, height),
// then per band its pixel type with the has-nodata flag, padding to the pixel size, the nodata
// value, the pixels, and padding to 8 bytes. Bands are therefore `stride` bytes apart.
struct SerializedRaster
{
    GByte* value = nullptr;
    pgmosaic::BandMemory pixels;
};

SerializedRaster AllocateRaster(const pgmosaic::OutputGrid& grid, size_t bands, GDALDataType type,
                                int srid, double nodata)
{
    const int pixtype = PixType(type);
    const int w = grid.width, h = grid.height;
    if (w > 65535 || h > 65535)
        throw Error(ErrorKind::InvalidParameter,
                    "a PostGIS raster is at most 65535 pixels a side; the area is " +
                        std::to_string(w) + " x " + std::to_string(h) +
                        " (use a coarser resolution or export())");
    constexpr size_t kHeader = 64;
    const size_t px = static_cast<size_t>(GDALGetDataTypeSizeBytes(type));
    const size_t data = static_cast<size_t>(w) * h * px;
    const size_t stride = (2 * px + data + 7) & ~static_cast<size_t>(7);
    const size_t total = kHeader + bands * stride;
    if (bands > 65535 || total > MaxAllocSize)
        throw Error(ErrorKind::InvalidParameter,
                    "a raster of " + std::to_string(total) +
                        " bytes exceeds PostgreSQL's largest value (1 GB): read a smaller area, at "
                        "a coarser resolution, or fewer bands");
    GByte* v = pgmosaic::PgCall([&] { return static_cast<GByte*>(palloc(total)); });
    pgmosaic::AdviseHugePages(v, total); // written once, whole
    SET_VARSIZE(v, total);
    const std::uint16_t version = 0, count = static_cast<std::uint16_t>(bands);
    const std::uint16_t width = static_cast<std::uint16_t>(w), height = static_cast<std::uint16_t>(h);
    const double geo[6] = {grid.gt[1], grid.gt[5], grid.gt[0], grid.gt[3], grid.gt[2], grid.gt[4]};
    const std::int32_t s = srid;
    memcpy(v + 4, &version, 2);
    memcpy(v + 6, &count, 2);
    memcpy(v + 8, geo, sizeof(geo));
    memcpy(v + 56, &s, 4);
    memcpy(v + 60, &width, 2);
    memcpy(v + 62, &height, 2);
    for (size_t b = 0; b < bands; ++b)
    {
        GByte* band = v + kHeader + b * stride;
        memset(band, 0, px);
        band[0] = static_cast<GByte>(pixtype | 0x40); // has nodata
        GDALCopyWords(&nodata, GDT_Float64, 0, band + px, type, 0, 1);
        memset(band + 2 * px + data, 0, stride - 2 * px - data);
    }
    return {v, {v + kHeader + 2 * px, static_cast<GSpacing>(stride)}};
}

// A file of `format` (a GDAL driver) holding the dataset, as bytes.
std::vector<GByte> FileBytes(GDALDataset& ds, const std::string& format, CSLConstList options)
{
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName(format.c_str());
    if (driver == nullptr || driver->GetMetadataItem(GDAL_DCAP_RASTER) == nullptr ||
        (driver->GetMetadataItem(GDAL_DCAP_CREATECOPY) == nullptr &&
         driver->GetMetadataItem(GDAL_DCAP_CREATE) == nullptr))
        throw Error(ErrorKind::InvalidParameter,
                    "unknown output format \"" + format +
                        "\": expected a GDAL raster driver that writes files (COG, GTiff, PNG, "
                        "JPEG, WEBP, ...)");
    static int counter = 0;
    const std::string path = CPLSPrintf("/vsimem/pgmosaic_%d_%d.%s", static_cast<int>(getpid()), ++counter,
                                        format.c_str());
    struct Unlink
    {
        std::string p;
        ~Unlink()
        {
            VSIUnlink(p.c_str());
            VSIUnlink((p + ".aux.xml").c_str());
        }
    } unlink{path};
    pgmosaic::GdalErrorCollector errors;
    GDALDatasetUniquePtr copy(driver->CreateCopy(path.c_str(), &ds, FALSE,
                                                 const_cast<char**>(options), nullptr, nullptr));
    if (!copy)
        throw Error(ErrorKind::InvalidParameter,
                    "cannot write " + format + ": " + errors.Message("the driver refused"));
    copy.reset();
    vsi_l_offset length = 0;
    GByte* data = VSIGetMemFileBuffer(path.c_str(), &length, FALSE);
    if (data == nullptr)
        throw Error(ErrorKind::Internal, "the " + format + " file was not written");
    return std::vector<GByte>(data, data + length);
}

// options.max_error: the warp's tolerance in output pixels (gdalwarp -et), exact by default.
double MaxError(const JsonOptions& options)
{
    const std::vector<double> maxError = options.Numbers("max_error");
    if (maxError.size() > 1 || (maxError.size() == 1 && !(maxError[0] >= 0 && maxError[0] <= 10)))
        throw Error(ErrorKind::InvalidParameter,
                    "option max_error must be one number of output pixels between 0 and 10");
    return maxError.empty() ? 0.0 : maxError[0];
}

// Argument n in its type's text form (nullopt when NULL).
std::optional<std::string> ArgText(FunctionCallInfo fcinfo, int n)
{
    if (PG_ARGISNULL(n))
        return std::nullopt;
    char* text = pgmosaic::PgCall([&] {
        Oid output = InvalidOid;
        bool varlena = false;
        getTypeOutputInfo(get_fn_expr_argtype(fcinfo->flinfo, n), &output, &varlena);
        return OidOutputFunctionCall(output, PG_GETARG_DATUM(n));
    });
    std::string out(text);
    pgmosaic::PgCall([&] { pfree(text); });
    return out;
}

std::string Upper(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

} // namespace

// read(mosaic text, area geometry, resolution float8, srid integer, bands integer[], method
// text, options jsonb) -> raster: the composed area as an in-db raster, composed in place in
// the value returned (its pixels are never copied). The mosaic, the output SRID and the area in
// it come from the SQL helpers, as the caller may see them.
PGMOSAIC_SQL_FUNCTION(pgmosaic_read)
{
    const auto rows = pgmosaic::SpiRows(
        "SELECT pg_catalog.encode(pgmosaic._output_area(m, $2::geometry, x.s), 'hex'), x.s, "
        "pgmosaic._read_options($4::jsonb, $5)::text FROM pgmosaic._mosaic($1) m, "
        "LATERAL (SELECT COALESCE($3::integer, m.srid) AS s) x",
        {ArgText(fcinfo, 0), ArgText(fcinfo, 1), ArgText(fcinfo, 3), ArgText(fcinfo, 6),
         ArgText(fcinfo, 5)});
    if (rows.size() != 1 || !rows[0][0] || !rows[0][1] || !rows[0][2])
        throw Error(ErrorKind::Internal, "the area could not be had in the output SRS");
    int wkbSize = 0;
    GByte* wkb = CPLHexToBinary(rows[0][0]->c_str(), &wkbSize);
    const std::string areaWkb(reinterpret_cast<const char*>(wkb), static_cast<size_t>(wkbSize));
    CPLFree(wkb);
    const int srid = std::stoi(*rows[0][1]);
    const JsonOptions options(*rows[0][2]);
    BackendMosaic m(pgmosaic::TextArg(fcinfo, 0), options);
    const std::optional<double> resolution =
        PG_ARGISNULL(2) ? std::nullopt : std::optional<double>(PG_GETARG_FLOAT8(2));
    const std::vector<int> bands = m.Bands(IntArrayArg(fcinfo, 4), options);
    SerializedRaster raster;
    ComposeArea(m, areaWkb, srid, resolution, bands, MaxError(options),
                [&](const pgmosaic::OutputGrid& grid, size_t n, GDALDataType type) {
                    raster = AllocateRaster(grid, n, type, srid, m.Fill());
                    return raster.pixels;
                });
    PG_RETURN_POINTER(raster.value);
}

// _compose(mosaic text, area_wkb bytea, srid integer, resolution float8, bands integer[],
// options jsonb, format text) -> bytea: the composed area as a file of a GDAL format
// (export()). The area is in `srid`.
PGMOSAIC_SQL_FUNCTION(pgmosaic_compose)
{
    const JsonOptions options(JsonbArg(fcinfo, 5));
    BackendMosaic m(pgmosaic::TextArg(fcinfo, 0), options);
    const std::optional<double> resolution =
        PG_ARGISNULL(3) ? std::nullopt : std::optional<double>(PG_GETARG_FLOAT8(3));
    const std::vector<int> bands = m.Bands(IntArrayArg(fcinfo, 4), options);
    ComposedArea area = ComposeArea(m, BytesArg(fcinfo, 1), PG_GETARG_INT32(2), resolution, bands,
                                    MaxError(options));
    const std::string format = Upper(pgmosaic::TextArg(fcinfo, 6));
    std::vector<GByte> bytes;
    {
        CPLStringList creation;
        const std::string co = options.Text("creation_options");
        if (!co.empty())
            creation = CPLStringList(CSLTokenizeString2(co.c_str(), ",", 0));
        if (!area.raster.coverage.empty() && (format == "PNG" || format == "WEBP"))
        {
            // A mosaic without nodata: where nothing covers is transparent, as an alpha band.
            GDALDataset& ds = *area.raster.ds;
            const int w = area.grid.width, h = area.grid.height, n = ds.GetRasterCount();
            const GDALDataType type = ds.GetRasterBand(1)->GetRasterDataType();
            GDALDatasetUniquePtr withAlpha = pgmosaic::MemRaster(w, h, n + 1, type);
            double gt[6];
            ds.GetGeoTransform(gt);
            withAlpha->SetGeoTransform(gt);
            withAlpha->SetProjection(ds.GetProjectionRef());
            std::vector<double> row(static_cast<size_t>(w));
            for (int b = 1; b <= n + 1; ++b)
                for (int y = 0; y < h; ++y)
                {
                    if (b <= n)
                    {
                        if (ds.GetRasterBand(b)->RasterIO(GF_Read, 0, y, w, 1, row.data(), w, 1,
                                                          GDT_Float64, 0, 0, nullptr) != CE_None)
                            throw Error(ErrorKind::Internal, "cannot read an in-memory raster");
                    }
                    else
                        for (int x = 0; x < w; ++x)
                            row[static_cast<size_t>(x)] =
                                area.raster.coverage[static_cast<size_t>(y) * w + x];
                    if (withAlpha->GetRasterBand(b)->RasterIO(GF_Write, 0, y, w, 1, row.data(), w,
                                                              1, GDT_Float64, 0, 0,
                                                              nullptr) != CE_None)
                        throw Error(ErrorKind::Internal, "cannot write an in-memory raster");
                }
            withAlpha->GetRasterBand(n + 1)->SetColorInterpretation(GCI_AlphaBand);
            bytes = FileBytes(*withAlpha, format, creation.List());
        }
        else
            bytes = FileBytes(*area.raster.ds, format, creation.List());
    }
    return ByteaDatum(bytes.data(), bytes.size());
}

// _output_grid(mosaic text, area_wkb bytea, srid integer, resolution float8) -> float8[]:
// width, height and the six geotransform coefficients of the grid _compose makes for the area
// (in `srid`). Reads no file: estimate_size() needs no file access.
PGMOSAIC_SQL_FUNCTION(pgmosaic_output_grid)
{
    const pgmosaic::MosaicInfo mosaic = pgmosaic::SpiLoadMosaic(pgmosaic::TextArg(fcinfo, 0));
    const std::optional<double> resolution =
        PG_ARGISNULL(3) ? std::nullopt : std::optional<double>(PG_GETARG_FLOAT8(3));
    pgmosaic::EnsureGdal();
    const auto area = GeometryFromWkb(BytesArg(fcinfo, 1));
    const pgmosaic::OutputGrid g = GridOfArea(mosaic, *area, PG_GETARG_INT32(2), resolution);
    return Float8ArrayDatum({static_cast<double>(g.width), static_cast<double>(g.height), g.gt[0],
                             g.gt[1], g.gt[2], g.gt[3], g.gt[4], g.gt[5]});
}

// _values(mosaic text, points_wkb bytea[], band integer) -> float8[]: the composed value of
// the band at each point (mosaic SRS), NULL where no item has a valid pixel. Points are read
// by blocks of the mosaic grid: one read for the points of a 256 x 256 block.
PGMOSAIC_SQL_FUNCTION(pgmosaic_values)
{
    const JsonOptions options("");
    BackendMosaic m(pgmosaic::TextArg(fcinfo, 0), options);
    m.catalog->UseAreas(); // one items() an area of the points, not one a point
    const int band = m.Bands({PG_GETARG_INT32(2)}, options)[0];
    const std::vector<std::string> points = ByteaArrayArg(fcinfo, 1);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> values(points.size(), nan);
    constexpr int kBlock = 256;
    std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::pair<size_t, std::pair<int, int>>>> blocks;
    const auto& gt = m.mosaic.gt;
    for (size_t i = 0; i < points.size(); ++i)
    {
        if (points[i].empty())
            continue;
        const auto g = GeometryFromWkb(points[i]);
        if (wkbFlatten(g->getGeometryType()) != wkbPoint || g->IsEmpty())
            throw Error(ErrorKind::InvalidParameter, "value() takes points");
        const double c = std::floor((g->toPoint()->getX() - gt[0]) / gt[1]);
        const double r = std::floor((g->toPoint()->getY() - gt[3]) / gt[5]);
        if (!(c >= 0 && r >= 0 && c < m.mosaic.width && r < m.mosaic.height))
            continue; // outside the mosaic: NULL
        const int col = static_cast<int>(c), row = static_cast<int>(r);
        blocks[{col / kBlock, row / kBlock}].push_back({i, {col, row}});
    }
    const bool coverage = !m.mosaic.nodata.has_value();
    // The blocks in Z order, a task a run of kRun neighbours: a thread's reader opens the
    // files of its own part of the ground, not every file the other threads open too.
    using Points = std::vector<std::pair<size_t, std::pair<int, int>>>;
    std::vector<std::pair<std::uint64_t, const Points*>> order;
    for (const auto& [key, list] : blocks)
    {
        std::uint64_t z = 0;
        for (int bit = 0; bit < 31; ++bit)
            z |= ((static_cast<std::uint64_t>(key.first) >> bit & 1) << (2 * bit)) |
                 ((static_cast<std::uint64_t>(key.second) >> bit & 1) << (2 * bit + 1));
        order.emplace_back(z, &list);
    }
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    constexpr size_t kRun = 16;
    // The points of one block: one read of the window around them.
    auto readBlock = [&](const Points& list, pgmosaic::CompositeReader& reader) {
        int x0 = INT_MAX, y0 = INT_MAX, x1 = 0, y1 = 0;
        for (const auto& p : list)
        {
            x0 = std::min(x0, p.second.first);
            y0 = std::min(y0, p.second.second);
            x1 = std::max(x1, p.second.first + 1);
            y1 = std::max(y1, p.second.second + 1);
        }
        const int w = x1 - x0, h = y1 - y0;
        const pgmosaic::Request req{{x0, y0, w, h}, w, h};
        std::vector<double> data(static_cast<size_t>(w) * h);
        reader.Read(req, {band}, {data.data(), GDT_Float64, 8, static_cast<GSpacing>(w) * 8, 0});
        std::vector<GByte> valid;
        if (coverage)
        {
            valid.resize(data.size());
            reader.ReadCoverage(req, {valid.data(), GDT_Byte, 1, w, 0});
        }
        for (const auto& p : list)
        {
            const size_t k = static_cast<size_t>(p.second.second - y0) * w + (p.second.first - x0);
            const double v = data[k];
            const bool ok = coverage ? valid[k] != 0
                                     : !(v == *m.mosaic.nodata ||
                                         (std::isnan(v) && std::isnan(*m.mosaic.nodata)));
            values[p.first] = ok ? v : nan;
        }
    };
    m.ForEachRead((order.size() + kRun - 1) / kRun,
                  [&](size_t task, pgmosaic::CompositeReader& reader) {
                      for (size_t t = task * kRun; t < std::min(order.size(), (task + 1) * kRun);
                           ++t)
                          readBlock(*order[t].second, reader);
                  });
    return Float8ArrayDatum(values);
}

// _composed_zonal_stats(mosaic text, zones_wkb bytea[], band integer, exact boolean) ->
// float8[]: per zone (mosaic SRS) count, min, max, mean, stddev, sum of the composed band's
// valid pixels whose centres are inside it, six values a zone. Not exact: the DRAD tiles that
// answer for the composite (common/read/zone_stats.h) from their recorded statistics.
PGMOSAIC_SQL_FUNCTION(pgmosaic_composed_zonal_stats)
{
    const JsonOptions options("");
    BackendMosaic m(pgmosaic::TextArg(fcinfo, 0), options);
    const int band = m.Bands({PG_GETARG_INT32(2)}, options)[0];
    const std::vector<std::string> zones = ByteaArrayArg(fcinfo, 1);
    const bool exact = PG_GETARG_BOOL(3);
    // The zones, and the DRAD tiles answering for each (asked of the catalog here), then the
    // zones read on the reading threads.
    std::vector<std::unique_ptr<OGRGeometry>> geometries(zones.size());
    std::vector<std::vector<pgmosaic::RecordedTile>> answered(zones.size());
    for (size_t z = 0; z < zones.size(); ++z)
    {
        if (zones[z].empty())
            continue;
        geometries[z] = GeometryFromWkb(zones[z]);
        if (!exact && m.reader->options().method == pgmosaic::Method::First)
        {
            OGREnvelope e;
            geometries[z]->getEnvelope(&e);
            const pgmosaic::Envelope env{e.MinX, e.MinY, e.MaxX, e.MaxY};
            const std::vector<pgmosaic::ItemRef> items = m.catalog->FindItems(env);
            std::vector<std::int64_t> ids;
            for (const auto& it : items)
                ids.push_back(it.id);
            answered[z] = pgmosaic::TilesAnsweringForComposite(
                m.mosaic, items, m.catalog->FindRecordedTiles(ids, env, band), band,
                *geometries[z], m.reader->options().sourcePolicy.get(),
                m.reader->options().cancel);
        }
    }
    std::vector<pgmosaic::ZoneSummary> summaries(zones.size());
    const pgmosaic::AreaReadLimits limits = Limits(); // settings: read on this thread
    m.ForEachRead(zones.size(), [&](size_t z, pgmosaic::CompositeReader& reader) {
        if (geometries[z])
            summaries[z] = pgmosaic::ComposedZoneStatistics(reader, m.mosaic, *geometries[z],
                                                            band, answered[z], limits);
    });
    std::vector<double> out;
    for (const auto& s : summaries)
    {
        const auto v = s.Values();
        out.insert(out.end(), v.begin(), v.end());
    }
    return Float8ArrayDatum(out);
}

// _render_tile(mosaic text, z integer, x integer, y integer, format text, options jsonb) ->
// bytea: the XYZ web-mercator tile as an image (RGBA or gray + alpha; a PNG where every pixel
// is opaque: RGB or gray), stretched to Byte.
PGMOSAIC_SQL_FUNCTION(pgmosaic_render_tile)
{
    const JsonOptions options(JsonbArg(fcinfo, 5));
    BackendMosaic m(pgmosaic::TextArg(fcinfo, 0), options);
    std::vector<int> asked;
    const std::string bandList = options.Text(pgmosaic::kKeyBands);
    if (!bandList.empty())
        asked = pgmosaic::ParseBandList(bandList, m.mosaic.bandCount,
                                        pgmosaic::BandNames(m.mosaic));
    else
        for (int b = 1; b <= std::min(3, m.mosaic.bandCount) && m.mosaic.bandCount != 2; ++b)
            asked.push_back(b);
    if (asked.empty())
        asked.push_back(1);
    if (asked.size() != 1 && asked.size() != 3)
        throw Error(ErrorKind::InvalidParameter,
                    "a tile shows 1 band (gray) or 3 (red, green, blue), not " +
                        std::to_string(asked.size()));
    const std::vector<int> bands = m.Bands(asked, options);
    const int size = 256;
    const auto grid = pgmosaic::WebMercatorTileGrid(PG_GETARG_INT32(1), PG_GETARG_INT32(2),
                                                    PG_GETARG_INT32(3), size);
    const auto raster =
        pgmosaic::ReadArea(*m.reader, m.mosaic, m.builtLevels, grid, bands, m.type, Limits());
    // The stretch: min/max from the options (one number for every band, or one a band), else
    // none for Byte imagery, else the catalog's merged statistics.
    const size_t nb = bands.size();
    std::vector<double> lo = options.Numbers("min"), hi = options.Numbers("max");
    if (lo.size() == 1)
        lo.assign(nb, lo[0]);
    if (hi.size() == 1)
        hi.assign(nb, hi[0]);
    const bool stretch = !lo.empty() || !hi.empty() || m.mosaic.dataType != GDT_Byte;
    if (stretch)
    {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        lo.resize(nb, nan);
        hi.resize(nb, nan);
        for (size_t k = 0; k < nb; ++k)
        {
            if (!std::isnan(lo[k]) && !std::isnan(hi[k]))
                continue;
            const auto range = m.catalog->BandRange(bands[k]);
            if (!range)
                throw Error(ErrorKind::InvalidParameter,
                            "band " + std::to_string(bands[k]) +
                                " has no statistics in the catalog: give options min and max");
            if (std::isnan(lo[k]))
                lo[k] = range->first;
            if (std::isnan(hi[k]))
                hi[k] = range->second;
        }
    }
    const size_t pixels = static_cast<size_t>(size) * size;
    const int outBands = static_cast<int>(nb) + 1;
    // The image, pixel-interleaved; kept by the backend between tiles (a fresh 256 kB each
    // call was mapped and faulted in again).
    static std::vector<GByte> image;
    image.resize(pixels * static_cast<size_t>(outBands));
    pgmosaic::ByteScale scale;
    if (stretch)
        scale = {lo, hi};
    pgmosaic::TileImage(raster, static_cast<int>(nb), m.mosaic.nodata, scale, image.data());
    const std::string format = Upper(PG_ARGISNULL(4) ? "PNG" : pgmosaic::TextArg(fcinfo, 4));
    if (format == "PNG")
    {
        // Written straight into the result; an opaque tile without its alpha.
        const int channels =
            pgmosaic::DropOpaqueAlpha(image.data(), pixels, static_cast<int>(nb));
        const size_t bound = pgmosaic::PngBound(size, size, channels);
        bytea* png = pgmosaic::PgCall([&] { return static_cast<bytea*>(palloc(VARHDRSZ + bound)); });
        const size_t written =
            pgmosaic::EncodePngPixels(image.data(), size, size, channels,
                                      reinterpret_cast<GByte*>(VARDATA(png)), bound);
        SET_VARSIZE(png, VARHDRSZ + written);
        return PointerGetDatum(png);
    }
    GDALDatasetUniquePtr tile = pgmosaic::MemRaster(size, size, outBands, GDT_Byte);
    if (tile->RasterIO(GF_Write, 0, 0, size, size, image.data(), size, size, GDT_Byte, outBands,
                       nullptr, outBands, static_cast<GSpacing>(size) * outBands, 1,
                       nullptr) != CE_None)
        throw Error(ErrorKind::Internal, "cannot write an in-memory raster");
    tile->GetRasterBand(outBands)->SetColorInterpretation(GCI_AlphaBand);
    tile->SetGeoTransform(const_cast<double*>(grid.gt.data()));
    tile->SetProjection(grid.srsWkt.c_str());
    GDALDatasetUniquePtr out;
    if (format == "JPEG")
    {
        // No alpha in JPEG: the colour bands only.
        out = pgmosaic::MemRaster(size, size, outBands - 1, GDT_Byte);
        if (out->RasterIO(GF_Write, 0, 0, size, size, image.data(), size, size, GDT_Byte,
                          outBands - 1, nullptr, outBands, static_cast<GSpacing>(size) * outBands,
                          1, nullptr) != CE_None)
            throw Error(ErrorKind::Internal, "cannot write an in-memory raster");
    }
    const std::vector<GByte> bytes = FileBytes(out ? *out : *tile, format, nullptr);
    return ByteaDatum(bytes.data(), bytes.size());
}
