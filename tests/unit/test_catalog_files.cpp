// The file side of the catalog: network and driver policy, file states, directory listings,
// statistics and the COG flag of inspection, what a lookup row records of a file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cpl_conv.h"
#include "gdal_priv.h"

#include "catalog_sql.h"
#include "error.h"
#include "inspect/file_scan.h"
#include "inspect/inspect.h"
#include "path_policy.h"

using namespace pgmosaic;
namespace fs = std::filesystem;

namespace
{

// Writes a GeoTIFF of w x h pixels whose band holds 0, 1, 2, ... row by row (modulo 200, plus 1,
// in a Byte raster), nodata 0.
void WriteRamp(const std::string& path, int w, int h, GDALDataType type = GDT_Float32)
{
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(drv->Create(path.c_str(), w, h, 1, type, nullptr));
    ASSERT_TRUE(ds);
    double gt[6] = {500000, 10, 0, 5000000, 0, -10};
    ds->SetGeoTransform(gt);
    OGRSpatialReference srs;
    srs.importFromEPSG(32631);
    ds->SetSpatialRef(&srs);
    std::vector<float> v(static_cast<size_t>(w) * h);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>(type == GDT_Byte ? i % 200 + 1 : i);
    GDALRasterBand* b = ds->GetRasterBand(1);
    b->SetNoDataValue(0);
    ASSERT_EQ(b->RasterIO(GF_Write, 0, 0, w, h, v.data(), w, h, GDT_Float32, 0, 0, nullptr),
              CE_None);
}

class CatalogFilesTest : public ::testing::Test
{
protected:
    void SetUp() override
    {
        GDALAllRegister();
        // As in the backend: statistics must never be written next to the rasters.
        CPLSetConfigOption("GDAL_PAM_ENABLED", "NO");
        m_root = fs::temp_directory_path() / ("pgmosaic_files_" + std::to_string(::getpid()));
        fs::create_directories(m_root / "data" / "sub");
        fs::create_directories(m_root / "other");
        WriteRamp((m_root / "data" / "a.tif").string(), 20, 10);
        WriteRamp((m_root / "data" / "sub" / "B.TIF").string(), 20, 10);
        std::ofstream(m_root / "data" / "notes.txt") << "x";
        std::ofstream(m_root / "other" / "c.tif") << "x";
        m_policy.enabled = true;
        m_policy.allowedRoots = {(m_root / "data").string()};
    }
    void TearDown() override
    {
        CPLSetConfigOption("GDAL_PAM_ENABLED", nullptr);
        fs::remove_all(m_root);
    }

    fs::path m_root;
    FileAccessPolicy m_policy;
};

} // namespace

TEST_F(CatalogFilesTest, NetworkPathsNeedTheirOwnAllowance)
{
    try
    {
        CheckPathAllowed(m_policy, "/vsis3/bucket/a.tif");
        FAIL() << "allowed";
    }
    catch (const Error& e)
    {
        EXPECT_EQ(e.kind(), ErrorKind::Permission);
        EXPECT_NE(std::string(e.what()).find("is not allowed for backend file access"),
                  std::string::npos);
    }
    m_policy.networkPrefixes = {"s3://bucket/imagery", "https://Data.example.com/cogs/"};
    EXPECT_EQ(CheckPathAllowed(m_policy, "/vsis3/bucket/imagery/2020/a.tif"),
              "/vsis3/bucket/imagery/2020/a.tif");
    EXPECT_EQ(CheckPathAllowed(m_policy, "/vsicurl/https://data.example.com/cogs/a.tif"),
              "/vsicurl/https://data.example.com/cogs/a.tif");
    EXPECT_THROW(CheckPathAllowed(m_policy, "/vsis3/bucket/imagery2/a.tif"), Error);
    EXPECT_THROW(CheckPathAllowed(m_policy, "/vsis3/other/a.tif"), Error);
    EXPECT_THROW(CheckPathAllowed(m_policy, "/vsis3/bucket/imagery/../secret.tif"), Error);
    EXPECT_THROW(CheckPathAllowed(m_policy, "/vsizip//data/a.zip/a.tif"), Error);
    m_policy.enabled = false;
    EXPECT_THROW(CheckPathAllowed(m_policy, "/vsis3/bucket/imagery/a.tif"), Error);
}

