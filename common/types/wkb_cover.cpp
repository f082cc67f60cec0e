// WKB geometries and their covering by the tiles of a quadtree matrix (see wkb_cover.h).
#include "types/wkb_cover.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "types/tilekey_bits.h"

namespace pgmosaic
{

using namespace tilekey_bits;

// ---------------------------------------------------------------------------------------------
// WKB
// ---------------------------------------------------------------------------------------------

namespace
{

class WkbReader
{
public:
    WkbReader(const unsigned char* data, std::size_t size) : m_pData(data), m_nSize(size) {}

    void Read(SimpleGeometry& out, int depth)
    {
        if (depth > 32)
            Fail("geometry collections are nested too deeply");
        const bool little = Byte() == 1;
        std::uint32_t type = U32(little);
        const bool ewkbZ = (type & 0x80000000u) != 0, ewkbM = (type & 0x40000000u) != 0;
        if (type & 0x20000000u)
            U32(little); // EWKB SRID
        type &= 0x0fffffffu;
        int dims = 2 + (ewkbZ ? 1 : 0) + (ewkbM ? 1 : 0);
        if (type >= 1000 && type < 4000)
        {
            dims = type >= 3000 ? 4 : 3;
            type %= 1000;
        }
        switch (type)
        {
        case 1:
        {
            const double x = Double(little), y = Double(little);
            Skip(8 * (dims - 2));
            if (!std::isnan(x) && !std::isnan(y)) // POINT EMPTY is NaN NaN
            {
                out.points.push_back(x);
                out.points.push_back(y);
            }
            break;
        }
        case 2:
            out.lines.push_back(Coordinates(little, dims));
            break;
        case 3:
        {
            const std::uint32_t rings = Count(little, 4);
            std::vector<std::vector<double>> polygon;
            for (std::uint32_t i = 0; i < rings; ++i)
                polygon.push_back(Coordinates(little, dims));
            if (!polygon.empty())
                out.polygons.push_back(std::move(polygon));
            break;
        }
        case 4:
        case 5:
        case 6:
        case 7:
        {
            const std::uint32_t parts = Count(little, 9);
            for (std::uint32_t i = 0; i < parts; ++i)
                Read(out, depth + 1);
            break;
        }
        default:
            Fail("geometry type " + std::to_string(type) +
                 " is not supported (points, lines, polygons and their collections are)");
        }
    }

    bool AtEnd() const { return m_nPos == m_nSize; }

private:
    [[noreturn]] void Fail(const std::string& why)
    {
        throw Error(ErrorKind::InvalidParameter, "invalid WKB: " + why);
    }
    void Need(std::size_t n)
    {
        if (m_nSize - m_nPos < n)
            Fail("unexpected end of data");
    }
    unsigned char Byte()
    {
        Need(1);
        const unsigned char b = m_pData[m_nPos++];
        if (b > 1)
            Fail("bad byte order marker");
        return b;
    }
    std::uint32_t U32(bool little)
    {
        Need(4);
        const unsigned char* p = m_pData + m_nPos;
        m_nPos += 4;
        return little ? (p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24))
                      : (p[3] | (p[2] << 8) | (p[1] << 16) | (std::uint32_t{p[0]} << 24));
    }
    double Double(bool little)
    {
        Need(8);
        unsigned char b[8];
        std::memcpy(b, m_pData + m_nPos, 8);
        m_nPos += 8;
        const std::uint16_t probe = 1;
        const bool hostLittle = *reinterpret_cast<const unsigned char*>(&probe) == 1;
        if (little != hostLittle)
            std::reverse(b, b + 8);
        double d;
        std::memcpy(&d, b, 8);
        return d;
    }
    void Skip(std::size_t n)
    {
        Need(n);
        m_nPos += n;
    }
    // A count of items of at least `minBytes` each, checked against the bytes left.
    std::uint32_t Count(bool little, std::size_t minBytes)
    {
        const std::uint32_t n = U32(little);
        if (n > (m_nSize - m_nPos) / minBytes)
            Fail("a count exceeds the data");
        return n;
    }
    std::vector<double> Coordinates(bool little, int dims)
    {
        const std::uint32_t n = Count(little, 8 * static_cast<std::size_t>(dims));
        std::vector<double> xy;
        xy.reserve(2 * static_cast<std::size_t>(n));
        for (std::uint32_t i = 0; i < n; ++i)
        {
            xy.push_back(Double(little));
            xy.push_back(Double(little));
            Skip(8 * (dims - 2));
        }
        return xy;
    }

    const unsigned char* m_pData;
    std::size_t m_nSize;
    std::size_t m_nPos = 0;
};

} // namespace

