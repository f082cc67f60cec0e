#include "read/range_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "cpl_conv.h"
#include "cpl_http.h"
#include "cpl_string.h"
#include "cpl_vsi.h"

#include "error.h"

namespace pgmosaic
{
namespace
{

std::atomic<std::int64_t> g_nRequests{0}, g_nBytes{0};

// One connection cache for every fetch of the process: a read reuses the connections of the
// reads before it (a new connection costs a round trip, two with TLS).
class SharedConnections
{
public:
    static CURLSH* Get()
    {
        static SharedConnections shared;
        return shared.m_hShare;
    }

private:
    SharedConnections()
    {
        m_hShare = curl_share_init();
        if (m_hShare == nullptr)
            return;
        curl_share_setopt(m_hShare, CURLSHOPT_LOCKFUNC, Lock);
        curl_share_setopt(m_hShare, CURLSHOPT_UNLOCKFUNC, Unlock);
        curl_share_setopt(m_hShare, CURLSHOPT_USERDATA, this);
        curl_share_setopt(m_hShare, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(m_hShare, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
    static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self)
    {
        static_cast<SharedConnections*>(self)->m_aoMutex[Slot(data)].lock();
    }
    static void Unlock(CURL*, curl_lock_data data, void* self)
    {
        static_cast<SharedConnections*>(self)->m_aoMutex[Slot(data)].unlock();
    }
    static size_t Slot(curl_lock_data data)
    {
        return std::min<size_t>(static_cast<size_t>(data), 15);
    }
    CURLSH* m_hShare = nullptr;
    std::mutex m_aoMutex[16];
};

// One HTTP request: a merged range of one object.
struct Request
{
    RangeFetch* owner = nullptr;
    std::uint64_t offset = 0, length = 0;
    CURL* curl = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    std::string etag, contentRange, lastModified;
    std::uint64_t limit = 0; // bytes kept at most
    char errorBuffer[CURL_ERROR_SIZE] = {0};
};

size_t OnHeader(char* data, size_t size, size_t count, void* user)
{
    auto* r = static_cast<Request*>(user);
    const size_t n = size * count;
    std::string line(data, n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
        line.pop_back();
    if (STARTS_WITH_CI(line.c_str(), "HTTP/"))
    {
        r->etag.clear(); // a redirect's or a 100 Continue's headers are not the object's
        r->contentRange.clear();
        r->lastModified.clear();
        return n;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
        return n;
    const std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (EQUAL(name.c_str(), "ETag"))
        r->etag = value;
    else if (EQUAL(name.c_str(), "Content-Range"))
        r->contentRange = value;
    else if (EQUAL(name.c_str(), "Last-Modified"))
        r->lastModified = value;
    return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user)
{
    auto* r = static_cast<Request*>(user);
    const size_t n = size * count;
    if (r->body.size() + n > r->limit)
        return 0; // more than asked for: abort (CURLE_WRITE_ERROR)
    r->body.append(data, n);
    return n;
}

// A weak ETag (W/"x") is the same version as "x" for our purpose: the server says so.
std::string StrongEtag(std::string e)
{
    if (e.rfind("W/", 0) == 0 || e.rfind("w/", 0) == 0)
        e.erase(0, 2);
    return e;
}

std::vector<ByteRange> Merge(std::vector<ByteRange> ranges)
{
    std::sort(ranges.begin(), ranges.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
    std::vector<ByteRange> out;
    constexpr std::uint64_t kMaxRequest = 64 << 20;
    for (const ByteRange& r : ranges)
    {
        if (r.length == 0)
            continue;
        if (!out.empty() && r.offset <= out.back().offset + out.back().length + kMergeGap &&
            r.offset + r.length - out.back().offset <= kMaxRequest)
        {
            const std::uint64_t end =
                std::max(out.back().offset + out.back().length, r.offset + r.length);
            out.back().length = end - out.back().offset;
        }
        else
            out.push_back(r);
    }
    return out;
}

void Fail(RangeFetch& f, ErrorKind kind, const std::string& why)
{
    if (f.error.empty())
    {
        f.error = why;
        f.errorKind = static_cast<int>(kind);
    }
}

// Checks a finished request against what the object should be, and keeps its bytes.
void Finish(Request& r, CURLcode code)
{
    RangeFetch& f = *r.owner;
    long status = 0;
    curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && status == 200))
    {
        // curl's own words, and its details when they carry no timing (messages stay the same
        // from run to run).
        std::string why = curl_easy_strerror(code);
        if (r.errorBuffer[0] && strstr(r.errorBuffer, " ms") == nullptr)
            why += std::string(" (") + r.errorBuffer + ")";
        Fail(f, ErrorKind::Io,
             std::string("cannot fetch bytes ") + std::to_string(r.offset) + "-" +
                 std::to_string(r.offset + r.length - 1) + ": " + why);
        return;
    }
    if (status == 412 || status == 416)
    {
        f.changed = status == 412 ? "the server says it is no longer the version registered "
                                    "(HTTP 412: its ETag or modification time differs)"
                                  : "it is shorter than registered (HTTP 416)";
        return;
    }
    if (status == 404 || status == 410)
        return Fail(f, ErrorKind::NotFound,
                    "the object does not exist (HTTP " + std::to_string(status) + ")");
    if (status == 401 || status == 403)
        return Fail(f, ErrorKind::Permission,
                    "access denied (HTTP " + std::to_string(status) + ")");
    if (status != 200 && status != 206)
        return Fail(f, ErrorKind::Io, "HTTP " + std::to_string(status));
    // The object's identity: learned from the first answer when nothing was recorded, then
    // every answer must agree.
    std::optional<std::int64_t> total;
    std::uint64_t first = 0;
    if (status == 206)
    {
        unsigned long long a = 0, b = 0, t = 0;
        if (sscanf(r.contentRange.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) == 3)
        {
            first = a;
            total = static_cast<std::int64_t>(t);
        }
        else if (sscanf(r.contentRange.c_str(), "bytes %llu-%llu/*", &a, &b) == 2)
            first = a;
        else
            return Fail(f, ErrorKind::Io, "a range answer without a valid Content-Range (\"" +
                                              r.contentRange + "\")");
    }
    else
        total = static_cast<std::int64_t>(r.body.size());
    std::optional<std::int64_t> mtime;
    if (!r.lastModified.empty())
    {
        const time_t t = curl_getdate(r.lastModified.c_str(), nullptr);
        if (t != -1)
            mtime = static_cast<std::int64_t>(t);
    }
    ObjectIdentity& want = f.identity;
    if (!want.etag.empty() && !r.etag.empty() && StrongEtag(want.etag) != StrongEtag(r.etag))
    {
        f.changed = "its ETag is " + r.etag + ", registered " + want.etag;
        return;
    }
    if (want.size && total && *want.size != *total)
    {
        f.changed = "its size is " + std::to_string(*total) + " bytes, registered " +
                    std::to_string(*want.size);
        return;
    }
    if (want.etag.empty() && want.mtime && mtime && *want.mtime != *mtime)
    {
        f.changed = "it was modified at " + std::to_string(*mtime) +
                    " (seconds since 1970), registered " + std::to_string(*want.mtime);
        return;
    }
    if (want.etag.empty())
        want.etag = r.etag;
    if (!want.size)
        want.size = total;
    if (!want.mtime)
        want.mtime = mtime;
    // The bytes asked for, all of them (up to the end of the object).
    const std::uint64_t length =
        total && r.offset + r.length > static_cast<std::uint64_t>(*total)
            ? static_cast<std::uint64_t>(*total) - std::min<std::uint64_t>(r.offset, *total)
            : r.length;
    std::string bytes;
    if (status == 200)
    {
        if (r.offset + length > r.body.size())
            return Fail(f, ErrorKind::Io, "truncated answer: " + std::to_string(r.body.size()) +
                                              " bytes where " +
                                              std::to_string(r.offset + length) +
                                              " were needed");
        bytes = r.body.substr(r.offset, length);
    }
    else
    {
        if (first != r.offset || r.body.size() < length)
            return Fail(f, ErrorKind::Io,
                        "truncated answer: " + std::to_string(r.body.size()) + " of " +
                            std::to_string(length) + " bytes from offset " +
                            std::to_string(r.offset));
        bytes = std::move(r.body);
        bytes.resize(length);
    }
    g_nBytes += static_cast<std::int64_t>(bytes.size());
    f.fetched.emplace_back(r.offset, std::move(bytes));
}

bool Setup(Request& r, CURLSH* share)
{
    r.curl = curl_easy_init();
    if (r.curl == nullptr)
        return false;
    // GDAL's HTTP settings (proxy, TLS, timeouts, user agent, ...), and the headers set for
    // the object's path (a path root's GDAL_HTTP_HEADERS), which GDAL 3.6 applies to no path.
    r.headers = static_cast<curl_slist*>(CPLHTTPSetOptions(r.curl, r.owner->url.c_str(), nullptr));
    const char* own = VSIGetPathSpecificOption(r.owner->path.c_str(), "GDAL_HTTP_HEADERS", nullptr);
    const char* global = CPLGetConfigOption("GDAL_HTTP_HEADERS", nullptr);
    if (own != nullptr && (global == nullptr || strcmp(own, global) != 0))
    {
        // One header a line (\r\n or \n between them, as GDAL_HTTP_HEADERS).
        const CPLStringList lines(CSLTokenizeString2(own, "\r\n", CSLT_STRIPLEADSPACES));
        for (int i = 0; i < lines.size(); ++i)
            r.headers = curl_slist_append(r.headers, lines[i]);
    }
    curl_easy_setopt(r.curl, CURLOPT_URL, r.owner->url.c_str());
    // A server that does not answer the connection fails the read in time (GDAL's setting
    // when given).
    if (CPLGetConfigOption("GDAL_HTTP_CONNECTTIMEOUT", nullptr) == nullptr)
        curl_easy_setopt(r.curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(r.curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(r.curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(r.curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_ERRORBUFFER, r.errorBuffer);
    curl_easy_setopt(r.curl, CURLOPT_PRIVATE, &r);
    if (share)
        curl_easy_setopt(r.curl, CURLOPT_SHARE, share);
    r.headers = curl_slist_append(
        r.headers, CPLSPrintf("Range: bytes=%llu-%llu", static_cast<unsigned long long>(r.offset),
                              static_cast<unsigned long long>(r.offset + r.length - 1)));
    // Conditional on the version registered: a server that honours it answers 412 for any
    // other (the answer's ETag, size and time are checked as well, for servers that do not).
    const ObjectIdentity& id = r.owner->identity;
    if (!id.etag.empty())
        r.headers = curl_slist_append(r.headers, ("If-Match: " + id.etag).c_str());
    else if (id.mtime)
    {
        char date[64];
        const time_t t = static_cast<time_t>(*id.mtime);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        r.headers = curl_slist_append(r.headers, (std::string("If-Unmodified-Since: ") + date).c_str());
    }
    curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, r.headers);
    // A server ignoring the range sends the whole object: kept up to its end of interest.
    r.limit = std::max<std::uint64_t>(r.length, r.offset + r.length) + 1;
    return true;
}

} // namespace

bool IsNetworkPath(const std::string& path)
{
    static const char* const kPrefixes[] = {"/vsicurl/", "/vsis3/",  "/vsigs/",  "/vsiaz/",
                                            "/vsiadls/", "/vsioss/", "/vsiswift/"};
    for (const char* p : kPrefixes)
        if (path.rfind(p, 0) == 0)
            return true;
    return false;
}

std::string ResolveUrl(const std::string& path)
{
    if (path.rfind("/vsicurl/", 0) == 0)
    {
        const std::string url = path.substr(9);
        return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0 ? url : "";
    }
    if (!IsNetworkPath(path))
        return "";
    CPLErrorStateBackuper keep;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    char* signed_ = VSIGetSignedURL(path.c_str(), nullptr);
    CPLPopErrorHandler();
    std::string url = signed_ ? signed_ : "";
    CPLFree(signed_);
    return url;
}

int IoConcurrency()
{
    const int n = std::atoi(CPLGetConfigOption("PGMOSAIC_IO_CONCURRENCY", "32"));
    return std::max(1, std::min(n, 256));
}

FetchTotals GetFetchTotals()
{
    return {g_nRequests.load(), g_nBytes.load()};
}

void FetchRanges(std::vector<RangeFetch>& work, int concurrency, const Cancel& cancel)
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    std::vector<std::unique_ptr<Request>> requests;
    for (RangeFetch& f : work)
    {
        if (f.url.empty())
        {
            Fail(f, ErrorKind::Io, "no URL to fetch it from");
            continue;
        }
        for (const ByteRange& m : Merge(f.ranges))
        {
            auto r = std::make_unique<Request>();
            r->owner = &f;
            r->offset = m.offset;
            r->length = m.length;
            requests.push_back(std::move(r));
        }
    }
    if (requests.empty())
        return;
    CURLM* multi = curl_multi_init();
    if (multi == nullptr)
        throw Error(ErrorKind::Internal, "cannot start HTTP requests (curl_multi_init)");
    struct Cleanup
    {
        CURLM* multi;
        std::vector<std::unique_ptr<Request>>& requests;
        ~Cleanup()
        {
            for (auto& r : requests)
                if (r->curl)
                {
                    curl_multi_remove_handle(multi, r->curl);
                    curl_easy_cleanup(r->curl);
                    curl_slist_free_all(r->headers);
                }
            curl_multi_cleanup(multi);
        }
    } cleanup{multi, requests};
    CURLSH* share = SharedConnections::Get();
    const size_t limit = static_cast<size_t>(std::max(1, concurrency));
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(limit));
    size_t next = 0, running = 0;
    auto start = [&]() {
        while (running < limit && next < requests.size())
        {
            Request& r = *requests[next++];
            // Once an object failed or changed, its other ranges are not asked for.
            if (!r.owner->error.empty() || !r.owner->changed.empty())
                continue;
            if (!Setup(r, share))
            {
                Fail(*r.owner, ErrorKind::Internal, "cannot start an HTTP request");
                continue;
            }
            curl_multi_add_handle(multi, r.curl);
            ++running;
            ++g_nRequests;
        }
    };
    start();
    while (running > 0)
    {
        int still = 0;
        curl_multi_perform(multi, &still);
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &queued))
        {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char* privateData = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &privateData);
            Request* done = reinterpret_cast<Request*>(privateData);
            const CURLcode code = msg->data.result;
            curl_multi_remove_handle(multi, done->curl);
            Finish(*done, code);
            curl_easy_cleanup(done->curl);
            curl_slist_free_all(done->headers);
            done->curl = nullptr;
            done->headers = nullptr;
            done->body.clear();
            done->body.shrink_to_fit();
            --running;
        }
        start();
        if (running == 0)
            break;
        cancel.Check("fetching byte ranges");
        curl_multi_poll(multi, nullptr, 0, 100, nullptr);
    }
}

} // namespace pgmosaic
