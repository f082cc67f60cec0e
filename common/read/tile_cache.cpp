#include "read/tile_cache.h"

#include <algorithm>
#include <cstring>

#include "cpl_error.h"

#include "parallel.h"

namespace pgmosaic
{

TileCache::TileCache(int bands, GDALDataType type, size_t capacityBytes, TileComposer composer,
                     std::function<TileComposer()> makeWorkerComposer)
    : m_nBands(bands), m_eType(type), m_nTileBytes(static_cast<size_t>(kTileSize) * kTileSize *
                                                   bands * GDALGetDataTypeSizeBytes(type)),
      m_nCapacity(std::max<size_t>(1, capacityBytes / std::max<size_t>(1, m_nTileBytes))),
      m_oComposer(std::move(composer)), m_oMakeWorkerComposer(std::move(makeWorkerComposer))
{
    m_oWorker = QuietThread([this] { Work(); });
}

TileCache::~TileCache()
{
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        m_bStop = true;
    }
    m_oWake.notify_all();
    m_oWorker.join();
}

std::shared_ptr<const std::vector<GByte>> TileCache::Get(const Key& key)
{
    std::lock_guard<std::mutex> lock(m_oMutex);
    auto it = m_oIndex.find(key);
    if (it == m_oIndex.end())
        return nullptr;
    m_aoLru.splice(m_aoLru.begin(), m_aoLru, it->second);
    return it->second->second;
}

std::shared_ptr<const std::vector<GByte>> TileCache::Put(const Key& key, std::vector<GByte>&& data)
{
    auto shared = std::make_shared<const std::vector<GByte>>(std::move(data));
    std::lock_guard<std::mutex> lock(m_oMutex);
    if (m_oIndex.count(key))
        return shared;
    m_aoLru.emplace_front(key, shared);
    m_oIndex[key] = m_aoLru.begin();
    while (m_aoLru.size() > m_nCapacity)
    {
        m_oIndex.erase(m_aoLru.back().first);
        m_aoLru.pop_back();
    }
    return shared;
}

void TileCache::Read(int factor, const Window& win, const std::vector<int>& bands, void* data,
                     GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                     GSpacing bandSpace)
{
    const int t = kTileSize;
    const int c0 = win.x / t, c1 = (win.x + win.w - 1) / t;
    const int r0 = win.y / t, r1 = (win.y + win.h - 1) / t;
    const int typeSize = GDALGetDataTypeSizeBytes(m_eType);
    const size_t bandBytes = static_cast<size_t>(t) * t * typeSize;
    for (int row = r0; row <= r1; ++row)
        for (int col = c0; col <= c1; ++col)
        {
            const Key key{factor, col, row};
            auto tile = Get(key);
            if (tile)
                ++m_nHits;
            else
            {
                ++m_nMisses;
                std::vector<GByte> fresh(m_nTileBytes);
                m_oComposer(factor, col, row, fresh.data());
                tile = Put(key, std::move(fresh));
            }
            // The part of this tile inside the window.
            const int x0 = std::max(win.x, col * t), x1 = std::min(win.x + win.w, (col + 1) * t);
            const int y0 = std::max(win.y, row * t), y1 = std::min(win.y + win.h, (row + 1) * t);
            for (size_t b = 0; b < bands.size(); ++b)
                for (int y = y0; y < y1; ++y)
                {
                    const GByte* src =
                        tile->data() + static_cast<size_t>(bands[b]) * bandBytes +
                        (static_cast<size_t>(y - row * t) * t + (x0 - col * t)) * typeSize;
                    GByte* dst = static_cast<GByte*>(data) + b * bandSpace +
                                 (y - win.y) * lineSpace + (x0 - win.x) * pixelSpace;
                    GDALCopyWords64(src, m_eType, typeSize, dst, bufType,
                                    static_cast<int>(pixelSpace), x1 - x0);
                }
        }
    // The ring of tiles around the window, nearest first, for the worker.
    std::vector<Key> ring;
    for (int row = r0 - 1; row <= r1 + 1; ++row)
        for (int col = c0 - 1; col <= c1 + 1; ++col)
            if ((row < r0 || row > r1 || col < c0 || col > c1) && row >= 0 && col >= 0)
                ring.emplace_back(factor, col, row);
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        m_aoQueue = std::move(ring); // only the latest window's neighbours matter
    }
    m_oWake.notify_all();
}

void TileCache::Work()
{
    TileComposer composer;
    while (true)
    {
        Key key;
        {
            std::unique_lock<std::mutex> lock(m_oMutex);
            m_oWake.wait(lock, [&] { return m_bStop || !m_aoQueue.empty(); });
            if (m_bStop)
                return;
            key = m_aoQueue.front();
            m_aoQueue.erase(m_aoQueue.begin());
            if (m_oIndex.count(key))
                continue;
        }
        try
        {
            if (!composer)
                composer = m_oMakeWorkerComposer();
            std::vector<GByte> data(m_nTileBytes);
            composer(std::get<0>(key), std::get<1>(key), std::get<2>(key), data.data());
            Put(key, std::move(data));
            ++m_nPrefetched;
        }
        catch (const std::exception& e)
        {
            // Prefetching is best effort: the foreground read reports real errors.
            CPLDebug("PGMOSAIC", "prefetch of a tile failed: %s", e.what());
        }
    }
}

} // namespace pgmosaic