SimpleGeometry ParseWkb(const unsigned char* data, std::size_t size)
{
    SimpleGeometry g;
    WkbReader reader(data, size);
    reader.Read(g, 0);
    if (!reader.AtEnd())
        throw Error(ErrorKind::InvalidParameter, "invalid WKB: trailing bytes after the geometry");
    return g;
}

// ---------------------------------------------------------------------------------------------
// Covering: the geometry is rasterised row by row into column spans at the target zoom, then a
// quadtree descent over the spans emits whole blocks in key order.
// ---------------------------------------------------------------------------------------------

namespace
{

struct Span
{
    std::int64_t row, c0, c1; // inclusive columns
    bool operator<(const Span& o) const { return row != o.row ? row < o.row : c0 < o.c0; }
};

struct Crossing
{
    std::int64_t row;
    std::size_t polygon;
    double u;
    bool operator<(const Crossing& o) const
    {
        if (row != o.row)
            return row < o.row;
        if (polygon != o.polygon)
            return polygon < o.polygon;
        return u < o.u;
    }
};

class Coverer
{
public:
    Coverer(const QuadMatrix& m, int zoom, const CoverOptions& opt)
        : m_oMatrix(m), m_nZoom(zoom), m_oOpt(opt), m_nN(std::int64_t{1} << zoom),
          m_dfN(std::ldexp(1.0, zoom))
    {
        // Budget for intermediate spans: a geometry that spans more rows than this is refused
        // before it uses the memory.
        m_nSpanBudget = std::max<std::size_t>(opt.maxKeys, 1) * 2 + 1024;
    }

    std::vector<TileKey> Run(const SimpleGeometry& g)
    {
        for (std::size_t i = 0; i + 1 < g.points.size(); i += 2)
            AddPoint(g.points[i], g.points[i + 1]);
        for (const auto& line : g.lines)
            AddLine(line);
        for (std::size_t p = 0; p < g.polygons.size(); ++p)
            AddPolygon(g.polygons[p], p);
        MergeSpans();
        std::vector<TileKey> out;
        if (m_aoSpans.empty())
            return out;
        if (!m_oOpt.compact)
        {
            std::size_t total = 0;
            for (const auto& s : m_aoSpans)
                total += static_cast<std::size_t>(s.c1 - s.c0 + 1);
            TooMany(total);
            out.reserve(total);
        }
        m_nRowMin = m_aoSpans.front().row;
        m_nRowMax = m_aoSpans.back().row;
        m_nColMin = m_nN;
        m_nColMax = -1;
        for (const auto& s : m_aoSpans)
        {
            m_nColMin = std::min(m_nColMin, s.c0);
            m_nColMax = std::max(m_nColMax, s.c1);
        }
        Visit(0, 0, 0, out);
        return out;
    }

private:
    enum class Cover
    {
        Empty,
        Partial,
        Full
    };

    void TooMany(std::size_t n) const
    {
        if (n > m_oOpt.maxKeys)
            throw Error(ErrorKind::InvalidParameter,
                        "the covering at zoom " + std::to_string(m_nZoom) + " has more than " +
                            std::to_string(m_oOpt.maxKeys) +
                            " tiles; use a coarser zoom or a compact covering");
    }

    void Check(double u, double v) const
    {
        if (!std::isfinite(u) || !std::isfinite(v))
            throw Error(ErrorKind::InvalidParameter,
                        "the geometry has non-finite coordinates in the tile matrix");
    }
    double U(double x) const { return (x - m_oMatrix.originX) / m_oMatrix.spanX * m_dfN; }
    double V(double y) const { return (m_oMatrix.originY - y) / m_oMatrix.spanY * m_dfN; }

    // Columns clamped to the matrix; doubles clamped first so huge values cannot overflow.
    std::int64_t Col(double c) const
    {
        return static_cast<std::int64_t>(std::max(-1.0, std::min(c, m_dfN)));
    }

    void Push(std::int64_t row, std::int64_t c0, std::int64_t c1)
    {
        if (row < 0 || row >= m_nN)
            return;
        c0 = std::max<std::int64_t>(c0, 0);
        c1 = std::min<std::int64_t>(c1, m_nN - 1);
        if (c0 > c1)
            return;
        if (m_aoSpans.size() >= m_nSpanBudget)
            TooMany(m_oOpt.maxKeys + 1);
        m_aoSpans.push_back({row, c0, c1});
    }

    // Rows [r0, r1] clamped to the matrix.
    void RowRange(double lo, double hi, std::int64_t& r0, std::int64_t& r1) const
    {
        r0 = static_cast<std::int64_t>(std::max(0.0, lo));
        r1 = static_cast<std::int64_t>(std::min(m_dfN - 1, hi));
    }

