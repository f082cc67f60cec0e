// Zonal statistics of the composite: which DRAD tiles answer from their recorded statistics,
// and the chunked read of the rest, on real GDAL rasters in /vsimem/.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "error.h"
#include "read/composite_reader.h"
#include "read/zone_stats.h"
#include "test_grid_mosaic.h"

using namespace pgmosaic;

namespace
{

class FixedCatalog final : public ItemCatalog
{
public:
    std::vector<ItemRef> items; // top first
    std::vector<ItemRef> FindItems(const Envelope&) override { return items; }
};

// A w x h Byte raster filled with `value` (nodata 0) at mosaic pixel (col, row) of the 1 m
// grid of GridMosaic, with its recorded band type.
ItemRef Item(int id, int col, int row, int w, int h, double value)
{
    ItemRef item = MakeItem(id, col, row, w, h, GDT_Byte, value, 0.0, {}, "zone");
    item.bandTypes = {GDT_Byte};
    return item;
}

// A tile of `item` over mosaic pixels [x0, x1) x [y0, y1) whose `count` pixels are `value`.
RecordedTile Tile(const ItemRef& item, int x0, int y0, int x1, int y1, double value,
                  std::int64_t count)
{
    RecordedTile t;
    t.itemId = item.id;
    t.bounds = {1.0 * x0, 100.0 - y1, 1.0 * x1, 100.0 - y0};
    t.count = count;
    t.min = t.max = value;
    t.sum = value * static_cast<double>(count);
    t.sumSq = value * value * static_cast<double>(count);
    return t;
}

std::unique_ptr<OGRGeometry> Zone(const char* wkt)
{
    OGRGeometry* g = nullptr;
    EXPECT_EQ(OGRGeometryFactory::createFromWkt(wkt, nullptr, &g), OGRERR_NONE);
    return std::unique_ptr<OGRGeometry>(g);
}

class ZoneStatsTest : public ::testing::Test
{
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }
};

} // namespace

TEST(ZoneSummaryTest, MergesAndKnowsWhenItHasNoSumOfSquares)
{
    ZoneSummary a;
    for (double v : {1.0, 2.0, 3.0})
        a.Add(v);
    ZoneSummary b;
    b.count = 2;
    b.min = 0;
    b.max = 10;
    b.sum = 10;
    b.sumSq = 100;
    a.Merge(b);
    auto v = a.Values();
    EXPECT_EQ(v[0], 5);
    EXPECT_EQ(v[1], 0);
    EXPECT_EQ(v[2], 10);
    EXPECT_DOUBLE_EQ(v[3], 16.0 / 5);
    EXPECT_DOUBLE_EQ(v[4], std::sqrt(114.0 / 5 - (16.0 / 5) * (16.0 / 5)));
    EXPECT_EQ(v[5], 16);
    b.sumSqKnown = false;
    a.Merge(b);
    EXPECT_TRUE(std::isnan(a.Values()[4]));
    EXPECT_EQ(a.Values()[0], 7);
    const auto none = ZoneSummary{}.Values();
    EXPECT_EQ(none[0], 0);
    EXPECT_TRUE(std::isnan(none[1]) && std::isnan(none[3]) && std::isnan(none[4]));
}

