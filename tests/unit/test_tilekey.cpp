#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "error.h"
#include "types/tilekey.h"
#include "types/wkb_cover.h"

using namespace pgmosaic;

namespace
{

TileKey RandomKey(std::mt19937_64& rng, int minZoom = 0)
{
    const int z = minZoom + static_cast<int>(rng() % (kTileKeyMaxZoom - minZoom + 1));
    const std::uint64_t n = std::uint64_t{1} << z;
    return TileKey::FromZxy(z, static_cast<std::int64_t>(rng() % n),
                            static_cast<std::int64_t>(rng() % n));
}

// ---- a WKB writer for the tests ----------------------------------------------------------

struct Wkb
{
    std::vector<unsigned char> bytes;
    bool little = true;
    void U8(unsigned char b) { bytes.push_back(b); }
    void U32(std::uint32_t v)
    {
        for (int i = 0; i < 4; ++i)
            bytes.push_back(static_cast<unsigned char>(little ? v >> (8 * i) : v >> (8 * (3 - i))));
    }
    void F64(double d)
    {
        unsigned char b[8];
        std::memcpy(b, &d, 8);
        if (!little)
            std::reverse(b, b + 8);
        bytes.insert(bytes.end(), b, b + 8);
    }
    void Header(std::uint32_t type)
    {
        U8(little ? 1 : 0);
        U32(type);
    }
    void Polygon(const std::vector<std::vector<double>>& rings)
    {
        Header(3);
        U32(static_cast<std::uint32_t>(rings.size()));
        for (const auto& r : rings)
        {
            U32(static_cast<std::uint32_t>(r.size() / 2));
            for (double d : r)
                F64(d);
        }
    }
};

SimpleGeometry PolygonOf(std::vector<std::vector<double>> rings)
{
    SimpleGeometry g;
    g.polygons.push_back(std::move(rings));
    return g;
}

// ---- brute force: clip the polygon to each tile and look at the area left ----------------

using Pts = std::vector<std::pair<double, double>>;

Pts ClipHalfPlane(const Pts& in, int axis, double bound, bool keepBelow)
{
    Pts out;
    auto inside = [&](const std::pair<double, double>& p) {
        const double c = axis == 0 ? p.first : p.second;
        return keepBelow ? c <= bound : c >= bound;
    };
    for (size_t i = 0; i < in.size(); ++i)
    {
        const auto& a = in[i];
        const auto& b = in[(i + 1) % in.size()];
        const bool ia = inside(a), ib = inside(b);
        if (ia)
            out.push_back(a);
        if (ia != ib)
        {
            const double ca = axis == 0 ? a.first : a.second;
            const double cb = axis == 0 ? b.first : b.second;
            const double t = (bound - ca) / (cb - ca);
            out.push_back(
                {a.first + t * (b.first - a.first), a.second + t * (b.second - a.second)});
        }
    }
    return out;
}

double Area(const Pts& p)
{
    double a = 0;
    for (size_t i = 0; i < p.size(); ++i)
    {
        const auto& u = p[i];
        const auto& v = p[(i + 1) % p.size()];
        a += u.first * v.second - v.first * u.second;
    }
    return std::fabs(a) / 2;
}

double ClippedArea(const std::vector<double>& ring, const Envelope& e)
{
    Pts p;
    for (size_t i = 0; i + 1 < ring.size(); i += 2)
        p.push_back({ring[i], ring[i + 1]});
    p = ClipHalfPlane(p, 0, e.minx, false);
    p = ClipHalfPlane(p, 0, e.maxx, true);
    p = ClipHalfPlane(p, 1, e.miny, false);
    p = ClipHalfPlane(p, 1, e.maxy, true);
    return p.size() < 3 ? 0 : Area(p);
}

std::vector<TileKey> BruteForceCover(const QuadMatrix& m, const SimpleGeometry& g, int zoom)
{
    std::vector<TileKey> out;
    const std::int64_t n = std::int64_t{1} << zoom;
    for (std::int64_t y = 0; y < n; ++y)
    {
        for (std::int64_t x = 0; x < n; ++x)
        {
            const TileKey k = TileKey::FromZxy(zoom, x, y);
            const Envelope e = TileEnvelope(m, k);
            const double tileArea = (e.maxx - e.minx) * (e.maxy - e.miny);
            bool hit = false;
            for (const auto& poly : g.polygons)
            {
                double a = ClippedArea(poly[0], e);
                for (size_t h = 1; h < poly.size(); ++h)
                    a -= ClippedArea(poly[h], e);
                hit = hit || a > 1e-14 * tileArea; // a spike may enter a tile by very little
            }
            if (hit)
                out.push_back(k);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// A random star-shaped (so simple) polygon around (cx, cy).
std::vector<double> StarRing(std::mt19937_64& rng, double cx, double cy, double rmax, int n)
{
    std::uniform_real_distribution<double> r(0.2 * rmax, rmax);
    std::vector<double> ring;
    for (int i = 0; i < n; ++i)
    {
        const double a = 2 * M_PI * i / n;
        const double rr = r(rng);
        ring.push_back(cx + rr * std::cos(a));
        ring.push_back(cy + rr * std::sin(a));
    }
    ring.push_back(ring[0]);
    ring.push_back(ring[1]);
    return ring;
}

std::vector<TileKey> Expand(const std::vector<TileKey>& keys, int zoom)
{
    std::vector<TileKey> out;
    for (TileKey k : keys)
    {
        const int d = zoom - k.zoom();
        const std::int64_t side = std::int64_t{1} << d;
        for (std::int64_t y = 0; y < side; ++y)
            for (std::int64_t x = 0; x < side; ++x)
                out.push_back(TileKey::FromZxy(zoom, k.x() * side + x, k.y() * side + y));
    }
    std::sort(out.begin(), out.end());
    return out;
}

const QuadMatrix kUnit{0, 1, 1, 1}; // [0,1] x [0,1], rows downward from y = 1

} // namespace

TEST(TileKey, KnownValues)
{
    // Bing Maps' example: tile (3, 5) at level 3 has quadkey 213.
    const TileKey k = TileKey::FromZxy(3, 3, 5);
    EXPECT_EQ(k.Quadkey(), "213");
    EXPECT_EQ(k.Zxy(), "3/3/5");
    EXPECT_EQ(TileKey::Parse("213"), k);
    EXPECT_EQ(TileKey::Parse("3/3/5"), k);
    EXPECT_EQ(TileKey::Parse("").zoom(), 0);
    EXPECT_EQ(TileKey::Parse("").bits(), 0u);
    EXPECT_EQ(TileKey::Parse("0/0/0"), TileKey::Parse(""));
    EXPECT_EQ(k.Parent().Quadkey(), "21");
    EXPECT_EQ(k.Ancestor(0).Quadkey(), "");
    EXPECT_EQ(k.Child(3).Quadkey(), "2133");
    EXPECT_TRUE(TileKey::Parse("21").Contains(k));
    EXPECT_TRUE(k.Contains(k));
    EXPECT_FALSE(k.Contains(k.Parent()));
    EXPECT_FALSE(TileKey::Parse("20").Contains(k));
    EXPECT_EQ(TileKey::FromZxy(kTileKeyMaxZoom, (1 << 29) - 1, (1 << 29) - 1).bits() >> 63, 0u);
}

TEST(TileKey, InvalidInputIsRefusedWithTheValueNamed)
{
    auto message = [](const std::string& text) {
        try
        {
            TileKey::Parse(text);
        }
        catch (const Error& e)
        {
            EXPECT_EQ(e.kind(), ErrorKind::InvalidParameter);
            return std::string(e.what());
        }
        return std::string("parsed");
    };
    EXPECT_NE(message("0124").find("quadkey digits are 0, 1, 2 and 3"), std::string::npos);
    EXPECT_NE(message("0124").find("\"0124\""), std::string::npos);
    EXPECT_NE(message(std::string(30, '1')).find("at most 29 digits"), std::string::npos);
    EXPECT_NE(message("3/8/0").find("below 8 at zoom 3"), std::string::npos);
    EXPECT_NE(message("30/0/0").find("zoom is above 29"), std::string::npos);
    EXPECT_NE(message("3/-1/0").find("non-negative integers"), std::string::npos);
    EXPECT_NE(message("3/1").find("z/x/y"), std::string::npos);
    EXPECT_NE(message("3/1/2/4").find("z/x/y"), std::string::npos);
    EXPECT_THROW(TileKey::FromZxy(2, 4, 0), Error);
    EXPECT_THROW(TileKey::FromZxy(-1, 0, 0), Error);
    EXPECT_THROW(TileKey::FromBits(std::uint64_t{1} << 63), Error);
    EXPECT_THROW(TileKey::FromBits(30), Error);                           // zoom 30
    EXPECT_THROW(TileKey::FromBits((std::uint64_t{1} << 60) | 1), Error); // digit below zoom 1
    EXPECT_THROW(TileKey::Parse("").Parent(), Error);
    EXPECT_THROW(TileKey::FromZxy(kTileKeyMaxZoom, 0, 0).Child(0), Error);
}

TEST(TileKey, RandomKeysRoundTrip)
{
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; ++i)
    {
        const TileKey k = RandomKey(rng);
        ASSERT_TRUE(TileKey::IsValidBits(k.bits()));
        ASSERT_EQ(TileKey::FromBits(k.bits()), k);
        ASSERT_EQ(TileKey::FromZxy(k.zoom(), k.x(), k.y()), k);
        ASSERT_EQ(TileKey::Parse(k.Quadkey()), k);
        ASSERT_EQ(TileKey::Parse(k.Zxy()), k);
        if (k.HasParent())
        {
            ASSERT_EQ(k.Parent(), TileKey::FromZxy(k.zoom() - 1, k.x() / 2, k.y() / 2));
            ASSERT_TRUE(k.Parent().Contains(k));
        }
        if (k.zoom() < kTileKeyMaxZoom)
        {
            for (int q = 0; q < 4; ++q)
            {
                const TileKey c = k.Child(q);
                ASSERT_EQ(c.Parent(), k);
                ASSERT_EQ(c.x(), 2 * k.x() + (q & 1));
                ASSERT_EQ(c.y(), 2 * k.y() + (q >> 1));
            }
        }
    }
}

// Key order is quadkey order, and the descendants of a key are exactly [key, RangeEnd(key)].
TEST(TileKey, OrderIsQuadkeyOrderAndSubtreesAreContiguous)
{
    std::mt19937_64 rng(11);
    for (int i = 0; i < 100000; ++i)
    {
        const TileKey a = RandomKey(rng);
        // A quarter of the pairs are a key and one of its descendants.
        TileKey b = RandomKey(rng);
        if (i % 4 == 0)
        {
            b = a;
            while (b.zoom() < kTileKeyMaxZoom && rng() % 4 != 0)
                b = b.Child(static_cast<int>(rng() % 4));
        }
        ASSERT_EQ(a < b, a.Quadkey() < b.Quadkey()) << a.Quadkey() << " " << b.Quadkey();
        const bool inRange = a.bits() <= b.bits() && b.bits() <= a.RangeEnd().bits();
        ASSERT_EQ(a.Contains(b), inRange) << a.Quadkey() << " " << b.Quadkey();
        ASSERT_EQ(a.Contains(b), b.Quadkey().compare(0, a.Quadkey().size(), a.Quadkey()) == 0);
    }
}

TEST(TileKey, Neighbours)
{
    EXPECT_EQ(TileKey::FromZxy(0, 0, 0).Neighbours().size(), 0u);
    EXPECT_EQ(TileKey::FromZxy(3, 0, 0).Neighbours().size(), 3u);
    EXPECT_EQ(TileKey::FromZxy(3, 7, 3).Neighbours().size(), 5u);
    const auto around = TileKey::FromZxy(3, 4, 4).Neighbours();
    ASSERT_EQ(around.size(), 8u);
    std::set<std::pair<int, int>> cells;
    for (TileKey k : around)
    {
        EXPECT_EQ(k.zoom(), 3);
        cells.insert({static_cast<int>(k.x()) - 4, static_cast<int>(k.y()) - 4});
    }
    EXPECT_EQ(cells.size(), 8u);
    EXPECT_EQ(cells.count({0, 0}), 0u);
    EXPECT_TRUE(std::is_sorted(around.begin(), around.end()));
}

TEST(TileKey, WebMercatorQuadPointsAndEnvelopes)
{
    const QuadMatrix wm = QuadMatrix::WebMercatorQuad();
    EXPECT_EQ(KeyAt(wm, 0, 0, 1).Zxy(), "1/1/1"); // the centre belongs to the tile below right
    EXPECT_EQ(KeyAt(wm, -1, 1, 1).Zxy(), "1/0/0");
    // Paris (2.3522 E, 48.8566 N) is tile 12/2074/1409 in every XYZ tile service.
    const double x = 2.3522 * 20037508.342789244 / 180;
    const double y = std::log(std::tan((90 + 48.8566) * M_PI / 360)) * 20037508.342789244 / M_PI;
    EXPECT_EQ(KeyAt(wm, x, y, 12).Zxy(), "12/2074/1409");
    const Envelope e = TileEnvelope(wm, TileKey::FromZxy(1, 0, 0));
    EXPECT_DOUBLE_EQ(e.minx, -20037508.342789244);
    EXPECT_DOUBLE_EQ(e.maxx, 0);
    EXPECT_DOUBLE_EQ(e.miny, 0);
    EXPECT_DOUBLE_EQ(e.maxy, 20037508.342789244);
    EXPECT_THROW(KeyAt(wm, 3e7, 0, 3), Error);
    EXPECT_THROW(KeyAt(wm, 0, 0, 30), Error);
    EXPECT_THROW(KeyAt(QuadMatrix{0, 0, -1, 1}, 0, 0, 1), Error);
}

TEST(TileKey, WkbForms)
{
    Wkb w;
    w.Polygon({{0, 0, 1, 0, 1, 1, 0, 0}});
    auto g = ParseWkb(w.bytes.data(), w.bytes.size());
    ASSERT_EQ(g.polygons.size(), 1u);
    EXPECT_EQ(g.polygons[0][0], (std::vector<double>{0, 0, 1, 0, 1, 1, 0, 0}));

    Wkb big; // big-endian point
    big.little = false;
    big.Header(1);
    big.F64(3);
    big.F64(4);
    g = ParseWkb(big.bytes.data(), big.bytes.size());
    EXPECT_EQ(g.points, (std::vector<double>{3, 4}));

    Wkb ewkb; // EWKB LINESTRING Z with an SRID
    ewkb.Header(0x80000000u | 0x20000000u | 2);
    ewkb.U32(3857);
    ewkb.U32(2);
    for (double d : {1.0, 2.0, 9.0, 3.0, 4.0, 9.0})
        ewkb.F64(d);
    g = ParseWkb(ewkb.bytes.data(), ewkb.bytes.size());
    ASSERT_EQ(g.lines.size(), 1u);
    EXPECT_EQ(g.lines[0], (std::vector<double>{1, 2, 3, 4}));

    Wkb iso; // ISO MULTIPOINT ZM holding one POINT ZM, and POINT EMPTY
    iso.Header(3004);
    iso.U32(2);
    iso.Header(3001);
    for (double d : {5.0, 6.0, 7.0, 8.0})
        iso.F64(d);
    iso.Header(1);
    iso.F64(NAN);
    iso.F64(NAN);
    g = ParseWkb(iso.bytes.data(), iso.bytes.size());
    EXPECT_EQ(g.points, (std::vector<double>{5, 6}));

    std::vector<unsigned char> truncated(w.bytes.begin(), w.bytes.end() - 3);
    EXPECT_THROW(ParseWkb(truncated.data(), truncated.size()), Error);
    Wkb curve;
    curve.Header(8); // CIRCULARSTRING
    curve.U32(0);
    EXPECT_THROW(ParseWkb(curve.bytes.data(), curve.bytes.size()), Error);
    Wkb huge;
    huge.Header(2);
    huge.U32(0x7fffffff);
    EXPECT_THROW(ParseWkb(huge.bytes.data(), huge.bytes.size()), Error);
    std::vector<unsigned char> trailing = w.bytes;
    trailing.push_back(0);
    EXPECT_THROW(ParseWkb(trailing.data(), trailing.size()), Error);
}

TEST(TileKey, CoverOfATileAlignedSquareIsExactlyItsTiles)
{
    // [0.25, 0.5] x [0.5, 0.75] in the unit matrix: at zoom 3, columns 2-3 and rows 2-3.
    const auto g = PolygonOf({{0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.25, 0.75, 0.25, 0.5}});
    const auto keys = Cover(kUnit, g, 3);
    std::vector<std::string> zxy;
    for (TileKey k : keys)
        zxy.push_back(k.Zxy());
    EXPECT_EQ(zxy, (std::vector<std::string>{"3/2/2", "3/3/2", "3/2/3", "3/3/3"}));
    CoverOptions compact;
    compact.compact = true;
    const auto merged = Cover(kUnit, g, 3, compact);
    ASSERT_EQ(merged.size(), 1u);
    EXPECT_EQ(merged[0].Zxy(), "2/1/1");
}

TEST(TileKey, CoverMatchesBruteForceOnRandomPolygons)
{
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-0.2, 1.2);
    for (int i = 0; i < 300; ++i)
    {
        const int zoom = static_cast<int>(rng() % 7);
        std::vector<std::vector<double>> rings;
        const double cx = u(rng), cy = u(rng);
        const double r = 0.05 + 0.5 * std::fabs(u(rng));
        // With 8 vertices or more, every edge of the shell stays beyond 0.18 r of the centre.
        const int vertices = (i % 3 == 0 ? 8 : 3) + static_cast<int>(rng() % 40);
        rings.push_back(StarRing(rng, cx, cy, r, vertices));
        if (i % 3 == 0) // a hole well inside the shell
            rings.push_back(StarRing(rng, cx, cy, 0.15 * r, 3 + static_cast<int>(rng() % 8)));
        SimpleGeometry g = PolygonOf(rings);
        if (i % 5 == 0) // a second, overlapping polygon
            g.polygons.push_back({StarRing(rng, cx + r / 2, cy, r / 2, 7)});
        const auto expected = BruteForceCover(kUnit, g, zoom);
        ASSERT_EQ(Cover(kUnit, g, zoom), expected) << "case " << i << " zoom " << zoom;
        CoverOptions compact;
        compact.compact = true;
        const auto merged = Cover(kUnit, g, zoom, compact);
        ASSERT_TRUE(std::is_sorted(merged.begin(), merged.end()));
        ASSERT_EQ(Expand(merged, zoom), expected) << "case " << i;
    }
}

TEST(TileKey, CoverOfLinesAndPoints)
{
    SimpleGeometry g;
    g.lines.push_back({0.05, 0.9, 0.95, 0.9}); // a horizontal line in row 0 at zoom 3
    g.points = {0.55, 0.05, 2.0, 2.0};         // row 7 col 4, and a point outside the matrix
    std::vector<std::string> zxy;
    for (TileKey k : Cover(kUnit, g, 3))
        zxy.push_back(k.Zxy());
    std::sort(zxy.begin(), zxy.end());
    EXPECT_EQ(zxy, (std::vector<std::string>{"3/0/0", "3/1/0", "3/2/0", "3/3/0", "3/4/0", "3/4/7",
                                             "3/5/0", "3/6/0", "3/7/0"}));
    // A diagonal passes through every tile it touches and no other.
    SimpleGeometry diag;
    diag.lines.push_back({0.01, 0.99, 0.99, 0.01});
    const auto keys = Cover(kUnit, diag, 4);
    for (TileKey k : keys)
    {
        const Envelope e = TileEnvelope(kUnit, k);
        // the line y = 1 - x crosses the tile's closed box
        EXPECT_TRUE(1 - e.maxx <= e.maxy && 1 - e.minx >= e.miny) << k.Zxy();
    }
    EXPECT_GE(keys.size(), 16u);
    EXPECT_LE(keys.size(), 16u * 3);
}

TEST(TileKey, CoverRefusesHugeResultsAndBadInput)
{
    const auto world = PolygonOf({{-1, -1, 2, -1, 2, 2, -1, 2, -1, -1}});
    CoverOptions small;
    small.maxKeys = 1000;
    EXPECT_THROW(Cover(kUnit, world, 6, small), Error); // 4096 tiles
    small.compact = true;
    const auto root = Cover(kUnit, world, 6, small);
    ASSERT_EQ(root.size(), 1u);
    EXPECT_EQ(root[0].zoom(), 0);
    EXPECT_THROW(Cover(kUnit, PolygonOf({{0, 0, NAN, 0, 1, 1, 0, 0}}), 3), Error);
    EXPECT_THROW(Cover(kUnit, world, 30), Error);
    EXPECT_TRUE(Cover(kUnit, PolygonOf({{5, 5, 6, 5, 6, 6, 5, 5}}), 10).empty());
}

// Zoom 18 of WebMercatorQuad: a 2 km polygon of 200 vertices covers a few hundred tiles; the
// covering is checked against the brute force over the tiles of its bounding box.
TEST(TileKey, CoverAtZoom18MatchesBruteForce)
{
    std::mt19937_64 rng(5);
    const QuadMatrix wm = QuadMatrix::WebMercatorQuad();
    const auto ring = StarRing(rng, 261845.0, 6250566.0, 1000.0, 200);
    const auto g = PolygonOf({ring});
    const auto keys = Cover(wm, g, 18);
    ASSERT_GT(keys.size(), 50u);
    std::vector<TileKey> expected;
    const TileKey lo = KeyAt(wm, 261845.0 - 1000, 6250566.0 + 1000, 18);
    const TileKey hi = KeyAt(wm, 261845.0 + 1000, 6250566.0 - 1000, 18);
    for (std::uint32_t y = lo.y(); y <= hi.y(); ++y)
    {
        for (std::uint32_t x = lo.x(); x <= hi.x(); ++x)
        {
            const TileKey k = TileKey::FromZxy(18, x, y);
            const Envelope e = TileEnvelope(wm, k);
            if (ClippedArea(ring, e) > 1e-6)
                expected.push_back(k);
        }
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(keys, expected);
}

// Malformed WKB never reads out of bounds nor loops: random mutations of valid WKB are parsed
// or refused with an Error (run under ASan/UBSan in the sanitizer build).
TEST(TileKey, WkbMutationsAreParsedOrRefused)
{
    std::mt19937_64 rng(9);
    Wkb poly;
    poly.Polygon({{0, 0, 1, 0, 1, 1, 0, 0}, {0.2, 0.2, 0.4, 0.2, 0.4, 0.4, 0.2, 0.2}});
    Wkb multi;
    multi.Header(7); // a collection holding the polygon twice
    multi.U32(2);
    for (int i = 0; i < 2; ++i)
        multi.bytes.insert(multi.bytes.end(), poly.bytes.begin(), poly.bytes.end());
    int parsed = 0, refused = 0;
    for (int i = 0; i < 20000; ++i)
    {
        std::vector<unsigned char> b = (i % 2 ? multi : poly).bytes;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e)
        {
            const size_t at = rng() % b.size();
            switch (rng() % 3)
            {
            case 0:
                b[at] = static_cast<unsigned char>(rng());
                break;
            case 1:
                b.resize(at);
                break;
            default:
                b.insert(b.begin() + static_cast<long>(at), static_cast<unsigned char>(rng()));
            }
            if (b.empty())
                b.push_back(1);
        }
        try
        {
            const auto g = ParseWkb(b.data(), b.size());
            CoverOptions small;
            small.maxKeys = 4096;
            Cover(kUnit, g, 6, small);
            ++parsed;
        }
        catch (const Error&)
        {
            ++refused;
        }
    }
    EXPECT_GT(parsed, 0);
    EXPECT_GT(refused, 0);
}
