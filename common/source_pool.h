// A bounded pool of open source datasets, shared by the bands of a mosaic dataset.
#pragma once

#include <list>
#include <string>
#include <unordered_map>

#include "gdal_priv.h"

#include "catalog.h"

namespace pgmosaic
{

class SourcePool final
{
public:
    // Sources not in the mosaic's SRS (or rotated) are read through a warped view on the
    // mosaic grid `mosaic`.
    SourcePool(const MosaicInfo& mosaic, size_t capacity);
    ~SourcePool();
    SourcePool(const SourcePool&) = delete;
    SourcePool& operator=(const SourcePool&) = delete;

    // The dataset to read `item` from, opened on first use. It stays valid until the next
    // Acquire. Throws Error naming the item and its path when the file cannot be opened.
    GDALDataset* Acquire(const ItemRef& item);

private:
    struct Entry
    {
        std::string key;
        GDALDatasetUniquePtr source;
        GDALDatasetUniquePtr warped; // closed before `source`, which it reads from
    };
    void Open(const ItemRef& item, Entry& entry);

    const MosaicInfo& m_oMosaic;
    size_t m_nCapacity;
    std::list<Entry> m_aoEntries{}; // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> m_oIndex{};
};

} // namespace pgmosaic
