// The compositing reader on real GDAL rasters in /vsimem/, with an in-memory catalog.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "read/composite_reader.h"
#include "read/area_reader.h"
#include "gdal_mem.h"
#include "overview_builder.h"
#include "read/read_options.h"
#include "error.h"
#include "gdal_utils.h"
#include "test_grid_mosaic.h"

using namespace pgmosaic;

namespace
{

class ListCatalog final : public ItemCatalog
{
public:
    std::vector<ItemRef> items; // mosaic order, top first
    std::vector<ItemRef> tiles; // overview tiles of level 1
    int lookups = 0;
    std::vector<ItemRef> FindItems(const Envelope&) override
    {
        ++lookups;
        return items;
    }
    std::vector<ItemRef> FindOverviewTiles(const Envelope&, int level) override
    {
        return level == 1 ? tiles : std::vector<ItemRef>{};
    }
    std::map<std::int64_t, EmptyBlocks> empty;      // the DRAD's empty blocks per item
    std::vector<std::vector<std::int64_t>> asked{}; // the ids of each FindEmptyBlocks call
    std::map<std::int64_t, EmptyBlocks>
    FindEmptyBlocks(const std::vector<std::int64_t>& ids) override
    {
        asked.push_back(ids);
        std::map<std::int64_t, EmptyBlocks> out;
        for (std::int64_t id : ids)
            if (empty.count(id))
                out[id] = empty[id];
        return out;
    }
};

void SetPixel(const ItemRef& item, int x, int y, double value)
{
    GDALDatasetUniquePtr ds(GDALDataset::Open(item.path.c_str(), GDAL_OF_UPDATE));
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, x, y, 1, 1, &value, 1, 1, GDT_Float64, 0, 0,
                                             nullptr),
              CE_None);
}

class CompositeReaderTest : public ::testing::Test
{
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }

    MosaicInfo Mosaic(GDALDataType type, std::optional<double> nodata)
    {
        return GridMosaic(type, nodata);
    }

    std::vector<double> Read(const MosaicInfo& m, const Request& req,
                             const ReadOptions& options = {}, int level = 0)
    {
        CompositeReader reader(m, catalog, options, 8);
        std::vector<double> out(static_cast<size_t>(req.bufW) * req.bufH, -999);
        BufferSpec buf;
        buf.data = out.data();
        buf.type = GDT_Float64;
        buf.pixelSpace = sizeof(double);
        buf.lineSpace = sizeof(double) * req.bufW;
        buf.bandSpace = buf.lineSpace * req.bufH;
        reader.Read(req, {1}, buf, level);
        return out;
    }

    ListCatalog catalog;
};

} // namespace

TEST_F(CompositeReaderTest, TopItemWinsAndNodataShowsLowerItems)
{
    // Top item: value 1 with a nodata hole at (1, 1); bottom item: value 2 everywhere.
    ItemRef top = MakeItem(1, 0, 0, 4, 4, GDT_Byte, 1, 0.0);
    SetPixel(top, 1, 1, 0);
    ItemRef bottom = MakeItem(2, 2, 0, 4, 4, GDT_Byte, 2, 0.0);
    catalog.items = {top, bottom};
    auto px = Read(Mosaic(GDT_Byte, 0.0), {{0, 0, 8, 2}, 8, 2});
    const std::vector<double> expected{1, 1, 1, 1, 2, 2, 0, 0, //
                                       1, 0, 1, 1, 2, 2, 0, 0};
    EXPECT_EQ(px, expected);
}

TEST_F(CompositeReaderTest, HoleInTopItemShowsTheItemBelow)
{
    ItemRef top = MakeItem(3, 0, 0, 4, 1, GDT_Byte, 7, 0.0);
    SetPixel(top, 2, 0, 0);
    ItemRef bottom = MakeItem(4, 0, 0, 4, 1, GDT_Byte, 9, 0.0);
    catalog.items = {top, bottom};
    auto px = Read(Mosaic(GDT_Byte, 0.0), {{0, 0, 4, 1}, 4, 1});
    EXPECT_EQ(px, (std::vector<double>{7, 7, 9, 7}));
}

TEST_F(CompositeReaderTest, UncoveredPixelsGetTheMosaicNodataOrZero)
{
    catalog.items = {MakeItem(5, 1, 0, 1, 1, GDT_Int16, -5)};
    EXPECT_EQ(Read(Mosaic(GDT_Int16, -9999.0), {{0, 0, 3, 1}, 3, 1}),
              (std::vector<double>{-9999, -5, -9999}));
    EXPECT_EQ(Read(Mosaic(GDT_Int16, std::nullopt), {{0, 0, 3, 1}, 3, 1}),
              (std::vector<double>{0, -5, 0}));
}

