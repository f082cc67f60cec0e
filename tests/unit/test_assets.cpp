// Items made of several files (assets): the compositing reader on real GeoTIFFs in /vsimem/,
// with an in-memory catalog.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gdal_priv.h"

#include "error.h"
#include "read/composite_reader.h"
#include "read/read_options.h"
#include "read/stack_methods.h"
#include "read/virtual_bands.h"
#include "test_grid_mosaic.h"

using namespace pgmosaic;

namespace
{

class AssetCatalog final : public ItemCatalog
{
public:
    std::vector<ItemRef> items; // mosaic order, top first
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks> empty;
    std::vector<ItemRef> FindItems(const Envelope&) override { return items; }
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
    FindAssetEmptyBlocks(const std::vector<std::int64_t>&) override
    {
        return empty;
    }
};

// A raster of `bands` bands of `type` whose pixel (x, y) of band b holds f(b, x, y), its corner
// at (x0, y0) of EPSG:32631 with `res` metre pixels.
template <typename F>
ItemRef MakeFile(const std::string& name, int w, int h, int bands, GDALDataType type, double x0,
                 double y0, double res, F f, std::optional<double> nodata = std::nullopt,
                 const std::vector<std::string>& options = {})
{
    const std::string path = "/vsimem/assets_" + name + ".tif";
    CPLStringList co;
    for (const auto& o : options)
        co.AddString(o.c_str());
    GDALDatasetUniquePtr ds(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
        path.c_str(), w, h, bands, type, co.List()));
    double gt[6] = {x0, res, 0, y0, 0, -res};
    ds->SetGeoTransform(gt);
    ds->SetProjection(Wkt32631().c_str());
    std::vector<double> v(static_cast<size_t>(w) * h);
    for (int b = 1; b <= bands; ++b)
    {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                v[static_cast<size_t>(y) * w + x] = f(b, x, y);
        if (nodata)
            ds->GetRasterBand(b)->SetNoDataValue(*nodata);
        EXPECT_EQ(ds->GetRasterBand(b)->RasterIO(GF_Write, 0, 0, w, h, v.data(), w, h,
                                                 GDT_Float64, 0, 0, nullptr),
                  CE_None);
    }
    ItemRef f0;
    f0.path = path;
    f0.srid = 32631;
    std::copy(gt, gt + 6, f0.gt.begin());
    f0.width = w;
    f0.height = h;
    return f0;
}

ItemRef Asset(std::int64_t item, const std::string& name, ItemRef file)
{
    file.id = item;
    file.asset = name;
    return file;
}

ItemRef MultiItem(std::int64_t id, std::vector<ItemRef> assets)
{
    ItemRef it;
    it.id = id;
    it.path = assets.at(0).path;
    it.srid = 32631;
    it.gt = assets[0].gt;
    it.width = assets[0].width;
    it.height = assets[0].height;
    for (auto& a : assets)
        a.id = id;
    it.assets = std::move(assets);
    return it;
}

// The mosaic "t" on a 1 m grid of 8 x 4 pixels with bands by asset.
MosaicInfo AssetMosaic(GDALDataType type, std::optional<double> nodata,
                       const std::vector<BandSource>& sources)
{
    MosaicInfo m = GridMosaic(type, nodata, 8, 4);
    m.bandCount = static_cast<int>(sources.size());
    m.bandSources = sources;
    return m;
}

class AssetsTest : public ::testing::Test
{
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }

    // The window (x, y, w, h) of mosaic bands `bands`, band after band, as doubles.
    std::vector<double> Read(const MosaicInfo& m, const Window& win, const std::vector<int>& bands,
                             ReadOptions options = {}, int bufW = 0, int bufH = 0)
    {
        CompositeReader reader(m, catalog, options, 4);
        const Request req{win, bufW ? bufW : win.w, bufH ? bufH : win.h};
        std::vector<double> out(static_cast<size_t>(req.bufW) * req.bufH * bands.size(), -999);
        BufferSpec buf{out.data(), GDT_Float64, sizeof(double),
                       static_cast<GSpacing>(sizeof(double)) * req.bufW,
                       static_cast<GSpacing>(sizeof(double)) * req.bufW * req.bufH};
        reader.Read(req, bands, buf);
        return out;
    }

    AssetCatalog catalog;
};

