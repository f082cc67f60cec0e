#include "inspect/inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "cpl_json.h"
#include "cpl_vsi.h"
#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "error.h"
#include "path_policy.h"
#include "read/remote_source.h"

namespace pgmosaic
{
namespace
{

int EpsgOf(const OGRSpatialReference* srs)
{
    if (srs == nullptr)
        return 0;
    OGRSpatialReference copy(*srs);
    const char* auth = copy.GetAuthorityName(nullptr);
    if (auth == nullptr || !EQUAL(auth, "EPSG"))
    {
        if (copy.AutoIdentifyEPSG() != OGRERR_NONE)
            return 0;
        auth = copy.GetAuthorityName(nullptr);
    }
    const char* code = copy.GetAuthorityCode(nullptr);
    return (auth && EQUAL(auth, "EPSG") && code) ? std::atoi(code) : 0;
}

} // namespace

namespace
{

// The file's size and modification time, before GDAL opens it.
void StatFile(const std::string& path, RasterInfo& info)
{
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0)
        throw Error(ErrorKind::NotFound, "raster file not found: " + path);
    info.fileSize = static_cast<std::int64_t>(st.st_size);
    info.mtime = static_cast<std::int64_t>(st.st_mtime);
}

} // namespace

namespace
{

// A network file opened through its byte ranges (remote_source.h): the header by range
// requests, the identity from the first answer, the blocks a full scan reads fetched all at
// once rather than one request each. Empty when GDAL must open it itself.
GDALDatasetUniquePtr OpenNetwork(const std::string& path, const InspectOptions& options,
                                 const std::vector<std::string>& drivers, RasterInfo& info,
                                 std::shared_ptr<RemoteObject>& object)
{
    RemoteRecord recorded;
    ObjectIdentity learned;
    RemoteDataset remote =
        OpenRemote(path, nullptr, nullptr, drivers, &recorded, &learned, options.cancel);
    if (!remote.dataset)
        return nullptr;
    info.fileSize = learned.size.value_or(0);
    info.mtime = learned.mtime.value_or(0);
    info.etag = recorded.etag;
    info.remoteHeader = recorded.header;
    object = remote.object;
    GDALDataset* ds = remote.dataset.get();
    // (At most 256 MB held at once: a larger file's blocks are fetched as the scan reads them.)
    if (options.scan && (options.tiles || options.validFootprint) && ds->GetRasterCount() > 0 &&
        info.fileSize <= (256 << 20))
    {
        RemoteRead whole;
        whole.object = object;
        whole.dataset = ds;
        whole.window = {0, 0, ds->GetRasterXSize(), ds->GetRasterYSize()};
        whole.bufW = whole.window.w;
        whole.bufH = whole.window.h;
        whole.fullResolution = true;
        for (int b = 1; b <= ds->GetRasterCount(); ++b)
            whole.bands.push_back(b);
        whole.label = path;
        RemoteBatch batch;
        batch.Add(whole);
        if (batch.Fetch(options.cancel))
            throw Error(ErrorKind::Io, "raster " + path + " changed while it was inspected");
    }
    return std::move(remote.dataset);
}

} // namespace

RasterInfo InspectRaster(const std::string& path, const InspectOptions& options)
{
    RasterInfo info;
    info.path = path;
    if (IsNetworkPath(path))
    {
        std::shared_ptr<RemoteObject> object;
        if (GDALDatasetUniquePtr ds = OpenNetwork(path, options, options.allowedDrivers, info, object))
        {
            InspectDataset(ds.get(), options, info);
            return info;
        }
    }
    StatFile(path, info);
    GdalErrorCollector errors;
    CPLStringList allowed;
    for (const auto& d : options.allowedDrivers)
        allowed.AddString(d.c_str());
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER,
                                              allowed.empty() ? nullptr : allowed.List()));
    if (!ds)
    {
        if (!allowed.empty())
        {
            // A file of a refused format is named with its driver rather than reported as
            // unreadable (identifying with every driver costs time: only on failure).
            GDALDriverH drv = GDALIdentifyDriverEx(path.c_str(), GDAL_OF_RASTER, nullptr, nullptr);
            if (drv != nullptr)
            {
                FileAccessPolicy driverPolicy;
                driverPolicy.allowedDrivers = options.allowedDrivers;
                CheckDriverAllowed(driverPolicy, GDALGetDriverShortName(drv), path);
            }
        }
        throw Error(ErrorKind::Io, "cannot open raster " + path + ": " +
                                       errors.Message("not a raster GDAL can read"));
    }
    InspectDataset(ds.get(), options, info);
    return info;
}