TEST_F(CompositeReaderTest, NanNodataInFloatItems)
{
    ItemRef top = MakeItem(6, 0, 0, 3, 1, GDT_Float32, 1.5, std::nan(""));
    SetPixel(top, 0, 0, std::nan(""));
    ItemRef bottom = MakeItem(7, 0, 0, 3, 1, GDT_Float32, -2.25);
    catalog.items = {top, bottom};
    EXPECT_EQ(Read(Mosaic(GDT_Float32, std::nullopt), {{0, 0, 3, 1}, 3, 1}),
              (std::vector<double>{-2.25, 1.5, 1.5}));
}

TEST_F(CompositeReaderTest, OpaqueItemCoveringTheWindowHidesLowerItems)
{
    // The lower item points at a file that does not exist: reading it would fail, so success
    // proves it was never opened.
    ItemRef top = MakeItem(8, 0, 0, 10, 10, GDT_Byte, 3);
    ItemRef missing = top;
    missing.id = 99;
    missing.path = "/vsimem/does_not_exist.tif";
    catalog.items = {top, missing};
    EXPECT_EQ(Read(Mosaic(GDT_Byte, std::nullopt), {{2, 2, 2, 1}, 2, 1}),
              (std::vector<double>{3, 3}));
}

TEST_F(CompositeReaderTest, MissingFileNamesItemAndPath)
{
    ItemRef missing = MakeItem(9, 0, 0, 2, 2, GDT_Byte, 1);
    missing.id = 42;
    missing.path = "/vsimem/gone.tif";
    catalog.items = {missing};
    try
    {
        Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 2, 2}, 2, 2});
        FAIL() << "expected an error";
    }
    catch (const Error& e)
    {
        EXPECT_NE(std::string(e.what()).find("cannot open item 42 (/vsimem/gone.tif)"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(CompositeReaderTest, DownsampledReadTakesNearestPixels)
{
    // Columns 0..7 hold their index; reading 8 pixels into 4 takes pixel centres 1, 3, 5, 7.
    ItemRef item = MakeItem(10, 0, 0, 8, 1, GDT_Byte, 0);
    for (int x = 0; x < 8; ++x)
        SetPixel(item, x, 0, x + 10);
    catalog.items = {item};
    EXPECT_EQ(Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 8, 1}, 4, 1}),
              (std::vector<double>{11, 13, 15, 17}));
}

namespace
{

ReadOptions WithMethod(Method method)
{
    ReadOptions o;
    o.method = method;
    return o;
}

} // namespace

TEST_F(CompositeReaderTest, EveryMethodOverThreeOverlappingItems)
{
    // Three items over pixels 0..3; item 2 has a nodata hole at pixel 1, item 3 covers 2..3.
    ItemRef a = MakeItem(20, 0, 0, 4, 1, GDT_Byte, 10, 0.0);
    ItemRef b = MakeItem(21, 0, 0, 4, 1, GDT_Byte, 30, 0.0);
    SetPixel(b, 1, 0, 0);
    ItemRef c = MakeItem(22, 2, 0, 2, 1, GDT_Byte, 20, 0.0);
    catalog.items = {a, b, c}; // a on top
    const MosaicInfo m = Mosaic(GDT_Byte, 0.0);
    const Request req{{0, 0, 5, 1}, 5, 1};
    EXPECT_EQ(Read(m, req, WithMethod(Method::First)), (std::vector<double>{10, 10, 10, 10, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Last)), (std::vector<double>{30, 10, 20, 20, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Min)), (std::vector<double>{10, 10, 10, 10, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Max)), (std::vector<double>{30, 10, 30, 30, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Sum)), (std::vector<double>{40, 10, 60, 60, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Count)), (std::vector<double>{2, 1, 3, 3, 0}));
    EXPECT_EQ(Read(m, req, WithMethod(Method::Mean)), (std::vector<double>{20, 10, 20, 20, 0}));
}

TEST_F(CompositeReaderTest, PerDatasetMaskLetsLowerItemsShowThrough)
{
    // The top item has no nodata but an internal mask hiding pixel 0.
    const std::string path = "/vsimem/composite_masked.tif";
    {
        auto* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
        GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 3, 1, 1, GDT_Byte, nullptr));
        double gt[6] = {0, 1, 0, 100, 0, -1};
        ds->SetGeoTransform(gt);
        ds->GetRasterBand(1)->Fill(5);
        ASSERT_EQ(ds->CreateMaskBand(GMF_PER_DATASET), CE_None);
        GByte mask[3] = {0, 255, 255};
        ASSERT_EQ(ds->GetRasterBand(1)->GetMaskBand()->RasterIO(GF_Write, 0, 0, 3, 1, mask, 3, 1,
                                                                GDT_Byte, 0, 0, nullptr),
                  CE_None);
    }
    ItemRef top = MakeItem(23, 0, 0, 3, 1, GDT_Byte, 0);
    top.path = path;
    ItemRef bottom = MakeItem(24, 0, 0, 3, 1, GDT_Byte, 9);
    catalog.items = {top, bottom};
    EXPECT_EQ(Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 3, 1}, 3, 1}),
              (std::vector<double>{9, 5, 5}));
}

