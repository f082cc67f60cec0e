// Footprints and statistics on rasters made in memory.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "gdal_priv.h"
#include "ogr_geometry.h"

#include "inspect/footprint.h"
#include "inspect/statistics.h"

using namespace pgmosaic;

namespace
{

// A one-band Byte raster whose pixel (x, y) is value(x, y); 0 is nodata when `nodata`.
GDALDatasetUniquePtr MakeRaster(int w, int h, const double* gt,
                                const std::function<int(int, int)>& value, bool nodata = true)
{
    GDALAllRegister();
    auto* drv = GetGDALDriverManager()->GetDriverByName("MEM");
    GDALDatasetUniquePtr ds(drv->Create("", w, h, 1, GDT_Byte, nullptr));
    ds->SetGeoTransform(const_cast<double*>(gt));
    std::vector<GByte> px(static_cast<size_t>(w) * h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            px[static_cast<size_t>(y) * w + x] = static_cast<GByte>(value(x, y));
    EXPECT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, w, h, px.data(), w, h, GDT_Byte, 0, 0,
                                             nullptr),
              CE_None);
    if (nodata)
        ds->GetRasterBand(1)->SetNoDataValue(0);
    return ds;
}

std::unique_ptr<OGRGeometry> Geometry(const std::string& wkt)
{
    OGRGeometry* g = nullptr;
    OGRGeometryFactory::createFromWkt(wkt.c_str(), nullptr, &g);
    return std::unique_ptr<OGRGeometry>(g);
}

double Area(const OGRGeometry* g)
{
    const auto t = wkbFlatten(g->getGeometryType());
    if (t == wkbPolygon)
        return g->toPolygon()->get_Area();
    double a = 0;
    for (const auto* part : *g->toGeometryCollection())
        a += Area(part);
    return a;
}

// True when the footprint contains the centre of every valid pixel.
bool ContainsValidPixels(const OGRGeometry* fp, int w, int h, const double* gt,
                         const std::function<int(int, int)>& value)
{
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (value(x, y) != 0)
            {
                OGRPoint p(gt[0] + (x + 0.5) * gt[1] + (y + 0.5) * gt[2],
                           gt[3] + (x + 0.5) * gt[4] + (y + 0.5) * gt[5]);
                if (!fp->Contains(&p))
                    return false;
            }
    return true;
}

} // namespace

TEST(Footprint, AllValidRasterIsItsOutline)
{
    const double gt[6] = {100, 1, 0, 200, 0, -1};
    auto ds = MakeRaster(
        10, 5, gt, [](int, int) { return 7; }, false);
    Footprint fp = ComputeFootprint(ds.get());
    EXPECT_TRUE(fp.allValid);
    EXPECT_EQ(fp.vertices, 5);
    EXPECT_DOUBLE_EQ(Area(Geometry(fp.wkt).get()), 50.0);
}

TEST(Footprint, NodataCollarIsExcluded)
{
    // 200 x 200 with a 20-pixel nodata collar: valid area 160 x 160 = 25600 of 40000.
    const double gt[6] = {0, 1, 0, 200, 0, -1};
    auto value = [](int x, int y) {
        return (x >= 20 && x < 180 && y >= 20 && y < 180) ? 9 : 0;
    };
    auto ds = MakeRaster(200, 200, gt, value);
    Footprint fp = ComputeFootprint(ds.get());
    auto g = Geometry(fp.wkt);
    EXPECT_FALSE(fp.allValid);
    EXPECT_NEAR(Area(g.get()), 25600.0, 25600.0 * 0.01);
    EXPECT_TRUE(ContainsValidPixels(g.get(), 200, 200, gt, value));
}

TEST(Footprint, RotatedDiamondIsHugged)
{
    // A rotated geotransform (30 degrees) and a diamond of valid pixels in the frame.
    const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
    const double gt[6] = {1000, c, s, 2000, s, -c};
    auto value = [](int x, int y) {
        return std::abs(x - 150) + std::abs(y - 150) <= 140 ? 5 : 0;
    };
    auto ds = MakeRaster(300, 300, gt, value);
    FootprintOptions options;
    options.maxVertices = 64;
    Footprint fp = ComputeFootprint(ds.get(), options);
    auto g = Geometry(fp.wkt);
    const double validArea = 2.0 * 140 * 140; // the diamond, in square pixels (= map units)
    EXPECT_LE(fp.vertices, 64);
    EXPECT_TRUE(ContainsValidPixels(g.get(), 300, 300, gt, value));
    EXPECT_LT(Area(g.get()), validArea * 1.05);
    EXPECT_GT(Area(g.get()), validArea * 0.98);
    EXPECT_LT(Area(g.get()), 300.0 * 300.0 * 0.5); // far from the bounding box
}

