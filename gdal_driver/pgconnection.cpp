// libpq connections of the driver, and the pool that keeps them between datasets.
//
// Every PGMOSAIC open needs a connection. A fresh one costs a server process (about 3 ms on
// loopback) and, on its first spatial query, loading PostGIS into that process (about 9 ms):
// more than reading a 512x512 overview. A process that opens datasets again and again (a
// viewer, MapServer, a script) gets back an idle connection to the same server instead. A
// connection is only kept when it is healthy and outside any transaction; its prepared
// statements travel with it, so the catalog does not prepare them twice.
//
//   PGMOSAIC_CONNECTION_POOL_SIZE     idle connections kept per connection string (default 4;
//                                     0 closes every connection with its dataset)
//   PGMOSAIC_CONNECTION_IDLE_TIMEOUT  seconds an idle connection is kept (default 60)
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "error.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

std::string Trimmed(const char* msg)
{
    std::string s = msg ? msg : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

using Clock = std::chrono::steady_clock;

struct IdleConnection
{
    PGconn* conn;
    std::map<std::string, std::string> prepared;
    Clock::time_point since;
};

// Runs `sql` (no parameters, no rows) and says whether it succeeded within `timeoutMs`: a
// connection whose peer vanished (host down, state dropped by a firewall) would otherwise block
// until TCP gives up, minutes later. After a timeout the connection is busy: close it.
bool RunWithin(PGconn* conn, const char* sql, int timeoutMs)
{
    if (!PQsendQuery(conn, sql))
        return false;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    while (PQisBusy(conn))
    {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{PQsocket(conn), POLLIN, 0};
        if (left <= 0 || (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) ||
            !PQconsumeInput(conn))
            return false;
    }
    bool ok = true;
    while (PGresult* r = PQgetResult(conn))
    {
        const ExecStatusType st = PQresultStatus(r);
        ok = ok && (st == PGRES_EMPTY_QUERY || st == PGRES_COMMAND_OK);
        PQclear(r);
    }
    return ok && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

class ConnectionPool
{
public:
    static ConnectionPool& Get()
    {
        static ConnectionPool* pool = new ConnectionPool(); // outlives static destructors
        return *pool;
    }

    // The most recently returned idle connection for `key` that still answers, if one is
    // kept: the server may have ended it meanwhile (restart, pg_terminate_backend,
    // idle_session_timeout). An empty query is one round trip, without parsing or planning.
    bool Take(const std::string& key, IdleConnection& out)
    {
        while (true)
        {
            std::vector<PGconn*> stale;
            bool found = false;
            {
                std::lock_guard<std::mutex> lock(m_oMutex);
                ForgetAfterFork();
                Expire(stale);
                auto it = m_oIdle.find(key);
                if (it != m_oIdle.end() && !it->second.empty())
                {
                    out = std::move(it->second.back());
                    it->second.pop_back();
                    found = true;
                }
            }
            for (PGconn* c : stale)
                PQfinish(c);
            if (!found || RunWithin(out.conn, "", 2000))
                return found;
            PQfinish(out.conn);
        }
    }

    // Keeps `c` for `key` when there is room, its settings back to the session's (a where=
    // filter may have changed some with set_config); closes it otherwise.
    void Give(const std::string& key, IdleConnection&& c)
    {
        std::vector<PGconn*> stale;
        if (MaxIdle() > 0 && RunWithin(c.conn, "RESET ALL; UNLISTEN *", 2000))
        {
            std::lock_guard<std::mutex> lock(m_oMutex);
            ForgetAfterFork();
            Expire(stale);
            auto& idle = m_oIdle[key];
            if (idle.size() < MaxIdle())
            {
                c.since = Clock::now();
                idle.push_back(std::move(c));
                c.conn = nullptr;
            }
        }
        if (c.conn)
            stale.push_back(c.conn);
        for (PGconn* s : stale)
            PQfinish(s);
    }

    void Clear()
    {
        std::map<std::string, std::vector<IdleConnection>> idle;
        {
            std::lock_guard<std::mutex> lock(m_oMutex);
            ForgetAfterFork();
            idle.swap(m_oIdle);
        }
        for (auto& [key, conns] : idle)
            for (auto& c : conns)
                PQfinish(c.conn);
    }

private:
    static size_t MaxIdle()
    {
        return static_cast<size_t>(
            std::max(0, std::atoi(CPLGetConfigOption("PGMOSAIC_CONNECTION_POOL_SIZE", "4"))));
    }

    // Moves the connections idle for longer than the timeout to `stale` (closed unlocked).
    void Expire(std::vector<PGconn*>& stale)
    {
        const auto timeout = std::chrono::duration<double>(
            CPLAtof(CPLGetConfigOption("PGMOSAIC_CONNECTION_IDLE_TIMEOUT", "60")));
        const auto now = Clock::now();
        for (auto& [key, conns] : m_oIdle)
            for (size_t i = conns.size(); i-- > 0;)
                if (now - conns[i].since > timeout)
                {
                    stale.push_back(conns[i].conn);
                    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
                }
    }

    // A forked child shares its parent's sockets: it must neither use nor close (PQfinish
    // would end the parent's sessions) the connections it inherited.
    void ForgetAfterFork()
    {
        if (m_nPid != getpid())
        {
            m_oIdle.clear();
            m_nPid = getpid();
        }
    }

    std::mutex m_oMutex;
    std::map<std::string, std::vector<IdleConnection>> m_oIdle;
    pid_t m_nPid = getpid();
};

// The pool's key: the connection string and the libpq environment it is completed with.
std::string PoolKey(const std::string& conninfo)
{
    std::string key = conninfo;
    for (const char* var : {"PGHOST",
                            "PGHOSTADDR",
                            "PGPORT",
                            "PGDATABASE",
                            "PGUSER",
                            "PGPASSWORD",
                            "PGPASSFILE",
                            "PGSERVICE",
                            "PGSERVICEFILE",
                            "PGOPTIONS",
                            "PGAPPNAME",
                            "PGSSLMODE",
                            "PGSSLCERT",
                            "PGSSLKEY",
                            "PGSSLROOTCERT",
                            "PGGSSENCMODE",
                            "PGTARGETSESSIONATTRS",
                            "PGCLIENTENCODING",
                            "PGDATESTYLE",
                            "PGTZ",
                            "PGCONNECT_TIMEOUT"})
    {
        const char* v = std::getenv(var);
        key += '\n';
        key += v ? v : "\x01";
    }
    return key;
}

} // namespace

int ParseStatementTimeoutMs(const std::string& value)
{
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    while (end && *end == ' ')
        ++end;
    if (value.empty() || end == value.c_str() || *end != '\0' || !(seconds >= 0) ||
        seconds > 86400 * 24)
        throw Error(ErrorKind::InvalidParameter,
                    "invalid statement_timeout \"" + value +
                        "\": expected seconds (a number, 0 for no timeout)");
    const long ms = std::lround(seconds * 1000);
    return seconds > 0 ? static_cast<int>(std::max(1L, ms)) : 0;
}

PgConnection::PgConnection(const std::string& conninfo, Access access, int statementTimeoutMs,
                           Server server)
    : m_eAccess(access),
      m_eServer(access == Access::ReadWrite ? Server::Primary : server),
      m_nStatementTimeoutMs(statementTimeoutMs)
{
    // A connection to the primary is not one to whatever server the string prefers.
    m_osPoolKey = PoolKey(conninfo) + (m_eServer == Server::Primary ? "\nprimary" : "");
    IdleConnection idle{};
    if (ConnectionPool::Get().Take(m_osPoolKey, idle))
    {
        m_hConn = idle.conn;
        m_oPrepared = std::move(idle.prepared);
        return;
    }
    // The connection string is expanded as libpq's dbname, and the keywords after it override
    // its own; DBAs see "pgmosaic" in pg_stat_activity unless it sets application_name.
    const char* keywords[] = {"dbname", "fallback_application_name", "target_session_attrs",
                              nullptr};
    const char* values[] = {conninfo.c_str(), "pgmosaic", "read-write", nullptr};
    if (m_eServer != Server::Primary)
        keywords[2] = nullptr;
    m_hConn = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(m_hConn) != CONNECTION_OK)
    {
        std::string msg = Trimmed(PQerrorMessage(m_hConn));
        PQfinish(m_hConn);
        m_hConn = nullptr;
        // libpq says "session is read-only" of each server it tried that accepts no writes
        // (a hot standby, or default_transaction_read_only).
        if (m_eServer == Server::Primary && msg.find("read-only") != std::string::npos)
            throw Error(ErrorKind::Catalog,
                        "cannot write to the mosaic through " + pgmosaic::RedactConninfo(conninfo) +
                            ": no server it names accepts writes (a hot standby is read-only; " +
                            msg +
                            "). Writes (gdaladdo, ogr2ogr loads, gdal_translate -of PGMOSAIC) go "
                            "to the primary: name it in the connection string, alone or with "
                            "the standby (host=primary,standby port=...), and libpq picks it");
        throw Error(ErrorKind::Catalog, "cannot connect to the database (" +
                                            pgmosaic::RedactConninfo(conninfo) + "): " + msg);
    }
}

