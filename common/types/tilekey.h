// Tile keys: zoom/x/y of a quadtree tile packed into 64 bits, so that a btree over the keys is a
// linear quadtree (seed 003's two-dimensional linear code).
//
// Layout (bit 63 is always 0, so signed and unsigned order agree):
//   bits 62..5  the Morton code of (x, y) at the key's zoom — two bits per level, y above x, as
//               the digits of a Bing quadkey — left-aligned to kMaxZoom levels, zero-padded;
//   bits  4..0  the zoom.
// Keys sort in quadkey order, a tile before its descendants, so all the descendants of a key k
// are exactly the keys in [k, RangeEnd(k)]: one contiguous btree range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "types/grid.h"

namespace pgmosaic
{

constexpr int kTileKeyMaxZoom = 29;

class TileKey
{
public:
    constexpr TileKey() = default;

    // Throws Error(InvalidParameter) when zoom, x or y are out of range.
    static TileKey FromZxy(int zoom, std::int64_t x, std::int64_t y);
    // Throws Error(InvalidParameter) for bits that no key has (see IsValidBits).
    static TileKey FromBits(std::uint64_t bits);
    static bool IsValidBits(std::uint64_t bits);
    // A quadkey ("0231", "" for the root tile) or "z/x/y". Throws Error naming the text.
    static TileKey Parse(const std::string& text);

    std::uint64_t bits() const { return m_nBits; }
    int zoom() const { return static_cast<int>(m_nBits & 31); }
    std::uint32_t x() const;
    std::uint32_t y() const;

    std::string Quadkey() const;
    std::string Zxy() const;

    bool HasParent() const { return zoom() > 0; }
    TileKey Parent() const;             // requires HasParent()
    TileKey Ancestor(int zoom) const;   // throws unless 0 <= zoom <= this->zoom()
    TileKey Child(int quadrant) const;  // quadrant 0..3 as a quadkey digit; requires zoom < max
    bool Contains(TileKey other) const; // other is this tile or one of its descendants
    TileKey RangeEnd() const;           // the greatest key among this tile's descendants
    std::vector<TileKey> Neighbours() const; // the up to 8 tiles around, inside the matrix

    friend bool operator==(TileKey a, TileKey b) { return a.m_nBits == b.m_nBits; }
    friend bool operator!=(TileKey a, TileKey b) { return a.m_nBits != b.m_nBits; }
    friend bool operator<(TileKey a, TileKey b) { return a.m_nBits < b.m_nBits; }

private:
    constexpr explicit TileKey(std::uint64_t bits) : m_nBits(bits) {}
    std::uint64_t m_nBits = 0;
};

// A quadtree tile matrix: tile (0, 0) of zoom 0 spans [originX, originX + spanX] x
// [originY - spanY, originY]; rows count downwards from originY, as in WMTS and XYZ.
struct QuadMatrix
{
    double originX = 0, originY = 0;
    double spanX = 1, spanY = 1;

    static QuadMatrix WebMercatorQuad(); // EPSG:3857, OGC TMS WebMercatorQuad
    void Validate() const;               // throws Error unless finite with positive spans
};

// The key of the tile at `zoom` that holds the point (half-open tiles: a point on a shared edge
// belongs to the tile right of it / below it). Throws Error when the point is outside the matrix.
TileKey KeyAt(const QuadMatrix& matrix, double x, double y, int zoom);

Envelope TileEnvelope(const QuadMatrix& matrix, TileKey key);

} // namespace pgmosaic
