// What the compositing engine needs from the catalog. The driver implements it over libpq, the
// backend over SPI; the engine never sees either.
#pragma once

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "gdal.h"
#include "grid.h"

namespace pgmosaic
{

struct MosaicInfo
{
    std::int64_t id = 0;
    std::string name;
    int srid = 0;
    std::string srsWkt;
    GeoTransform gt{}; // of the mosaic's pixel (0, 0)
    int width = 0, height = 0;
    int bandCount = 0;
    GDALDataType dataType = GDT_Unknown;
    std::optional<double> nodata;
    std::int64_t itemCount = 0;
    std::vector<std::string> bandDescriptions; // per band, from the first item (may be empty)
    std::vector<std::string> colorInterp;      // GDAL names, per band
    std::string defaultMethod;                 // the method when a reader names none
};

// One registered raster as the reader needs it.
struct ItemRef
{
    std::int64_t id = 0;
    std::string path; // resolved, openable by GDAL
    int srid = 0;
    GeoTransform gt{};
    int width = 0, height = 0;
    // A mosaic-wide overview tile (DAD): it stands for every item under it, so a read at its
    // level skips those items.
    bool authoritative = false;
};

class ItemCatalog
{
public:
    virtual ~ItemCatalog() = default;
    // Items whose footprint intersects `env` (mosaic SRS), in mosaic order: the item drawn on
    // top comes first.
    virtual std::vector<ItemRef> FindItems(const Envelope& env) = 0;
    // The up-to-date mosaic-wide overview tiles of `level` (factor 2^level) intersecting `env`.
    virtual std::vector<ItemRef> FindOverviewTiles(const Envelope& /*env*/, int /*level*/)
    {
        return {};
    }
    // The full-resolution blocks (column, row; sorted) without a valid pixel of each of the
    // items `ids` that has any: the DRAD's empty tiles. Reads fill them with nodata instead of
    // decoding them.
    virtual std::map<std::int64_t, std::vector<std::pair<int, int>>>
    EmptyBlocks(const std::vector<std::int64_t>& /*ids*/)
    {
        return {};
    }
};

} // namespace pgmosaic