const std::vector<BandSource> kRedNirQa{{"red", "red", 1}, {"nir", "nir", 1}, {"qa", "qa", 1}};

} // namespace

TEST_F(AssetsTest, EachBandComesFromItsAssetsFile)
{
    // One file per band on the mosaic grid: red = 10 + x, nir = 20 + y, qa = 7.
    auto red = MakeFile("a_red", 8, 4, 1, GDT_UInt16, 0, 100, 1,
                        [](int, int x, int) { return 10 + x; });
    auto nir = MakeFile("a_nir", 8, 4, 1, GDT_UInt16, 0, 100, 1,
                        [](int, int, int y) { return 20 + y; });
    auto qa = MakeFile("a_qa", 8, 4, 1, GDT_UInt16, 0, 100, 1, [](int, int, int) { return 7; });
    catalog.items = {MultiItem(1, {Asset(1, "nir", nir), Asset(1, "qa", qa), Asset(1, "red", red)})};
    const MosaicInfo m = AssetMosaic(GDT_UInt16, std::nullopt, kRedNirQa);
    auto px = Read(m, {2, 1, 3, 2}, {2, 1, 3});
    EXPECT_EQ(px, (std::vector<double>{21, 21, 21, 22, 22, 22, // nir
                                       12, 13, 14, 12, 13, 14, // red
                                       7, 7, 7, 7, 7, 7}));    // qa
    // Every method reads the same files (mean of one item is its value).
    ReadOptions mean;
    mean.method = Method::Mean;
    EXPECT_EQ(Read(m, {2, 1, 3, 2}, {2, 1, 3}, mean), px);
}

TEST_F(AssetsTest, ABandTheItemLacksShowsTheItemBelowOrNodata)
{
    // The top item has red and nir, no qa; the lower one all three (qa 5 at x < 4 only).
    auto red1 = MakeFile("b_red1", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 1; });
    auto nir1 = MakeFile("b_nir1", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 2; });
    auto red2 = MakeFile("b_red2", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 9; });
    auto nir2 = MakeFile("b_nir2", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 9; });
    auto qa2 = MakeFile("b_qa2", 4, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 5; });
    catalog.items = {MultiItem(1, {Asset(1, "red", red1), Asset(1, "nir", nir1)}),
                     MultiItem(2, {Asset(2, "red", red2), Asset(2, "nir", nir2),
                                   Asset(2, "qa", qa2)})};
    for (const std::optional<double> nodata : {std::optional<double>(255.0),
                                               std::optional<double>()})
    {
        const MosaicInfo m = AssetMosaic(GDT_Byte, nodata, kRedNirQa);
        const double fill = nodata.value_or(0);
        auto px = Read(m, {2, 0, 4, 1}, {1, 2, 3});
        EXPECT_EQ(px, (std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2, 5, 5, fill, fill}));
        // Alone, the item's missing band is the fill value everywhere.
        catalog.items.resize(1);
        EXPECT_EQ(Read(m, {0, 0, 2, 1}, {3}), (std::vector<double>{fill, fill}));
        EXPECT_EQ(Read(m, {0, 0, 2, 1}, {3, 1}), (std::vector<double>{fill, fill, 1, 1}));
        ReadOptions count;
        count.method = Method::Count;
        EXPECT_EQ(Read(m, {0, 0, 2, 1}, {3, 1}, count), (std::vector<double>{0, 0, 1, 1}));
        catalog.items.push_back(MultiItem(2, {Asset(2, "red", red2), Asset(2, "nir", nir2),
                                              Asset(2, "qa", qa2)}));
    }
}

