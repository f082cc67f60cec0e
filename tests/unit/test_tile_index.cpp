// DRAD tile index on a tiled GeoTIFF with an absent block and an all-nodata block.
#include <gtest/gtest.h>

#include <vector>

#include "gdal_priv.h"

#include "inspect/tile_index.h"

using namespace pgmosaic;

TEST(TileIndex, BlocksRectanglesByteRangesEmptinessAndStatistics)
{
    GDALAllRegister();
    const char* path = "/vsimem/tile_index.tif";
    {
        auto* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
        const char* options[] = {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "SPARSE_OK=TRUE",
                                 nullptr};
        GDALDatasetUniquePtr ds(
            gtiff->Create(path, 40, 32, 1, GDT_Byte, const_cast<char**>(options)));
        double gt[6] = {1000, 2, 0, 5000, 0, -2};
        ds->SetGeoTransform(gt);
        GDALRasterBand* band = ds->GetRasterBand(1);
        band->SetNoDataValue(0);
        // Block (0,0): values 1..; block (1,0): all nodata; block (2,0) partial (8 columns);
        // blocks of row 1 are never written (absent, SPARSE_OK).
        std::vector<GByte> v(16 * 16);
        for (size_t i = 0; i < v.size(); ++i)
            v[i] = static_cast<GByte>(1 + i % 100);
        ASSERT_EQ(band->RasterIO(GF_Write, 0, 0, 16, 16, v.data(), 16, 16, GDT_Byte, 0, 0, nullptr),
                  CE_None);
        std::vector<GByte> zeros(16 * 16, 0);
        ASSERT_EQ(
            band->RasterIO(GF_Write, 16, 0, 16, 16, zeros.data(), 16, 16, GDT_Byte, 0, 0, nullptr),
            CE_None);
        std::vector<GByte> sevens(8 * 16, 7);
        ASSERT_EQ(
            band->RasterIO(GF_Write, 32, 0, 8, 16, sevens.data(), 8, 16, GDT_Byte, 0, 0, nullptr),
            CE_None);
        int level = 2;
        ASSERT_EQ(ds->BuildOverviews("NEAREST", 1, &level, 0, nullptr, nullptr, nullptr), CE_None);
    }
    GDALDatasetUniquePtr ds(GDALDataset::Open(path));
    TileIndex index = ScanTiles(ds.get());
    ASSERT_EQ(index.levels, 2);
    std::vector<const TileRecord*> full, ovr;
    for (const auto& t : index.tiles)
        (t.level == 0 ? full : ovr).push_back(&t);
    ASSERT_EQ(full.size(), 6u); // 3 x 2 blocks of 16
    ASSERT_EQ(ovr.size(), 1u);  // 20 x 16 overview in one (128-pixel) block

    const TileRecord& a = *full[0];
    EXPECT_EQ(a.zoom, 2); // 3 x 2 blocks need a 4 x 4 quadtree
    EXPECT_DOUBLE_EQ(a.minx, 1000);
    EXPECT_DOUBLE_EQ(a.maxx, 1032);
    EXPECT_DOUBLE_EQ(a.maxy, 5000);
    EXPECT_DOUBLE_EQ(a.miny, 4968);
    EXPECT_GT(a.offset, 0u);
    EXPECT_GT(a.length, 0u);
    EXPECT_FALSE(a.empty);
    EXPECT_EQ(a.stats[0].count, 256);
    EXPECT_DOUBLE_EQ(a.stats[0].min, 1);
    EXPECT_DOUBLE_EQ(a.stats[0].max, 100);

    EXPECT_TRUE(full[1]->empty); // written, but all nodata
    EXPECT_EQ(full[1]->stats[0].count, 0);
    EXPECT_FALSE(full[2]->empty); // the partial block
    EXPECT_EQ(full[2]->stats[0].count, 8 * 16);
    EXPECT_DOUBLE_EQ(full[2]->stats[0].sum, 7 * 8 * 16);
    EXPECT_DOUBLE_EQ(full[2]->stats[0].sumSq, 49 * 8 * 16);
    double sumSq = 0;
    for (int i = 0; i < 256; ++i)
        sumSq += (1 + i % 100) * (1 + i % 100);
    EXPECT_DOUBLE_EQ(a.stats[0].sumSq, sumSq);
    EXPECT_DOUBLE_EQ(full[2]->maxx, 1080);
    for (int i = 3; i < 6; ++i)
    {
        EXPECT_EQ(full[i]->offset, 0u) << i; // never written
        EXPECT_TRUE(full[i]->empty) << i;
    }
    EXPECT_EQ(ovr[0]->zoom, 1);
    EXPECT_FALSE(ovr[0]->empty);
    EXPECT_DOUBLE_EQ(ovr[0]->maxx, 1080); // 20 overview pixels = 40 full pixels
    EXPECT_GT(ovr[0]->offset, 0u);
    ds.reset();
    VSIUnlink(path);
}