TEST_F(CatalogFilesTest, DriversOutsideTheListAreRefusedByName)
{
    const std::string png = (m_root / "data" / "p.png").string();
    GDALDatasetUniquePtr mem(
        GetGDALDriverManager()->GetDriverByName("MEM")->Create("", 4, 4, 1, GDT_Byte, nullptr));
    double gt[6] = {0, 1, 0, 4, 0, -1};
    mem->SetGeoTransform(gt);
    GDALDatasetUniquePtr(GetGDALDriverManager()->GetDriverByName("PNG")->CreateCopy(
        png.c_str(), mem.get(), FALSE, nullptr, nullptr, nullptr));
    InspectOptions options;
    options.allowedDrivers = {"GTiff"};
    EXPECT_NO_THROW(InspectRaster((m_root / "data" / "a.tif").string(), options));
    try
    {
        InspectRaster(png, options);
        FAIL() << "opened";
    }
    catch (const Error& e)
    {
        EXPECT_EQ(e.kind(), ErrorKind::Permission);
        EXPECT_NE(std::string(e.what()).find("is a PNG file, and PNG is not in "
                                             "pgmosaic.allowed_drivers"),
                  std::string::npos)
            << e.what();
    }
    options.allowedDrivers = {"gtiff", "png"}; // case-insensitive
    try
    {
        InspectRaster(png, options);
    }
    catch (const Error& e)
    {
        EXPECT_EQ(std::string(e.what()).find("allowed_drivers"), std::string::npos);
    }
}

TEST_F(CatalogFilesTest, FileStates)
{
    auto st = StatRasterFile(m_policy, (m_root / "data" / "a.tif").string());
    EXPECT_EQ(st.kind, FileState::Kind::Present);
    EXPECT_EQ(st.size, static_cast<std::int64_t>(fs::file_size(m_root / "data" / "a.tif")));
    EXPECT_GT(st.mtime, 0);
    st = StatRasterFile(m_policy, (m_root / "data" / "gone.tif").string());
    EXPECT_EQ(st.kind, FileState::Kind::Missing);
    EXPECT_NE(st.detail.find("not found"), std::string::npos);
    st = StatRasterFile(m_policy, (m_root / "other" / "c.tif").string());
    EXPECT_EQ(st.kind, FileState::Kind::Denied);
    EXPECT_NE(st.detail.find("outside pgmosaic.allowed_roots"), std::string::npos);
    m_policy.enabled = false;
    EXPECT_THROW(StatRasterFile(m_policy, (m_root / "data" / "a.tif").string()), Error);
}

TEST_F(CatalogFilesTest, DirectoryListings)
{
    const std::string dir = (m_root / "data").string();
    EXPECT_EQ(ListRasterFiles(m_policy, dir, "*.tif", true),
              (std::vector<std::string>{"a.tif", "sub/B.TIF"}));
    EXPECT_EQ(ListRasterFiles(m_policy, dir, "*.tif", false), (std::vector<std::string>{"a.tif"}));
    EXPECT_EQ(ListRasterFiles(m_policy, dir, "*", false),
              (std::vector<std::string>{"a.tif", "notes.txt"}));
    EXPECT_TRUE(ListRasterFiles(m_policy, dir, "*.jp2", true).empty());
    EXPECT_THROW(ListRasterFiles(m_policy, (m_root / "other").string(), "*", true), Error);
    EXPECT_THROW(ListRasterFiles(m_policy, (m_root / "data" / "none").string(), "*", true), Error);
    EXPECT_THROW(ListRasterFiles(m_policy, dir, "*", true, 1), Error);
}