TEST_F(AssetsTest, AnAssetOfAnotherResolutionIsScaledAsAVrtSourceIs)
{
    // red at 1 m, nir at 2 m (4 x 2 pixels over the same 8 x 4 m): nearest repeats each nir
    // pixel over 2 x 2 mosaic pixels; a zoomed-out read takes the same pixels a VRT takes.
    auto red = MakeFile("c_red", 8, 4, 1, GDT_Int16, 0, 100, 1,
                        [](int, int x, int y) { return x + 10 * y; });
    auto nir = MakeFile("c_nir", 4, 2, 1, GDT_Int16, 0, 100, 2,
                        [](int, int x, int y) { return 100 + x + 10 * y; });
    catalog.items = {MultiItem(1, {Asset(1, "red", red), Asset(1, "nir", nir)})};
    const MosaicInfo m = AssetMosaic(GDT_Int16, std::nullopt, {{"red", "red", 1}, {"nir", "nir", 1}});
    auto px = Read(m, {1, 1, 4, 2}, {2, 1});
    EXPECT_EQ(px, (std::vector<double>{100, 101, 101, 102, 110, 111, 111, 112, //
                                       11, 12, 13, 14, 21, 22, 23, 24}));
    // The same read through a VRT of the two files (the nir source scaled onto the red grid).
    const char* vrt = "/vsimem/assets_c.vrt";
    {
        GDALDatasetUniquePtr r(GDALDataset::Open(red.path.c_str()));
        GDALDatasetUniquePtr n(GDALDataset::Open(nir.path.c_str()));
        const char* xml =
            "<VRTDataset rasterXSize='8' rasterYSize='4'>"
            "<VRTRasterBand dataType='Int16' band='1'><SimpleSource>"
            "<SourceFilename>/vsimem/assets_c_nir.tif</SourceFilename><SourceBand>1</SourceBand>"
            "<SrcRect xOff='0' yOff='0' xSize='4' ySize='2'/>"
            "<DstRect xOff='0' yOff='0' xSize='8' ySize='4'/></SimpleSource></VRTRasterBand>"
            "<VRTRasterBand dataType='Int16' band='2'><SimpleSource>"
            "<SourceFilename>/vsimem/assets_c_red.tif</SourceFilename><SourceBand>1</SourceBand>"
            "<SrcRect xOff='0' yOff='0' xSize='8' ySize='4'/>"
            "<DstRect xOff='0' yOff='0' xSize='8' ySize='4'/></SimpleSource></VRTRasterBand>"
            "</VRTDataset>";
        VSILFILE* fp = VSIFOpenL(vrt, "wb");
        VSIFWriteL(xml, 1, strlen(xml), fp);
        VSIFCloseL(fp);
    }
    GDALDatasetUniquePtr v(GDALDataset::Open(vrt));
    for (const Window win : {Window{0, 0, 8, 4}, Window{1, 1, 5, 3}})
        for (const int div : {1, 2})
        {
            const int bw = win.w / div, bh = win.h / div;
            std::vector<double> expected(static_cast<size_t>(bw) * bh * 2);
            ASSERT_EQ(v->RasterIO(GF_Read, win.x, win.y, win.w, win.h, expected.data(), bw, bh,
                                  GDT_Float64, 2, nullptr, 0, 0, 0, nullptr),
                      CE_None);
            EXPECT_EQ(Read(m, win, {2, 1}, {}, bw, bh), expected)
                << win.x << "," << win.y << " /" << div;
        }
}

