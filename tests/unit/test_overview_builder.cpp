// The overview build (BuildOverviews) on real GeoTIFFs in a temporary directory, with an
// in-memory store that is also the reader's catalog: which tiles are written and registered,
// what a rebuild skips, rebuilds and removes, and the pixels of the tiles.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "gdal_priv.h"

#include "error.h"
#include "overview_builder.h"
#include "read/read_options.h"
#include "test_grid_mosaic.h"

using namespace pgmosaic;

namespace
{

// The catalog of one mosaic in memory: its items, and its overview tiles as the store
// registers them (visible to the reader once flushed). Stored paths start with "@t", which
// stands for `directory`.
class MemoryStore final : public OverviewStore, public ItemCatalog
{
public:
    struct Tile
    {
        int level = 0;
        std::string status = "ok";
        std::string builtFrom;
    };
    std::string directory;
    std::vector<ItemRef> items;
    std::map<std::string, Tile> tiles;   // flushed registrations, by stored path
    std::vector<std::string> registered; // every Register, in order
    std::vector<std::string> removed;
    std::vector<std::string> events; // sources, invalidate, items: the order of the calls

    std::string File(const std::string& stored) const { return directory + stored.substr(2); }

    std::map<std::string, std::string> LevelTiles(int level) override
    {
        std::map<std::string, std::string> out;
        for (const auto& [stored, tile] : tiles)
            if (tile.level == level)
                out[stored] = tile.status;
        return out;
    }
    std::string TileSources(const OverviewLevelGrid& grid, int col, int row) override
    {
        const std::string s = CPLSPrintf("L%d c%d r%d", grid.level, col, row);
        events.push_back("sources " + s);
        return s;
    }
    void Register(const std::string& stored, int level, const std::string& builtFrom) override
    {
        registered.push_back(stored);
        m_pending[stored] = {level, "ok", builtFrom};
    }
    void Flush() override
    {
        for (auto& [stored, tile] : m_pending)
            tiles[stored] = tile;
        m_pending.clear();
    }
    void Remove(const std::vector<std::string>& stored) override
    {
        for (const std::string& s : stored)
        {
            removed.push_back(s);
            tiles.erase(s);
        }
    }
    void Invalidate() override { events.push_back("invalidate"); }
    std::vector<std::string> RemoveAll() override
    {
        std::vector<std::string> files;
        for (const auto& [stored, tile] : tiles)
            files.push_back(File(stored));
        tiles.clear();
        return files;
    }

    std::vector<ItemRef> FindItems(const Envelope&) override
    {
        events.push_back("items");
        return items;
    }
    std::vector<ItemRef> FindOverviewTiles(const Envelope&, int level) override
    {
        std::vector<ItemRef> out;
        for (const auto& [stored, tile] : tiles)
            if (tile.level == level && tile.status == "ok")
                out.push_back(Open(File(stored), 1000 + static_cast<int>(out.size())));
        return out;
    }
    std::map<std::int64_t, EmptyBlocks> FindEmptyBlocks(const std::vector<std::int64_t>&) override
    {
        return {};
    }

    // An item as registration would record it: the file's grid.
    static ItemRef Open(const std::string& path, std::int64_t id)
    {
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str()));
        ItemRef item;
        item.id = id;
        item.path = path;
        item.srid = 32631;
        ds->GetGeoTransform(item.gt.data());
        item.width = ds->GetRasterXSize();
        item.height = ds->GetRasterYSize();
        return item;
    }

private:
    std::map<std::string, Tile> m_pending{};
};

// A 4 x 4 Byte GeoTIFF at mosaic column `col` of the 1 m grid anchored at (0, 100).
void WriteItem(const std::string& path, int col, const std::vector<GByte>& values)
{
    auto* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(gtiff->Create(path.c_str(), 4, 4, 1, GDT_Byte, nullptr));
    double gt[6] = {static_cast<double>(col), 1, 0, 100, 0, -1};
    ds->SetGeoTransform(gt);
    ds->SetProjection(Wkt32631().c_str());
    ds->GetRasterBand(1)->SetNoDataValue(0);
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 4,
                                             const_cast<GByte*>(values.data()), 4, 4, GDT_Byte, 0,
                                             0, nullptr),
              CE_None);
}

