#include "types/tilekey.h"

#include <cstdio>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "types/pathref.h" // QuoteForMessage
#include "types/tilekey_bits.h"

namespace pgmosaic
{

// "x y" with 15 significant digits (no GDAL here: this file is part of the types module).
static std::string FormatPoint(double x, double y)
{
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.15g %.15g", x, y);
    return buf;
}

namespace
{

using namespace tilekey_bits;

[[noreturn]] void BadKeyText(const std::string& text, const std::string& reason)
{
    throw Error(ErrorKind::InvalidParameter,
                "invalid tile key " + QuoteForMessage(text) + ": " + reason);
}

bool ParseUnsigned(const std::string& s, std::int64_t& out)
{
    if (s.empty() || s.size() > 10)
        return false;
    out = 0;
    for (char c : s)
    {
        if (c < '0' || c > '9')
            return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

} // namespace

TileKey TileKey::FromZxy(int zoom, std::int64_t x, std::int64_t y)
{
    if (zoom < 0 || zoom > kTileKeyMaxZoom)
        throw Error(ErrorKind::InvalidParameter, "tile zoom " + std::to_string(zoom) +
                                                     " is outside 0.." +
                                                     std::to_string(kTileKeyMaxZoom));
    const std::int64_t n = std::int64_t{1} << zoom;
    if (x < 0 || x >= n || y < 0 || y >= n)
        throw Error(ErrorKind::InvalidParameter,
                    "tile " + std::to_string(zoom) + "/" + std::to_string(x) + "/" +
                        std::to_string(y) + " is outside the matrix: x and y must be in 0.." +
                        std::to_string(n - 1) + " at zoom " + std::to_string(zoom));
    return TileKey(
        BitsOf(zoom, Morton(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y))));
}

bool TileKey::IsValidBits(std::uint64_t bits)
{
    const int z = static_cast<int>(bits & 31);
    if ((bits >> 63) != 0 || z > kTileKeyMaxZoom)
        return false;
    // Digits below the key's zoom are zero.
    const std::uint64_t padding =
        z == 0 ? (LowMask(63) & ~std::uint64_t{31}) : (LowMask(DigitShift(z)) & ~std::uint64_t{31});
    return (bits & padding) == 0;
}

TileKey TileKey::FromBits(std::uint64_t bits)
{
    if (!IsValidBits(bits))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid tile key bits " + std::to_string(static_cast<std::int64_t>(bits)));
    return TileKey(bits);
}

TileKey TileKey::Parse(const std::string& text)
{
    if (text.find('/') != std::string::npos)
    {
        const size_t a = text.find('/');
        const size_t b = text.find('/', a + 1);
        if (b == std::string::npos || text.find('/', b + 1) != std::string::npos)
            BadKeyText(text, "expected a quadkey such as \"0231\" or z/x/y such as \"4/3/9\"");
        std::int64_t z = 0, x = 0, y = 0;
        if (!ParseUnsigned(text.substr(0, a), z) ||
            !ParseUnsigned(text.substr(a + 1, b - a - 1), x) ||
            !ParseUnsigned(text.substr(b + 1), y))
            BadKeyText(text, "z, x and y must be non-negative integers");
        if (z > kTileKeyMaxZoom)
            BadKeyText(text, "zoom is above " + std::to_string(kTileKeyMaxZoom));
        const std::int64_t n = std::int64_t{1} << z;
        if (x >= n || y >= n)
            BadKeyText(text, "x and y must be below " + std::to_string(n) + " at zoom " +
                                 std::to_string(z));
        return FromZxy(static_cast<int>(z), x, y);
    }
    if (text.size() > static_cast<size_t>(kTileKeyMaxZoom))
        BadKeyText(text, "a quadkey has at most " + std::to_string(kTileKeyMaxZoom) + " digits");
    std::uint64_t morton = 0;
    for (char c : text)
    {
        if (c < '0' || c > '3')
            BadKeyText(text, "quadkey digits are 0, 1, 2 and 3");
        morton = (morton << 2) | static_cast<std::uint64_t>(c - '0');
    }
    return TileKey(BitsOf(static_cast<int>(text.size()), morton));
}

std::uint32_t TileKey::x() const
{
    return zoom() == 0 ? 0 : Compact(m_nBits >> DigitShift(zoom()));
}

std::uint32_t TileKey::y() const
{
    return zoom() == 0 ? 0 : Compact(m_nBits >> (DigitShift(zoom()) + 1));
}

std::string TileKey::Quadkey() const
{
    std::string out;
    const int z = zoom();
    out.reserve(z);
    for (int level = 1; level <= z; ++level)
        out += static_cast<char>('0' + ((m_nBits >> DigitShift(level)) & 3));
    return out;
}

std::string TileKey::Zxy() const
{
    return std::to_string(zoom()) + "/" + std::to_string(x()) + "/" + std::to_string(y());
}

TileKey TileKey::Parent() const
{
    return Ancestor(zoom() - 1);
}

TileKey TileKey::Ancestor(int z) const
{
    if (z < 0 || z > zoom())
        throw Error(ErrorKind::InvalidParameter, "zoom " + std::to_string(z) +
                                                     " is not between 0 and the zoom of tile " +
                                                     Zxy());
    if (z == 0)
        return TileKey(0);
    return TileKey((m_nBits & ~LowMask(DigitShift(z))) | static_cast<std::uint64_t>(z));
}

TileKey TileKey::Child(int quadrant) const
{
    const int z = zoom();
    if (z >= kTileKeyMaxZoom)
        throw Error(ErrorKind::InvalidParameter,
                    "tile " + Zxy() + " is at the deepest zoom and has no children");
    return TileKey((m_nBits & ~std::uint64_t{31}) |
                   (static_cast<std::uint64_t>(quadrant & 3) << DigitShift(z + 1)) |
                   static_cast<std::uint64_t>(z + 1));
}

bool TileKey::Contains(TileKey other) const
{
    const int z = zoom();
    if (other.zoom() < z)
        return false;
    if (z == 0)
        return true;
    return (other.m_nBits >> DigitShift(z)) == (m_nBits >> DigitShift(z));
}

TileKey TileKey::RangeEnd() const
{
    const int z = zoom();
    const std::uint64_t below =
        (z == 0 ? LowMask(63) : LowMask(DigitShift(z))) & ~std::uint64_t{31};
    return TileKey((m_nBits & ~std::uint64_t{31}) | below |
                   static_cast<std::uint64_t>(kTileKeyMaxZoom));
}

std::vector<TileKey> TileKey::Neighbours() const
{
    std::vector<TileKey> out;
    const int z = zoom();
    const std::int64_t n = std::int64_t{1} << z;
    for (int dy = -1; dy <= 1; ++dy)
    {
        for (int dx = -1; dx <= 1; ++dx)
        {
            const std::int64_t nx = static_cast<std::int64_t>(x()) + dx;
            const std::int64_t ny = static_cast<std::int64_t>(y()) + dy;
            if ((dx != 0 || dy != 0) && nx >= 0 && ny >= 0 && nx < n && ny < n)
                out.push_back(FromZxy(z, nx, ny));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

QuadMatrix QuadMatrix::WebMercatorQuad()
{
    constexpr double kHalf = 20037508.342789244; // pi * 6378137
    return QuadMatrix{-kHalf, kHalf, 2 * kHalf, 2 * kHalf};
}

void QuadMatrix::Validate() const
{
    if (!std::isfinite(originX) || !std::isfinite(originY) || !std::isfinite(spanX) ||
        !std::isfinite(spanY) || !(spanX > 0) || !(spanY > 0))
        throw Error(ErrorKind::InvalidParameter,
                    "a tile matrix needs a finite origin and positive finite spans");
}

TileKey KeyAt(const QuadMatrix& m, double x, double y, int zoom)
{
    m.Validate();
    if (zoom < 0 || zoom > kTileKeyMaxZoom)
        throw Error(ErrorKind::InvalidParameter, "tile zoom " + std::to_string(zoom) +
                                                     " is outside 0.." +
                                                     std::to_string(kTileKeyMaxZoom));
    const double n = std::ldexp(1.0, zoom);
    const double u = (x - m.originX) / m.spanX * n;
    const double v = (m.originY - y) / m.spanY * n;
    if (!(u >= 0 && u < n && v >= 0 && v < n))
        throw Error(ErrorKind::InvalidParameter,
                    std::string("point (") + FormatPoint(x, y) + ") is outside the tile matrix");
    const auto last = static_cast<std::int64_t>(n) - 1;
    return TileKey::FromZxy(zoom, std::min<std::int64_t>(static_cast<std::int64_t>(u), last),
                            std::min<std::int64_t>(static_cast<std::int64_t>(v), last));
}

Envelope TileEnvelope(const QuadMatrix& m, TileKey key)
{
    const double n = std::ldexp(1.0, key.zoom());
    const double w = m.spanX / n, h = m.spanY / n;
    Envelope e;
    e.minx = m.originX + key.x() * w;
    e.maxx = m.originX + (key.x() + 1.0) * w;
    e.maxy = m.originY - key.y() * h;
    e.miny = m.originY - (key.y() + 1.0) * h;
    return e;
}

} // namespace pgmosaic