TEST_F(AssetsTest, AssetsOfDifferentExtentsAndTypes)
{
    // An item whose qa file (Byte) covers the left half only, its red file (UInt16) all of it:
    // where qa has no file the item has no qa pixel and the item below shows.
    auto red = MakeFile("d_red", 8, 4, 1, GDT_UInt16, 0, 100, 1,
                        [](int, int, int) { return 1000; });
    auto qa = MakeFile("d_qa", 4, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 3; });
    auto redLow = MakeFile("d_red2", 8, 4, 1, GDT_UInt16, 0, 100, 1,
                           [](int, int, int) { return 2000; });
    auto qaLow = MakeFile("d_qa2", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 4; });
    catalog.items = {MultiItem(1, {Asset(1, "qa", qa), Asset(1, "red", red)}),
                     MultiItem(2, {Asset(2, "qa", qaLow), Asset(2, "red", redLow)})};
    const MosaicInfo m = AssetMosaic(GDT_UInt16, std::nullopt, kRedNirQa);
    EXPECT_EQ(Read(m, {2, 0, 4, 1}, {3, 1}),
              (std::vector<double>{3, 3, 4, 4, 1000, 1000, 1000, 1000}));
    // Without the lower item: no qa on the right, not even a 0 that looks valid.
    catalog.items.resize(1);
    ReadOptions count;
    count.method = Method::Count;
    EXPECT_EQ(Read(m, {2, 0, 4, 1}, {3}, count), (std::vector<double>{1, 1, 0, 0}));
}

TEST_F(AssetsTest, AssetsWithNodataAndFewerBandsThanTheMosaicTakes)
{
    // The visual file has 2 bands, the mosaic takes bands 1 and 3 of it: band 3 is missing
    // (nodata for the item), not an error. Nodata holes of band 1 show the item below.
    auto visual = MakeFile("e_vis", 8, 4, 2, GDT_Byte, 0, 100, 1,
                           [](int b, int x, int) { return x == 1 ? 0 : 10 * b; }, 0.0);
    auto low = MakeFile("e_low", 8, 4, 3, GDT_Byte, 0, 100, 1, [](int b, int, int) { return b; });
    catalog.items = {MultiItem(1, {Asset(1, "visual", visual)}), MultiItem(2, {Asset(2, "visual", low)})};
    const MosaicInfo m = AssetMosaic(GDT_Byte, 0.0, {{"v1", "visual", 1}, {"v3", "visual", 3}});
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {1, 2}), (std::vector<double>{10, 1, 10, 3, 3, 3}));
    // An asset that offers only some of its file's bands (assetBands) lacks the others.
    catalog.items[1].assets[0].assetBands = {1};
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {1, 2}), (std::vector<double>{10, 1, 10, 0, 0, 0}));
}