RasterInfo InspectAllowedRaster(const FileAccessPolicy& policy, const std::string& path,
                                const InspectOptions& options)
{
    RasterInfo info;
    info.path = CheckPathAllowed(policy, path);
    if (IsNetworkPath(info.path))
    {
        InspectOptions withDrivers = options;
        if (withDrivers.allowedDrivers.empty())
            withDrivers.allowedDrivers = policy.allowedDrivers;
        std::shared_ptr<RemoteObject> object;
        if (GDALDatasetUniquePtr ds =
                OpenNetwork(info.path, options, withDrivers.allowedDrivers, info, object))
        {
            InspectDataset(ds.get(), options, info);
            return info;
        }
    }
    StatFile(info.path, info);
    GDALDatasetUniquePtr ds = OpenAllowed(policy, info.path);
    InspectDataset(ds.get(), options, info);
    return info;
}

namespace
{

// The pixels of the file's smallest level (its last overview, else itself), at least 64 x 64:
// what header-only registration reads for statistics and footprints.
std::int64_t SmallestLevelPixels(GDALDataset* ds)
{
    GDALRasterBand* band = ds->GetRasterBand(1);
    const int n = band->GetOverviewCount();
    GDALRasterBand* small = n > 0 && band->GetOverview(n - 1) ? band->GetOverview(n - 1) : band;
    return std::max<std::int64_t>(64 * 64,
                                  static_cast<std::int64_t>(small->GetXSize()) * small->GetYSize());
}

} // namespace

