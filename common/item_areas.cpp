#include "item_areas.h"

#include <algorithm>
#include <cmath>

#include "cpl_string.h"
#include "ogr_api.h"
#include "ogr_geometry.h"

#include "error.h"

namespace pgmosaic
{

struct ItemAreas::Item
{
    ItemRef item;
    std::unique_ptr<OGRGeometry> footprint; // null: none (never in a window)
    OGREnvelope bounds{};
    // A footprint that is its bounding box (a whole tile) meets a window when its box does;
    // others are compared prepared (once per item, not once per window).
    bool rectangle = false;
    OGRPreparedGeometryUniquePtr prepared{};
};

struct ItemAreas::Area
{
    Envelope area{};
    std::vector<Item> items{};
};

ItemAreas::ItemAreas(const MosaicInfo& mosaic) : m_oMosaic(mosaic) {}

ItemAreas::~ItemAreas() = default;

bool ItemAreas::Usable(const MosaicInfo& mosaic, const ItemQuery& query)
{
    return !query.Any() && OGRGeometryFactory::haveGEOS() && mosaic.gt[1] > 0;
}

std::vector<std::int64_t> ItemAreas::Ids() const
{
    std::vector<std::int64_t> ids;
    for (const auto& area : m_aoAreas)
        for (const Item& c : area->items)
            ids.push_back(c.item.id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

void ItemAreas::Clear()
{
    m_aoAreas.clear();
}

Envelope ItemAreas::AreaOf(const Envelope& env) const
{
    const double x0 = m_oMosaic.gt[0], y0 = m_oMosaic.gt[3];
    const double cw = kAreaCellPixels * m_oMosaic.gt[1];
    const double ch =
        kAreaCellPixels * std::fabs(m_oMosaic.gt[5] != 0 ? m_oMosaic.gt[5] : m_oMosaic.gt[1]);
    const double c0 = std::floor((env.minx - x0) / cw), c1 = std::floor((env.maxx - x0) / cw);
    const double r0 = std::floor((y0 - env.maxy) / ch), r1 = std::floor((y0 - env.miny) / ch);
    return {x0 + c0 * cw, y0 - (r1 + 1) * ch, x0 + (c1 + 1) * cw, y0 - r0 * ch};
}

std::optional<std::vector<ItemRef>> ItemAreas::Find(const Envelope& env, const LookUp& lookUp)
{
    if (!(std::isfinite(env.minx) && std::isfinite(env.miny) && std::isfinite(env.maxx) &&
          std::isfinite(env.maxy) && env.minx < env.maxx && env.miny < env.maxy))
        return std::nullopt;
    auto inside = [&env](const Envelope& a) {
        return a.minx <= env.minx && a.miny <= env.miny && a.maxx >= env.maxx &&
               a.maxy >= env.maxy;
    };
    auto hit = std::find_if(m_aoAreas.begin(), m_aoAreas.end(),
                            [&](const std::unique_ptr<Area>& a) { return inside(a->area); });
    if (hit == m_aoAreas.end())
    {
        auto area = std::make_unique<Area>();
        area->area = AreaOf(env);
        std::vector<Row> rows = lookUp(area->area);
        area->items.reserve(rows.size());
        for (Row& row : rows)
        {
            Item c;
            c.item = std::move(row.item);
            if (row.footprint)
            {
                int len = 0;
                GByte* wkb = CPLHexToBinary(row.footprint->c_str(), &len);
                OGRGeometry* g = nullptr;
                if (wkb && OGRGeometryFactory::createFromWkb(wkb, nullptr, &g,
                                                             static_cast<size_t>(len)) ==
                               OGRERR_NONE &&
                    g)
                {
                    g->getEnvelope(&c.bounds);
                    const double box =
                        (c.bounds.MaxX - c.bounds.MinX) * (c.bounds.MaxY - c.bounds.MinY);
                    c.rectangle = wkbFlatten(g->getGeometryType()) == wkbPolygon && box > 0 &&
                                  std::fabs(g->toPolygon()->get_Area() - box) <= 1e-12 * box;
                    c.footprint.reset(g);
                }
                else
                    delete g;
                CPLFree(wkb);
                if (!c.footprint)
                    throw Error(ErrorKind::Catalog, "item " + std::to_string(c.item.id) +
                                                        " has an unreadable footprint in the "
                                                        "catalog");
            }
            area->items.push_back(std::move(c));
        }
        m_aoAreas.insert(m_aoAreas.begin(), std::move(area));
        hit = m_aoAreas.begin();
    }
    else if (hit != m_aoAreas.begin())
    {
        std::rotate(m_aoAreas.begin(), hit, hit + 1); // most recently used first
        hit = m_aoAreas.begin();
    }
    // ST_Intersects(footprint, window), as items() asks it.
    OGRPolygon window;
    {
        auto ring = std::make_unique<OGRLinearRing>();
        ring->addPoint(env.minx, env.miny);
        ring->addPoint(env.maxx, env.miny);
        ring->addPoint(env.maxx, env.maxy);
        ring->addPoint(env.minx, env.maxy);
        ring->addPoint(env.minx, env.miny);
        window.addRingDirectly(ring.release());
    }
    std::vector<ItemRef> items;
    for (Item& c : (*hit)->items)
    {
        if (!c.footprint || c.bounds.MinX > env.maxx || c.bounds.MaxX < env.minx ||
            c.bounds.MinY > env.maxy || c.bounds.MaxY < env.miny)
            continue;
        if (!c.rectangle)
        {
            if (!c.prepared)
                c.prepared.reset(OGRCreatePreparedGeometry(OGRGeometry::ToHandle(c.footprint.get())));
            if (c.prepared ? !OGRPreparedGeometryIntersects(c.prepared.get(),
                                                            OGRGeometry::ToHandle(&window))
                           : !c.footprint->Intersects(&window))
                continue;
        }
        items.push_back(c.item);
    }
    // An area of very many items is not kept (its rows would stay in memory).
    if ((*hit)->items.size() > kMaxCachedAreaItems)
        m_aoAreas.erase(m_aoAreas.begin());
    if (m_aoAreas.size() > kMaxCachedAreas)
        m_aoAreas.pop_back();
    return items;
}

} // namespace pgmosaic
