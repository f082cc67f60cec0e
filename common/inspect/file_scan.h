// What the catalog's health checks and bulk registration ask of the file system, under the
// backend's file access policy: the state of one raster file, and the rasters of a directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "path_policy.h"

namespace pgmosaic
{

struct FileState
{
    enum class Kind
    {
        Present,
        Missing, // no such file (or an unknown object / URL)
        Denied,  // the policy refuses the path (outside the roots, refused network prefix, ...)
    };
    Kind kind = Kind::Missing;
    std::int64_t size = 0;
    std::int64_t mtime = 0; // seconds since the epoch
    std::string detail;     // why it is missing or denied
};

// The state of the file `path` designates. Throws Error(Permission) only when backend file
// access is disabled altogether: every per-file problem is a state, so that a check of many
// files reports them all.
FileState StatRasterFile(const FileAccessPolicy& policy, const std::string& path);

// The files below local `directory` whose name matches the glob `pattern` (case-insensitive;
// "*", "?", "[...]"), recursively or not, as paths relative to `directory`, sorted. Throws Error
// naming the directory when the policy refuses it or it cannot be read, and when more than
// `maxFiles` files match.
std::vector<std::string> ListRasterFiles(const FileAccessPolicy& policy,
                                         const std::string& directory, const std::string& pattern,
                                         bool recursive, std::size_t maxFiles = 10000000);

} // namespace pgmosaic
