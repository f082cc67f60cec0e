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
