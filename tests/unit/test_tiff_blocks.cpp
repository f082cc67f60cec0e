// TiffBlockReader against GDAL's own reading of the same GeoTIFFs: for every layout it takes,
// random windows and band subsets read from the blocks it put in GDAL's cache must give the
// bytes GDAL reads from the file through a second handle; the layouts it does not take are
// left to GDAL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpl_string.h"
#include "gdal_priv.h"

#include "read/tiff_blocks.h"

using namespace pgmosaic;

namespace
{

// A w x h raster of `bands` bands of `type` with varied values (and a nodata hole), written as
// GTiff with `options`.
std::string Write(const std::string& name, int w, int h, int bands, GDALDataType type,
                  const std::vector<std::string>& options, bool sparse = false)
{
    const std::string path = "/vsimem/tiff_blocks_" + name + ".tif";
    CPLStringList opts;
    for (const auto& o : options)
        opts.AddString(o.c_str());
    if (sparse)
        opts.AddString("SPARSE_OK=TRUE");
    auto* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(drv->Create(path.c_str(), w, h, bands, type, opts.List()));
    EXPECT_TRUE(ds);
    std::mt19937 rng(static_cast<unsigned>(w * 31 + h + bands));
    std::vector<double> v(static_cast<size_t>(w) * h);
    for (int b = 1; b <= bands; ++b)
    {
        if (sparse)
            ds->GetRasterBand(b)->SetNoDataValue(7);
        for (size_t i = 0; i < v.size(); ++i)
            v[i] = static_cast<double>((rng() % 20000) + 100 * b) - (type == GDT_Int16 ? 9000 : 0);
        // Sparse files leave their first rows of blocks unwritten.
        const int y0 = sparse ? h / 2 : 0;
        EXPECT_EQ(ds->GetRasterBand(b)->RasterIO(GF_Write, 0, y0, w, h - y0, v.data() + y0 * w, w,
                                                 h - y0, GDT_Float64, 0, 0, nullptr),
                  CE_None);
    }
    return path;
}

// ReadWindow of window `win` against GDAL reading it through a handle of its own, as a
// pixel-interleaved buffer of `bufType`. False when ReadWindow left the window to GDAL.
bool ReadWindowAsGdal(TiffBlockReader& reader, GDALDataset& plain, const Window& win,
                      std::vector<int> bands, GDALDataType bufType, const EmptyBlocks* empty = nullptr)
{
    const int size = GDALGetDataTypeSizeBytes(bufType);
    const GSpacing pixel = static_cast<GSpacing>(size) * bands.size();
    const GSpacing line = pixel * win.w;
    const size_t bytes = static_cast<size_t>(line) * win.h;
    std::vector<GByte> ours(bytes, 0xAB), gdal(bytes, 0xCD);
    if (!reader.ReadWindow(win, bands, empty, bufType, ours.data(), pixel, line, size))
        return false;
    EXPECT_EQ(plain.RasterIO(GF_Read, win.x, win.y, win.w, win.h, gdal.data(), win.w, win.h,
                             bufType, static_cast<int>(bands.size()), bands.data(), pixel, line,
                             size, nullptr),
              CE_None);
    EXPECT_EQ(ours, gdal) << plain.GetDescription() << " window " << win.x << "," << win.y << " "
                          << win.w << "x" << win.h;
    return true;
}

void ExpectSameAsGdal(const std::string& path, GDALDataType bufType, bool complete = true)
{
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    GDALDatasetUniquePtr plain(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(ds && plain);
    auto reader = TiffBlockReader::Open(ds.get());
    ASSERT_TRUE(reader) << path;
    std::mt19937 rng(5);
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize(), n = ds->GetRasterCount();
    const int size = GDALGetDataTypeSizeBytes(bufType);
    int decoded = 0;
    for (int t = 0; t < 25; ++t)
    {
        Window win;
        win.x = static_cast<int>(rng() % static_cast<unsigned>(w));
        win.y = static_cast<int>(rng() % static_cast<unsigned>(h));
        win.w = 1 + static_cast<int>(rng() % static_cast<unsigned>(w - win.x));
        win.h = 1 + static_cast<int>(rng() % static_cast<unsigned>(h - win.y));
        std::vector<int> bands;
        for (int b = n; b >= 1; --b) // reversed, and every other band on odd turns
            if (t % 2 == 0 || b % 2 == 1)
                bands.push_back(b);
        decoded += reader->Prefetch(win, bands);
        // Pixel-interleaved buffer.
        const GSpacing pixel = static_cast<GSpacing>(size) * bands.size();
        const GSpacing line = pixel * win.w;
        const size_t bytes = static_cast<size_t>(line) * win.h;
        std::vector<GByte> ours(bytes, 0xAB), gdal(bytes, 0xCD);
        for (auto [target, out] : {std::pair{ds.get(), &ours}, {plain.get(), &gdal}})
            ASSERT_EQ(target->RasterIO(GF_Read, win.x, win.y, win.w, win.h, out->data(), win.w,
                                       win.h, bufType, static_cast<int>(bands.size()), bands.data(),
                                       pixel, line, size, nullptr),
                      CE_None);
        ASSERT_EQ(ours, gdal) << path << " window " << win.x << "," << win.y << " " << win.w << "x"
                              << win.h;
    }
    // The blocks came from the reader: every block is in GDAL's cache, none read by GDAL.
    EXPECT_GT(decoded, 0) << path;
    int bx = 0, by = 0;
    ds->GetRasterBand(1)->GetBlockSize(&bx, &by);
    EXPECT_EQ(reader->Prefetch({0, 0, bx, by}, {1}), 0) << "the first block is cached";
    // Small windows read straight into a buffer, blocks decoded down to the rows needed.
    int direct = 0;
    for (int t = 0; t < 25; ++t)
    {
        Window win;
        win.x = static_cast<int>(rng() % static_cast<unsigned>(w));
        win.y = static_cast<int>(rng() % static_cast<unsigned>(h));
        win.w = 1 + static_cast<int>(rng() % static_cast<unsigned>(std::min(9, w - win.x)));
        win.h = 1 + static_cast<int>(rng() % static_cast<unsigned>(std::min(9, h - win.y)));
        std::vector<int> bands;
        for (int b = n; b >= 1; --b)
            if (t % 2 == 0 || b % 2 == 1)
                bands.push_back(b);
        direct += ReadWindowAsGdal(*reader, *plain, win, bands, bufType);
    }
    if (complete) // sparse files leave windows over absent blocks to GDAL
    {
        EXPECT_EQ(direct, 25) << path;
    }
    EXPECT_FALSE(ReadWindowAsGdal(*reader, *plain, {w - 1, 0, 2, 1}, {1}, bufType))
        << "a window past the raster is left to GDAL";
}

class TiffBlocks : public ::testing::Test
{
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }
};

// DEFLATE with the horizontal predictor: tiles of tileW x tileH, or strips of stripRows.
CPLStringList DeflatePredictorOptions(const char* interleave, bool tiled, int tileW, int tileH,
                                      int stripRows)
{
    CPLStringList opts;
    opts.AddString("COMPRESS=DEFLATE");
    opts.AddString("PREDICTOR=2");
    opts.AddString(CPLSPrintf("INTERLEAVE=%s", interleave));
    if (tiled)
    {
        opts.AddString("TILED=YES");
        opts.AddString(CPLSPrintf("BLOCKXSIZE=%d", tileW));
        opts.AddString(CPLSPrintf("BLOCKYSIZE=%d", tileH));
    }
    else
        opts.AddString(CPLSPrintf("BLOCKYSIZE=%d", stripRows));
    return opts;
}

} // namespace

