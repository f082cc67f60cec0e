// Reading on several threads when only one thread may ask the catalog (the backend: SPI is
// for its own thread). RelayedFor runs tasks on worker threads; each worker asks the catalog
// through a relay, and the calling thread answers those calls one at a time while the others
// go on decoding. Many small reads (value() at scattered points, zonal_stats() over many
// zones) thus overlap their catalog lookups with the decoding of other tasks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "cancel.h"
#include "catalog.h"

namespace pgmosaic
{

// Worker threads reading with the catalog of the calling thread. For() runs tasks on
// Workers() threads; the catalog a worker is given relays its calls to `owner`, run on the
// calling thread (which does nothing else meanwhile). Objects a worker makes with its catalog
// (a CompositeReader) may live until the relay is destroyed, and may be used by later For()
// calls on the same worker.
class CatalogRelay
{
public:
    CatalogRelay(ItemCatalog& owner, int threads);
    ~CatalogRelay();
    CatalogRelay(const CatalogRelay&) = delete;
    CatalogRelay& operator=(const CatalogRelay&) = delete;

    int Workers() const { return m_nWorkers; }

    // Runs fn(task, worker, catalog) for every task in [0, tasks), on the calling thread when
    // there is one worker. The first exception thrown by a task (or by a relayed catalog call,
    // rethrown in the task that made it) stops the others from taking tasks and is rethrown
    // here once every worker has stopped; another error wins over Cancelled, for the catalog
    // call that took the interrupt says what it was. `cancel` is checked before each task.
    void For(size_t tasks, const Cancel& cancel,
             const std::function<void(size_t task, int worker, ItemCatalog& catalog)>& fn);

private:
    class Relay;
    class RelayedCatalog;
    ItemCatalog& m_oOwner;
    int m_nWorkers;
    std::unique_ptr<Relay> m_poRelay;
    std::vector<std::unique_ptr<RelayedCatalog>> m_apoCatalogs;
};

} // namespace pgmosaic
