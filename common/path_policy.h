// Which files the backend may open: off unless a superuser enables it, and then only below the
// allowed roots, checked after symlinks and ".." are resolved.
#pragma once

#include <string>
#include <vector>

#include "gdal_priv.h"

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
    std::string driversSetting = "pgmosaic.allowed_drivers";
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

// The files beside a checked canonical path that GDAL may open with it (sidecars: .ovr,
// .aux.xml, .msk, world files), as names: those sharing its stem that the policy allows too.
// None for a network path.
std::vector<std::string> AllowedSiblingFiles(const FileAccessPolicy& policy,
                                             const std::string& canonical);

// Opens a raster the policy allows: its checked canonical path (so that a symbolic link
// swapped in after the check cannot lead out), with the allowed drivers only, and GDAL told of
// only the allowed sibling files, so that it opens no file outside the roots. Throws Error
// naming the path (and a refused driver); `canonicalOut` receives the path opened.
GDALDatasetUniquePtr OpenAllowed(const FileAccessPolicy& policy, const std::string& path,
                                 std::string* canonicalOut = nullptr);

} // namespace pgmosaic