std::vector<GByte> Pixels(const std::string& path)
{
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str()));
    if (!ds)
        return {};
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    std::vector<GByte> out(static_cast<size_t>(w) * h);
    if (ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, out.data(), w, h, GDT_Byte, 0, 0,
                                       nullptr) != CE_None)
        return {};
    return out;
}

bool Exists(const std::string& path)
{
    VSIStatBufL st;
    return VSIStatL(path.c_str(), &st) == 0;
}

int StopAtOnce(double, const char*, void*)
{
    return FALSE;
}

// A 12 x 4 mosaic with nodata 0: item A (values 10..160) at columns 0-3, item B (200) at
// columns 4-7, nothing at 8-11. With tiles of 2 pixels, level 1 (6 x 2) has 3 tiles, the
// last with no item; level 2 (3 x 1) has 2, the second with no item.
class OverviewBuildTest : public ::testing::Test
{
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }

    void SetUp() override
    {
        char dir[] = "/tmp/pgm_overview_build_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        store.directory = dir;
        WriteItem(store.directory + "/a.tif", 0,
                  {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160});
        WriteItem(store.directory + "/b.tif", 4, std::vector<GByte>(16, 200));
        store.items = {MemoryStore::Open(store.directory + "/a.tif", 1),
                       MemoryStore::Open(store.directory + "/b.tif", 2)};
        mosaic = GridMosaic(GDT_Byte, 0.0, 12, 4);
        const int factors[] = {4, 2};
        plan.levels = OverviewLevels(factors, 2);
        plan.tileSize = 2;
        plan.directory = store.directory;
        plan.storedDirectory = "@t";
        plan.cogOptions = OverviewTileOptions();
    }
    void TearDown() override { VSIRmdirRecursive(store.directory.c_str()); }

    void Build(GDALProgressFunc progress = nullptr, void* data = nullptr)
    {
        ReadOptions options;
        options.resampling = ParseResampling("average");
        CompositeReader reader(mosaic, store, options, 8);
        BuildOverviews(reader, mosaic, store, plan, progress, data);
    }

    MemoryStore store;
    MosaicInfo mosaic;
    OverviewBuildPlan plan;
    const std::string l1c0 = "@t/t_overviews/L1/r00000_c00000.tif";
    const std::string l1c1 = "@t/t_overviews/L1/r00000_c00001.tif";
    const std::string l1c2 = "@t/t_overviews/L1/r00000_c00002.tif";
    const std::string l2c0 = "@t/t_overviews/L2/r00000_c00000.tif";
};

} // namespace

TEST(OverviewLevels, FactorsArePowersOfTwo)
{
    const int factors[] = {8, 2, 4, 2};
    EXPECT_EQ(OverviewLevels(factors, 4), (std::vector<int>{1, 2, 3}));
    const int bad[] = {2, 3};
    try
    {
        OverviewLevels(bad, 2);
        FAIL() << "3 was taken";
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(
            e.what(),
            "overview factor 3 is not a power of two: mosaic-wide levels are 2, 4, 8, ...");
    }
}

