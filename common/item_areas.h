// Item lookups answered from larger areas looked up once: the items of the cells of a coarse
// grid (kAreaCellPixels mosaic pixels a side) that a window meets are fetched with their
// footprints, and a window inside them gets those whose footprint it intersects, in the same
// order (the order is the mosaic's, not the window's). Both catalogs use it: the driver's
// between reads (a server keeps the dataset open), the backend's within one call (value() at
// a thousand points asks items() once per cell instead of once per point).
//
// Only for the plain lookup (no where=, time=, sort=, ids= or asof=: sort=center depends on
// the window) and with GEOS, so footprints are compared as PostGIS's ST_Intersects does (OGR
// compares envelopes without).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog.h"
#include "catalog_sql.h"

class OGRGeometry;

namespace pgmosaic
{

constexpr int kAreaCellPixels = 4096;
constexpr size_t kMaxCachedAreas = 16;
constexpr size_t kMaxCachedAreaItems = 5000;

class ItemAreas
{
public:
    // An item of an area with its footprint: the text of FindItemsSql's kFootprintColumn (hex
    // WKB), nullopt when it has none (it is then in no window).
    struct Row
    {
        ItemRef item;
        std::optional<std::string> footprint;
    };
    // The rows of the items of `area` in mosaic order (FindItemsSql(..., footprint = true)
    // with FindItemsParams over `area`).
    using LookUp = std::function<std::vector<Row>(const Envelope& area)>;

    // Whether windows of `mosaic` read with `query` may be answered from areas.
    static bool Usable(const MosaicInfo& mosaic, const ItemQuery& query);

    explicit ItemAreas(const MosaicInfo& mosaic);
    ~ItemAreas();
    ItemAreas(const ItemAreas&) = delete;
    ItemAreas& operator=(const ItemAreas&) = delete;

    // The items whose footprint intersects `env`, in mosaic order, from an area looked up
    // before or from lookUp(the cells `env` meets); nullopt for a window that is not a finite
    // rectangle (the caller asks the catalog). Throws Error(Catalog) on an unreadable
    // footprint, and what lookUp throws.
    std::optional<std::vector<ItemRef>> Find(const Envelope& env, const LookUp& lookUp);
    // Forgets every area.
    void Clear();
    bool Empty() const { return m_aoAreas.empty(); }
    // The ids of the items of the areas kept.
    std::vector<std::int64_t> Ids() const;

private:
    struct Item;
    struct Area;
    Envelope AreaOf(const Envelope& env) const; // the cells `env` meets, as one envelope
    const MosaicInfo& m_oMosaic;
    std::vector<std::unique_ptr<Area>> m_aoAreas{}; // most recently used first
};

} // namespace pgmosaic
