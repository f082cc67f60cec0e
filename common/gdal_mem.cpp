#include "gdal_mem.h"

#include <cstdint>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "gdal_alg.h"
#include "memdataset.h"

#include "error.h"

namespace pgmosaic
{

namespace
{
constexpr size_t kLargePixelBuffer = size_t{8} << 20;
}

void AdviseHugePages(void* p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
    if (p == nullptr || n < kLargePixelBuffer)
        return;
    const std::uintptr_t start = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(kHuge - 1);
    if (end > start)
        madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE); // advice only
#else
    (void)p;
    (void)n;
#endif
}

GDALDatasetUniquePtr MemRaster(int w, int h, int bands, GDALDataType type)
{
    GDALDatasetUniquePtr ds(MEMDataset::Create("", w, h, bands, type, nullptr));
    if (!ds)
        throw Error(ErrorKind::Internal, "cannot allocate a raster of " + std::to_string(w) +
                                             " x " + std::to_string(h) + " pixels x " +
                                             std::to_string(bands) + " bands");
    return ds;
}

std::vector<GByte> InsideMask(const GeoTransform& gt, int w, int h, const OGRGeometry& area)
{
    std::vector<GByte> inside(static_cast<size_t>(w) * h, 0);
    OGRLinearRing ring;
    const double px[5] = {0, 1, 1, 0, 0}, py[5] = {0, 0, 1, 1, 0};
    for (int k = 0; k < 5; ++k)
    {
        const double c = px[k] * w, r = py[k] * h;
        ring.addPoint(gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]);
    }
    OGRPolygon window;
    window.addRing(&ring);
    std::unique_ptr<OGRGeometry> clipped(area.Intersection(&window));
    if (!clipped)
        throw Error(ErrorKind::InvalidParameter, "invalid area geometry");
    if (clipped->IsEmpty())
        return inside;
    GDALDatasetUniquePtr mask = MemRaster(w, h, 1, GDT_Byte);
    GeoTransform copy = gt;
    mask->SetGeoTransform(copy.data());
    int bandList[1] = {1};
    double burn[1] = {1};
    OGRGeometryH geoms[1] = {OGRGeometry::ToHandle(clipped.get())};
    GdalErrorCollector errors;
    if (GDALRasterizeGeometries(mask.get(), 1, bandList, 1, geoms, nullptr, nullptr, burn,
                                nullptr, nullptr, nullptr) != CE_None ||
        mask->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, inside.data(), w, h, GDT_Byte, 0,
                                         0, nullptr) != CE_None)
        throw Error(ErrorKind::Internal, "cannot rasterize the area: " + errors.Message());
    return inside;
}

CollectedLayer::CollectedLayer(OGRwkbGeometryType type) : m_poDefn(new OGRFeatureDefn("regions"))
{
    m_poDefn->Reference();
    m_poDefn->SetGeomType(type);
    OGRFieldDefn field("v", OFTInteger);
    m_poDefn->AddFieldDefn(&field);
    SetDescription("regions");
}

CollectedLayer::~CollectedLayer()
{
    m_apoFeatures.clear();
    m_poDefn->Release();
}

OGRFeature* CollectedLayer::GetNextFeature()
{
    if (m_nNext >= m_apoFeatures.size())
        return nullptr;
    return m_apoFeatures[m_nNext++]->Clone();
}

int CollectedLayer::TestCapability(const char* cap)
{
    return EQUAL(cap, OLCSequentialWrite);
}

OGRErr CollectedLayer::ICreateFeature(OGRFeature* feature)
{
    std::unique_ptr<OGRFeature> copy(feature->Clone());
    copy->SetFID(static_cast<GIntBig>(m_apoFeatures.size()));
    feature->SetFID(copy->GetFID());
    m_apoFeatures.push_back(std::move(copy));
    return OGRERR_NONE;
}

} // namespace pgmosaic