TEST_F(AssetsTest, AChangedAssetFileFailsTheReadNamingItsAsset)
{
    auto red = MakeFile("f_red", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 1; });
    ItemRef a = Asset(7, "red", red);
    a.bandTypes = {GDT_UInt16}; // recorded otherwise
    catalog.items = {MultiItem(7, {a})};
    const MosaicInfo m = AssetMosaic(GDT_Byte, std::nullopt, kRedNirQa);
    try
    {
        Read(m, {0, 0, 2, 1}, {1});
        FAIL() << "expected an error";
    }
    catch (const Error& e)
    {
        EXPECT_NE(std::string(e.what()).find("item 7, asset red (/vsimem/assets_f_red.tif) "
                                             "changed since it was registered"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(AssetsTest, BandListsTakeNamesNumbersAndTheBForm)
{
    const std::vector<std::string> names{"blue", "green", "red", "nir", "B05"};
    EXPECT_EQ(ParseBandList("nir,Red,green", 5, names), (std::vector<int>{4, 3, 2}));
    EXPECT_EQ(ParseBandList("b4, 3 ,b2", 5, names), (std::vector<int>{4, 3, 2}));
    EXPECT_EQ(ParseBandList("b05", 5, names), (std::vector<int>{5})); // the name wins
    try
    {
        ParseBandList("nir,swir", 5, names);
        FAIL() << "expected an error";
    }
    catch (const Error& e)
    {
        EXPECT_NE(std::string(e.what()).find("or band names (blue, green, red, nir, B05)"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(AssetsTest, MaskedPixelsAreTransparentAsNodataIs)
{
    // Top item: red 1, qa bits (x = 1: bit 3, cloud; x = 2: bit 4, shadow; x = 3: bit 0 only);
    // the item below: red 9, qa 0. With the mask "bit(qa, 3) or bit(qa, 4)" the cloud and
    // shadow pixels show the item below, under every method.
    auto red1 = MakeFile("m_red1", 8, 4, 1, GDT_UInt16, 0, 100, 1, [](int, int, int) { return 1; });
    auto qa1 = MakeFile("m_qa1", 8, 4, 1, GDT_UInt16, 0, 100, 1, [](int, int x, int) {
        return x == 1 ? 8 : x == 2 ? 16 : x == 3 ? 1 : 0;
    });
    auto red2 = MakeFile("m_red2", 8, 4, 1, GDT_UInt16, 0, 100, 1, [](int, int, int) { return 9; });
    auto qa2 = MakeFile("m_qa2", 8, 4, 1, GDT_UInt16, 0, 100, 1, [](int, int, int) { return 0; });
    catalog.items = {MultiItem(1, {Asset(1, "red", red1), Asset(1, "qa", qa1)}),
                     MultiItem(2, {Asset(2, "red", red2), Asset(2, "qa", qa2)})};
    MosaicInfo m = AssetMosaic(GDT_UInt16, std::nullopt, kRedNirQa);
    ReadOptions o;
    o.mask = "bit(qa, 3) or bit(qa, 4)";
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}, o), (std::vector<double>{1, 9, 9, 1, 1}));
    // The mosaic's stored mask is the default; a class list; mask=none turns it off
    m.mask = "qa in (8, 16)";
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}), (std::vector<double>{1, 9, 9, 1, 1}));
    ReadOptions none;
    none.mask = "none";
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}, none), (std::vector<double>{1, 1, 1, 1, 1}));
    // The qa band itself, read with the others, is masked too
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {3, 1}), (std::vector<double>{0, 0, 0, 1, 0, 1, 9, 9, 1, 1}));
    ReadOptions count;
    count.method = Method::Count;
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}, count), (std::vector<double>{2, 1, 1, 2, 2}));
    ReadOptions mean;
    mean.method = Method::Mean;
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}, mean), (std::vector<double>{5, 9, 9, 5, 5}));
    // Alone, a masked pixel is the fill value, and the coverage says so
    catalog.items.resize(1);
    m.nodata = 0;
    EXPECT_EQ(Read(m, {0, 0, 5, 1}, {1}), (std::vector<double>{1, 0, 0, 1, 1}));
    m.nodata.reset();
    CompositeReader reader(m, catalog, {}, 4);
    std::vector<GByte> cov(5, 7);
    reader.ReadCoverage({{0, 0, 5, 1}, 5, 1}, {cov.data(), GDT_Byte, 1, 5, 5});
    EXPECT_EQ(cov, (std::vector<GByte>{255, 0, 0, 255, 255}));
    // A bad mask fails naming it
    ReadOptions bad;
    bad.mask = "clouds > 1";
    EXPECT_THROW(CompositeReader(m, catalog, bad, 4), Error);
}

TEST_F(AssetsTest, AnItemWithoutTheMaskBandIsNotMasked)
{
    auto red = MakeFile("n_red", 8, 4, 1, GDT_Byte, 0, 100, 1, [](int, int, int) { return 4; });
    catalog.items = {MultiItem(1, {Asset(1, "red", red)})};
    ReadOptions o;
    o.mask = "qa > 0";
    EXPECT_EQ(Read(AssetMosaic(GDT_Byte, std::nullopt, kRedNirQa), {0, 0, 3, 1}, {1}, o),
              (std::vector<double>{4, 4, 4}));
}

namespace
{

ReadOptions Method_(const std::string& method)
{
    ReadOptions o;
    ParseMethodInto(method, o);
    return o;
}

} // namespace

