// Which files the backend may open: off unless a superuser enables it, and then only below the
// allowed roots, checked after symlinks and ".." are resolved.
#pragma once

#include <string>
#include <vector>

namespace pgmosaic
{

struct FileAccessPolicy
{
    bool enabled = false;
    std::vector<std::string> allowedRoots; // absolute directory prefixes
    // Network references (/vsicurl/, /vsis3/, /vsigs/, /vsiaz/) allowed when below one of these
    // prefixes (raster references, see pathref.h); none when empty.
    std::vector<std::string> networkPrefixes;
    // GDAL drivers (short names) the backend may open files with; any when empty.
    std::vector<std::string> allowedDrivers;
    // What refusals name: the settings that allow paths, and the access refused (the GDAL
    // driver applies the same policy to its reads, under its own configuration options).
    std::string rootsSetting = "pgmosaic.allowed_roots";
    std::string networkSetting = "pgmosaic.allowed_network_prefixes";
    std::string accessName = "backend file access";
};

// Splits a comma-separated list of roots, trimming blanks and dropping empty entries.
std::vector<std::string> ParseRootList(const std::string& csv);

// Returns the canonical path of `path` when the policy allows it; throws Error (Permission,
// NotFound or InvalidParameter) naming the path otherwise.
std::string CheckPathAllowed(const FileAccessPolicy& policy, const std::string& path);

// Throws Error(Permission) naming the path and the driver unless the policy allows the driver.
void CheckDriverAllowed(const FileAccessPolicy& policy, const std::string& driver,
                        const std::string& path);

} // namespace pgmosaic