TEST_F(CompositeReaderTest, MissingItemIsSkippedWhenAsked)
{
    ItemRef gone = MakeItem(25, 0, 0, 2, 1, GDT_Byte, 1);
    gone.path = "/vsimem/vanished.tif";
    ItemRef below = MakeItem(26, 0, 0, 2, 1, GDT_Byte, 4);
    catalog.items = {gone, below};
    ReadOptions skip;
    skip.skipMissing = true;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    auto px = Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 2, 1}, 2, 1}, skip);
    CPLPopErrorHandler();
    EXPECT_EQ(px, (std::vector<double>{4, 4}));
    EXPECT_THROW(Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 2, 1}, 2, 1}), Error);
}

TEST_F(CompositeReaderTest, ItemReadInPartsKeepsItsEmptyBlocks)
{
    // A tiled item whose first block the DRAD records as empty, over a lower item under its
    // last 8 columns: the item is read in parts (clear of the lower one, and over it), and the
    // recorded block is still filled with nodata, not read (the file says 5 there).
    const std::vector<std::string> tiled{"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16",
                                         "COMPRESS=DEFLATE"};
    ItemRef top = MakeItem(40, 0, 0, 64, 64, GDT_Byte, 5, 0.0, tiled);
    ItemRef lower = MakeItem(41, 56, 0, 64, 64, GDT_Byte, 7, 0.0, tiled);
    GDALDatasetUniquePtr ds(GDALDataset::Open(top.path.c_str()));
    GDALRasterBand* band = ds->GetRasterBand(1);
    EmptyBlock block;
    block.offset = std::stoull(band->GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF"));
    block.length = std::stoull(band->GetMetadataItem("BLOCK_SIZE_0_0", "TIFF"));
    ds.reset();
    catalog.items = {top, lower};
    catalog.empty[40] = {block};
    auto px = Read(Mosaic(GDT_Byte, 0.0), {{0, 0, 100, 64}, 100, 64});
    EXPECT_EQ(px[0], 0);             // the recorded block
    EXPECT_EQ(px[16], 5);            // the next block
    EXPECT_EQ(px[60], 5);            // over the lower item
    EXPECT_EQ(px[99 + 100 * 63], 7); // the lower item alone
    ASSERT_EQ(catalog.asked.size(), 1u);
    EXPECT_EQ(catalog.asked[0], (std::vector<std::int64_t>{40, 41}));
}

TEST_F(CompositeReaderTest, ItemSkippedInOnePartIsSkippedInAll)
{
    // A corrupt block of the top item, with missing=skip: the item is skipped as a whole, as
    // when it is read in one piece, whichever of its parts (clear of the lower item, read
    // first, or over it) holds the block: the lower item shows where they overlap, the fill
    // value elsewhere.
    const std::vector<std::string> tiled{"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16",
                                         "COMPRESS=DEFLATE"};
    ReadOptions skip;
    skip.skipMissing = true;
    int id = 42;
    for (int corruptCol : {0, 3}) // block 3 (x 48..63) lies over the lower item
    {
        ItemRef top = MakeItem(id++, 0, 0, 64, 64, GDT_Byte, 5, 0.0, tiled);
        ItemRef lower = MakeItem(id++, 48, 0, 64, 64, GDT_Byte, 7, 0.0, tiled);
        const std::string block = std::to_string(corruptCol) + "_0";
        std::uint64_t offset = 0, length = 0;
        {
            GDALDatasetUniquePtr ds(GDALDataset::Open(top.path.c_str()));
            GDALRasterBand* band = ds->GetRasterBand(1);
            offset = std::stoull(band->GetMetadataItem(("BLOCK_OFFSET_" + block).c_str(), "TIFF"));
            length = std::stoull(band->GetMetadataItem(("BLOCK_SIZE_" + block).c_str(), "TIFF"));
        }
        VSILFILE* fp = VSIFOpenL(top.path.c_str(), "r+b");
        ASSERT_NE(fp, nullptr);
        const std::vector<GByte> garbage(length, 0xFF);
        VSIFSeekL(fp, offset, SEEK_SET);
        VSIFWriteL(garbage.data(), 1, garbage.size(), fp);
        VSIFCloseL(fp);
        catalog.items = {top, lower};
        CPLPushErrorHandler(CPLQuietErrorHandler);
        auto px = Read(Mosaic(GDT_Byte, 0.0), {{0, 0, 100, 64}, 100, 64}, skip);
        CPLPopErrorHandler();
        EXPECT_EQ(px[0], 0) << "corrupt block " << corruptCol;
        EXPECT_EQ(px[40 + 100 * 40], 0) << "corrupt block " << corruptCol;
        EXPECT_EQ(px[50], 7) << "corrupt block " << corruptCol;
    }
}

TEST_F(CompositeReaderTest, ThreadedReadsGiveTheSameBytes)
{
    // A 6x1 strip of single-column items with nodata holes, read with 1 and 4 threads.
    std::vector<ItemRef> items;
    for (int i = 0; i < 6; ++i)
    {
        items.push_back(MakeItem(30 + i, i, 0, 2, 2, GDT_UInt16, 100 + i, 0.0));
        SetPixel(items.back(), 0, i % 2, 0);
    }
    catalog.items = items;
    ReadOptions threaded;
    threaded.numThreads = 4;
    const MosaicInfo m = Mosaic(GDT_UInt16, 0.0);
    EXPECT_EQ(Read(m, {{0, 0, 8, 2}, 8, 2}), Read(m, {{0, 0, 8, 2}, 8, 2}, threaded));
}

TEST_F(CompositeReaderTest, ThreadedPaintingKeepsTheOrderOnEveryRow)
{
    // A window big enough to read and paint in parallel: 6 items of 400x700 overlapping by
    // half, top first; holes in the top item on the rows where painting threads split.
    std::vector<ItemRef> items;
    for (int i = 0; i < 6; ++i)
        items.push_back(MakeItem(60 + i, i * 200, 0, 400, 700, GDT_Byte, 10 + i, 0.0));
    for (int row : {174, 175, 349, 350, 525})
        SetPixel(items[0], 250, row, 0);
    catalog.items = items;
    MosaicInfo m = Mosaic(GDT_Byte, 0.0);
    m.width = 1400;
    m.height = 700;
    ReadOptions one;
    one.numThreads = 1;
    ReadOptions threaded;
    threaded.numThreads = 4;
    const Request req{{0, 0, 1400, 700}, 1400, 700};
    const std::vector<double> px = Read(m, req, threaded);
    EXPECT_EQ(px, Read(m, req, one));
    auto at = [&](int x, int y) {
        return px[static_cast<size_t>(y) * 1400 + x];
    };
    for (int row : {174, 175, 349, 350, 525})
        EXPECT_EQ(at(250, row), 11) << "row " << row; // the hole shows the item below
    EXPECT_EQ(at(251, 350), 10);
    EXPECT_EQ(at(399, 699), 10);
    EXPECT_EQ(at(400, 0), 11);
    EXPECT_EQ(at(1399, 699), 15);
}

TEST_F(CompositeReaderTest, OffGridItemIsWarpedOntoTheMosaicGrid)
{
    // A source at half the resolution, shifted by a quarter of a mosaic pixel: nearest
    // neighbour takes, for every mosaic pixel centre, the source pixel containing it.
    const std::string path = "/vsimem/composite_offgrid.tif";
    {
        auto* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
        GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 4, 1, 1, GDT_Byte, nullptr));
        double gt[6] = {0.25, 0.5, 0, 100, 0, -1};
        ds->SetGeoTransform(gt);
        ds->SetProjection(Wkt32631().c_str());
        GByte v[4] = {1, 2, 3, 4};
        ASSERT_EQ(
            ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 1, v, 4, 1, GDT_Byte, 0, 0, nullptr),
            CE_None);
    }
    ItemRef item;
    item.id = 40;
    item.path = path;
    item.srid = 32631;
    item.gt = {0.25, 0.5, 0, 100, 0, -1};
    item.width = 4;
    item.height = 1;
    EXPECT_FALSE(IsOnMosaicGrid(Mosaic(GDT_Byte, std::nullopt), item));
    catalog.items = {item};
    // Mosaic pixel centres 0.5, 1.5 fall in source pixels 0 (0.25..0.75) and 2 (1.25..1.75);
    // pixel 2 (centre 2.5) lies outside the source (ends at 2.25) and stays empty.
    EXPECT_EQ(Read(Mosaic(GDT_Byte, std::nullopt), {{0, 0, 3, 1}, 3, 1}),
              (std::vector<double>{1, 3, 0}));
}

