#include <gtest/gtest.h>

#include "grid.h"

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
    // The source spans buffer [0, 12.5): centres 0.5 .. 11.5 are inside, 12.5 is not.
    EXPECT_EQ(p->dst.w, 12);
    EXPECT_DOUBLE_EQ(p->srcW, 48.0);
    EXPECT_FALSE(p->integral);
    Window enclosing = p->SrcWindowEnclosing();
    EXPECT_EQ(enclosing.x, 0);
    EXPECT_EQ(enclosing.w, 48);
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

TEST(Grid, HalfPixelShiftedSourceTakesPixelCentres)
{
    // Source shifted by 0.7 mosaic pixel, spanning buffer [0.7, 4.7): the centres 1.5 .. 4.5
    // are inside, 0.5 is not; buffer pixel 1 samples source x 0.8.
    GeoTransform src{1007.0, 10.0, 0.0, 5000.0, 0.0, -10.0};
    Request req{{0, 0, 10, 1}, 10, 1};
    auto p = PlaceSource(kMosaic, req, src, 4, 1);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->dst.x, 1);
    EXPECT_EQ(p->dst.w, 4);
    EXPECT_NEAR(p->srcX, 0.3, 1e-12);
    EXPECT_NEAR(p->srcW, 3.7, 1e-12); // clamped at the source's right edge
    EXPECT_FALSE(p->integral);
}
