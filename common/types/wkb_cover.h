// WKB geometries (parsed without GDAL) and the tile keys that cover them, split out of the tile
// key arithmetic of tilekey.h. GDAL-free: part of the types library.
#pragma once

#include <cstddef>
#include <vector>

#include "types/tilekey.h"

namespace pgmosaic
{

// A geometry as coordinates: points, line strings and polygons (each a list of rings, the first
// one the shell). Every ring or line is a flat list x0, y0, x1, y1, ...
struct SimpleGeometry
{
    std::vector<double> points;
    std::vector<std::vector<double>> lines;
    std::vector<std::vector<std::vector<double>>> polygons;
};

// Parses WKB (ISO or EWKB; 2D, Z, M, ZM; points, lines, polygons, their multi forms and
// collections). Z and M are dropped. Throws Error(InvalidParameter) on malformed input.
SimpleGeometry ParseWkb(const unsigned char* data, std::size_t size);

struct CoverOptions
{
    bool compact = false;           // replace each complete set of 4 siblings by their parent
    std::size_t maxKeys = 10000000; // refuse coverings larger than this
};

// The keys of the tiles at `zoom` that a geometry covers, in key order: tiles whose interior meets
// a polygon's interior, tiles a line passes through, tiles holding a point. Parts outside the
// matrix are ignored. With compact, complete quadrants are merged into their ancestors (still
// in key order; together they cover exactly the same area).
std::vector<TileKey> Cover(const QuadMatrix& matrix, const SimpleGeometry& geometry, int zoom,
                           const CoverOptions& options = {});

} // namespace pgmosaic
