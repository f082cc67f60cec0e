// Composed mosaic tiles kept in memory, and their neighbours composed ahead of a panning
// client (seed 001's zoom/pan: keep the 8 tiles around the current one in memory).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "gdal.h"

#include "types/grid.h"

namespace pgmosaic
{

// Composes tile (col, row) of a zoom level: kTileSize x kTileSize pixels of every band, band
// after band, in the cache's data type. Runs on the caller's or the worker's thread; each
// thread gets its own function (its own reader and connection).
using TileComposer = std::function<void(int factor, int col, int row, void* data)>;

class TileCache final
{
public:
    static constexpr int kTileSize = 512;

    // `bands` and `type` describe a tile; `capacityBytes` bounds the memory held.
    // `makeWorkerComposer` is called once, on the worker thread, to build its composer.
    TileCache(int bands, GDALDataType type, size_t capacityBytes, TileComposer composer,
              std::function<TileComposer()> makeWorkerComposer);
    ~TileCache();
    TileCache(const TileCache&) = delete;
    TileCache& operator=(const TileCache&) = delete;

    // Fills `buf` (bands `bands`, 0-based, buffer layout as RasterIO) with the window `win` of
    // zoom level `factor` (pixels of that level), composing missing tiles now, then queues the
    // ring of tiles around the window for the worker.
    void Read(int factor, const Window& win, const std::vector<int>& bands, void* data,
              GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace, GSpacing bandSpace);

    std::uint64_t Hits() const { return m_nHits; }
    std::uint64_t Misses() const { return m_nMisses; }
    std::uint64_t Prefetched() const { return m_nPrefetched; }

private:
    using Key = std::tuple<int, int, int>; // factor, col, row
    struct Entry
    {
        Key key;
        std::vector<GByte> data;
    };
    std::shared_ptr<const std::vector<GByte>> Get(const Key& key);
    std::shared_ptr<const std::vector<GByte>> Put(const Key& key, std::vector<GByte>&& data);
    void Work();

    int m_nBands;
    GDALDataType m_eType;
    size_t m_nTileBytes;
    size_t m_nCapacity;
    TileComposer m_oComposer;
    std::function<TileComposer()> m_oMakeWorkerComposer;

    std::mutex m_oMutex;
    std::condition_variable m_oWake;
    std::list<std::pair<Key, std::shared_ptr<const std::vector<GByte>>>> m_aoLru{};
    std::map<Key, decltype(m_aoLru)::iterator> m_oIndex{};
    std::vector<Key> m_aoQueue{};
    bool m_bStop = false;
    std::thread m_oWorker;
    std::atomic<std::uint64_t> m_nHits{0}, m_nMisses{0}, m_nPrefetched{0};
};

} // namespace pgmosaic
