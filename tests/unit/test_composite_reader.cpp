// The compositing reader on real GDAL rasters in /vsimem/, with an in-memory catalog.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "composite_reader.h"
#include "error.h"

using namespace pgmosaic;

namespace
{

class ListCatalog final : public ItemCatalog
{
public:
    std::vector<ItemRef> items; // mosaic order, top first
    int lookups = 0;
    std::vector<ItemRef> FindItems(const Envelope&) override
    {
        ++lookups;
        return items;
    }
};

std::string Wkt32631()
{
    OGRSpatialReference srs;
    srs.importFromEPSG(32631);
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    std::string out = wkt;
    CPLFree(wkt);
    return out;
}

// A one-band raster of `type` filled with `value`, its corner at mosaic pixel (col, row) of a
// 1 m grid anchored at (0, 100).
ItemRef MakeItem(int id, int col, int row, int w, int h, GDALDataType type, double value,
                 std::optional<double> nodata = std::nullopt)
{
    const std::string path = "/vsimem/composite_" + std::to_string(id) + ".tif";
    auto* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(drv->Create(path.c_str(), w, h, 1, type, nullptr));
    double gt[6] = {static_cast<double>(col), 1, 0, 100.0 - row, 0, -1};
    ds->SetGeoTransform(gt);
    ds->SetProjection(Wkt32631().c_str());
    GDALRasterBand* band = ds->GetRasterBand(1);
    if (nodata)
        band->SetNoDataValue(*nodata);
    band->Fill(value);
    ItemRef item;
    item.id = id;
    item.path = path;
    item.srid = 32631;
    std::copy(gt, gt + 6, item.gt.begin());
    item.width = w;
    item.height = h;
    return item;
}

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
        MosaicInfo m;
        m.name = "t";
        m.srid = 32631;
        m.srsWkt = Wkt32631();
        m.gt = {0, 1, 0, 100, 0, -1};
        m.width = 100;
        m.height = 100;
        m.bandCount = 1;
        m.dataType = type;
        m.nodata = nodata;
        return m;
    }

    std::vector<double> Read(const MosaicInfo& m, const Request& req)
    {
        SourcePool pool(m, 8);
        CompositeReader reader(m, catalog, pool);
        std::vector<double> out(static_cast<size_t>(req.bufW) * req.bufH, -999);
        BufferSpec buf;
        buf.data = out.data();
        buf.type = GDT_Float64;
        buf.pixelSpace = sizeof(double);
        buf.lineSpace = sizeof(double) * req.bufW;
        buf.bandSpace = buf.lineSpace * req.bufH;
        reader.Read(req, {1}, buf);
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