TEST_F(CompositeReaderTest, OverviewTilesStandForTheItemsUnderThem)
{
    // A level-1 tile (2 m pixels) over a source that does not exist: at level 1 the source is
    // never opened; at level 0 (no tiles) it is, and fails.
    ItemRef tile = MakeItem(50, 0, 0, 4, 2, GDT_Byte, 0, 0.0);
    {
        GDALDatasetUniquePtr ds(GDALDataset::Open(tile.path.c_str(), GDAL_OF_UPDATE));
        double gt[6] = {0, 2, 0, 100, 0, -2};
        ds->SetGeoTransform(gt);
        std::copy(gt, gt + 6, tile.gt.begin());
        GByte v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        ASSERT_EQ(
            ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 2, v, 4, 2, GDT_Byte, 0, 0, nullptr),
            CE_None);
    }
    ItemRef gone = MakeItem(51, 0, 0, 8, 4, GDT_Byte, 1);
    gone.path = "/vsimem/not_there.tif";
    catalog.items = {gone};
    catalog.tiles = {tile};
    const MosaicInfo m = Mosaic(GDT_Byte, 0.0);
    // 8 x 4 mosaic pixels into 4 x 2: the tile's pixels, one for one.
    EXPECT_EQ(Read(m, {{0, 0, 8, 4}, 4, 2}, {}, 1), (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}));
    // At full resolution through the tile: each tile pixel covers 2 x 2 mosaic pixels.
    auto full = Read(m, {{0, 0, 8, 4}, 8, 4}, {}, 1);
    EXPECT_EQ(full[0], 1);
    EXPECT_EQ(full[1], 1);
    EXPECT_EQ(full[2], 2);
    EXPECT_EQ(full[8 * 2], 5);
    EXPECT_THROW(Read(m, {{0, 0, 8, 4}, 4, 2}, {}, 0), Error);
}

