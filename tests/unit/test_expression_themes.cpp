// The band expression language and thematic polygons.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gdal_priv.h"

#include "error.h"
#include "inspect/expression.h"
#include "inspect/themes.h"

using namespace pgmosaic;

namespace
{

std::vector<double> Eval(const std::string& text, const std::vector<std::vector<double>>& bands)
{
    std::vector<const double*> p;
    for (const auto& b : bands)
        p.push_back(b.data());
    return Expression::Parse(text).Evaluate(p, bands[0].size());
}

std::string ParseError(const std::string& text)
{
    try
    {
        Expression::Parse(text);
    }
    catch (const Error& e)
    {
        return e.what();
    }
    return "parsed";
}

} // namespace

TEST(Expression, ArithmeticPrecedenceAndComparisons)
{
    const std::vector<std::vector<double>> b{{1, 2, 3}, {10, 20, 30}};
    EXPECT_EQ(Eval("b1 + b2 * 2", b), (std::vector<double>{21, 42, 63}));
    EXPECT_EQ(Eval("(b1 + b2) * 2", b), (std::vector<double>{22, 44, 66}));
    EXPECT_EQ(Eval("-b1 + 1", b), (std::vector<double>{0, -1, -2}));
    EXPECT_EQ(Eval("b2 / b1 >= 10", b), (std::vector<double>{1, 1, 1}));
    EXPECT_EQ(Eval("b1 > 1 and b2 < 30", b), (std::vector<double>{0, 1, 0}));
    EXPECT_EQ(Eval("b1 = 1 or not b2 <> 30", b), (std::vector<double>{1, 0, 1}));
    EXPECT_EQ(Eval("b1 \xC3\x97 2 \xC3\xB7 4", b), (std::vector<double>{0.5, 1, 1.5}));
}

TEST(Expression, NormalisedDifferenceAndDivisionByZero)
{
    // Water: (b2 - b4) / (b2 + b4) > 0.1; 0/0 is no match.
    const std::vector<std::vector<double>> b{{0, 0, 0}, {50, 10, 0}, {0, 0, 0}, {10, 50, 0}};
    EXPECT_EQ(Eval("(b2-b4)/(b2+b4) > 0.1", b), (std::vector<double>{1, 0, 0}));
}

TEST(Expression, ErrorsNameThePosition)
{
    EXPECT_EQ(ParseError("b1 >"), "invalid expression \"b1 >\" at character 5: unexpected end");
    EXPECT_EQ(ParseError("b1 > 2)"),
              "invalid expression \"b1 > 2)\" at character 7: unexpected \")\"");
    EXPECT_NE(ParseError("system('x')").find("unknown name \"system\""), std::string::npos);
    EXPECT_NE(ParseError("(x) > 1").find("unknown name \"x\""), std::string::npos);
    EXPECT_NE(ParseError("'x' > 1").find("expected a number, a band"), std::string::npos);
    EXPECT_NE(ParseError("b0 > 1").find("band numbers start at b1"), std::string::npos);
    EXPECT_NE(ParseError("b1x > 1").find("unknown name"), std::string::npos);
    EXPECT_NE(
        ParseError(std::string(100, '(') + "1" + std::string(100, ')')).find("nested too deeply"),
        std::string::npos);
    EXPECT_EQ(Expression::Parse("b3 + b12 > 0").MaxBand(), 12);
}

