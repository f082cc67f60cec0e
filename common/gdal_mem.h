// In-memory rasters and layers that do not go through GDAL's driver list. In the backend the
// list is not pgmosaic's to keep: PostGIS raster deregisters every driver that its
// postgis.gdal_enabled_drivers does not name (MEM and Memory included), for the whole process.
#pragma once

#include <memory>
#include <vector>

#include "gdal_priv.h"
#include "ogrsf_frmts.h"

#include "types/grid.h"

namespace pgmosaic
{

// Asks Linux to back the whole 2 MB pages of [p, p + n) with huge pages (transparent huge
// pages in "madvise" mode, Debian's default), for a buffer of 8 MB or more about to be written:
// otherwise its first writes fault it in 4 kB at a time, which on this project's virtual
// machines cost 200 ms for 50 MB (12 ms with huge pages). Does nothing elsewhere or when the
// kernel says no.
void AdviseHugePages(void* p, size_t n);

// A MEM raster of w x h pixels, bands of `type`. Throws Error(Internal) when it cannot be
// allocated.
GDALDatasetUniquePtr MemRaster(int w, int h, int bands, GDALDataType type);

// Where the pixel centres of a w x h raster with transform `gt` fall inside `area` (its
// coordinates): 1 inside, 0 outside, row after row. The area is clipped to the raster first
// (GDAL's rasterizer saturates on coordinates far outside: an area of +-1e300 burnt nothing).
// Throws Error on an invalid geometry.
std::vector<GByte> InsideMask(const GeoTransform& gt, int w, int h, const OGRGeometry& area);

// An in-memory layer that keeps the features written to it (GDALPolygonize's output), with one
// integer field "v".
class CollectedLayer final : public OGRLayer
{
public:
    explicit CollectedLayer(OGRwkbGeometryType type);
    ~CollectedLayer() override;
    OGRFeatureDefn* GetLayerDefn() override { return m_poDefn; }
    void ResetReading() override { m_nNext = 0; }
    OGRFeature* GetNextFeature() override;
    int TestCapability(const char* cap) override;
    std::vector<std::unique_ptr<OGRFeature>>& Features() { return m_apoFeatures; }

protected:
    OGRErr ICreateFeature(OGRFeature* feature) override;

private:
    OGRFeatureDefn* m_poDefn = nullptr;
    std::vector<std::unique_ptr<OGRFeature>> m_apoFeatures{};
    size_t m_nNext = 0;
};

} // namespace pgmosaic