TEST_F(CompositeReaderTest, OverviewTileAveragesTheLevelBelowAndSkipsEmptyTiles)
{
    // A 4 x 2 item with values 10, 20, ...; its level-1 tile holds the 2 x 2 averages.
    ItemRef item = MakeItem(60, 0, 0, 4, 2, GDT_Byte, 0, 0.0);
    const double v[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    for (int i = 0; i < 8; ++i)
        SetPixel(item, i % 4, i / 4, v[i]);
    catalog.items = {item};
    MosaicInfo m = Mosaic(GDT_Byte, 0.0);
    m.width = 8; // the item covers the left half; the right half is empty
    m.height = 2;
    ReadOptions average;
    average.resampling = ParseResampling("average");
    CompositeReader reader(m, catalog, average, 8);
    const OverviewLevelGrid grid = LevelGrid(m, 1, 2); // 4 x 1 pixels in tiles of 2
    ASSERT_EQ(grid.cols, 2);
    ASSERT_EQ(grid.rows, 1);
    const char* path = "/vsimem/ovr_tile.tif";
    GDALDatasetUniquePtr composed = ComposeOverviewTile(reader, m, grid, 0, 0);
    ASSERT_TRUE(composed);
    WriteOverviewTile(*composed, path, nullptr);
    GDALDatasetUniquePtr tile(GDALDataset::Open(path));
    double gt[6];
    tile->GetGeoTransform(gt);
    EXPECT_DOUBLE_EQ(gt[1], 2.0);
    EXPECT_EQ(tile->GetRasterBand(1)->GetNoDataValue(), 0.0);
    GByte px[2];
    ASSERT_EQ(
        tile->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 2, 1, px, 2, 1, GDT_Byte, 0, 0, nullptr),
        CE_None);
    EXPECT_EQ(px[0], 35); // (10 + 20 + 50 + 60) / 4
    EXPECT_EQ(px[1], 55); // (30 + 40 + 70 + 80) / 4
    tile.reset();
    VSIUnlink(path);
    EXPECT_FALSE(ComposeOverviewTile(reader, m, grid, 1, 0));
}

TEST(SourcePool, OverviewTilesOnTheGridAreNotWarped)
{
    MosaicInfo m;
    m.srid = 32631;
    m.gt = {500000, 1, 0, 5000000, 0, -1};
    ItemRef tile;
    tile.srid = 32631;
    tile.gt = {500000, 4, 0, 5000000, 0, -4};
    EXPECT_FALSE(IsOnMosaicGrid(m, tile)); // a primary item at another resolution is warped
    tile.authoritative = true;
    EXPECT_TRUE(IsOnMosaicGrid(m, tile)); // an overview tile at 4x is read directly
    tile.gt[1] = 3;
    tile.gt[5] = -3;
    EXPECT_FALSE(IsOnMosaicGrid(m, tile)); // 3x is no overview level
}

