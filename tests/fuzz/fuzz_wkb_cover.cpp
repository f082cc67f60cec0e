// WKB and coverings: ParseWkb either refuses the bytes with pgmosaic::Error or gives a
// geometry; its covering is in strict key order, at the asked zoom (compact: no key inside
// another, and expanded it is exactly the plain covering), holds the tile of every point, and
// the covering one zoom finer has exactly the plain covering as parents (for vertices within
// 2^24 matrix spans).
// Byte 0: zoom (0..15); byte 1: bit 0 compact first, bit 1 the unit matrix instead of
// WebMercatorQuad; the rest is the WKB.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "error.h"
#include "types/tilekey.h"
#include "types/wkb_cover.h"
#include "fuzz_check.h"

using namespace pgmosaic;

namespace
{

bool TryCover(const QuadMatrix& m, const SimpleGeometry& g, int zoom, bool compact,
              std::vector<TileKey>& out)
{
    CoverOptions opt;
    opt.compact = compact;
    opt.maxKeys = 20000;
    try
    {
        out = Cover(m, g, zoom, opt);
    }
    catch (const Error&)
    {
        return false;
    }
    for (std::size_t i = 1; i < out.size(); ++i)
        FUZZ_CHECK(out[i - 1] < out[i]);
    for (std::size_t i = 0; i < out.size(); ++i)
    {
        FUZZ_CHECK(compact ? out[i].zoom() <= zoom : out[i].zoom() == zoom);
        FUZZ_CHECK(i == 0 || !out[i - 1].Contains(out[i]));
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    const int zoom = data[0] % 16;
    const bool compactFirst = (data[1] & 1) != 0;
    const QuadMatrix m = (data[1] & 2) ? QuadMatrix{0, 1, 1, 1} : QuadMatrix::WebMercatorQuad();
    SimpleGeometry g;
    try
    {
        g = ParseWkb(data + 2, size - 2);
    }
    catch (const Error&)
    {
        return 0;
    }
    FUZZ_CHECK(g.points.size() % 2 == 0);
    for (const auto& l : g.lines)
        FUZZ_CHECK(l.size() % 2 == 0);
    for (const auto& p : g.polygons)
        for (const auto& r : p)
            FUZZ_CHECK(r.size() % 2 == 0);

    std::vector<TileKey> plain, compact, finer;
    if (compactFirst)
    {
        if (!TryCover(m, g, zoom, true, compact))
            return 0;
    }
    const bool plainOk = TryCover(m, g, zoom, false, plain);
    if (!compactFirst && plainOk)
        TryCover(m, g, zoom, true, compact);
    if (!plainOk)
        return 0;
    // Compact expands to exactly the plain covering.
    std::size_t total = 0;
    for (TileKey k : compact)
    {
        const auto lo = std::lower_bound(plain.begin(), plain.end(), k);
        const auto hi = std::upper_bound(plain.begin(), plain.end(), k.RangeEnd());
        FUZZ_CHECK(static_cast<std::uint64_t>(hi - lo) == std::uint64_t{1}
                                                              << (2 * (zoom - k.zoom())));
        total += static_cast<std::size_t>(hi - lo);
    }
    FUZZ_CHECK(compact.empty() || total == plain.size());
    // Every point inside the matrix has its tile in the covering.
    for (std::size_t i = 0; i + 1 < g.points.size(); i += 2)
    {
        TileKey k;
        try
        {
            k = KeyAt(m, g.points[i], g.points[i + 1], zoom);
        }
        catch (const Error&)
        {
            continue;
        }
        FUZZ_CHECK(std::binary_search(plain.begin(), plain.end(), k));
    }
    // One zoom finer: the parents are the plain covering. Not for vertices absurdly far from
    // the matrix (more than 2^24 matrix spans): the position of an edge through the matrix
    // between two such vertices is below the doubles' resolution.
    double far = 0;
    auto farthest = [&](const std::vector<double>& xy) {
        for (std::size_t i = 0; i + 1 < xy.size(); i += 2)
            far = std::max({far, std::fabs((xy[i] - m.originX) / m.spanX),
                            std::fabs((m.originY - xy[i + 1]) / m.spanY)});
    };
    for (const auto& l : g.lines)
        farthest(l);
    for (const auto& p : g.polygons)
        for (const auto& r : p)
            farthest(r);
    if (far < 16777216.0 && TryCover(m, g, zoom + 1, false, finer))
    {
        std::vector<TileKey> parents;
        for (TileKey k : finer)
            if (parents.empty() || parents.back() != k.Parent())
                parents.push_back(k.Parent());
        FUZZ_CHECK(parents == plain);
    }
    return 0;
}