TEST_F(TiffBlocks, EveryLayoutItTakesReadsAsGdal)
{
    int layouts = 0;
    for (const char* codec : {"NONE", "DEFLATE", "ZSTD"})
        for (const char* predictor : {"1", "2"})
            for (const char* interleave : {"PIXEL", "BAND"})
                for (bool tiled : {true, false})
                    for (GDALDataType type : {GDT_Byte, GDT_UInt16, GDT_Int16, GDT_Float32})
                    {
                        // Uncompressed strips are GDAL's own split blocks, not the file's.
                        if (EQUAL(codec, "NONE") && (EQUAL(predictor, "2") || !tiled))
                            continue;
                        std::vector<std::string> opts{std::string("COMPRESS=") + codec,
                                                      std::string("INTERLEAVE=") + interleave};
                        if (!EQUAL(codec, "NONE"))
                            opts.push_back(std::string("PREDICTOR=") + predictor);
                        if (tiled)
                            opts.insert(opts.end(),
                                        {"TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=32"});
                        else
                            opts.push_back("BLOCKYSIZE=7"); // strips of 7 rows, the last short
                        const std::string name = std::string(codec) + predictor + interleave +
                                                 (tiled ? "t" : "s") + GDALGetDataTypeName(type);
                        // 150 x 75: partial blocks on the right and at the bottom.
                        ExpectSameAsGdal(Write(name, 150, 75, 3, type, opts), GDT_Float64);
                        ++layouts;
                    }
    EXPECT_EQ(layouts, 72);
}

