// Tile keys: text either fails to parse with pgmosaic::Error or gives a key whose quadkey and
// z/x/y texts parse back to it, whose bits are valid, and whose parent, children, range end
// and neighbours agree with each other. The first 8 bytes are also tried as raw key bits.
#include <cstdint>
#include <cstring>
#include <string>

#include "error.h"
#include "types/tilekey.h"
#include "fuzz_check.h"

using namespace pgmosaic;

static void CheckKey(TileKey k)
{
    FUZZ_CHECK(TileKey::IsValidBits(k.bits()));
    FUZZ_CHECK(TileKey::FromBits(k.bits()) == k);
    FUZZ_CHECK(k.zoom() >= 0 && k.zoom() <= kTileKeyMaxZoom);
    FUZZ_CHECK(TileKey::Parse(k.Quadkey()) == k);
    FUZZ_CHECK(TileKey::Parse(k.Zxy()) == k);
    FUZZ_CHECK(TileKey::FromZxy(k.zoom(), k.x(), k.y()) == k);
    FUZZ_CHECK(static_cast<int>(k.Quadkey().size()) == k.zoom());
    const TileKey end = k.RangeEnd();
    FUZZ_CHECK(!(end < k) && k.Contains(end) && k.Contains(k));
    FUZZ_CHECK(end.zoom() == kTileKeyMaxZoom);
    if (k.HasParent())
    {
        const TileKey p = k.Parent();
        FUZZ_CHECK(p.zoom() == k.zoom() - 1 && p.Contains(k) && !k.Contains(p));
        FUZZ_CHECK(p < k && !(p.RangeEnd() < end));
        FUZZ_CHECK(p.x() == k.x() / 2 && p.y() == k.y() / 2);
        FUZZ_CHECK(p.Child(static_cast<int>((k.y() & 1) * 2 + (k.x() & 1))) == k);
        FUZZ_CHECK(k.Ancestor(0) == TileKey() && k.Ancestor(k.zoom()) == k);
    }
    if (k.zoom() < kTileKeyMaxZoom)
    {
        TileKey prev = k;
        for (int q = 0; q < 4; ++q)
        {
            const TileKey c = k.Child(q);
            FUZZ_CHECK(k.Contains(c) && c.Parent() == k && prev < c && !(end < c.RangeEnd()));
            prev = c;
        }
    }
    const auto nb = k.Neighbours();
    const std::size_t expect = k.zoom() == 0 ? 0 : k.zoom() == 1 ? 3 : 0;
    if (k.zoom() <= 1)
        FUZZ_CHECK(nb.size() == expect);
    FUZZ_CHECK(nb.size() <= 8);
    for (std::size_t i = 0; i < nb.size(); ++i)
    {
        FUZZ_CHECK(nb[i].zoom() == k.zoom() && nb[i] != k);
        FUZZ_CHECK(i == 0 || nb[i - 1] < nb[i]);
    }
    // The tile's centre is inside the tile and maps back to the key.
    const QuadMatrix m = QuadMatrix::WebMercatorQuad();
    const Envelope e = TileEnvelope(m, k);
    FUZZ_CHECK(e.minx < e.maxx && e.miny < e.maxy);
    if (k.zoom() <= 20) // finer tiles are below the doubles' resolution of this matrix
        FUZZ_CHECK(KeyAt(m, (e.minx + e.maxx) / 2, (e.miny + e.maxy) / 2, k.zoom()) == k);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    try
    {
        CheckKey(TileKey::Parse(text));
    }
    catch (const Error&)
    {
    }
    if (size >= 8)
    {
        std::uint64_t bits = 0;
        std::memcpy(&bits, data, 8);
        if (TileKey::IsValidBits(bits))
            CheckKey(TileKey::FromBits(bits));
        else
        {
            bool threw = false;
            try
            {
                TileKey::FromBits(bits);
            }
            catch (const Error&)
            {
                threw = true;
            }
            FUZZ_CHECK(threw);
        }
    }
    return 0;
}