TEST_F(OverviewBuildTest, WritesAndRegistersTheCoveredTilesLevelByLevel)
{
    std::vector<double> progress;
    Build(
        [](double done, const char*, void* data) {
            static_cast<std::vector<double>*>(data)->push_back(done);
            return TRUE;
        },
        &progress);
    EXPECT_EQ(store.registered, (std::vector<std::string>{l1c0, l1c1, l2c0}));
    EXPECT_EQ(store.tiles.at(l1c0).builtFrom, "L1 c0 r0");
    EXPECT_EQ(store.tiles.at(l2c0).builtFrom, "L2 c0 r0");
    EXPECT_EQ(store.tiles.at(l2c0).level, 2);
    EXPECT_TRUE(store.removed.empty());
    EXPECT_EQ(progress, (std::vector<double>{0.2, 0.4, 0.6, 0.8, 1.0}));
    // A tile's sources are taken before it is composed, the reader's cache forgotten between.
    ASSERT_GE(store.events.size(), 3u);
    EXPECT_EQ(store.events[0], "sources L1 c0 r0");
    EXPECT_EQ(store.events[1], "invalidate");
    EXPECT_EQ(store.events[2], "items");

    // Level 1 averages 2 x 2 item pixels; level 2 averages the level-1 tiles.
    EXPECT_EQ(Pixels(store.File(l1c0)), (std::vector<GByte>{35, 55, 115, 135}));
    EXPECT_EQ(Pixels(store.File(l1c1)), (std::vector<GByte>{200, 200, 200, 200}));
    EXPECT_EQ(Pixels(store.File(l2c0)), (std::vector<GByte>{85, 200}));
    EXPECT_FALSE(Exists(store.File(l1c2)));
    EXPECT_FALSE(Exists(store.directory + "/t_overviews/L2/r00000_c00001.tif"));
    struct stat st;
    ASSERT_EQ(stat(store.File(l1c0).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    GDALDatasetUniquePtr tile(GDALDataset::Open(store.File(l2c0).c_str()));
    double gt[6];
    tile->GetGeoTransform(gt);
    EXPECT_DOUBLE_EQ(gt[1], 4.0);
    EXPECT_EQ(tile->GetRasterBand(1)->GetNoDataValue(), 0.0);
}

TEST_F(OverviewBuildTest, UpToDateTilesAreKeptStaleOnesRebuiltEmptyOnesRemoved)
{
    Build();
    store.registered.clear();
    store.events.clear();
    Build(); // every tile "ok": nothing is written; the tiles with no item are asked again
    EXPECT_TRUE(store.registered.empty());
    std::vector<std::string> asked;
    for (const std::string& e : store.events)
        if (e.rfind("sources", 0) == 0)
            asked.push_back(e);
    EXPECT_EQ(asked, (std::vector<std::string>{"sources L1 c2 r0", "sources L2 c1 r0"}));

    // Item A changed: its tile, marked stale, is rebuilt from the new pixels; level 2 is "ok".
    WriteItem(store.directory + "/a.tif", 0, std::vector<GByte>(16, 100));
    store.tiles.at(l1c0).status = "stale";
    Build();
    EXPECT_EQ(store.registered, (std::vector<std::string>{l1c0}));
    EXPECT_EQ(Pixels(store.File(l1c0)), (std::vector<GByte>{100, 100, 100, 100}));
    EXPECT_EQ(Pixels(store.File(l2c0)), (std::vector<GByte>{85, 200}));

    // Item B removed: its stale tile has nothing under it any more, so its file and its
    // registration go.
    store.items.pop_back();
    store.tiles.at(l1c1).status = "stale";
    store.registered.clear();
    Build();
    EXPECT_TRUE(store.registered.empty());
    EXPECT_EQ(store.removed, (std::vector<std::string>{l1c1}));
    EXPECT_FALSE(Exists(store.File(l1c1)));
    EXPECT_EQ(store.tiles.count(l1c1), 0u);
}

TEST_F(OverviewBuildTest, AnInterruptedBuildLeavesNoPartialFile)
{
    try
    {
        Build(StopAtOnce);
        FAIL() << "not interrupted";
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(e.what(), "interrupted");
    }
    // The first tile was being written when the build stopped: neither it nor its partial
    // file is left, and nothing was registered.
    EXPECT_TRUE(store.registered.empty());
    EXPECT_FALSE(Exists(store.File(l1c0)));
    EXPECT_FALSE(Exists(store.File(l1c0) + ".partial.tif"));
    const CPLStringList left(VSIReadDir((store.directory + "/t_overviews/L1").c_str()));
    for (int i = 0; i < left.size(); ++i)
        EXPECT_TRUE(EQUAL(left[i], ".") || EQUAL(left[i], "..")) << left[i];
}

TEST_F(OverviewBuildTest, CleanRemovesEveryTileAndItsFile)
{
    Build();
    ASSERT_TRUE(Exists(store.File(l2c0)));
    CleanOverviews(store);
    EXPECT_TRUE(store.tiles.empty());
    for (const std::string& s : {l1c0, l1c1, l2c0})
        EXPECT_FALSE(Exists(store.File(s))) << s;
    EXPECT_EQ(store.events.back(), "invalidate");
}

TEST(OverviewTiles, ParsesLevelColRowListsAndRefusesOthers)
{
    const auto tiles = ParseOverviewTiles("1/0/0, 1/2/0 2/0/1");
    ASSERT_EQ(tiles.size(), 3u);
    EXPECT_EQ(tiles[1].level, 1);
    EXPECT_EQ(tiles[1].col, 2);
    EXPECT_EQ(tiles[2].row, 1);
    for (const char* bad : {"1/0", "0/0/0", "1/-1/0", "1/0/0x", "a/b/c", ""})
        EXPECT_THROW(ParseOverviewTiles(bad), Error) << bad;
    try
    {
        ParseOverviewTiles("1/0/0,2/x/0");
        FAIL();
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(e.what(), "OVERVIEW_TILES: \"2/x/0\" is not <level>/<col>/<row> (level 1 "
                               "for factor 2, col and row from 0)");
    }
}

// A distributed build's task: only its tiles are composed and registered; the rest of the
// level is left; the next level's task reads the tiles registered by the others; a task run
// again writes nothing new.
TEST_F(OverviewBuildTest, OnlyTheListedTilesAreBuiltAndARerunKeepsThem)
{
    plan.only = ParseOverviewTiles("1/1/0");
    Build();
    EXPECT_EQ(store.registered, (std::vector<std::string>{l1c1}));
    EXPECT_FALSE(Exists(store.File(l1c0)));
    plan.only = ParseOverviewTiles("1/0/0,1/2/0");
    Build();
    EXPECT_EQ(store.registered, (std::vector<std::string>{l1c1, l1c0}));
    plan.only = ParseOverviewTiles("2/0/0");
    Build();
    EXPECT_EQ(store.registered, (std::vector<std::string>{l1c1, l1c0, l2c0}));
    plan.only = ParseOverviewTiles("1/0/0,1/1/0,2/0/0");
    Build();
    EXPECT_EQ(store.registered.size(), 3u); // up to date: nothing again

    // The same pixels as one build of everything.
    auto pieces = [&](const std::string& stored) {
        GDALDatasetUniquePtr ds(GDALDataset::Open(store.File(stored).c_str(), GDAL_OF_RASTER));
        std::vector<GByte> v(ds->GetRasterXSize() * ds->GetRasterYSize());
        EXPECT_EQ(ds->GetRasterBand(1)->RasterIO(
                      GF_Read, 0, 0, ds->GetRasterXSize(), ds->GetRasterYSize(), v.data(),
                      ds->GetRasterXSize(), ds->GetRasterYSize(), GDT_Byte, 0, 0, nullptr),
                  CE_None);
        return v;
    };
    const auto l1a = pieces(l1c0), l1b = pieces(l1c1), l2 = pieces(l2c0);
    for (const auto& s : {l1c0, l1c1, l2c0})
        VSIUnlink(store.File(s).c_str());
    store.tiles.clear();
    plan.only.clear();
    Build();
    EXPECT_EQ(pieces(l1c0), l1a);
    EXPECT_EQ(pieces(l1c1), l1b);
    EXPECT_EQ(pieces(l2c0), l2);
}

TEST_F(OverviewBuildTest, ListedTilesOutsideThePlanAreRefused)
{
    plan.only = ParseOverviewTiles("3/0/0");
    EXPECT_THROW(Build(), Error);
    plan.only = ParseOverviewTiles("1/3/0");
    try
    {
        Build();
        FAIL();
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(e.what(),
                     "OVERVIEW_TILES: tile 1/3/0 is outside level 1's grid of 3 x 1 tiles");
    }
    EXPECT_TRUE(store.registered.empty());
}