TEST_F(TiffBlocks, BufferTypeConversionAndSparseBlocks)
{
    // Blocks never written are absent from the file: they read as nodata, as GDAL reads them.
    const std::string sparse =
        Write("sparse", 200, 160, 2, GDT_UInt16,
              {"COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"}, true);
    ExpectSameAsGdal(sparse, GDT_Byte, false);
    ExpectSameAsGdal(sparse, GDT_UInt16, false);
    ExpectSameAsGdal(Write("single", 97, 61, 1, GDT_Byte, {"COMPRESS=ZSTD", "TILED=YES"}),
                     GDT_Int32);
}

TEST_F(TiffBlocks, PartialInflateGivesTheRowsOfAFullDecode)
{
    // Blocks far larger than the room a partial inflate leaves past the rows it needs (64 kB):
    // noise, which DEFLATE stores as it is in places, next to rows it compresses.
    for (const bool tiled : {true, false})
    {
        const int w = 1200, h = 1100;
        const std::string path = "/vsimem/tiff_blocks_partial" + std::to_string(tiled) + ".tif";
        // Strips of 600 rows: the last one short (500 rows).
        const CPLStringList opts = DeflatePredictorOptions("PIXEL", tiled, 512, 512, 600);
        {
            GDALDatasetUniquePtr ds(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
                path.c_str(), w, h, 3, GDT_Byte, opts.List()));
            ASSERT_TRUE(ds);
            std::mt19937 rng(11);
            std::vector<GByte> v(static_cast<size_t>(w) * h * 3);
            for (size_t i = 0; i < v.size(); ++i)
                v[i] = (i / (static_cast<size_t>(w) * 3 * 50)) % 2 ? static_cast<GByte>(rng())
                                                                     : static_cast<GByte>(i % 7);
            ASSERT_EQ(ds->RasterIO(GF_Write, 0, 0, w, h, v.data(), w, h, GDT_Byte, 3, nullptr, 3,
                                   static_cast<GSpacing>(w) * 3, 1, nullptr),
                      CE_None);
        }
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        GDALDatasetUniquePtr plain(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        ASSERT_TRUE(ds && plain);
        auto reader = TiffBlockReader::Open(ds.get());
        ASSERT_TRUE(reader);
        // The first and last rows of blocks and strips, rows in between, the last row.
        for (int y : {0, 1, 43, 44, 200, 511, 512, 599, 600, 601, 1023, 1024, 1099})
            for (int x : {0, 511, 512, 1199})
            {
                EXPECT_TRUE(ReadWindowAsGdal(*reader, *plain, {x, y, 1, 1}, {1, 2, 3}, GDT_Byte));
                EXPECT_TRUE(ReadWindowAsGdal(*reader, *plain, {x, y, 1, 1}, {2}, GDT_Float64));
            }
        EXPECT_TRUE(ReadWindowAsGdal(*reader, *plain, {505, 505, 12, 12}, {3, 1}, GDT_UInt16));
    }
}