TEST_F(CatalogFilesTest, StatisticsAndCogFlag)
{
    const std::string path = (m_root / "data" / "a.tif").string();
    InspectOptions options;
    EXPECT_TRUE(InspectRaster(path, options).statistics.empty());
    options.statistics = StatisticsMode::Cheap;
    const RasterInfo info = InspectRaster(path, options);
    ASSERT_EQ(info.statistics.size(), 1u);
    const BandStatistics& st = info.statistics[0];
    // Values 1..199 (0 is nodata).
    EXPECT_EQ(st.count, 199);
    EXPECT_DOUBLE_EQ(st.min, 1);
    EXPECT_DOUBLE_EQ(st.max, 199);
    EXPECT_DOUBLE_EQ(st.mean, 100);
    EXPECT_NEAR(st.stddev, 57.445626, 1e-5);
    EXPECT_DOUBLE_EQ(st.p2, 4);    // nearest rank: ceil(0.02 * 199) = the 4th value
    EXPECT_DOUBLE_EQ(st.p98, 196); // ceil(0.98 * 199) = the 196th
    EXPECT_FALSE(st.approximate);
    EXPECT_FALSE(info.isCog);
    // No side-car file was written.
    EXPECT_FALSE(fs::exists(path + ".aux.xml"));
    const std::string json = RasterInfoToJson(info);
    EXPECT_NE(json.find("\"statistics\":[{\"count\":199"), std::string::npos) << json;

    // A COG of a raster too large for "cheap" without overviews, with them (inspection
    // without its full-resolution scan: with it, 8-bit statistics come exact from the scan).
    const std::string big = (m_root / "data" / "big.tif").string();
    WriteRamp(big, 5000, 4000, GDT_Byte);
    const auto scanned = InspectRaster(big, options);
    ASSERT_EQ(scanned.statistics.size(), 1u);
    EXPECT_FALSE(scanned.statistics[0].approximate);
    EXPECT_EQ(scanned.statistics[0].count, 5000LL * 4000);
    options.tiles = false;
    options.validFootprint = false;
    EXPECT_TRUE(InspectRaster(big, options).statistics.empty());
    options.statistics = StatisticsMode::Approximate;
    const auto approx = InspectRaster(big, options);
    ASSERT_EQ(approx.statistics.size(), 1u);
    EXPECT_TRUE(approx.statistics[0].approximate);
    EXPECT_NEAR(approx.statistics[0].mean, 100.5, 1.0);
    const std::string cog = (m_root / "data" / "big_cog.tif").string();
    GDALDatasetUniquePtr src(GDALDataset::Open(big.c_str(), GDAL_OF_RASTER));
    GDALDatasetUniquePtr(GetGDALDriverManager()->GetDriverByName("COG")->CreateCopy(
        cog.c_str(), src.get(), FALSE, nullptr, nullptr, nullptr));
    options.statistics = StatisticsMode::Cheap;
    const auto cogInfo = InspectRaster(cog, options);
    EXPECT_TRUE(cogInfo.isCog);
    ASSERT_EQ(cogInfo.statistics.size(), 1u);
    EXPECT_TRUE(cogInfo.statistics[0].approximate);
    EXPECT_FALSE(fs::exists(cog + ".aux.xml"));
    EXPECT_EQ(ParseStatisticsMode("exact"), StatisticsMode::Exact);
    EXPECT_THROW(ParseStatisticsMode("everything"), Error);
}

// A raster with more full-resolution blocks than the limit is refused before its scan reads
// any, naming the file, its block count and the limit; within the limit it is inspected.
TEST_F(CatalogFilesTest, BlockLimitRefusesHugeRastersBeforeScanning)
{
    const std::string path = (m_root / "data" / "strips.tif").string();
    WriteRamp(path, 300, 200);
    InspectOptions options;
    const RasterInfo info = InspectRaster(path, options);
    const std::int64_t blocks =
        ((info.width + info.blockW - 1) / info.blockW) *
        static_cast<std::int64_t>((info.height + info.blockH - 1) / info.blockH);
    options.maxBlocks = blocks;
    EXPECT_NO_THROW(InspectRaster(path, options));
    options.maxBlocks = blocks - 1;
    try
    {
        InspectRaster(path, options);
        FAIL() << "expected the block limit to refuse " << path;
    }
    catch (const Error& e)
    {
        EXPECT_EQ(e.kind(), ErrorKind::InvalidParameter);
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(blocks) + " blocks"), std::string::npos) << msg;
        EXPECT_NE(msg.find("limit of " + std::to_string(blocks - 1)), std::string::npos) << msg;
        EXPECT_NE(msg.find("MAX_BLOCKS"), std::string::npos) << msg;
    }
}