    void AddPoint(double x, double y)
    {
        const double u = U(x), v = V(y);
        Check(u, v);
        if (u >= 0 && u < m_dfN && v >= 0 && v < m_dfN)
            Push(static_cast<std::int64_t>(v), static_cast<std::int64_t>(u),
                 static_cast<std::int64_t>(u));
    }

    // A segment of a line: every tile holding one of its points (half-open tiles).
    void AddLineSegment(double u0, double v0, double u1, double v1)
    {
        const double vmin = std::min(v0, v1), vmax = std::max(v0, v1);
        if (vmax < 0 || vmin >= m_dfN)
            return;
        std::int64_t r0, r1;
        RowRange(std::floor(vmin), std::floor(vmax), r0, r1);
        for (std::int64_t r = r0; r <= r1; ++r)
        {
            double ua, ub;
            Clip(u0, v0, u1, v1, static_cast<double>(r), r + 1.0, ua, ub);
            Push(r, Col(std::floor(ua)), Col(std::floor(ub)));
        }
    }

    // An edge of a polygon: the tiles whose interior it passes through.
    void AddPolygonEdge(double u0, double v0, double u1, double v1)
    {
        const double vmin = std::min(v0, v1), vmax = std::max(v0, v1);
        if (vmax <= 0 || vmin >= m_dfN)
            return;
        if (vmin == vmax)
        {
            if (vmin == std::floor(vmin))
                return; // along a row boundary: inside no tile
            Push(static_cast<std::int64_t>(vmin), Col(std::floor(std::min(u0, u1))),
                 Col(std::ceil(std::max(u0, u1))) - 1);
            return;
        }
        std::int64_t r0, r1;
        RowRange(std::floor(vmin), std::ceil(vmax) - 1, r0, r1);
        for (std::int64_t r = r0; r <= r1; ++r)
        {
            double ua, ub;
            Clip(u0, v0, u1, v1, static_cast<double>(r), r + 1.0, ua, ub);
            Push(r, Col(std::floor(ua)), Col(std::ceil(ub)) - 1);
        }
    }

    // The u range of segment (u0,v0)-(u1,v1) within rows [va, vb].
    static void Clip(double u0, double v0, double u1, double v1, double va, double vb, double& ua,
                     double& ub)
    {
        if (v0 == v1)
        {
            ua = std::min(u0, u1);
            ub = std::max(u0, u1);
            return;
        }
        const double vlo = std::max(va, std::min(v0, v1));
        const double vhi = std::min(vb, std::max(v0, v1));
        const double k = (u1 - u0) / (v1 - v0);
        const double a = u0 + (vlo - v0) * k, b = u0 + (vhi - v0) * k;
        ua = std::min(a, b);
        ub = std::max(a, b);
    }

    void AddLine(const std::vector<double>& xy)
    {
        std::vector<double> uv = ToTileSpace(xy);
        if (uv.size() == 2)
            AddLineSegment(uv[0], uv[1], uv[0], uv[1]);
        for (std::size_t i = 0; i + 3 < uv.size(); i += 2)
            AddLineSegment(uv[i], uv[i + 1], uv[i + 2], uv[i + 3]);
    }

    void AddPolygon(const std::vector<std::vector<double>>& rings, std::size_t polygon)
    {
        for (const auto& ring : rings)
        {
            std::vector<double> uv = ToTileSpace(ring);
            if (uv.size() < 6)
                continue;
            if (uv[0] != uv[uv.size() - 2] || uv[1] != uv[uv.size() - 1])
            {
                uv.push_back(uv[0]);
                uv.push_back(uv[1]);
            }
            for (std::size_t i = 0; i + 3 < uv.size(); i += 2)
            {
                const double u0 = uv[i], v0 = uv[i + 1], u1 = uv[i + 2], v1 = uv[i + 3];
                AddPolygonEdge(u0, v0, u1, v1);
                // Crossings of the row midlines, half-open in v so that a vertex on a midline
                // is counted once.
                const double lo = std::min(v0, v1), hi = std::max(v0, v1);
                if (lo == hi || hi <= 0.5 || lo >= m_dfN)
                    continue;
                std::int64_t r0, r1;
                RowRange(std::ceil(lo - 0.5), std::ceil(hi - 0.5) - 1, r0, r1);
                const double k = (u1 - u0) / (v1 - v0);
                for (std::int64_t r = r0; r <= r1; ++r)
                {
                    const double mid = r + 0.5;
                    if (m_aoCrossings.size() >= m_nSpanBudget)
                        TooMany(m_oOpt.maxKeys + 1);
                    m_aoCrossings.push_back({r, polygon, u0 + (mid - v0) * k});
                }
            }
        }
    }

