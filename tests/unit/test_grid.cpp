#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "types/grid.h"

using namespace pgmosaic;

namespace
{
const GeoTransform kMosaic{1000.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
}

TEST(Grid, RequestEnvelopeCoversTheWindow)
{
    Envelope e = RequestEnvelope(kMosaic, {2, 3, 4, 5});
    EXPECT_DOUBLE_EQ(e.minx, 1020.0);
    EXPECT_DOUBLE_EQ(e.maxx, 1060.0);
    EXPECT_DOUBLE_EQ(e.maxy, 4970.0);
    EXPECT_DOUBLE_EQ(e.miny, 4920.0);
}

TEST(Grid, AlignedSourceAtFullResolutionIsIntegral)
{
    // A 100x80 source whose corner is mosaic pixel (10, 20).
    GeoTransform src{1100.0, 10.0, 0.0, 4800.0, 0.0, -10.0};
    Request req{{0, 0, 50, 50}, 50, 50};
    auto p = PlaceSource(kMosaic, req, src, 100, 80);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->dst.x, 10);
    EXPECT_EQ(p->dst.y, 20);
    EXPECT_EQ(p->dst.w, 40);
    EXPECT_EQ(p->dst.h, 30);
    EXPECT_DOUBLE_EQ(p->srcX, 0.0);
    EXPECT_DOUBLE_EQ(p->srcY, 0.0);
    EXPECT_TRUE(p->integral);
}

TEST(Grid, WindowInsideTheSourceStartsInsideIt)
{
    GeoTransform src{1000.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
    Request req{{30, 40, 10, 10}, 10, 10};
    auto p = PlaceSource(kMosaic, req, src, 100, 100);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->dst.x, 0);
    EXPECT_EQ(p->dst.w, 10);
    EXPECT_DOUBLE_EQ(p->srcX, 30.0);
    EXPECT_DOUBLE_EQ(p->srcY, 40.0);
    EXPECT_TRUE(p->integral);
}