PgConnection::~PgConnection()
{
    // A connection inherited through fork() is the parent's: neither kept nor closed here.
    if (m_hConn != nullptr && getpid() == m_nPid)
    {
        if (PQstatus(m_hConn) == CONNECTION_OK)
            ConnectionPool::Get().Give(m_osPoolKey, {m_hConn, std::move(m_oPrepared), {}});
        else
            PQfinish(m_hConn);
    }
}

void PgConnection::ClosePool()
{
    ConnectionPool::Get().Clear();
}

// A connection the server ended while it was idle has the server's goodbye (or the end of
// the stream) waiting on its socket: reading it now marks it bad without a round trip, and it
// is re-established before anything is sent.
void PgConnection::EnsureConnected()
{
    if (PQstatus(m_hConn) == CONNECTION_OK)
    {
        pollfd p{PQsocket(m_hConn), POLLIN, 0};
        if (p.fd >= 0 && poll(&p, 1, 0) > 0)
            PQconsumeInput(m_hConn);
    }
    if (PQstatus(m_hConn) != CONNECTION_OK)
        Reconnect();
}

void PgConnection::Reconnect()
{
    if (m_bReconnecting)
        throw Error(ErrorKind::Catalog, "the connection to the server was lost again while "
                                        "re-establishing it: " +
                                            Trimmed(PQerrorMessage(m_hConn)));
    PQreset(m_hConn);
    if (PQstatus(m_hConn) != CONNECTION_OK)
        throw Error(ErrorKind::Catalog,
                    "the connection to the server was lost and cannot be re-established: " +
                        Trimmed(PQerrorMessage(m_hConn)));
    struct Flag
    {
        bool& b;
        ~Flag() { b = false; }
    } flag{m_bReconnecting = true};
    // The new server session has none of the prepared statements.
    for (const auto& [name, sql] : m_oPrepared)
    {
        Result r(PQprepare(m_hConn, name.c_str(), sql.c_str(), 0, nullptr));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
            Fail("preparing a catalog query again after reconnecting", r.get());
    }
    if (!m_osListen.empty())
    {
        // What was notified while the connection was down is lost: the listener is told so.
        Result r(PQexec(m_hConn, ("LISTEN " + m_osListen).c_str()));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
            m_osListen.clear();
        m_bMissedNotifications = true;
    }
    if (m_fnOnReconnect)
        m_fnOnReconnect();
}