TEST(NearestSampling, PicksThePixelsGdalPicks)
{
    // GDAL's nearest-neighbour RasterIO on a MEM raster whose pixels hold their own column
    // (row) index, over random fractional windows scaled by up to 1.5 either way.
    GDALAllRegister();
    const int n = 3000;
    auto* mem = GetGDALDriverManager()->GetDriverByName("MEM");
    GDALDatasetUniquePtr across(mem->Create("", n, 1, 1, GDT_Int32, nullptr));
    GDALDatasetUniquePtr down(mem->Create("", 1, n, 1, GDT_Int32, nullptr));
    std::vector<int> index(n);
    for (int i = 0; i < n; ++i)
        index[static_cast<size_t>(i)] = i;
    ASSERT_EQ(across->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, n, 1, index.data(), n, 1,
                                                 GDT_Int32, 0, 0, nullptr),
              CE_None);
    ASSERT_EQ(down->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 1, n, index.data(), 1, n, GDT_Int32,
                                               0, 0, nullptr),
              CE_None);
    unsigned seed = 7;
    auto uniform = [&seed]() {
        seed = seed * 1103515245u + 12345u;
        return static_cast<double>((seed >> 8) & 0xFFFF) / 65536.0;
    };
    int cases = 0;
    for (int t = 0; t < 4000; ++t)
    {
        double off = uniform() * 300, size = 1 + uniform() * 1200;
        if (t % 3 == 0)
            off = std::floor(off);
        if (t % 5 == 0)
            size = std::floor(size);
        const int first = static_cast<int>(std::floor(off));
        const int count = static_cast<int>(std::ceil(off + size)) - first;
        const int buf = std::max(1, static_cast<int>(size / 1.5 + uniform() * size));
        if (buf == count)
            continue;
        ++cases;
        GDALRasterIOExtraArg extra;
        INIT_RASTERIO_EXTRA_ARG(extra);
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = off;
        extra.dfXSize = size;
        extra.dfYOff = 0;
        extra.dfYSize = 1;
        std::vector<int> gdal(static_cast<size_t>(buf));
        ASSERT_EQ(across->GetRasterBand(1)->RasterIO(GF_Read, first, 0, count, 1, gdal.data(), buf,
                                                     1, GDT_Int32, 0, 0, &extra),
                  CE_None);
        std::vector<int> ours = NearestSourcePixels(off, size, buf, n, first, count, true);
        for (int& v : ours)
            v += first;
        ASSERT_EQ(ours, gdal) << "x: off " << off << " size " << size << " buf " << buf;

        std::swap(extra.dfXOff, extra.dfYOff);
        std::swap(extra.dfXSize, extra.dfYSize);
        ASSERT_EQ(down->GetRasterBand(1)->RasterIO(GF_Read, 0, first, 1, count, gdal.data(), 1, buf,
                                                   GDT_Int32, 0, 0, &extra),
                  CE_None);
        ours = NearestSourcePixels(off, size, buf, n, first, count, false);
        for (int& v : ours)
            v += first;
        ASSERT_EQ(ours, gdal) << "y: off " << off << " size " << size << " buf " << buf;
    }
    EXPECT_GT(cases, 3500);
}

TEST_F(CompositeReaderTest, MildlyScaledReadsEqualGdalsOwnSampling)
{
    // An item of varied values read whole into buffers up to 1.5x smaller or larger: the
    // reader samples the full-resolution window itself, and must pick what GDAL picks. With
    // nodata (painted through the item's buffer) and without (read straight into the caller's).
    ItemRef item = MakeItem(80, 0, 0, 50, 37, GDT_UInt16, 0);
    {
        GDALDatasetUniquePtr ds(GDALDataset::Open(item.path.c_str(), GDAL_OF_UPDATE));
        std::vector<GUInt16> v(50 * 37);
        for (size_t i = 0; i < v.size(); ++i)
            v[i] = static_cast<GUInt16>(1 + (i * 7919) % 60000);
        ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 50, 37, v.data(), 50, 37,
                                                 GDT_UInt16, 0, 0, nullptr),
                  CE_None);
    }
    catalog.items = {item};
    GDALDatasetUniquePtr src(GDALDataset::Open(item.path.c_str()));
    for (auto [w, h] : {std::pair{61, 45}, {40, 30}, {50, 30}, {34, 37}, {74, 55}})
    {
        std::vector<double> gdal(static_cast<size_t>(w) * h);
        ASSERT_EQ(src->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 50, 37, gdal.data(), w, h,
                                                  GDT_Float64, 0, 0, nullptr),
                  CE_None);
        for (std::optional<double> nodata : {std::optional<double>{}, std::optional<double>{0.0}})
            EXPECT_EQ(Read(Mosaic(GDT_UInt16, nodata), {{0, 0, 50, 37}, w, h}), gdal)
                << w << "x" << h << (nodata ? " with nodata" : "");
    }
}

