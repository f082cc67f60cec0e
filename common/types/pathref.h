// Raster references: the normalised, validated form of a path the catalog stores.
//
// Accepted forms, and what they normalise to:
//   /data/a.tif                 local absolute path ("//" and "." segments removed)
//   @nas1/2020/a.tif            relative to the named root nas1 (see path_root)
//   /vsicurl/https://h/a.tif    http(s) through GDAL's /vsicurl/ (scheme and host lower-cased)
//   https://h/a.tif             -> /vsicurl/https://h/a.tif
//   /vsis3/bucket/key           object stores: /vsis3/, /vsigs/, /vsiaz/
//   s3://bucket/key             -> /vsis3/bucket/key      (gs:// -> /vsigs/)
// Refused, with the reason and the offending value: NUL and other control characters, ".."
// segments, relative paths, credentials in URLs, other schemes and other GDAL virtual file
// systems (/vsizip/, /vsimem/, ...).
#pragma once

#include <string>

namespace pgmosaic
{

enum class PathScheme
{
    Local,   // /abs/path
    Root,    // @root/relative
    VsiCurl, // /vsicurl/http(s)://...
    VsiS3,   // /vsis3/bucket/key
    VsiGs,   // /vsigs/bucket/key
    VsiAz,   // /vsiaz/container/key
};

// The SQL-visible name of a scheme: local, root, vsicurl, vsis3, vsigs, vsiaz.
const char* PathSchemeName(PathScheme scheme);

// Returns the normalised form of a raster reference; throws Error(InvalidParameter) naming the
// value and the reason when it is not a valid reference. Normalising is idempotent.
std::string NormalizePathRef(const std::string& input);

// The scheme of an already normalised reference (no validation).
PathScheme SchemeOf(const std::string& normalized);

// For a normalised @root/relative reference: the root name and the relative part; empty strings
// for other schemes.
std::string RootNameOf(const std::string& normalized);
std::string RelativePartOf(const std::string& normalized);

// The reference a root reference designates once its root is `prefix` (a normalised reference
// that is not itself a root reference): prefix/relative, normalised. Throws Error when
// `normalized` is not a root reference or the result is not a valid reference.
std::string ResolveRootRef(const std::string& normalized, const std::string& prefix);

// Whether normalised `path` is `prefix` itself or lies below it (at a "/" boundary).
bool IsPathUnder(const std::string& path, const std::string& prefix);

// Whether `name` is a valid root name: letters, digits, "_" and "-".
bool IsValidRootName(const std::string& name);

// `value` quoted for an error message: control characters escaped, long values shortened.
std::string QuoteForMessage(const std::string& value);

} // namespace pgmosaic
