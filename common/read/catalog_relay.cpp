#include "read/catalog_relay.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "parallel.h"

namespace pgmosaic
{

// Catalog calls waiting for the owning thread, and the count of workers still running.
class CatalogRelay::Relay
{
public:
    void Start(int workers)
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        m_nRunning = workers;
    }

    // On a worker: has the owning thread run `call`, waits for it, rethrows what it threw.
    void Ask(const std::function<void()>& call)
    {
        Request r{&call};
        std::unique_lock<std::mutex> lock(m_oMutex);
        m_oQueue.push_back(&r);
        m_oWake.notify_all();
        m_oAnswered.wait(lock, [&] { return r.done; });
        if (r.error)
            std::rethrow_exception(r.error);
    }

    void WorkerStopped()
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        --m_nRunning;
        m_oWake.notify_all();
    }

    // On the owning thread: answers calls until every worker has stopped.
    void Serve()
    {
        std::unique_lock<std::mutex> lock(m_oMutex);
        for (;;)
        {
            m_oWake.wait(lock, [&] { return !m_oQueue.empty() || m_nRunning == 0; });
            if (m_oQueue.empty())
                return;
            Request* r = m_oQueue.front();
            m_oQueue.pop_front();
            lock.unlock();
            try
            {
                (*r->call)();
            }
            catch (...)
            {
                r->error = std::current_exception();
            }
            lock.lock();
            r->done = true;
            m_oAnswered.notify_all();
        }
    }

private:
    struct Request
    {
        const std::function<void()>* call;
        bool done = false;
        std::exception_ptr error{};
    };
    std::mutex m_oMutex;
    std::condition_variable m_oWake, m_oAnswered;
    std::deque<Request*> m_oQueue;
    int m_nRunning = 0;
};

// A worker's catalog: every call runs on the owning thread.
class CatalogRelay::RelayedCatalog final : public ItemCatalog
{
public:
    RelayedCatalog(Relay& relay, ItemCatalog& owner) : m_oRelay(relay), m_oOwner(owner) {}

    std::vector<ItemRef> FindItems(const Envelope& env) override
    {
        return Ask([&] { return m_oOwner.FindItems(env); });
    }
    std::vector<ItemRef> FindOverviewTiles(const Envelope& env, int level) override
    {
        return Ask([&] { return m_oOwner.FindOverviewTiles(env, level); });
    }
    std::map<std::int64_t, EmptyBlocks>
    FindEmptyBlocks(const std::vector<std::int64_t>& ids) override
    {
        return Ask([&] { return m_oOwner.FindEmptyBlocks(ids); });
    }
    std::map<std::pair<std::int64_t, std::string>, EmptyBlocks>
    FindAssetEmptyBlocks(const std::vector<std::int64_t>& ids) override
    {
        return Ask([&] { return m_oOwner.FindAssetEmptyBlocks(ids); });
    }
    std::map<std::int64_t, RemoteRecord>
    FindRemoteRecords(const std::vector<std::int64_t>& ids) override
    {
        return Ask([&] { return m_oOwner.FindRemoteRecords(ids); });
    }

private:
    // The owner's answer to `call`, run on the owning thread.
    template <typename Call> auto Ask(Call&& call) -> decltype(call())
    {
        decltype(call()) out;
        m_oRelay.Ask([&] { out = call(); });
        return out;
    }

    Relay& m_oRelay;
    ItemCatalog& m_oOwner;
};

CatalogRelay::CatalogRelay(ItemCatalog& owner, int threads)
    : m_oOwner(owner), m_nWorkers(std::max(1, threads)), m_poRelay(std::make_unique<Relay>())
{
    if (m_nWorkers > 1)
        for (int w = 0; w < m_nWorkers; ++w)
            m_apoCatalogs.push_back(std::make_unique<RelayedCatalog>(*m_poRelay, owner));
}

CatalogRelay::~CatalogRelay() = default;

void CatalogRelay::For(size_t tasks, const Cancel& cancel,
                       const std::function<void(size_t task, int worker, ItemCatalog& catalog)>& fn)
{
    if (m_nWorkers == 1)
    {
        // The calling thread itself, asking the catalog directly.
        for (size_t i = 0; i < tasks; ++i)
        {
            cancel.Check("read");
            fn(i, 0, m_oOwner);
        }
        return;
    }
    if (tasks == 0)
        return;
    const int n = static_cast<int>(std::min<size_t>(tasks, static_cast<size_t>(m_nWorkers)));
    m_poRelay->Start(n);
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failureMutex;
    // A worker that saw the caller's stop request throws Cancelled, while a catalog call on
    // this thread may have taken the same interrupt as the error that says what it was (a
    // statement timeout): that error wins, Cancelled only stands for an interrupt still pending.
    auto cancelled = [](const std::exception_ptr& e) {
        try
        {
            std::rethrow_exception(e);
        }
        catch (const Cancelled&)
        {
            return true;
        }
        catch (...)
        {
            return false;
        }
    };
    auto fail = [&](std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(failureMutex);
        if (!failure || (cancelled(failure) && !cancelled(e)))
            failure = e;
        next = tasks;
    };
    auto worker = [&](int w) {
        try
        {
            for (size_t i = next++; i < tasks; i = next++)
            {
                cancel.Check("read");
                fn(i, w, *m_apoCatalogs[static_cast<size_t>(w)]);
            }
        }
        catch (...)
        {
            fail(std::current_exception());
        }
        m_poRelay->WorkerStopped();
    };
    std::vector<std::thread> pool;
    for (int w = 0; w < n; ++w)
    {
        try
        {
            pool.push_back(QuietThread(worker, w));
        }
        catch (...)
        {
            // No thread for this worker: it counts as stopped, and no task is taken any more.
            fail(std::current_exception());
            m_poRelay->WorkerStopped();
        }
    }
    m_poRelay->Serve();
    for (auto& t : pool)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace pgmosaic