TEST_F(CompositeReaderTest, ScaledReadsOfAGridEqualAGdalbuildvrtVrt)
{
    // A 3x3 grid of 40x30 items of varied values (the seams where the 21% of differences
    // were), read at random windows and scales from 1/1.1 to 1/7 (and enlarged), against a VRT
    // of the same files that gdalbuildvrt (GDALBuildVRT) makes. Items listed top first: the VRT
    // lists them bottom first.
    std::vector<ItemRef> items;
    std::vector<std::string> paths;
    for (int j = 0; j < 3; ++j)
        for (int i = 0; i < 3; ++i)
        {
            ItemRef it = MakeItem(200 + j * 3 + i, i * 40, j * 30, 40, 30, GDT_UInt16, 0);
            GDALDatasetUniquePtr ds(GDALDataset::Open(it.path.c_str(), GDAL_OF_UPDATE));
            std::vector<GUInt16> v(40 * 30);
            for (size_t k = 0; k < v.size(); ++k)
                v[k] = static_cast<GUInt16>(1 + (k * 7919 + it.id * 104729) % 60000);
            ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 40, 30, v.data(), 40, 30,
                                                     GDT_UInt16, 0, 0, nullptr),
                      CE_None);
            items.insert(items.begin(), it);
            paths.push_back(it.path);
        }
    catalog.items = items;
    std::vector<const char*> names;
    for (const auto& p : paths)
        names.push_back(p.c_str());
    int err = 0;
    GDALDatasetH vrt = GDALBuildVRT("/vsimem/grid_ref.vrt", static_cast<int>(names.size()), nullptr,
                                    names.data(), nullptr, &err);
    ASSERT_NE(vrt, nullptr);
    MosaicInfo m = Mosaic(GDT_UInt16, std::nullopt);
    m.width = 120;
    m.height = 90;
    unsigned seed = 11;
    auto next = [&seed](int n) {
        seed = seed * 1103515245u + 12345u;
        return static_cast<int>((seed >> 8) % static_cast<unsigned>(n));
    };
    int differing = 0, cases = 0;
    for (int t = 0; t < 400; ++t)
    {
        const int w = 1 + next(120), h = 1 + next(90);
        const int x = next(121 - w), y = next(91 - h);
        const double scale = t % 10 == 0 ? 0.6 : 1.1 + next(590) / 100.0;
        const int bw = std::max(1, static_cast<int>(w / scale));
        const int bh = std::max(1, static_cast<int>(h / scale));
        std::vector<double> ref(static_cast<size_t>(bw) * bh);
        ASSERT_EQ(GDALRasterIO(GDALGetRasterBand(vrt, 1), GF_Read, x, y, w, h, ref.data(), bw, bh,
                               GDT_Float64, 0, 0),
                  CE_None);
        const auto ours = Read(m, {{x, y, w, h}, bw, bh});
        ++cases;
        if (ours != ref)
            ++differing;
        EXPECT_EQ(ours, ref) << "window " << x << "," << y << " " << w << "x" << h << " into "
                             << bw << "x" << bh;
    }
    GDALClose(vrt);
    VSIUnlink("/vsimem/grid_ref.vrt");
    EXPECT_EQ(differing, 0) << "of " << cases;
}

// The area reader: the grids of areas and their reads (the SQL door's).
TEST_F(CompositeReaderTest, AreaGridSnapsOutwardToTheMosaicGridOrToMultiplesOfTheResolution)
{
    const MosaicInfo m = Mosaic(GDT_Byte, 0.0);
    OGRSpatialReference utm;
    utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    utm.importFromWkt(m.srsWkt.c_str());
    const OutputGrid g = AreaGrid(m, {10.5, 20.2, 30.1, 50.9}, utm, std::nullopt);
    EXPECT_EQ(g.gt[0], 10);
    EXPECT_EQ(g.gt[3], 51);
    EXPECT_EQ(g.width, 21);
    EXPECT_EQ(g.height, 31);
    const OutputGrid coarse = AreaGrid(m, {10.5, 20.2, 30.1, 50.9}, utm, 4.0);
    EXPECT_EQ(coarse.gt[0], 8);  // the mosaic origin (0, 100) plus whole pixels of 4 m
    EXPECT_EQ(coarse.gt[3], 52);
    EXPECT_EQ(coarse.width, 6);  // 8 .. 32
    EXPECT_EQ(coarse.height, 8); // 52 .. 20
    OGRSpatialReference wgs84;
    wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    wgs84.importFromEPSG(4326);
    const OutputGrid geo = AreaGrid(m, {2.05, 40.01, 2.17, 40.02}, wgs84, 0.01);
    EXPECT_NEAR(geo.gt[0], 2.05, 1e-12); // gdalwarp -tap: multiples of the resolution
    EXPECT_NEAR(geo.gt[3], 40.02, 1e-12);
    EXPECT_EQ(geo.width, 12);
    EXPECT_EQ(geo.height, 1);
    EXPECT_THROW(AreaGrid(m, {1, 1, 1, 5}, utm, std::nullopt), Error);
    EXPECT_THROW(AreaGrid(m, {1, 1, 5, 5}, utm, -1.0), Error);
}

TEST_F(CompositeReaderTest, BuiltLevelsAndWebMercatorTiles)
{
    EXPECT_EQ(BuiltLevelFor({1, 2}, 1.5), 0);
    EXPECT_EQ(BuiltLevelFor({1, 2}, 2.0), 1);
    EXPECT_EQ(BuiltLevelFor({1, 2}, 3.4), 2); // 4 <= 3.4 x 1.2, as GDAL picks overviews
    EXPECT_EQ(BuiltLevelFor({}, 16), 0);
    const OutputGrid t = WebMercatorTileGrid(1, 1, 0, 256);
    EXPECT_NEAR(t.gt[0], 0, 1e-6);
    EXPECT_NEAR(t.gt[3], 20037508.342789244, 1e-6);
    EXPECT_NEAR(t.gt[1], 20037508.342789244 / 256, 1e-9);
    EXPECT_THROW(WebMercatorTileGrid(1, 2, 0, 256), Error);
}