// The scan checks the stop request between blocks: a request after the n-th check stops it
// there with Cancelled naming the file.
TEST_F(CatalogFilesTest, ScanStopsWhenCancelled)
{
    const std::string path = (m_root / "data" / "strips2.tif").string();
    WriteRamp(path, 300, 200);
    struct Counter
    {
        int calls = 0, stopAt = 2;
    } counter;
    InspectOptions options;
    options.cancel.data = &counter;
    options.cancel.stop = [](void* d) {
        auto* c = static_cast<Counter*>(d);
        return ++c->calls >= c->stopAt;
    };
    try
    {
        InspectRaster(path, options);
        FAIL() << "expected the scan to stop";
    }
    catch (const Cancelled& e)
    {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_EQ(counter.calls, 2);
    counter.stopAt = 1 << 30; // never: the scan runs through
    EXPECT_NO_THROW(InspectRaster(path, options));
}

// The driver applies the backend's policy under its own option names.
TEST(PathPolicyNames, RefusalsNameTheSettingsOfThePolicy)
{
    FileAccessPolicy client;
    client.enabled = true;
    client.networkSetting = "PGMOSAIC_ALLOWED_NETWORK_PREFIXES";
    client.accessName = "the client";
    try
    {
        CheckPathAllowed(client, "/vsicurl/http://127.0.0.1:1/a.tif");
        FAIL();
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(e.what(), "virtual file system path /vsicurl/http://127.0.0.1:1/a.tif is "
                               "not allowed for the client");
    }
    client.networkPrefixes = {"/vsicurl/http://127.0.0.1:1/ok/"};
    EXPECT_EQ(CheckPathAllowed(client, "/vsicurl/http://127.0.0.1:1/ok/a.tif"),
              "/vsicurl/http://127.0.0.1:1/ok/a.tif");
    try
    {
        CheckPathAllowed(client, "/vsicurl/http://127.0.0.1:1/other/a.tif");
        FAIL();
    }
    catch (const Error& e)
    {
        EXPECT_STREQ(e.what(), "network path /vsicurl/http://127.0.0.1:1/other/a.tif is outside "
                               "PGMOSAIC_ALLOWED_NETWORK_PREFIXES");
    }
}

// The band types a lookup row records, in each form the catalog's queries give them: per band
// as a JSON array (_read_items()'s rows and overview tiles) or a comma list (assets), or a count
// and one type (a 0.1 catalog).
TEST(CatalogRows, BandTypesInEachForm)
{
    auto types = [](std::optional<std::string> recorded) {
        const std::vector<std::optional<std::string>> row{
            "7", "/data/a.tif", "32631", "{500000,1,0,9000000,0,-1}", "10", "10",
            "1234", "1700000000", recorded};
        return ParseItemRow([&](int c) { return row[static_cast<size_t>(c)]; }, 9).bandTypes;
    };
    const std::vector<GDALDataType> two{GDT_Byte, GDT_UInt16};
    EXPECT_EQ(types(std::string(R"(["Byte", "UInt16"])")), two);
    EXPECT_EQ(types(std::string("Byte,UInt16")), two);
    EXPECT_EQ(types(std::string("3*Float32")),
              std::vector<GDALDataType>(3, GDT_Float32));
    EXPECT_EQ(types(std::string(R"(["Int16"])")), std::vector<GDALDataType>{GDT_Int16});
    EXPECT_TRUE(types(std::string("[]")).empty());
    EXPECT_TRUE(types(std::nullopt).empty());
    EXPECT_EQ(types(std::string(R"(["Nonsense"])")), std::vector<GDALDataType>{GDT_Unknown});
}
