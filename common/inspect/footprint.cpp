#include "inspect/footprint.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "gdal_alg.h"
#include "ogr_geometry.h"
#include "ogrsf_frmts.h"

#include "error.h"
#include "gdal_mem.h"

namespace pgmosaic
{
namespace
{

using GeometryPtr = std::unique_ptr<OGRGeometry>;

Error Failed(GDALDataset* ds, const std::string& what)
{
    return Error(ErrorKind::Io, std::string("cannot compute the footprint of ") +
                                    ds->GetDescription() + ": " + what);
}

// The raster's outline through its full geotransform (so a rotated raster is a rotated square).
GeometryPtr Outline(const double* gt, double w, double h)
{
    auto ring = std::make_unique<OGRLinearRing>();
    const double corners[5][2] = {{0, 0}, {0, h}, {w, h}, {w, 0}, {0, 0}};
    for (const auto& c : corners)
        ring->addPoint(gt[0] + c[0] * gt[1] + c[1] * gt[2], gt[3] + c[0] * gt[4] + c[1] * gt[5]);
    auto poly = std::make_unique<OGRPolygon>();
    poly->addRingDirectly(ring.release());
    return poly;
}

int CountVertices(const OGRGeometry* g)
{
    const auto type = wkbFlatten(g->getGeometryType());
    if (type == wkbPolygon)
    {
        const auto* p = g->toPolygon();
        int n = 0;
        for (const auto* ring : *p)
            n += ring->getNumPoints();
        return n;
    }
    if (type == wkbMultiPolygon || type == wkbGeometryCollection)
    {
        int n = 0;
        for (const auto* part : *g->toGeometryCollection())
            n += CountVertices(part);
        return n;
    }
    return 0;
}

// The mask of valid cells: a cell (k x k pixels) is valid when any pixel of any band is.
std::vector<GByte> ReadCellMask(GDALDataset* ds, int k, int cw, int ch)
{
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    std::vector<GByte> cells(static_cast<size_t>(cw) * ch, 0);
    std::vector<GByte> strip(static_cast<size_t>(w) * k);
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
    {
        GDALRasterBand* band = ds->GetRasterBand(b);
        if (band->GetColorInterpretation() == GCI_AlphaBand)
            continue; // the alpha band is the mask of the others
        const int flags = band->GetMaskFlags();
        if (b > 1 && (flags & GMF_PER_DATASET))
            continue; // one mask for all bands, already read
        GDALRasterBand* mask = band->GetMaskBand();
        for (int cy = 0; cy < ch; ++cy)
        {
            const int y0 = cy * k, rows = std::min(k, h - y0);
            if (mask->RasterIO(GF_Read, 0, y0, w, rows, strip.data(), w, rows, GDT_Byte, 0, 0,
                               nullptr) != CE_None)
                throw Failed(ds, CPLGetLastErrorMsg());
            GByte* cellRow = cells.data() + static_cast<size_t>(cy) * cw;
            for (int r = 0; r < rows; ++r)
            {
                const GByte* px = strip.data() + static_cast<size_t>(r) * w;
                for (int x = 0; x < w; ++x)
                    if (px[x])
                        cellRow[x / k] = 1;
            }
        }
    }
    return cells;
}

// Drops the interior rings of `g` whose area is below `minArea`.
GeometryPtr FillSmallHoles(const OGRGeometry* g, double minArea)
{
    auto fill = [minArea](const OGRPolygon* p) {
        auto out = std::make_unique<OGRPolygon>();
        out->addRingDirectly(p->getExteriorRing()->clone());
        for (int i = 0; i < p->getNumInteriorRings(); ++i)
            if (p->getInteriorRing(i)->get_Area() >= minArea)
                out->addRingDirectly(p->getInteriorRing(i)->clone());
        return out;
    };
    if (wkbFlatten(g->getGeometryType()) == wkbPolygon)
        return fill(g->toPolygon());
    auto out = std::make_unique<OGRMultiPolygon>();
    for (const auto* part : *g->toGeometryCollection())
        if (wkbFlatten(part->getGeometryType()) == wkbPolygon)
            out->addGeometryDirectly(fill(part->toPolygon()).release());
    return out;
}

} // namespace

std::vector<std::unique_ptr<OGRGeometry>> TraceMask(const GByte* mask, int w, int h,
                                                    const double gt[6], const std::string& what)
{
    auto failed = [&]() {
        return Error(ErrorKind::Internal,
                     "cannot trace " + what + ": " + std::string(CPLGetLastErrorMsg()));
    };
    GDALDatasetUniquePtr mem = MemRaster(w, h, 1, GDT_Byte);
    mem->SetGeoTransform(const_cast<double*>(gt));
    GDALRasterBand* band = mem->GetRasterBand(1);
    if (band->RasterIO(GF_Write, 0, 0, w, h, const_cast<GByte*>(mask), w, h, GDT_Byte, 0, 0,
                       nullptr) != CE_None)
        throw failed();
    CollectedLayer layer(wkbPolygon);
    char* options[] = {const_cast<char*>("8CONNECTED=8"), nullptr};
    if (GDALPolygonize(band, band, &layer, 0, options, nullptr, nullptr) != CE_None)
        throw failed();
    std::vector<std::unique_ptr<OGRGeometry>> regions;
    for (auto& feature : layer.Features())
        if (OGRGeometry* g = feature->StealGeometry())
            regions.emplace_back(g);
    return regions;
}

Footprint ComputeFootprint(GDALDataset* ds, const FootprintOptions& options)
{
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    CellMask cells;
    cells.k = std::max(1, (std::max(w, h) + options.maxCells - 1) / options.maxCells);
    cells.cw = (w + cells.k - 1) / cells.k;
    cells.ch = (h + cells.k - 1) / cells.k;
    bool allValid = true;
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
        allValid = allValid && ds->GetRasterBand(b)->GetMaskFlags() == GMF_ALL_VALID;
    if (!allValid)
        cells.cells = ReadCellMask(ds, cells.k, cells.cw, cells.ch);
    return TraceFootprint(ds, cells, options);
}

Footprint ComputeOverviewFootprint(GDALDataset* ds, const FootprintOptions& options)
{
    GDALRasterBand* first = ds->GetRasterBand(1);
    const int levels = first->GetOverviewCount();
    GDALRasterBand* ov = levels > 0 ? first->GetOverview(levels - 1) : nullptr;
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    bool allValid = true;
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
        allValid = allValid && ds->GetRasterBand(b)->GetMaskFlags() == GMF_ALL_VALID;
    if (ov == nullptr || allValid || ov->GetXSize() < 1 || ov->GetYSize() < 1)
        return ComputeFootprint(ds, options);
    CellMask cells;
    cells.k = std::max(1, static_cast<int>(std::lround(static_cast<double>(w) / ov->GetXSize())));
    cells.cw = (w + cells.k - 1) / cells.k;
    cells.ch = (h + cells.k - 1) / cells.k;
    std::vector<GByte> read(static_cast<size_t>(cells.cw) * cells.ch, 0);
    std::vector<GByte> any(read.size(), 0);
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
    {
        GDALRasterBand* band = ds->GetRasterBand(b);
        if (band->GetColorInterpretation() == GCI_AlphaBand)
            continue;
        if (b > 1 && (band->GetMaskFlags() & GMF_PER_DATASET))
            continue;
        GDALRasterBand* bandOv = band->GetOverview(levels - 1);
        if (bandOv == nullptr)
            return ComputeFootprint(ds, options);
        if (bandOv->GetMaskBand()->RasterIO(GF_Read, 0, 0, bandOv->GetXSize(), bandOv->GetYSize(),
                                            read.data(), cells.cw, cells.ch, GDT_Byte, 0, 0,
                                            nullptr) != CE_None)
            throw Failed(ds, CPLGetLastErrorMsg());
        for (size_t i = 0; i < read.size(); ++i)
            any[i] |= read[i] != 0;
    }
    // Grown by one cell.
    cells.cells.assign(any.size(), 0);
    for (int y = 0; y < cells.ch; ++y)
        for (int x = 0; x < cells.cw; ++x)
            if (any[static_cast<size_t>(y) * cells.cw + x])
                for (int dy = -1; dy <= 1; ++dy)
                    for (int dx = -1; dx <= 1; ++dx)
                    {
                        const int yy = y + dy, xx = x + dx;
                        if (yy >= 0 && yy < cells.ch && xx >= 0 && xx < cells.cw)
                            cells.cells[static_cast<size_t>(yy) * cells.cw + xx] = 1;
                    }
    return TraceFootprint(ds, cells, options);
}

Footprint TraceFootprint(GDALDataset* ds, const CellMask& cellMask, const FootprintOptions& options)
{
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    double gt[6];
    if (ds->GetGeoTransform(gt) != CE_None)
        throw Failed(ds, "no geotransform");
    const GeometryPtr outline = Outline(gt, w, h);
    Footprint fp;
    fp.allValid = true;
    for (int b = 1; b <= ds->GetRasterCount(); ++b)
        fp.allValid = fp.allValid && ds->GetRasterBand(b)->GetMaskFlags() == GMF_ALL_VALID;
    // Every cell valid: the outline is already the smallest footprint the cells allow.
    const bool everyCell =
        !cellMask.cells.empty() &&
        std::all_of(cellMask.cells.begin(), cellMask.cells.end(), [](GByte c) { return c != 0; });
    if (fp.allValid || everyCell)
    {
        char* wkt = nullptr;
        outline->exportToWkt(&wkt);
        fp.wkt = wkt;
        CPLFree(wkt);
        fp.vertices = CountVertices(outline.get());
        return fp;
    }
    const int k = cellMask.k, cw = cellMask.cw, ch = cellMask.ch;
    const std::vector<GByte>& cells = cellMask.cells;

    // Trace the valid cells on the cell grid.
    double cellGt[6] = {gt[0], gt[1] * k, gt[2] * k, gt[3], gt[4] * k, gt[5] * k};
    OGRMultiPolygon parts;
    for (auto& region : TraceMask(cells.data(), cw, ch, cellGt,
                                  std::string("the valid cells of ") + ds->GetDescription()))
        parts.addGeometryDirectly(region.release());
    if (parts.IsEmpty())
    {
        fp.wkt = "POLYGON EMPTY";
        return fp;
    }
    const double cellArea = std::fabs(cellGt[1] * cellGt[5] - cellGt[2] * cellGt[4]);
    GeometryPtr merged(parts.UnionCascaded());
    if (!merged)
        throw Failed(ds, "union failed");
    GeometryPtr shape = FillSmallHoles(merged.get(), options.minHoleCells * cellArea);

    // Simplify to the vertex budget. Douglas-Peucker keeps the outline within `tol` of the
    // original; growing the result by tol / cos(22.5 deg) with two segments per quarter circle
    // (whose chords stay outside the tol-circle) contains it again.
    const double cellSize = std::sqrt(cellArea);
    GeometryPtr result;
    if (CountVertices(shape.get()) <= options.maxVertices)
        result.reset(shape->Intersection(outline.get()));
    const double grow = 1.0 / std::cos(M_PI / 8);
    for (double tol = cellSize; !result && tol < 1e6 * cellSize; tol *= 1.25)
    {
        GeometryPtr simple(shape->Simplify(tol));
        if (!simple)
            break;
        GeometryPtr grown(simple->Buffer(grow * tol, 2));
        if (!grown)
            break;
        GeometryPtr clipped(grown->Intersection(outline.get()));
        if (clipped && CountVertices(clipped.get()) <= options.maxVertices)
            result = std::move(clipped);
    }
    if (!result) // the budget cannot be met: the raster outline contains everything
        result.reset(outline->clone());
    char* wkt = nullptr;
    result->exportToWkt(&wkt, wkbVariantIso);
    fp.wkt = wkt;
    CPLFree(wkt);
    fp.vertices = CountVertices(result.get());
    return fp;
}

} // namespace pgmosaic