bool PgConnection::Listen(const char* channel)
{
    try
    {
        Exec(("LISTEN " + std::string(channel)).c_str());
    }
    catch (const Error&)
    {
        return false; // in recovery: "cannot execute LISTEN during recovery"
    }
    m_osListen = channel;
    return true;
}

bool PgConnection::Notified(const std::string& payload)
{
    bool notified = m_bMissedNotifications || m_osListen.empty();
    m_bMissedNotifications = false;
    // One round trip, an empty query (no transaction, nothing parsed): before it answers, the
    // server sends what was notified to this session, so a change committed before this call
    // is never missed. A connection the server ended notifies nothing more: the caller asks
    // the server again, which re-establishes it.
    if (!notified)
    {
        Result r(PQstatus(m_hConn) == CONNECTION_OK ? PQexec(m_hConn, "") : nullptr);
        notified = !r || PQresultStatus(r.get()) != PGRES_EMPTY_QUERY;
    }
    while (PGnotify* n = PQnotifies(m_hConn))
    {
        notified = notified || (m_osListen == n->relname && payload == n->extra);
        PQfreemem(n);
    }
    return notified;
}

bool PgConnection::IsHotStandby() const
{
    const char* v = m_hConn ? PQparameterStatus(m_hConn, "in_hot_standby") : nullptr;
    return v != nullptr && strcmp(v, "on") == 0;
}

void PgConnection::Fail(const char* what, const PGresult* r)
{
    std::string msg = Trimmed(r ? PQresultErrorMessage(r) : "");
    if (msg.empty())
        msg = Trimmed(PQerrorMessage(m_hConn));
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    if (state && strcmp(state, "57014") == 0 && msg.find("statement timeout") != std::string::npos)
        msg += CPLSPrintf(" (the statement ran longer than the statement timeout of %g s: "
                          "option statement_timeout or PGMOSAIC_STATEMENT_TIMEOUT)",
                          m_nStatementTimeoutMs / 1000.0);
    else if (state && strcmp(state, "25006") == 0 && m_eAccess == Access::ReadOnly)
        msg += " (reads through PGMOSAIC run in read-only transactions: a where= or sort= "
               "expression cannot change the database)";
    else if (state && strcmp(state, "25006") == 0)
        msg += std::string(" (the server accepts no writes: ") +
               (IsHotStandby() ? "it is a hot standby, in recovery"
                               : "its sessions are read-only") +
               "; writes go to the primary)";
    throw Error(ErrorKind::Catalog, std::string(what) + " failed: " + msg);
}