void InspectDataset(GDALDataset* ds, const InspectOptions& options, RasterInfo& info)
{
    const std::string& path = info.path;
    GdalErrorCollector errors;
    info.driver = ds->GetDriver() ? ds->GetDriver()->GetDescription() : "";
    info.width = ds->GetRasterXSize();
    info.height = ds->GetRasterYSize();
    if (ds->GetRasterCount() == 0)
        throw Error(ErrorKind::Mismatch, "raster " + path + " has no bands");
    if (ds->GetGeoTransform(info.gt.data()) != CE_None)
        throw Error(ErrorKind::Mismatch, "raster " + path + " has no geotransform");
    info.srid = EpsgOf(ds->GetSpatialRef());
    if (info.srid == 0)
        throw Error(ErrorKind::Mismatch,
                    "raster " + path + " has no spatial reference with an EPSG code");

    for (int i = 1; i <= ds->GetRasterCount(); ++i)
    {
        GDALRasterBand* band = ds->GetRasterBand(i);
        BandInfo b;
        b.type = band->GetRasterDataType();
        int hasNodata = FALSE;
        double nd = band->GetNoDataValue(&hasNodata);
        if (hasNodata)
            b.nodata = nd;
        b.description = band->GetDescription();
        b.colorInterp = GDALGetColorInterpretationName(band->GetColorInterpretation());
        info.bands.push_back(b);
    }
    ds->GetRasterBand(1)->GetBlockSize(&info.blockW, &info.blockH);
    info.overviewCount = ds->GetRasterBand(1)->GetOverviewCount();
    const char* layout = ds->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE");
    info.isCog = layout != nullptr && EQUAL(layout, "COG");
    // One full-resolution scan serves the tile index, the footprint's cells and (for 8 and
    // 16 bit integers) exact statistics.
    const bool scanned = options.scan && (options.tiles || options.validFootprint);
    ItemScan scan;
    if (scanned)
    {
        // The scan reads and records every block: bounded before anything is read (a sparse
        // 1000000 x 1000000 GeoTIFF has 15 million blocks and is a 180 MB file).
        const std::int64_t blocks =
            ((static_cast<std::int64_t>(info.width) + info.blockW - 1) / std::max(1, info.blockW)) *
            ((static_cast<std::int64_t>(info.height) + info.blockH - 1) / std::max(1, info.blockH));
        if (options.maxBlocks > 0 && blocks > options.maxBlocks)
            throw Error(ErrorKind::InvalidParameter,
                        "raster " + path + " has " + std::to_string(blocks) +
                            " blocks at full resolution (" + std::to_string(info.width) + "x" +
                            std::to_string(info.height) + " pixels in blocks of " +
                            std::to_string(info.blockW) + "x" + std::to_string(info.blockH) +
                            "), more than the limit of " + std::to_string(options.maxBlocks) +
                            " a registration scans (load option MAX_BLOCKS)");
        scan = ScanItem(ds, options.footprint.maxCells, options.cancel);
    }
    if (options.statistics != StatisticsMode::None && !scan.statistics.empty())
        info.statistics = scan.statistics;
    else
        // Header-only registration reads the smallest overview when there is one.
        info.statistics = ComputeStatistics(
            ds, options.statistics,
            options.scan || ds->GetRasterBand(1)->GetOverviewCount() == 0
                ? 1024 * 1024
                : SmallestLevelPixels(ds));
    if (options.tiles)
        info.tiles = options.scan ? std::move(scan.tiles) : LayoutTiles(ds);

    // The outline of the pixel extent (corners through the full geotransform, so a rotated
    // raster gets its true quadrilateral).
    const auto& g = info.gt;
    auto corner = [&](double col, double row) {
        return CPLSPrintf("%.17g %.17g", g[0] + col * g[1] + row * g[2],
                          g[3] + col * g[4] + row * g[5]);
    };
    const double w = info.width, h = info.height;
    info.footprintWkt = std::string("POLYGON((") + corner(0, 0) + "," + corner(0, h) + "," +
                        corner(w, h) + "," + corner(w, 0) + "," + corner(0, 0) + "))";
    info.validFootprintWkt = info.footprintWkt;
    info.footprintVertices = 5;
    if (options.validFootprint)
    {
        // Without a scan, traced on the smallest overview (a cell per overview pixel).
        const Footprint fp = scanned ? TraceFootprint(ds, scan.cells, options.footprint)
                                     : ComputeOverviewFootprint(ds, options.footprint);
        info.validFootprintWkt = fp.wkt;
        info.footprintVertices = fp.vertices;
    }
    for (const auto& [name, expression] : options.themes)
        info.themes.emplace_back(name, ComputeThemePolygons(ds, expression));
    if (errors.HasErrors())
        throw Error(ErrorKind::Io, "cannot read raster " + path + ": " + errors.Message());
}

