#include "inspect/themes.h"

#include <cmath>
#include <memory>

#include "error.h"
#include "inspect/footprint.h"

namespace pgmosaic
{

ThemeResult ComputeThemePolygons(GDALDataset* ds, const Expression& expression,
                                 const ThemeOptions& options)
{
    if (expression.MaxBand() > ds->GetRasterCount())
        throw Error(ErrorKind::InvalidParameter,
                    "expression \"" + expression.Text() + "\" uses b" +
                        std::to_string(expression.MaxBand()) + " but " + ds->GetDescription() +
                        " has " + std::to_string(ds->GetRasterCount()) + " bands");
    double gt[6];
    if (ds->GetGeoTransform(gt) != CE_None)
        throw Error(ErrorKind::Mismatch,
                    std::string("raster ") + ds->GetDescription() + " has no geotransform");
    // The level to read: full resolution, or the largest overview within the pixel budget.
    int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    ThemeResult result;
    GDALRasterBand* first = ds->GetRasterBand(1);
    int overview = -1;
    if (static_cast<std::int64_t>(w) * h > options.maxPixels)
        for (int i = 0; i < first->GetOverviewCount(); ++i)
        {
            GDALRasterBand* ov = first->GetOverview(i);
            if (static_cast<std::int64_t>(ov->GetXSize()) * ov->GetYSize() <= options.maxPixels)
            {
                overview = i;
                break;
            }
        }
    auto level = [&](int b) {
        GDALRasterBand* band = ds->GetRasterBand(b);
        return overview < 0 ? band : band->GetOverview(overview);
    };
    if (overview >= 0)
    {
        result.approximate = true;
        const double fx = static_cast<double>(w) / level(1)->GetXSize();
        const double fy = static_cast<double>(h) / level(1)->GetYSize();
        gt[1] *= fx;
        gt[2] *= fy;
        gt[4] *= fx;
        gt[5] *= fy;
        w = level(1)->GetXSize();
        h = level(1)->GetYSize();
    }
    const size_t n = static_cast<size_t>(w) * h;
    const int bands = std::max(1, expression.MaxBand());
    std::vector<std::vector<double>> values(static_cast<size_t>(bands), std::vector<double>(n));
    std::vector<GByte> match(n, 1), mask(n);
    for (int b = 1; b <= bands; ++b)
    {
        GDALRasterBand* band = level(b);
        if (band->RasterIO(GF_Read, 0, 0, w, h, values[b - 1].data(), w, h, GDT_Float64, 0, 0,
                           nullptr) != CE_None ||
            band->GetMaskBand()->RasterIO(GF_Read, 0, 0, w, h, mask.data(), w, h, GDT_Byte, 0, 0,
                                          nullptr) != CE_None)
            throw Error(ErrorKind::Io, std::string("cannot read ") + ds->GetDescription() + ": " +
                                           CPLGetLastErrorMsg());
        for (size_t i = 0; i < n; ++i)
            match[i] = match[i] && mask[i] != 0;
    }
    std::vector<const double*> ptrs;
    for (auto& v : values)
        ptrs.push_back(v.data());
    const std::vector<double> truth = expression.Evaluate(ptrs, n);
    for (size_t i = 0; i < n; ++i)
    {
        match[i] = match[i] && truth[i] != 0 && !std::isnan(truth[i]);
        result.pixels += match[i];
    }
    const double pixelArea = std::fabs(gt[1] * gt[5] - gt[2] * gt[4]);
    result.area = result.pixels * pixelArea;
    if (result.pixels == 0)
        return result;

    const double tolerance = options.simplifyPixels * std::sqrt(pixelArea);
    for (auto& g :
         TraceMask(match.data(), w, h, gt, std::string("the theme of ") + ds->GetDescription()))
    {
        ThemePolygon p;
        p.area = g->toPolygon()->get_Area();
        p.pixels = std::llround(p.area / pixelArea);
        std::unique_ptr<OGRGeometry> simple(tolerance > 0 ? g->SimplifyPreserveTopology(tolerance)
                                                          : g->clone());
        if (!simple || simple->IsEmpty())
            simple.reset(g->clone());
        char* wkt = nullptr;
        simple->exportToWkt(&wkt, wkbVariantIso);
        p.wkt = wkt;
        CPLFree(wkt);
        result.polygons.push_back(std::move(p));
    }
    return result;
}

} // namespace pgmosaic
