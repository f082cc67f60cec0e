// Thematic polygons (DAD): the pixels where a band expression holds, as polygons.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gdal_priv.h"

#include "inspect/expression.h"

namespace pgmosaic
{

struct ThemeOptions
{
    std::int64_t maxPixels = 4096LL * 4096; // read an overview when the raster is larger
    double simplifyPixels = 1.0;            // simplification tolerance, in pixels
};

struct ThemePolygon
{
    std::string wkt;         // in the raster's own coordinates
    double area = 0;         // of the matching pixels (exact, before simplification)
    std::int64_t pixels = 0; // matching pixels of the level read
};

struct ThemeResult
{
    std::vector<ThemePolygon> polygons;
    std::int64_t pixels = 0;  // matching pixels in all
    double area = 0;          // their area
    bool approximate = false; // computed on an overview
};

// Evaluates `expression` over the valid pixels of `ds` (valid in every band it uses) and
// polygonizes the matching ones (8-connected). Throws Error naming the dataset or the band
// the expression needs and the raster lacks.
ThemeResult ComputeThemePolygons(GDALDataset* ds, const Expression& expression,
                                 const ThemeOptions& options = {});

} // namespace pgmosaic