std::string RasterInfoToJson(const RasterInfo& info)
{
    CPLJSONObject o;
    o.Add("path", info.path);
    o.Add("driver", info.driver);
    o.Add("width", info.width);
    o.Add("height", info.height);
    CPLJSONArray gt;
    for (double v : info.gt)
        gt.Add(v);
    o.Add("geotransform", gt);
    o.Add("srid", info.srid);
    o.Add("footprint", info.footprintWkt);
    o.Add("band_count", static_cast<int>(info.bands.size()));
    o.Add("data_type", GDALGetDataTypeName(info.bands[0].type));
    CPLJSONArray bands;
    for (const auto& b : info.bands)
    {
        CPLJSONObject jb;
        jb.Add("data_type", GDALGetDataTypeName(b.type));
        if (b.nodata && std::isfinite(*b.nodata))
            jb.Add("nodata", *b.nodata);
        else if (b.nodata)
            jb.Add("nodata",
                   std::isnan(*b.nodata) ? "NaN" : (*b.nodata > 0 ? "Infinity" : "-Infinity"));
        else
            jb.AddNull("nodata");
        jb.Add("description", b.description);
        jb.Add("color_interp", b.colorInterp);
        bands.Add(jb);
    }
    o.Add("bands", bands);
    o.Add("block_width", info.blockW);
    o.Add("block_height", info.blockH);
    o.Add("overview_count", info.overviewCount);
    o.Add("file_size", static_cast<GInt64>(info.fileSize));
    o.Add("mtime", static_cast<GInt64>(info.mtime));
    o.Add("is_cog", info.isCog);
    if (!info.remoteHeader.empty())
    {
        o.Add("etag", info.etag);
        char* b64 = CPLBase64Encode(static_cast<int>(info.remoteHeader.size()),
                                    reinterpret_cast<const GByte*>(info.remoteHeader.data()));
        o.Add("remote_header", b64 ? b64 : "");
        CPLFree(b64);
    }
    o.Add("valid_footprint", info.validFootprintWkt);
    o.Add("footprint_vertices", info.footprintVertices);
    if (info.statistics.empty())
        o.AddNull("statistics");
    else
    {
        CPLJSONArray stats;
        for (const auto& st : info.statistics)
        {
            CPLJSONObject js;
            js.Add("count", static_cast<GInt64>(st.count));
            if (st.count > 0)
            {
                js.Add("min", st.min);
                js.Add("max", st.max);
                js.Add("mean", st.mean);
                js.Add("stddev", st.stddev);
                js.Add("p0_5", st.p0_5);
                js.Add("p2", st.p2);
                js.Add("p98", st.p98);
                js.Add("p99_5", st.p99_5);
            }
            js.Add("approximate", st.approximate);
            stats.Add(js);
        }
        o.Add("statistics", stats);
    }
    if (!info.tiles.tiles.empty())
    {
        // Compact rows: level, col, row, zoom, minx, miny, maxx, maxy, offset, length, empty,
        // and for full-resolution tiles [min, max, sum, count] per band.
        CPLJSONArray tiles;
        for (const auto& t : info.tiles.tiles)
        {
            CPLJSONArray row;
            for (int v : {t.level, t.col, t.row, t.zoom})
                row.Add(v);
            for (double v : {t.minx, t.miny, t.maxx, t.maxy})
                row.Add(v);
            row.Add(static_cast<GInt64>(t.offset));
            row.Add(static_cast<GInt64>(t.length));
            row.Add(t.empty);
            CPLJSONArray stats;
            for (const auto& b : t.stats)
            {
                CPLJSONArray s5;
                s5.Add(b.min);
                s5.Add(b.max);
                s5.Add(b.sum);
                s5.Add(static_cast<GInt64>(b.count));
                s5.Add(b.sumSq);
                stats.Add(s5);
            }
            row.Add(stats);
            tiles.Add(row);
        }
        o.Add("tiles", tiles);
    }
    if (!info.themes.empty())
    {
        CPLJSONObject themes;
        for (const auto& [name, result] : info.themes)
            themes.Add(name, ThemeResultToJson(result));
        o.Add("themes", themes);
    }
    return o.Format(CPLJSONObject::PrettyFormat::Plain);
}

CPLJSONArray ThemeResultToJson(const ThemeResult& result)
{
    CPLJSONArray polygons;
    for (const auto& p : result.polygons)
    {
        CPLJSONObject jp;
        jp.Add("wkt", p.wkt);
        jp.Add("area", p.area);
        jp.Add("pixels", static_cast<GInt64>(p.pixels));
        polygons.Add(jp);
    }
    return polygons;
}

} // namespace pgmosaic