TEST_F(AssetsTest, MedianPercentileAndStdevOfTheValidValues)
{
    // Five dates over 4 pixels; 0 is nodata. Pixel values per date (top first):
    //   x=0: 5 1 4 2 3    x=1: 10 0 30 0 20    x=2: 0 0 0 0 7    x=3: all nodata
    const double v[5][4] = {{5, 10, 0, 0}, {1, 0, 0, 0}, {4, 30, 0, 0}, {2, 0, 0, 0}, {3, 20, 7, 0}};
    catalog.items.clear();
    for (int t = 0; t < 5; ++t)
        catalog.items.push_back(MultiItem(
            t + 1, {Asset(t + 1, "red", MakeFile("s_red" + std::to_string(t), 4, 1, 1, GDT_UInt16,
                                                 0, 100, 1, [&](int, int x, int) { return v[t][x]; },
                                                 0.0))}));
    const MosaicInfo m = AssetMosaic(GDT_UInt16, 0.0, {{"red", "red", 1}});
    EXPECT_EQ(Read(m, {0, 0, 4, 1}, {1}, Method_("median")), (std::vector<double>{3, 20, 7, 0}));
    EXPECT_EQ(Read(m, {0, 0, 4, 1}, {1}, Method_("percentile:25")),
              (std::vector<double>{2, 15, 7, 0}));
    EXPECT_EQ(Read(m, {0, 0, 4, 1}, {1}, Method_("percentile:100")),
              (std::vector<double>{5, 30, 7, 0}));
    auto sd = Read(m, {0, 0, 4, 1}, {1}, Method_("stdev"));
    EXPECT_NEAR(sd[0], std::sqrt(2.0), 1e-12);
    EXPECT_NEAR(sd[1], std::sqrt(200.0 / 3), 1e-12);
    EXPECT_EQ(sd[2], 0);
    EXPECT_EQ(sd[3], 0); // the fill value
    // Output types: fractional medians are kept
    EXPECT_EQ(MethodDataType(Method::Median, GDT_UInt16), GDT_Float32);
    EXPECT_EQ(MethodDataType(Method::Stdev, GDT_Int32), GDT_Float64);
    EXPECT_EQ(MethodDataType(Method::Quality, GDT_UInt16), GDT_UInt16);
    catalog.items.resize(4);
    EXPECT_EQ(Read(m, {0, 0, 4, 1}, {1}, Method_("median")), (std::vector<double>{3, 20, 0, 0}));
    // max_items: only the first items in mosaic order
    ReadOptions two = Method_("median");
    two.maxItems = 2;
    EXPECT_EQ(Read(m, {0, 0, 4, 1}, {1}, two), (std::vector<double>{3, 10, 0, 0}));
}