TEST(Footprint, VertexBudgetIsKeptOnADisc)
{
    const double gt[6] = {0, 2, 0, 0, 0, -2};
    auto value = [](int x, int y) {
        return (x - 200) * (x - 200) + (y - 200) * (y - 200) < 180 * 180;
    };
    auto ds = MakeRaster(400, 400, gt, [&](int x, int y) { return value(x, y) ? 1 : 0; });
    FootprintOptions options;
    options.maxVertices = 24;
    Footprint fp = ComputeFootprint(ds.get(), options);
    auto g = Geometry(fp.wkt);
    EXPECT_LE(fp.vertices, 24);
    EXPECT_TRUE(ContainsValidPixels(g.get(), 400, 400, gt,
                                    [&](int x, int y) { return value(x, y) ? 1 : 0; }));
    const double disc = M_PI * 180 * 180 * 4; // map units: 2 m pixels
    EXPECT_LT(Area(g.get()), disc * 1.10);
}

TEST(Footprint, SmallHolesAreFilledLargeOnesKept)
{
    const double gt[6] = {0, 1, 0, 100, 0, -1};
    auto value = [](int x, int y) {
        const bool small = x >= 10 && x < 12 && y >= 10 && y < 12; // 4 pixels
        const bool large = x >= 50 && x < 80 && y >= 50 && y < 80; // 900 pixels
        return (small || large) ? 0 : 3;
    };
    auto ds = MakeRaster(100, 100, gt, value);
    Footprint fp = ComputeFootprint(ds.get());
    auto g = Geometry(fp.wkt);
    EXPECT_NEAR(Area(g.get()), 10000.0 - 900.0, 40.0);
}

TEST(Statistics, ExactValuesPercentilesAndNodata)
{
    // Values 1..100 repeated along rows; the first column is nodata (0).
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    auto ds = MakeRaster(101, 50, gt, [](int x, int) { return x; });
    auto stats = ComputeStatistics(ds.get(), StatisticsMode::Exact);
    ASSERT_EQ(stats.size(), 1u);
    const BandStatistics& s = stats[0];
    EXPECT_EQ(s.count, 100 * 50);
    EXPECT_DOUBLE_EQ(s.min, 1);
    EXPECT_DOUBLE_EQ(s.max, 100);
    EXPECT_DOUBLE_EQ(s.mean, 50.5);
    EXPECT_NEAR(s.stddev, std::sqrt((100.0 * 100 - 1) / 12), 1e-9);
    EXPECT_DOUBLE_EQ(s.p0_5, 1);
    EXPECT_DOUBLE_EQ(s.p2, 2);
    EXPECT_DOUBLE_EQ(s.p98, 98);
    EXPECT_DOUBLE_EQ(s.p99_5, 100);
    EXPECT_FALSE(s.approximate);
}

TEST(Statistics, FloatBandsUseAHistogram)
{
    GDALAllRegister();
    auto* drv = GetGDALDriverManager()->GetDriverByName("MEM");
    GDALDatasetUniquePtr ds(drv->Create("", 1000, 1, 1, GDT_Float32, nullptr));
    std::vector<float> v(1000);
    for (int i = 0; i < 1000; ++i)
        v[i] = i * 0.5f; // 0 .. 499.5
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 1000, 1, v.data(), 1000, 1,
                                             GDT_Float32, 0, 0, nullptr),
              CE_None);
    auto s = ComputeStatistics(ds.get(), StatisticsMode::Exact)[0];
    EXPECT_EQ(s.count, 1000);
    EXPECT_DOUBLE_EQ(s.max, 499.5);
    EXPECT_NEAR(s.p98, 489.5, 0.5);
    EXPECT_NEAR(s.p2, 9.5, 0.5);
}

TEST(Statistics, ApproximateStatisticsReadAnOverview)
{
    GDALAllRegister();
    const char* path = "/vsimem/stats_ovr.tif";
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    auto mem = MakeRaster(512, 512, gt, [](int x, int y) { return 1 + (x + y) % 200; });
    auto* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(gtiff->CreateCopy(path, mem.get(), FALSE, nullptr, nullptr, nullptr));
    int levels[] = {2, 4};
    ASSERT_EQ(ds->BuildOverviews("NEAREST", 2, levels, 0, nullptr, nullptr, nullptr), CE_None);
    auto approx = ComputeStatistics(ds.get(), StatisticsMode::Approximate, 256 * 256)[0];
    auto exact = ComputeStatistics(ds.get(), StatisticsMode::Exact)[0];
    EXPECT_TRUE(approx.approximate);
    EXPECT_EQ(approx.count, 256 * 256);
    EXPECT_EQ(exact.count, 512 * 512);
    EXPECT_NEAR(approx.mean, exact.mean, 2.0);
    ds.reset();
    VSIUnlink(path);
}
