// Byte ranges of objects on HTTP servers and object storage, fetched by range requests: many in
// flight at once on one thread (libcurl's multi interface, the libcurl GDAL uses, configured by
// GDAL's own CPLHTTPSetOptions: proxy, TLS, timeouts, GDAL_HTTP_* options), adjacent ranges of
// an object merged into one request, every request conditional on the object's identity.
//
// URLs: /vsicurl/<url> is the URL itself; /vsis3/, /vsigs/, /vsiaz/, /vsioss/, ... are signed
// by GDAL (VSIGetSignedURL, with its credentials from its usual sources and its path-specific
// options): nothing secret passes through pgmosaic. An object GDAL cannot sign a URL for is
// not fetched here (ResolveUrl returns empty): its reader goes through GDAL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cancel.h"

namespace pgmosaic
{

// Network references, read through GDAL's HTTP file systems.
bool IsNetworkPath(const std::string& path);

// What identifies one version of an object: its ETag, size and Last-Modified time. Unknown
// parts are not compared.
struct ObjectIdentity
{
    std::string etag; // as the server sends it, quotes included; empty: unknown
    std::optional<std::int64_t> size;
    std::optional<std::int64_t> mtime; // seconds since 1970
};

struct ByteRange
{
    std::uint64_t offset = 0, length = 0;
};

// One object's part in a fetch: the ranges wanted, and where their bytes go.
struct RangeFetch
{
    std::string path;  // the VSI path (what errors name)
    std::string url;   // ResolveUrl(path)
    ObjectIdentity identity;          // expected (requests are conditional on it); learned when empty
    std::vector<ByteRange> ranges;    // wanted
    // Results, filled by FetchRanges: the merged ranges fetched and their bytes.
    std::vector<std::pair<std::uint64_t, std::string>> fetched;
    // When the object is not the expected one (HTTP 412, another ETag, size or time): why.
    std::string changed;
    // When the object could not be read (missing, refused, unreachable, truncated): why, and
    // the kind of error (ErrorKind as int).
    std::string error;
    int errorKind = 0;
};

// The URL to fetch `path` from, or empty when GDAL cannot give one (then GDAL reads it).
std::string ResolveUrl(const std::string& path);

// Ranges closer than this are fetched in one request (the bytes between are read too).
constexpr std::uint64_t kMergeGap = 16384;

// Fetches every object's ranges, at most `concurrency` requests in flight. Failures are
// reported per object (error, changed), never thrown; Cancelled is thrown when `cancel` says so.
// Counts requests and bytes in the process-wide totals (FetchTotals).
void FetchRanges(std::vector<RangeFetch>& work, int concurrency, const Cancel& cancel = {});

struct FetchTotals
{
    std::int64_t requests = 0, bytes = 0;
};
FetchTotals GetFetchTotals();

// The I/O concurrency setting: PGMOSAIC_IO_CONCURRENCY (default 32), independent of the
// number of decoding threads.
int IoConcurrency();

} // namespace pgmosaic