TEST_F(AssetsTest, QualityTakesEveryBandFromTheBestItem)
{
    // Three dates of red and nir; NDVI per pixel decides, all bands from the winner.
    //   date 1 (top): red 10 nir 30 (ndvi .5)  |  x=1: red 10 nir 10 (0)  | x=2: masked (qa 8)
    //   date 2      : red 20 nir 20 (0)        |  x=1: red 5  nir 15 (.5) | x=2: red 1 nir 9
    //   date 3      : red 10 nir 30 (.5, tie)  |  x=1: nodata red         | x=2: red 2 nir 2
    auto mk = [&](const std::string& n, std::vector<double> vals) {
        return MakeFile("q_" + n, 3, 1, 1, GDT_UInt16, 0, 100, 1,
                        [vals](int, int x, int) { return vals[static_cast<size_t>(x)]; }, 0.0);
    };
    catalog.items = {
        MultiItem(1, {Asset(1, "red", mk("r1", {10, 10, 3})), Asset(1, "nir", mk("n1", {30, 10, 3})),
                      Asset(1, "qa", mk("a1", {1, 1, 8}))}),
        MultiItem(2, {Asset(2, "red", mk("r2", {20, 5, 1})), Asset(2, "nir", mk("n2", {20, 15, 9})),
                      Asset(2, "qa", mk("a2", {1, 1, 1}))}),
        MultiItem(3, {Asset(3, "red", mk("r3", {10, 0, 2})), Asset(3, "nir", mk("n3", {31, 40, 2})),
                      Asset(3, "qa", mk("a3", {1, 1, 1}))})};
    catalog.items[0].acquired = 100;
    catalog.items[1].acquired = 300;
    catalog.items[2].acquired = 200;
    catalog.items[0].cloudCover = 50;
    catalog.items[1].cloudCover = 5;
    catalog.items[2].cloudCover = 20;
    MosaicInfo m = AssetMosaic(GDT_UInt16, 0.0, kRedNirQa);
    m.mask = "qa = 8";
    // Greenest: x=0 date 3 (ndvi .51) over date 1 (.5); x=1 date 2; x=2 date 2 (.8)
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {1, 2}, Method_("quality:(nir - red) / (nir + red)")),
              (std::vector<double>{10, 5, 1, 31, 15, 9}));
    // Most recent clear: date 2 everywhere it is valid
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {1}, Method_("quality:acquired")),
              (std::vector<double>{20, 5, 1}));
    // Least cloudy, by an item column (a number per item)
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {2}, Method_("quality:-cloud_cover")),
              (std::vector<double>{20, 15, 9}));
    // Ties keep the item above: a constant score takes the first valid one (first method)
    EXPECT_EQ(Read(m, {0, 0, 3, 1}, {1, 2}, Method_("quality:1")),
              Read(m, {0, 0, 3, 1}, {1, 2}, Method_("first")));
    EXPECT_THROW(Read(m, {0, 0, 3, 1}, {1}, Method_("quality:swir")), Error);
    EXPECT_THROW(Method_("percentile:101"), Error);
    EXPECT_THROW(Method_("median:3"), Error);
}

TEST_F(AssetsTest, LargeWindowsAreComposedInStripsWithTheSamePixels)
{
    // Three 1100 x 1000 items: a window over 1M pixels is composed in strips.
    catalog.items.clear();
    for (int t = 0; t < 3; ++t)
        catalog.items.push_back(MultiItem(
            t + 1, {Asset(t + 1, "red",
                          MakeFile("big" + std::to_string(t), 1100, 1000, 1, GDT_UInt16, 0, 100, 1,
                                   [t](int, int x, int y) { return (x * 7 + y * 13 + t * 101) % 997 + 1; },
                                   0.0, {"TILED=YES"}))}));
    MosaicInfo m = AssetMosaic(GDT_UInt16, 0.0, {{"red", "red", 1}});
    m.width = 1100;
    m.height = 1000;
    for (const char* method : {"median", "mean", "quality:red"})
    {
        const auto whole = Read(m, {0, 0, 1100, 1000}, {1}, Method_(method));
        for (const Window w : {Window{0, 950, 1100, 50}, Window{500, 0, 100, 1000}})
        {
            const auto part = Read(m, w, {1}, Method_(method));
            for (int y = 0; y < w.h; ++y)
                for (int x = 0; x < w.w; ++x)
                    ASSERT_EQ(part[static_cast<size_t>(y) * w.w + x],
                              whole[static_cast<size_t>(w.y + y) * 1100 + w.x + x])
                        << method << " " << x << "," << y;
        }
    }
}

