// The compositing reader: reads a window of a mosaic from its items, in mosaic order.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "gdal_priv.h"

#include "catalog.h"
#include "error.h"
#include "inspect/expression.h"
#include "read/read_options.h"
#include "read/source_pool.h"

namespace pgmosaic
{

// Bytes a reader fills before reading them: vectors of them are not zeroed when they grow.
template <typename T> struct UninitializedAllocator : std::allocator<T>
{
    template <typename U> struct rebind
    {
        using other = UninitializedAllocator<U>;
    };
    UninitializedAllocator() = default;
    template <typename U> UninitializedAllocator(const UninitializedAllocator<U>&) {}
    template <typename U> void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
    template <typename U, typename... A> void construct(U* p, A&&... a)
    {
        ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
    }
};
using PixelBytes = std::vector<GByte, UninitializedAllocator<GByte>>;

// A caller's buffer, as in GDALDataset::RasterIO.
struct BufferSpec
{
    void* data = nullptr;
    GDALDataType type = GDT_Byte;
    GSpacing pixelSpace = 0, lineSpace = 0, bandSpace = 0;
};

class CompositeReader final
{
public:
    CompositeReader(const MosaicInfo& mosaic, ItemCatalog& catalog, const ReadOptions& options,
                    size_t poolCapacity);
    ~CompositeReader();

    // Fills `buf` with item bands `bands` (1-based) of the request, composed with the method
    // of the options. Pixels no item covers get the mosaic nodata (0 without one). With
    // `overviewLevel` > 0 the up-to-date overview tiles of that level are drawn on top and
    // stand for the items under them. Throws Error.
    void Read(const Request& req, const std::vector<int>& bands, const BufferSpec& buf,
              int overviewLevel = 0);

    // Fills a Byte buffer with 255 where some item has a valid pixel and 0 elsewhere.
    void ReadCoverage(const Request& req, const BufferSpec& buf, int overviewLevel = 0);

    const ReadOptions& options() const { return m_oOptions; }
    // Whether items are masked (the mask option, or the mosaic's stored mask).
    bool Masked() const { return m_oMask.has_value(); }

private:
    struct Part;
    struct Step;
    std::vector<Part> Parts(const ItemRef& item, const std::vector<int>& bands) const;
    std::vector<Step> Plan(const Request& req, const std::vector<ItemRef>& items,
                           const std::vector<int>& bands, bool cull);
    std::vector<ItemRef> Items(const Request& req, int overviewLevel);
    // Remote items: their records from the catalog, and their blocks fetched all at once
    // before a read (remote_source.h); a read that found an object stale runs again.
    void AttachRemoteRecords(std::vector<ItemRef>& items);
    bool PrefetchRemoteBlocks(std::vector<Step>& steps);
    void RetryStale(const std::function<void()>& read);
    void ReadOnce(const Request& req, const std::vector<int>& bands, const BufferSpec& buf,
                  int overviewLevel);
    void ReadCoverageOnce(const Request& req, const BufferSpec& buf, int overviewLevel);
    std::vector<Step> SplitDirect(std::vector<Step> steps) const;
    bool Probe(Step& step, const Request& req, const std::vector<int>& bands);
    void EnsurePools(int threads);
    int Home(const ItemRef& item) const; // the pool an item is always opened in
    bool Parallel(const Request& req, size_t tasks) const;
    void ForEachPool(bool parallel, const std::function<void(int)>& fn);
    void Fetch(Step& step, SourcePool& pool, const std::vector<int>& bands, bool asDouble,
               const BufferSpec* direct, bool allValidity);
    // Memory for steps' pixels, recycled from read to read (a large window's strips take
    // the same sizes again): at least `size` bytes, of any content.
    PixelBytes TakeBuffer(size_t size);
    void GiveBack(std::vector<Step>& steps);
    void FetchPart(Step& step, const Part& part, SourcePool& pool, const BufferSpec* direct,
                   bool validity) const;
    // asDouble: pixels as Float64 (else in the items' type); allValidity: validity arrays
    // for every step that is not opaque (aggregating methods).
    void FetchAll(std::vector<Step>& steps, const std::vector<int>& bands, bool asDouble,
                  const BufferSpec* direct, bool parallel, size_t visible,
                  bool allValidity = false);
    // The bands to read for `bands`: them, then the mask's bands not among them.
    std::vector<int> ReadBands(const std::vector<int>& bands) const;
    void Mask(Step& step, const std::vector<int>& bands) const;
    // Paints the step's valid pixels on buffer rows [rowBegin, rowEnd).
    void Paint(const Step& step, size_t bandCount, const BufferSpec& buf, int rowBegin,
               int rowEnd) const;
    void Aggregate(std::vector<Step>& steps, const Request& req, size_t bandCount,
                   const BufferSpec& buf) const;
    // Median, percentile, stdev and quality (read/stack_methods).
    void ComposeStack(std::vector<Step>& steps, const Request& req,
                      const std::vector<int>& readBands, size_t bandCount,
                      const BufferSpec& buf) const;
    void ReadStrip(const Request& req, const std::vector<int>& bands, const BufferSpec& buf,
                   int overviewLevel);
    void Fill(const Window& area, size_t bandCount, const BufferSpec& buf, double value) const;
    // Fills the pixels of the request that no step writes whole (a direct step, an opaque one).
    void FillUnwritten(const Request& req, const std::vector<Step>& steps, size_t bandCount,
                       const BufferSpec& buf, double value) const;
    bool Skip(const ItemRef& item, const Error& error);
    SourcePool& PoolFor(int thread);

    const MosaicInfo& m_oMosaic;
    ItemCatalog& m_oCatalog;
    ReadOptions m_oOptions;
    std::optional<Expression> m_oMask{};
    std::optional<Expression> m_oQuality{}; // method=quality:<expression>
    size_t m_nPoolCapacity;
    std::vector<std::unique_ptr<SourcePool>> m_apoPools{}; // one per reading thread
    // Empty full-resolution blocks per item, asked of the catalog once per item (forgotten
    // beyond kMaxEmptyBlockItems items).
    std::map<std::int64_t, EmptyBlocks> m_oEmptyBlocks{};
    // Network items' records (remote_source.h), asked of the catalog once per item.
    std::map<std::int64_t, std::shared_ptr<const RemoteRecord>> m_oRemoteRecords{};
    std::unique_ptr<RemoteBatch> m_poRemoteBatch{}; // the last read's: keeps its objects alive
    // The same for the assets of items made of several files, and the items asked about.
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks> m_oAssetEmptyBlocks{};
    std::set<std::int64_t> m_oAssetsAsked{};
    std::mutex m_oWarnMutex{};
    std::mutex m_oBufferMutex{};
    std::vector<PixelBytes> m_aoSpareBuffers{};
    size_t m_nSpareBytes = 0;
    std::set<std::int64_t> m_oWarnedItems{};
};

} // namespace pgmosaic