TEST(Expression, NamesBitsListsAndNamedValues)
{
    const std::vector<std::string> names{"blue", "red", "nir", "qa"};
    const std::vector<double> red{10, 20, 30}, nir{30, 20, 10}, qa{0, 8, 26};
    const std::vector<const double*> bands{nullptr, red.data(), nir.data(), qa.data()};
    auto eval = [&](const std::string& text, const std::vector<double>& vars = {}) {
        return Expression::Parse(text, names, {"cloud_cover", "acquired"}).Evaluate(bands, 3, vars);
    };
    EXPECT_EQ(eval("(NIR - red) / (nir + red)"), (std::vector<double>{0.5, 0, -0.5}));
    EXPECT_EQ(eval("b2 + b3"), (std::vector<double>{40, 40, 40})); // numbers still work
    EXPECT_EQ(eval("qa & 26 != 0"), (std::vector<double>{0, 1, 1}));
    EXPECT_EQ(eval("qa & 2"), (std::vector<double>{0, 0, 2}));
    EXPECT_EQ(eval("qa | 1"), (std::vector<double>{1, 9, 27}));
    EXPECT_EQ(eval("bit(qa, 3)"), (std::vector<double>{0, 1, 1}));
    EXPECT_EQ(eval("bit(qa, 1) or bit(qa, 4)"), (std::vector<double>{0, 0, 1}));
    EXPECT_EQ(eval("qa in (8, 9, 10)"), (std::vector<double>{0, 1, 0}));
    EXPECT_EQ(eval("not red in (10, -1, 30)"), (std::vector<double>{0, 1, 0}));
    EXPECT_EQ(eval("nir - cloud_cover", {5, 0}), (std::vector<double>{25, 15, 5}));
    // Bands and named values used
    const Expression e = Expression::Parse("nir > 2 and bit(qa, 1) and acquired > 0", names,
                                           {"cloud_cover", "acquired"});
    EXPECT_EQ(e.Bands(), (std::vector<int>{3, 4}));
    EXPECT_EQ(e.MaxBand(), 4);
    EXPECT_FALSE(e.UsesVariable(0));
    EXPECT_TRUE(e.UsesVariable(1));
    // A band that was not read is refused, not dereferenced
    try
    {
        Expression::Parse("blue + 1", names).Evaluate(bands, 3);
        FAIL() << "expected an error";
    }
    catch (const Error& err)
    {
        EXPECT_NE(std::string(err.what()).find("uses b1, which was not read"), std::string::npos);
    }
    EXPECT_NE(ParseError("swir > 1").find("unknown name \"swir\""), std::string::npos);
    EXPECT_NE(ParseError("b4 in 3").find("expected \"(\" after in"), std::string::npos);
    EXPECT_NE(ParseError("bit(b1)").find("bit takes a value and a bit number"),
              std::string::npos);
}

TEST(Themes, CloudPolygonsMatchThePixelCount)
{
    GDALAllRegister();
    auto* drv = GetGDALDriverManager()->GetDriverByName("MEM");
    GDALDatasetUniquePtr ds(drv->Create("", 100, 80, 2, GDT_Byte, nullptr));
    double gt[6] = {0, 10, 0, 800, 0, -10};
    ds->SetGeoTransform(gt);
    // Two bright blobs ("clouds") and one pixel bright in b1 only.
    std::vector<GByte> b1(100 * 80, 50), b2(100 * 80, 50);
    std::int64_t expected = 0;
    for (int y = 0; y < 80; ++y)
        for (int x = 0; x < 100; ++x)
        {
            const bool cloud = ((x - 25) * (x - 25) + (y - 20) * (y - 20) < 100) ||
                               (x >= 60 && x < 90 && y >= 50 && y < 70);
            if (cloud)
            {
                b1[y * 100 + x] = b2[y * 100 + x] = 230;
                ++expected;
            }
        }
    b1[79 * 100 + 0] = 250;
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 100, 80, b1.data(), 100, 80, GDT_Byte,
                                             0, 0, nullptr),
              CE_None);
    ASSERT_EQ(ds->GetRasterBand(2)->RasterIO(GF_Write, 0, 0, 100, 80, b2.data(), 100, 80, GDT_Byte,
                                             0, 0, nullptr),
              CE_None);
    ThemeResult r = ComputeThemePolygons(ds.get(), Expression::Parse("b1 > 200 and b2 > 200"));
    EXPECT_EQ(r.pixels, expected);
    EXPECT_DOUBLE_EQ(r.area, expected * 100.0);
    ASSERT_EQ(r.polygons.size(), 2u);
    EXPECT_EQ(r.polygons[0].pixels + r.polygons[1].pixels, expected);
    EXPECT_FALSE(r.approximate);
    EXPECT_THROW(ComputeThemePolygons(ds.get(), Expression::Parse("b3 > 0")), Error);
}