    std::vector<double> ToTileSpace(const std::vector<double>& xy) const
    {
        std::vector<double> uv(xy.size());
        for (std::size_t i = 0; i + 1 < xy.size(); i += 2)
        {
            uv[i] = U(xy[i]);
            uv[i + 1] = V(xy[i + 1]);
            Check(uv[i], uv[i + 1]);
        }
        return uv;
    }

    void MergeSpans()
    {
        // Interiors: between successive midline crossings of one polygon (even-odd, so holes
        // are outside), every tile whose interior the midline interval meets.
        std::sort(m_aoCrossings.begin(), m_aoCrossings.end());
        for (std::size_t i = 0; i + 1 < m_aoCrossings.size();)
        {
            const Crossing& a = m_aoCrossings[i];
            const Crossing& b = m_aoCrossings[i + 1];
            if (a.row != b.row || a.polygon != b.polygon)
            {
                ++i; // an unpaired crossing (numerically degenerate ring): skip it
                continue;
            }
            Push(a.row, Col(std::floor(a.u)), Col(std::ceil(b.u)) - 1);
            i += 2;
        }
        m_aoCrossings.clear();
        std::sort(m_aoSpans.begin(), m_aoSpans.end());
        std::size_t w = 0;
        for (std::size_t i = 0; i < m_aoSpans.size(); ++i)
        {
            if (w > 0 && m_aoSpans[w - 1].row == m_aoSpans[i].row &&
                m_aoSpans[i].c0 <= m_aoSpans[w - 1].c1 + 1)
                m_aoSpans[w - 1].c1 = std::max(m_aoSpans[w - 1].c1, m_aoSpans[i].c1);
            else
                m_aoSpans[w++] = m_aoSpans[i];
        }
        m_aoSpans.resize(w);
    }

    Cover Classify(std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) const
    {
        if (r1 < m_nRowMin || r0 > m_nRowMax || c1 < m_nColMin || c0 > m_nColMax)
            return Cover::Empty;
        auto it = std::lower_bound(m_aoSpans.begin(), m_aoSpans.end(), Span{r0, -1, -1});
        bool any = false;
        std::int64_t fullRows = 0;
        for (; it != m_aoSpans.end() && it->row <= r1; ++it)
        {
            if (it->c1 < c0 || it->c0 > c1)
                continue;
            any = true;
            if (it->c0 <= c0 && it->c1 >= c1)
                ++fullRows;
            else
                return Cover::Partial;
        }
        if (!any)
            return Cover::Empty;
        return fullRows == r1 - r0 + 1 ? Cover::Full : Cover::Partial;
    }

    void Visit(int level, std::uint32_t x, std::uint32_t y, std::vector<TileKey>& out) const
    {
        const int d = m_nZoom - level;
        const std::int64_t r0 = static_cast<std::int64_t>(y) << d;
        const std::int64_t c0 = static_cast<std::int64_t>(x) << d;
        const std::int64_t size = std::int64_t{1} << d;
        const Cover c = Classify(r0, r0 + size - 1, c0, c0 + size - 1);
        if (c == Cover::Empty)
            return;
        if (c == Cover::Full)
        {
            if (m_oOpt.compact)
            {
                TooMany(out.size() + 1);
                out.push_back(TileKey::FromZxy(level, x, y));
                return;
            }
            // Every tile of the block at the target zoom, in key order: consecutive codes.
            const std::uint64_t base = Morton(x, y) << (2 * d);
            const std::uint64_t count = std::uint64_t{1} << (2 * d);
            for (std::uint64_t i = 0; i < count; ++i)
                out.push_back(TileKey::FromBits(BitsOf(m_nZoom, base | i)));
            return;
        }
        for (std::uint32_t q = 0; q < 4; ++q)
            Visit(level + 1, 2 * x + (q & 1), 2 * y + (q >> 1), out);
    }

    const QuadMatrix& m_oMatrix;
    int m_nZoom;
    CoverOptions m_oOpt;
    std::int64_t m_nN;
    double m_dfN;
    std::size_t m_nSpanBudget = 0;
    std::vector<Span> m_aoSpans{};
    std::vector<Crossing> m_aoCrossings{};
    std::int64_t m_nRowMin = 0, m_nRowMax = -1, m_nColMin = 0, m_nColMax = -1;
};

} // namespace

std::vector<TileKey> Cover(const QuadMatrix& matrix, const SimpleGeometry& geometry, int zoom,
                           const CoverOptions& options)
{
    matrix.Validate();
    if (zoom < 0 || zoom > kTileKeyMaxZoom)
        throw Error(ErrorKind::InvalidParameter, "tile zoom " + std::to_string(zoom) +
                                                     " is outside 0.." +
                                                     std::to_string(kTileKeyMaxZoom));
    return Coverer(matrix, zoom, options).Run(geometry);
}

} // namespace pgmosaic