TEST_F(AssetsTest, VirtualBandsAreComputedFromTheComposedBands)
{
    auto red = MakeFile("v_red", 3, 1, 1, GDT_UInt16, 0, 100, 1,
                        [](int, int x, int) { return x == 2 ? 0 : 10 + 10 * x; }, 0.0);
    auto nir = MakeFile("v_nir", 3, 1, 1, GDT_UInt16, 0, 100, 1, [](int, int, int) { return 30; },
                        0.0);
    catalog.items = {MultiItem(1, {Asset(1, "red", red), Asset(1, "nir", nir)})};
    const MosaicInfo m = AssetMosaic(GDT_UInt16, 0.0, kRedNirQa);
    const auto outputs = ParseOutputBands("b2, red ,ndvi:(nir-red)/(nir+red),x:Int16:bit(nir, 1)*7",
                                          m, {"stored:nir*2"});
    ASSERT_EQ(outputs.size(), 4u);
    EXPECT_EQ(outputs[0].band, 2);
    EXPECT_EQ(outputs[2].band, 0);
    EXPECT_EQ(outputs[2].type, GDT_Float32);
    EXPECT_EQ(outputs[3].type, GDT_Int16);
    CompositeReader reader(m, catalog, {}, 4);
    std::vector<double> out(3 * 4, -1);
    ReadOutputBands(outputs, {0, 1, 2, 3}, 3, 1, {out.data(), GDT_Float64, 8, 24, 24}, m.nodata,
                    [&](const std::vector<int>& bands, const BufferSpec& buf) {
                        reader.Read({{0, 0, 3, 1}, 3, 1}, bands, buf);
                    });
    EXPECT_EQ(out, (std::vector<double>{30, 30, 30, 10, 20, 0, 0.5, 0.2, 0, 7, 7, 7}));
    // Stored virtual bands follow the mosaic's by default, and are named in bands=
    const auto all = ParseOutputBands("", m, {"stored:nir*2"});
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[3].name, "stored");
    EXPECT_EQ(ParseOutputBands("stored,nir", m, {"stored:nir*2"})[0].band, 0);
    for (const char* bad : {"ndvi:", "1x:red", "n:Complex:red", "n:swir", "red,red", "v:b9"})
        EXPECT_THROW(ParseOutputBands(bad, m), Error) << bad;
}

// Stack methods take the numbers under a pixel, as numpy's nanmedian and nanpercentile: a NaN
// of a Float32 item without nodata is no value. Sorting with NaN among the values left them
// unsorted, so the median depended on the items' order (NaN for one order, 1 for another).
TEST(StackMethods, NaNIsNoValueWhateverTheItemsOrder)
{
    const float nan = std::nanf("");
    const std::vector<std::vector<float>> orders = {{3, nan, 1}, {nan, 3, 1}, {1, 3, nan}};
    for (const auto& order : orders)
        for (const Method method : {Method::Median, Method::Percentile, Method::Stdev})
        {
            std::vector<ItemPixels> items(order.size());
            for (size_t i = 0; i < order.size(); ++i)
            {
                items[i].dst = Window{0, 0, 1, 1};
                items[i].type = GDT_Float32;
                items[i].values = reinterpret_cast<const GByte*>(&order[i]);
            }
            double out = -1;
            BufferSpec buf{&out, GDT_Float64, sizeof(double), sizeof(double), sizeof(double)};
            ComposeStack(method, 100, items, 1, 1, 1, -9999, buf, 1, Cancel{});
            const double expected = method == Method::Median ? 2 : method == Method::Percentile ? 3 : 1;
            EXPECT_EQ(out, expected) << "method " << static_cast<int>(method) << ", values "
                                     << order[0] << " " << order[1] << " " << order[2];
        }
    // Only NaN under a pixel: the fill value, as where no item has a value.
    const float only = nan;
    std::vector<ItemPixels> items(1);
    items[0].dst = Window{0, 0, 1, 1};
    items[0].type = GDT_Float32;
    items[0].values = reinterpret_cast<const GByte*>(&only);
    double out = -1;
    BufferSpec buf{&out, GDT_Float64, sizeof(double), sizeof(double), sizeof(double)};
    ComposeStack(Method::Median, 50, items, 1, 1, 1, -9999, buf, 1, Cancel{});
    EXPECT_EQ(out, -9999);
}