TEST(Grid, SourceOutsideTheRequestIsNotPlaced)
{
    GeoTransform src{2000.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
    Request req{{0, 0, 50, 50}, 50, 50};
    EXPECT_FALSE(PlaceSource(kMosaic, req, src, 10, 10));
}

TEST(Grid, DownsampledRequestMapsToAFloatingSourceWindow)
{
    GeoTransform src{1000.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
    Request req{{0, 0, 100, 100}, 25, 25}; // 4x reduction
    auto p = PlaceSource(kMosaic, req, src, 50, 50);
    ASSERT_TRUE(p);
    // As a VRT source: the source spans buffer [0, 12.5) and fills buffer pixels 0 .. 12 (the
    // last one sampling the source's edge pixel unless a later source paints it), reading a
    // source window widened to those pixels' edges.
    EXPECT_EQ(p->dst.w, 13);
    EXPECT_DOUBLE_EQ(p->srcW, 52.0);
    EXPECT_EQ(p->req.x, 0);
    EXPECT_EQ(p->req.w, 50);
    EXPECT_FALSE(p->integral);
}

TEST(Grid, RoundingNoiseIsSnapped)
{
    GeoTransform src{1100.0000000001, 10.0, 0.0, 4799.9999999999, 0.0, -10.0};
    Request req{{0, 0, 50, 50}, 50, 50};
    auto p = PlaceSource(kMosaic, req, src, 100, 80);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->dst.x, 10);
    EXPECT_EQ(p->dst.y, 20);
    EXPECT_TRUE(p->integral);
}

TEST(Grid, HalfPixelShiftedSourceFillsThePixelsItTouches)
{
    // Source shifted by 0.7 mosaic pixel, spanning buffer [0.7, 4.7): as a VRT source it fills
    // buffer pixels 0 .. 4, through a source window starting 0.7 before it (GDAL clamps the
    // sampled pixel to the source) and widened to the edge of pixel 4.
    GeoTransform src{1007.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
    Request req{{0, 0, 10, 1}, 10, 1};
    auto p = PlaceSource(kMosaic, req, src, 4, 1);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->dst.x, 0);
    EXPECT_EQ(p->dst.w, 5);
    EXPECT_NEAR(p->srcX, -0.7, 1e-12);
    EXPECT_NEAR(p->srcW, 5.0, 1e-12);
    EXPECT_EQ(p->req.x, 0);
    EXPECT_EQ(p->req.w, 4);
    EXPECT_FALSE(p->integral);
}

TEST(Grid, FarAwaySourcesNeitherWrapNorOverflow)
{
    // Corners billions of pixels away (a crafted catalog row): not placed, no int overflow.
    for (double x : {1e15, -1e15, 1000.0 + 10.0 * 4294967396.0})
    {
        GeoTransform src{x, 10.0, 0.0, 5000.0, 0.0, -10.0};
        EXPECT_FALSE(PlaceSource(kMosaic, {{0, 0, 100, 100}, 10, 10}, src, 100, 100)) << x;
    }
    GeoTransform huge{1000.0 - 10.0 * 3e9, 10.0, 0.0, 5000.0, 0.0, -10.0};
    auto p = PlaceSource(kMosaic, {{0, 0, 100, 100}, 10, 10}, huge, 2000000000, 100);
    EXPECT_FALSE(p); // ends 1e9 pixels before the window
}

TEST(Grid, SplitByCoverOfAGridNeighbourhood)
{
    // A 1024-pixel tile whose left and upper neighbours overlap it by 16 pixels.
    const Window tile{1008, 1008, 1024, 1024};
    std::vector<Window> uncovered, covered;
    SplitByCover(tile, {{0, 1008, 1024, 1024}, {1008, 0, 1024, 1024}, {0, 0, 1024, 1024}},
                 uncovered, covered);
    ASSERT_EQ(uncovered.size(), 1u);
    EXPECT_EQ(uncovered[0].x, 1024);
    EXPECT_EQ(uncovered[0].y, 1024);
    EXPECT_EQ(uncovered[0].w, 1008);
    EXPECT_EQ(uncovered[0].h, 1008);
    // The upper strip (whole width: the left neighbour covers its first 16 columns too), then
    // the left strip below it.
    ASSERT_EQ(covered.size(), 2u);
    EXPECT_EQ(covered[0].x, 1008);
    EXPECT_EQ(covered[0].y, 1008);
    EXPECT_EQ(covered[0].w, 1024);
    EXPECT_EQ(covered[0].h, 16);
    EXPECT_EQ(covered[1].x, 1008);
    EXPECT_EQ(covered[1].y, 1024);
    EXPECT_EQ(covered[1].w, 16);
    EXPECT_EQ(covered[1].h, 1008);
}

TEST(Grid, SplitByCoverTilesTheRectangleExactly)
{
    // Random rectangles against a pixel-by-pixel count: every pixel of rect is in exactly one
    // output rectangle, covered ones inside some other, uncovered ones outside all.
    std::mt19937 rng(7);
    auto rnd = [&](int lo, int hi) {
        return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    for (int trial = 0; trial < 2000; ++trial)
    {
        const Window rect{rnd(0, 10), rnd(0, 10), rnd(1, 30), rnd(1, 30)};
        std::vector<Window> others(static_cast<size_t>(rnd(0, 6)));
        for (Window& o : others)
            o = {rnd(-5, 40), rnd(-5, 40), rnd(1, 25), rnd(1, 25)};
        std::vector<Window> uncovered, covered;
        SplitByCover(rect, others, uncovered, covered);
        auto inside = [](const Window& w, int x, int y) {
            return x >= w.x && x < w.x + w.w && y >= w.y && y < w.y + w.h;
        };
        for (int y = rect.y - 1; y <= rect.y + rect.h; ++y)
            for (int x = rect.x - 1; x <= rect.x + rect.w; ++x)
            {
                int nUncovered = 0, nCovered = 0;
                for (const Window& w : uncovered)
                    nUncovered += inside(w, x, y);
                for (const Window& w : covered)
                    nCovered += inside(w, x, y);
                const bool inRect = inside(rect, x, y);
                const bool underOther = std::any_of(
                    others.begin(), others.end(), [&](const Window& o) { return inside(o, x, y); });
                ASSERT_EQ(nUncovered + nCovered, inRect ? 1 : 0) << "trial " << trial;
                if (inRect)
                {
                    ASSERT_EQ(nCovered, underOther ? 1 : 0) << "trial " << trial;
                }
            }
        for (const Window& w : uncovered)
            ASSERT_TRUE(w.w > 0 && w.h > 0);
        for (const Window& w : covered)
            ASSERT_TRUE(w.w > 0 && w.h > 0);
    }
}
