#include "catalog.h"

namespace pgmosaic
{

std::string BandName(const MosaicInfo& mosaic, int band)
{
    if (band < 1 || static_cast<size_t>(band) > mosaic.bandSources.size())
        return {};
    return mosaic.bandSources[static_cast<size_t>(band - 1)].name;
}

std::vector<std::string> BandNames(const MosaicInfo& mosaic)
{
    std::vector<std::string> names;
    for (const BandSource& b : mosaic.bandSources)
        names.push_back(b.name);
    return names;
}

const std::vector<std::string>& ItemValueNames()
{
    static const std::vector<std::string> names{"cloud_cover", "acquired", "priority", "id"};
    return names;
}

std::vector<double> ItemValues(const ItemRef& item)
{
    return {item.cloudCover, item.acquired, item.priority, static_cast<double>(item.id)};
}

std::string ItemLabel(const ItemRef& item)
{
    return "item " + std::to_string(item.id) + (item.asset.empty() ? "" : ", asset " + item.asset) +
           " (" + item.path + ")";
}

} // namespace pgmosaic
