// PNG files written by EncodePng read back through GDAL's PNG driver with the same pixels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gdal_priv.h"

#include "error.h"
#include "png.h"

using namespace pgmosaic;

TEST(Png, EveryBandCountReadsBackThroughGdal)
{
    GDALAllRegister();
    const int w = 37, h = 23; // rows of odd lengths, every filter has work
    for (int bands = 1; bands <= 4; ++bands)
    {
        std::vector<GByte> planes(static_cast<size_t>(w) * h * bands);
        for (size_t i = 0; i < planes.size(); ++i)
            planes[i] = static_cast<GByte>((i * 7919 + (i / w) * 31) % 251);
        const std::vector<GByte> png = EncodePng(planes.data(), w, h, bands);
        const std::string path = "/vsimem/test_png_" + std::to_string(bands) + ".png";
        VSIFCloseL(VSIFileFromMemBuffer(path.c_str(), const_cast<GByte*>(png.data()),
                                        static_cast<vsi_l_offset>(png.size()), FALSE));
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str()));
        ASSERT_TRUE(ds) << bands;
        EXPECT_STREQ(ds->GetDriver()->GetDescription(), "PNG");
        ASSERT_EQ(ds->GetRasterCount(), bands);
        std::vector<GByte> back(planes.size());
        ASSERT_EQ(ds->RasterIO(GF_Read, 0, 0, w, h, back.data(), w, h, GDT_Byte, bands, nullptr,
                               0, 0, 0, nullptr),
                  CE_None);
        EXPECT_EQ(back, planes) << bands << " bands";
        if (bands == 2 || bands == 4)
        {
            EXPECT_EQ(ds->GetRasterBand(bands)->GetColorInterpretation(), GCI_AlphaBand);
        }
        ds.reset();
        VSIUnlink(path.c_str());
    }
    EXPECT_THROW(EncodePng(nullptr, 4, 4, 5), Error);
}

// Into a caller's buffer: the same bytes as the vector form, image after image (the kept
// compressor and filter buffer carry nothing over, a level change included), within PngBound;
// a buffer under PngBound is refused before anything is written.
TEST(Png, IntoABufferAsTheVectorFormImageAfterImage)
{
    const int w = 300, h = 41;
    std::vector<GByte> a(static_cast<size_t>(w) * h * 4), b(a.size());
    for (size_t i = 0; i < a.size(); ++i)
    {
        a[i] = static_cast<GByte>((i * 13) % 256);
        b[i] = static_cast<GByte>((i * i) % 253);
    }
    const std::vector<GByte> pngA = EncodePng(a.data(), w, h, 4);
    const std::vector<GByte> pngB6 = EncodePng(b.data(), w, h, 3, 6);
    const size_t bound = PngBound(w, h, 4);
    std::vector<GByte> out(bound, 0xee);
    const size_t n = EncodePng(a.data(), w, h, 4, out.data(), out.size());
    ASSERT_LE(n, bound);
    EXPECT_EQ(std::vector<GByte>(out.begin(), out.begin() + static_cast<long>(n)), pngA);
    const size_t n6 = EncodePng(b.data(), w, h, 3, out.data(), out.size(), 6);
    EXPECT_EQ(std::vector<GByte>(out.begin(), out.begin() + static_cast<long>(n6)), pngB6);
    EXPECT_EQ(EncodePng(a.data(), w, h, 4), pngA);
    std::vector<GByte> small(PngBound(w, h, 3) - 1, 0xee);
    EXPECT_THROW(EncodePng(b.data(), w, h, 3, small.data(), small.size()), Error);
    EXPECT_EQ(small, std::vector<GByte>(small.size(), 0xee));
    EXPECT_THROW(PngBound(0, 4, 1), Error);
}

// Pixel-interleaved rows encode to the very bytes of the same image given as planes, at every
// band count (the rows are filtered where they lie, the row above included).
TEST(Png, InterleavedPixelsAsTheirPlanes)
{
    const int w = 53, h = 19;
    for (int bands = 1; bands <= 4; ++bands)
    {
        const size_t plane = static_cast<size_t>(w) * h;
        std::vector<GByte> planes(plane * bands), pixels(planes.size());
        for (size_t i = 0; i < planes.size(); ++i)
            planes[i] = static_cast<GByte>((i * 7919 + (i / w) * 31 + (i % 5) * 17) % 256);
        for (size_t p = 0; p < plane; ++p)
            for (int b = 0; b < bands; ++b)
                pixels[p * bands + b] = planes[b * plane + p];
        const std::vector<GByte> expected = EncodePng(planes.data(), w, h, bands);
        std::vector<GByte> out(PngBound(w, h, bands));
        const size_t n = EncodePngPixels(pixels.data(), w, h, bands, out.data(), out.size());
        out.resize(n);
        EXPECT_EQ(out, expected) << bands << " bands";
    }
    std::vector<GByte> out(16);
    EXPECT_THROW(EncodePngPixels(nullptr, 4, 4, 5, out.data(), out.size()), Error);
}
