// Which source files a reader's client may open: the backend's policy (common/path_policy),
// set on the client by whoever configures it. A writer of the catalog must not be able to
// make every reader's client contact a server of its choosing (an http://127.0.0.1:... item,
// a cloud metadata address) or read a local file outside the places its operator allows.
//
//   PGMOSAIC_ALLOWED_NETWORK_PREFIXES  comma list of network reference prefixes items may be
//                                      under (/vsis3/bucket/, /vsicurl/https://data.example/);
//                                      unset or empty: network items are refused
//   PGMOSAIC_ALLOWED_ROOTS             comma list of local directories items must be under
//                                      (checked after symbolic links and ".."); unset: any
//   PGMOSAIC_ALLOWED_DRIVERS           comma list of the GDAL drivers items and their raster
//                                      sidecars (.ovr, .msk) may be opened with (default
//                                      GTiff,HFA,JP2OpenJPEG,PNG,JPEG: no VRT, which can name
//                                      any file or URL)
#include <mutex>
#include <set>

#include "error.h"
#include "catalog_sql.h"
#include "path_policy.h"
#include "read/remote_source.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

class PolicyCheckedCatalog final : public pgmosaic::ItemCatalog
{
public:
    PolicyCheckedCatalog(pgmosaic::ItemCatalog& inner, pgmosaic::FileAccessPolicy policy,
                         bool checkLocal)
        : m_oInner(inner), m_oPolicy(std::move(policy)), m_bCheckLocal(checkLocal)
    {
    }

    std::vector<pgmosaic::ItemRef> FindItems(const pgmosaic::Envelope& env) override
    {
        return Checked(m_oInner.FindItems(env));
    }
    std::vector<pgmosaic::ItemRef> FindOverviewTiles(const pgmosaic::Envelope& env,
                                                     int level) override
    {
        return Checked(m_oInner.FindOverviewTiles(env, level));
    }
    std::map<std::int64_t, pgmosaic::EmptyBlocks>
    FindEmptyBlocks(const std::vector<std::int64_t>& ids) override
    {
        return m_oInner.FindEmptyBlocks(ids);
    }
    std::map<std::int64_t, pgmosaic::RemoteRecord>
    FindRemoteRecords(const std::vector<std::int64_t>& ids) override
    {
        return m_oInner.FindRemoteRecords(ids);
    }

private:
    // Every item before any is opened; a refused one fails the read, naming it.
    std::vector<pgmosaic::ItemRef> Checked(std::vector<pgmosaic::ItemRef> items)
    {
        std::lock_guard<std::mutex> lock(m_oMutex);
        for (const auto& item : items)
        {
            const bool network = item.path.rfind("/vsi", 0) == 0;
            if ((!network && !m_bCheckLocal) || m_oAllowed.count(item.path))
                continue;
            try
            {
                pgmosaic::CheckPathAllowed(m_oPolicy, item.path);
            }
            catch (const Error& e)
            {
                // A missing local file is the reader's to report (or skip, with missing=skip).
                if (e.kind() != ErrorKind::NotFound || network)
                    throw Error(ErrorKind::Permission, "item " + std::to_string(item.id) + " (" +
                                                           item.path +
                                                           ") is refused by the client's "
                                                           "policy: " +
                                                           e.what());
                continue;
            }
            m_oAllowed.insert(item.path);
        }
        return items;
    }

    pgmosaic::ItemCatalog& m_oInner;
    pgmosaic::FileAccessPolicy m_oPolicy;
    bool m_bCheckLocal = false;
    std::mutex m_oMutex{};
    std::set<std::string> m_oAllowed{};
};

} // namespace

namespace
{

pgmosaic::FileAccessPolicy ClientPolicy()
{
    pgmosaic::FileAccessPolicy policy;
    policy.enabled = true;
    policy.networkPrefixes =
        pgmosaic::ParseRootList(CPLGetConfigOption("PGMOSAIC_ALLOWED_NETWORK_PREFIXES", ""));
    policy.allowedRoots = pgmosaic::ParseRootList(CPLGetConfigOption("PGMOSAIC_ALLOWED_ROOTS", ""));
    policy.allowedDrivers = pgmosaic::ParseRootList(
        CPLGetConfigOption("PGMOSAIC_ALLOWED_DRIVERS", kDefaultClientDrivers));
    policy.rootsSetting = "PGMOSAIC_ALLOWED_ROOTS";
    policy.networkSetting = "PGMOSAIC_ALLOWED_NETWORK_PREFIXES";
    policy.driversSetting = "PGMOSAIC_ALLOWED_DRIVERS";
    policy.accessName = "the client (PGMOSAIC_ALLOWED_NETWORK_PREFIXES is not set)";
    return policy;
}

} // namespace

std::unique_ptr<pgmosaic::ItemCatalog> WithSourcePolicy(pgmosaic::ItemCatalog& catalog)
{
    pgmosaic::FileAccessPolicy policy = ClientPolicy();
    const bool checkLocal = !policy.allowedRoots.empty();
    return std::make_unique<PolicyCheckedCatalog>(catalog, std::move(policy), checkLocal);
}

std::shared_ptr<const pgmosaic::FileAccessPolicy> ClientOpenPolicy()
{
    pgmosaic::FileAccessPolicy policy = ClientPolicy();
    // Unset roots: any local file, but still opened with the allowed drivers and only the
    // sidecars that are no raster of a refused driver.
    if (policy.allowedRoots.empty())
        policy.allowedRoots = {"/"};
    return std::make_shared<const pgmosaic::FileAccessPolicy>(std::move(policy));
}

void ApplyClientRootOptions(PgConnection& conn, bool ask)
{
    if (ask)
    {
        auto has = conn.Exec(pgmosaic::RootOptionsExistSql().c_str());
        if (PQntuples(has.get()) != 1 || PQgetvalue(has.get(), 0, 0)[0] != 't')
            return;
    }
    auto res = conn.Exec(pgmosaic::RootOptionsSql().c_str());
    std::vector<pgmosaic::RootOption> options;
    for (int i = 0; i < PQntuples(res.get()); ++i)
        options.push_back({PQgetvalue(res.get(), i, 0), PQgetvalue(res.get(), i, 1),
                           PQgetvalue(res.get(), i, 2), PQgetvalue(res.get(), i, 3)});
    if (!options.empty())
        pgmosaic::ApplyRootOptions(options, ClientPolicy());
}