TEST_F(CompositeReaderTest, AreaReadsEqualTheReaderOnTheGridAndWarpElsewhere)
{
    catalog.items = {MakeItem(1, 10, 10, 20, 20, GDT_Byte, 7)};
    MosaicInfo m = Mosaic(GDT_Byte, std::nullopt); // no nodata: coverage says where data is
    CompositeReader reader(m, catalog, {}, 8);
    OGRSpatialReference utm;
    utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    utm.importFromWkt(m.srsWkt.c_str());
    // On the grid: pixels 5..35 x 5..35 of the mosaic.
    const OutputGrid g = AreaGrid(m, {5, 65, 35, 95}, utm, std::nullopt);
    const AreaRaster r = ReadArea(reader, m, {}, g, {1}, GDT_Byte, {});
    ASSERT_EQ(r.ds->GetRasterXSize(), 30);
    std::vector<GByte> px(30 * 30);
    ASSERT_EQ(r.ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 30, 30, px.data(), 30, 30, GDT_Byte,
                                               0, 0, nullptr),
              CE_None);
    EXPECT_EQ(px[0], 0);
    EXPECT_EQ(px[5 * 30 + 5], 7);   // mosaic pixel (10, 10): the item's corner
    EXPECT_EQ(px[24 * 30 + 24], 7); // (29, 29)
    EXPECT_EQ(px[25 * 30 + 25], 0); // (30, 30): past it
    ASSERT_EQ(r.coverage.size(), px.size());
    EXPECT_EQ(r.coverage[0], 0);
    EXPECT_EQ(r.coverage[5 * 30 + 5], 255);
    // The cap names its setting and the size asked.
    AreaReadLimits small;
    small.maxSamples = 100;
    small.setting = "test.max";
    try
    {
        ReadArea(reader, m, {}, g, {1}, GDT_Byte, small);
        ADD_FAILURE() << "the cap did not hold";
    }
    catch (const Error& e)
    {
        EXPECT_NE(std::string(e.what()).find("test.max"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("30 x 30"), std::string::npos) << e.what();
    }
    // Elsewhere: the item's centre (20, 80) in EPSG:4326, warped from the mosaic grid.
    OGRSpatialReference wgs84;
    wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    wgs84.importFromEPSG(4326);
    std::unique_ptr<OGRCoordinateTransformation> ct(
        OGRCreateCoordinateTransformation(&utm, &wgs84));
    double x[2] = {20, 20 + 40}, y[2] = {80, 80};
    ASSERT_TRUE(ct->Transform(2, x, y));
    const double res = 1e-6;
    const OutputGrid geo = AreaGrid(m, {x[0] - 3 * res, y[0] - 3 * res, x[1], y[0] + 3 * res},
                                    wgs84, res);
    const AreaRaster w = ReadArea(reader, m, {}, geo, {1}, GDT_Byte, {});
    std::vector<GByte> row(static_cast<size_t>(geo.width));
    const int mid = geo.height / 2;
    ASSERT_EQ(w.ds->GetRasterBand(1)->RasterIO(GF_Read, 0, mid, geo.width, 1, row.data(),
                                               geo.width, 1, GDT_Byte, 0, 0, nullptr),
              CE_None);
    EXPECT_EQ(row[3], 7);                      // the item's centre
    EXPECT_EQ(row[geo.width - 1], 0);          // 40 m east: no item
    EXPECT_EQ(w.coverage[static_cast<size_t>(mid) * geo.width + 3], 255);
    EXPECT_EQ(w.coverage[static_cast<size_t>(mid) * geo.width + geo.width - 1], 0);
}

TEST_F(CompositeReaderTest, InsideMaskBurnsPixelCentresOfAClippedArea)
{
    OGRGeometry* raw = nullptr;
    // A triangle over the lower-left half of a 10 x 10 grid at (0, 10), and far beyond it.
    ASSERT_EQ(OGRGeometryFactory::createFromWkt("POLYGON((0 0,10 0,0 10,0 0))", nullptr, &raw),
              OGRERR_NONE);
    std::unique_ptr<OGRGeometry> tri(raw);
    const std::vector<GByte> inside = InsideMask({0, 1, 0, 10, 0, -1}, 10, 10, *tri);
    int count = 0;
    for (GByte v : inside)
        count += v;
    // Centres under the diagonal (45), and the 10 on it: GDAL's rasterizer counts an edge in.
    EXPECT_EQ(count, 55);
    EXPECT_EQ(inside[9 * 10 + 0], 1); // the lower-left pixel
    EXPECT_EQ(inside[0 * 10 + 9], 0); // the upper-right pixel
    ASSERT_EQ(OGRGeometryFactory::createFromWkt("POLYGON((-1e300 -1e300,1e300 -1e300,1e300 1e300,"
                                                "-1e300 1e300,-1e300 -1e300))",
                                                nullptr, &raw),
              OGRERR_NONE);
    std::unique_ptr<OGRGeometry> huge(raw);
    const std::vector<GByte> all = InsideMask({0, 1, 0, 10, 0, -1}, 10, 10, *huge);
    EXPECT_EQ(std::count(all.begin(), all.end(), 1), 100);
}
