#include "gdal_mem.h"

#include <string>

#include "memdataset.h"

#include "error.h"

namespace pgmosaic
{

GDALDatasetUniquePtr MemRaster(int w, int h, int bands, GDALDataType type)
{
    GDALDatasetUniquePtr ds(MEMDataset::Create("", w, h, bands, type, nullptr));
    if (!ds)
        throw Error(ErrorKind::Internal, "cannot allocate a raster of " + std::to_string(w) +
                                             " x " + std::to_string(h) + " pixels x " +
                                             std::to_string(bands) + " bands");
    return ds;
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