TEST_F(ZoneStatsTest, OnlyTilesThatAloneShowInTheCompositeAnswer)
{
    const MosaicInfo m = GridMosaic(GDT_Byte, 0.0);
    // top: pixels 0..8 x 0..4; bottom: 4..12 x 0..4 (under top at 4..8).
    const ItemRef top = Item(1, 0, 0, 8, 4, 5), bottom = Item(2, 4, 0, 8, 4, 7);
    const auto zone = Zone("POLYGON((0 90,20 90,20 100,0 100,0 90))");
    const std::vector<RecordedTile> tiles{
        Tile(top, 0, 0, 4, 4, 5, 16),     // alone: answers
        Tile(top, 4, 0, 8, 4, 5, 16),     // over bottom, every pixel valid: answers
        Tile(bottom, 4, 0, 8, 4, 7, 16),  // under top: read
        Tile(bottom, 8, 0, 12, 4, 7, 10), // partly valid, nothing below: answers
    };
    auto got = TilesAnsweringForComposite(m, {top, bottom}, tiles, 1, *zone, nullptr, Cancel{});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].bounds.minx, 0);
    EXPECT_EQ(got[1].bounds.minx, 4);
    EXPECT_EQ(got[1].itemId, 1);
    EXPECT_EQ(got[2].bounds.minx, 8);

    // A partly valid tile over another item is read: the item below shows through its holes.
    got = TilesAnsweringForComposite(m, {top, bottom}, {Tile(top, 4, 0, 8, 4, 5, 12)}, 1, *zone,
                                     nullptr, Cancel{});
    EXPECT_TRUE(got.empty());
    // Not inside the zone, another band type, or a band the item lacks: read.
    const auto narrow = Zone("POLYGON((0 90,3 90,3 100,0 100,0 90))");
    EXPECT_TRUE(TilesAnsweringForComposite(m, {top, bottom}, {tiles[0]}, 1, *narrow, nullptr, Cancel{})
                    .empty());
    ItemRef wide = top;
    wide.bandTypes = {GDT_UInt16};
    EXPECT_TRUE(TilesAnsweringForComposite(m, {wide, bottom}, {tiles[0]}, 1, *zone, nullptr, Cancel{})
                    .empty());
    EXPECT_TRUE(
        TilesAnsweringForComposite(m, {top, bottom}, {tiles[0]}, 2, *zone, nullptr, Cancel{}).empty());
    // An item off the mosaic grid (half a pixel) answers nothing.
    ItemRef shifted = top;
    shifted.gt[0] += 0.5;
    EXPECT_TRUE(TilesAnsweringForComposite(m, {shifted, bottom}, {tiles[0]}, 1, *zone, nullptr, Cancel{})
                    .empty());
}

TEST_F(ZoneStatsTest, ATileOfAChangedFileFailsNamingTheItem)
{
    const MosaicInfo m = GridMosaic(GDT_Byte, 0.0);
    ItemRef top = Item(3, 0, 0, 4, 4, 5);
    top.fileSize = 1; // not what the file holds
    const auto zone = Zone("POLYGON((0 90,20 90,20 100,0 100,0 90))");
    try
    {
        TilesAnsweringForComposite(m, {top}, {Tile(top, 0, 0, 4, 4, 5, 16)}, 1, *zone, nullptr, Cancel{});
        FAIL() << "a changed file answered";
    }
    catch (const Error& e)
    {
        EXPECT_NE(std::string(e.what()).find("item 3"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("changed since it was registered"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(ZoneStatsTest, AnsweredTilesAreNotReadAndTheRestIs)
{
    const MosaicInfo m = GridMosaic(GDT_Byte, 0.0);
    const ItemRef top = Item(4, 0, 0, 8, 4, 5), bottom = Item(5, 4, 0, 8, 4, 7);
    FixedCatalog catalog;
    catalog.items = {top, bottom};
    CompositeReader reader(m, catalog, ReadOptions{}, 4);
    // Pixel centres x in 0.5..10.5, y rows 0..3: 8 pixels of top (5) and 3 of bottom (7) a row.
    const auto zone = Zone("POLYGON((0 96,11 96,11 100,0 100,0 96))");
    const ZoneSummary exact = ComposedZoneStatistics(reader, m, *zone, 1, {}, {});
    EXPECT_EQ(exact.count, 44);
    EXPECT_EQ(exact.sum, 4 * (8 * 5 + 3 * 7));
    // The tile of top at 0..4 answered from statistics that say 9: they are used, the pixels
    // under it are not read again.
    RecordedTile t = Tile(top, 0, 0, 4, 4, 9, 16);
    const ZoneSummary approx = ComposedZoneStatistics(reader, m, *zone, 1, {t}, {});
    EXPECT_EQ(approx.count, 44);
    EXPECT_EQ(approx.sum, exact.sum + 16 * 4);
    EXPECT_EQ(approx.max, 9);
    // The cap counts the pixels read, not those answered.
    AreaReadLimits cap;
    cap.maxSamples = 10;
    cap.setting = "the cap";
    EXPECT_THROW(ComposedZoneStatistics(reader, m, *zone, 1, {}, cap), Error);
}