TEST_F(TiffBlocks, PartialInflateOfWiderSamplesAndSeparateBands)
{
    // The same for 16- and 32-bit samples with the predictor (its sums run over each row
    // decoded, of samples of 2 and 4 bytes), band by band and pixel-interleaved, tiles and
    // strips whose last one is short, windows reaching the right and bottom edges.
    int reads = 0;
    for (GDALDataType type : {GDT_UInt16, GDT_Float32})
        for (const char* interleave : {"BAND", "PIXEL"})
            for (const bool tiled : {true, false})
            {
                const int w = 700, h = 650;
                const std::string path = std::string("/vsimem/tiff_blocks_wide_") +
                                         GDALGetDataTypeName(type) + interleave +
                                         (tiled ? "t" : "s") + ".tif";
                // Strips of 400 rows: the last one short (250 rows).
                const CPLStringList opts =
                    DeflatePredictorOptions(interleave, tiled, 256, 512, 400);
                {
                    GDALDatasetUniquePtr ds(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
                        path.c_str(), w, h, 2, type, opts.List()));
                    ASSERT_TRUE(ds);
                    std::mt19937 rng(5);
                    std::vector<double> v(static_cast<size_t>(w) * h * 2);
                    for (size_t i = 0; i < v.size(); ++i)
                        v[i] = (i / (static_cast<size_t>(w) * 40)) % 2
                                   ? static_cast<double>(rng() % 60000) + 0.25
                                   : static_cast<double>(i % 13);
                    ASSERT_EQ(ds->RasterIO(GF_Write, 0, 0, w, h, v.data(), w, h, GDT_Float64, 2,
                                           nullptr, 8, static_cast<GSpacing>(w) * 8,
                                           static_cast<GSpacing>(w) * h * 8, nullptr),
                              CE_None);
                }
                GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
                GDALDatasetUniquePtr plain(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
                ASSERT_TRUE(ds && plain);
                auto reader = TiffBlockReader::Open(ds.get());
                ASSERT_TRUE(reader) << path;
                for (int y : {0, 37, 399, 400, 511, 512, 600, 649})
                    for (int x : {0, 255, 256, 699})
                    {
                        const Window win{x, y, std::min(3, w - x), std::min(5, h - y)};
                        EXPECT_TRUE(ReadWindowAsGdal(*reader, *plain, win, {2, 1}, type));
                        EXPECT_TRUE(ReadWindowAsGdal(*reader, *plain, win, {2}, GDT_Float64));
                        reads += 2;
                    }
                VSIUnlink(path.c_str());
            }
    EXPECT_EQ(reads, 2 * 2 * 2 * 8 * 4 * 2);
}

TEST_F(TiffBlocks, OtherLayoutsAreLeftToGdal)
{
    for (auto opts : std::vector<std::vector<std::string>>{
             {"COMPRESS=LZW"}, {"COMPRESS=DEFLATE", "PREDICTOR=3"}, {"NBITS=4"}, {"COMPRESS=NONE"}})
    {
        const std::string path = Write(opts.back(), 40, 30, 1,
                                       opts.back() == "PREDICTOR=3" ? GDT_Float32 : GDT_Byte, opts);
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        EXPECT_FALSE(TiffBlockReader::Open(ds.get())) << opts.back();
    }
    GDALDatasetUniquePtr mem(
        GetGDALDriverManager()->GetDriverByName("MEM")->Create("", 4, 4, 1, GDT_Byte, nullptr));
    EXPECT_FALSE(TiffBlockReader::Open(mem.get()));
    CPLSetConfigOption("PGMOSAIC_DIRECT_DECODE", "NO");
    const std::string path = Write("off", 40, 30, 1, GDT_Byte, {"COMPRESS=DEFLATE"});
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    EXPECT_FALSE(TiffBlockReader::Open(ds.get()));
    CPLSetConfigOption("PGMOSAIC_DIRECT_DECODE", nullptr);
}
