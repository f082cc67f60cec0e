// The PGMOSAIC: connection string: a libpq conninfo with pgmosaic's own keys mixed in.
//   PGMOSAIC:dbname=gis host=localhost mosaic=landsat
// pgmosaic's keys are taken out; everything else is handed to libpq unchanged.
#pragma once

#include <map>
#include <string>

namespace pgmosaic
{

constexpr const char* kConnectionPrefix = "PGMOSAIC:";
// The same dataset as a path, for tools that want a file name (gdal2tiles.py checks one exists;
// QGIS names a layer after its base name): /vsipgmosaic/<libpq conninfo>/<mosaic>.
constexpr const char* kPathPrefix = "/vsipgmosaic/";

// Keys pgmosaic owns in a connection string (and as open options, upper-cased).
constexpr const char* kKeyMosaic = "mosaic";
constexpr const char* kKeyMethod = "method";
constexpr const char* kKeyBands = "bands";
constexpr const char* kKeyResampling = "resampling";
constexpr const char* kKeyMissing = "missing";
constexpr const char* kKeyNumThreads = "num_threads";
constexpr const char* kKeyPrefetch = "prefetch";
constexpr const char* kKeyWhere = "where";
constexpr const char* kKeyTime = "time";
constexpr const char* kKeySort = "sort";
constexpr const char* kKeyIds = "ids";
constexpr const char* kKeyStatementTimeout = "statement_timeout"; // seconds, reads
constexpr const char* kKeyMask = "mask";
constexpr const char* kKeyMaxItems = "max_items";
constexpr const char* kKeyAsof = "asof";

struct ConnectionString
{
    std::string conninfo;                       // the libpq part, re-quoted
    std::map<std::string, std::string> options; // pgmosaic's keys, lower-case
    std::string Get(const std::string& key) const;
};

// True when `text` starts with the PGMOSAIC: prefix (case-insensitive).
bool HasConnectionPrefix(const char* text);

// True when `text` starts with /vsipgmosaic/ (case-insensitive).
bool HasPathPrefix(const char* text);

// The connection text (what follows PGMOSAIC:) of a dataset name in either form: a path's last
// component is the mosaic. Throws Error(InvalidParameter) for a path without one.
std::string ConnectionTextOf(const std::string& name);

// Parses the text after the prefix. Throws Error(InvalidParameter) naming the problem.
ConnectionString ParseConnectionString(const std::string& text);

// Quotes a conninfo value as libpq expects ('...' with \' and \\ escapes) when needed.
std::string QuoteConnValue(const std::string& value);

// The conninfo with any password replaced by ***, for messages.
std::string RedactConninfo(const std::string& conninfo);

} // namespace pgmosaic