namespace
{
bool Succeeded(const PGresult* r)
{
    const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}
} // namespace

// Read-only: one pipeline, one round trip, one transaction (the statements up to the sync):
// set_config(..., true) makes it read-only and sets its statement timeout, then the
// statement. Once the transaction has run a query it cannot be made read-write again, and
// the timer of a statement is armed when it starts. Read-write: the statement alone.
PgConnection::Result PgConnection::SendAndCollect(const std::function<int(PGconn*)>& send)
{
    PGconn* c = m_hConn;
    if (m_eAccess == Access::ReadWrite)
    {
        if (!send(c))
            return nullptr;
        Result last;
        while (PGresult* r = PQgetResult(c))
        {
            if (!last || Succeeded(last.get()))
                last.reset(r); // the first failure is kept
            else
                PQclear(r);
        }
        return last;
    }
    if (!PQenterPipelineMode(c))
        return nullptr;
    const std::string prefix = "SELECT pg_catalog.set_config('transaction_read_only', 'on', true), "
                               "pg_catalog.set_config('statement_timeout', '" +
                               std::to_string(m_nStatementTimeoutMs) + "', true)";
    const bool sent =
        PQsendQueryParams(c, prefix.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) && send(c);
    Result statement, firstError;
    if (PQpipelineSync(c))
    {
        int query = 0; // 0: the prefix, 1: the statement (when sent)
        while (true)
        {
            PGresult* r = PQgetResult(c);
            if (r == nullptr)
            {
                if (PQstatus(c) != CONNECTION_OK || ++query > 2)
                    break;
                continue;
            }
            const ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_SYNC)
            {
                PQclear(r);
                break;
            }
            if (query == 1 && sent && !statement)
                statement.reset(r);
            else if (st == PGRES_FATAL_ERROR && !firstError)
                firstError.reset(r);
            else
                PQclear(r);
        }
    }
    PQexitPipelineMode(c);
    if (statement && (Succeeded(statement.get()) || !firstError))
        return statement;
    return firstError ? std::move(firstError) : std::move(statement);
}

PgConnection::Result PgConnection::Run(const char* what, const std::function<int(PGconn*)>& send)
{
    for (int attempt = 0;; ++attempt)
    {
        EnsureConnected();
        Result r = SendAndCollect(send);
        if (Succeeded(r.get()))
            return r;
        // Lost while reading: a read is retried once on a new connection.
        if (PQstatus(m_hConn) != CONNECTION_OK && attempt == 0 && m_eAccess == Access::ReadOnly &&
            !m_bReconnecting)
            continue;
        Fail(what, r.get());
    }
}

PgConnection::Result PgConnection::Exec(const char* sql, const std::vector<std::string>& params)
{
    std::vector<const char*> values;
    for (const auto& p : params)
        values.push_back(p.c_str());
    return Run("catalog query", [&](PGconn* c) {
        return PQsendQueryParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(),
                                 nullptr, nullptr, 0);
    });
}

void PgConnection::Prepare(const char* name, const char* sql, int nParams)
{
    EnsureConnected();
    auto it = m_oPrepared.find(name);
    if (it != m_oPrepared.end())
    {
        if (it->second == sql)
            return; // prepared by an earlier dataset on this connection
        Result r(PQexec(m_hConn, ("DEALLOCATE " + std::string(name)).c_str()));
        if (!Succeeded(r.get()))
            Fail("replacing a catalog query", r.get());
        m_oPrepared.erase(it);
    }
    Result r(PQprepare(m_hConn, name, sql, nParams, nullptr));
    if (!Succeeded(r.get()))
        Fail("preparing a catalog query", r.get());
    m_oPrepared[name] = sql;
}

PgConnection::Result PgConnection::ExecPrepared(const char* name,
                                                const std::vector<std::string>& params)
{
    std::vector<const char*> values;
    for (const auto& p : params)
        values.push_back(p.c_str());
    return Run("item lookup", [&](PGconn* c) {
        return PQsendQueryPrepared(c, name, static_cast<int>(values.size()), values.data(), nullptr,
                                   nullptr, 0);
    });
}

PgConnection::Result
PgConnection::ExecPrepared(const char* name, const std::vector<std::optional<std::string>>& params)
{
    std::vector<const char*> values;
    for (const auto& p : params)
        values.push_back(p ? p->c_str() : nullptr);
    return Run("item lookup", [&](PGconn* c) {
        return PQsendQueryPrepared(c, name, static_cast<int>(values.size()), values.data(), nullptr,
                                   nullptr, 0);
    });
}
