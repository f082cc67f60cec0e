#include "path_policy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "error.h"
#include "pathref.h"

namespace pgmosaic
{
namespace
{

std::string Trim(const std::string& s)
{
    const char* ws = " \t\r\n";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos)
        return "";
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::string RealPath(const std::string& path)
{
    char buf[PATH_MAX];
    if (realpath(path.c_str(), buf) == nullptr)
    {
        if (errno == ENOENT || errno == ENOTDIR)
            throw Error(ErrorKind::NotFound, "raster file not found: " + path);
        throw Error(ErrorKind::Io, "cannot resolve path " + path + ": " + std::strerror(errno));
    }
    return buf;
}

bool IsUnder(const std::string& path, std::string root)
{
    while (root.size() > 1 && root.back() == '/')
        root.pop_back();
    if (root == "/")
        return true;
    return path.compare(0, root.size(), root) == 0 &&
           (path.size() == root.size() || path[root.size()] == '/');
}

} // namespace

std::vector<std::string> ParseRootList(const std::string& csv)
{
    std::vector<std::string> roots;
    size_t start = 0;
    while (start <= csv.size())
    {
        size_t comma = csv.find(',', start);
        if (comma == std::string::npos)
            comma = csv.size();
        std::string r = Trim(csv.substr(start, comma - start));
        if (!r.empty())
            roots.push_back(r);
        start = comma + 1;
    }
    return roots;
}

std::string CheckPathAllowed(const FileAccessPolicy& policy, const std::string& path)
{
    if (!policy.enabled)
        throw Error(ErrorKind::Permission,
                    "backend file access is disabled; a superuser must set "
                    "pgmosaic.enable_file_access = on and pgmosaic.allowed_roots");
    if (path.find('\0') != std::string::npos)
        throw Error(ErrorKind::InvalidParameter, "raster path contains a NUL byte");
    if (path.rfind("/vsi", 0) == 0)
    {
        if (policy.networkPrefixes.empty())
            throw Error(ErrorKind::Permission, "virtual file system path " + path +
                                                   " is not allowed for " + policy.accessName);
        // Validated and normalised as a raster reference: a supported network scheme, no "..".
        const std::string ref = NormalizePathRef(path);
        for (const auto& prefix : policy.networkPrefixes)
        {
            std::string p;
            try
            {
                p = NormalizePathRef(prefix);
            }
            catch (const Error&)
            {
                continue; // an invalid entry allows nothing
            }
            if (SchemeOf(p) != PathScheme::Local && SchemeOf(p) != PathScheme::Root &&
                IsPathUnder(ref, p))
                return ref;
        }
        throw Error(ErrorKind::Permission,
                    "network path " + path + " is outside " + policy.networkSetting);
    }
    if (path.empty() || path[0] != '/')
        throw Error(ErrorKind::InvalidParameter, "raster path must be absolute: \"" + path + "\"");
    if (policy.allowedRoots.empty())
        throw Error(ErrorKind::Permission,
                    "path " + path + " is not allowed: " + policy.rootsSetting + " is empty");
    const std::string canonical = RealPath(path);
    for (const auto& root : policy.allowedRoots)
    {
        std::string canonicalRoot = root;
        char buf[PATH_MAX];
        if (realpath(root.c_str(), buf) != nullptr)
            canonicalRoot = buf;
        if (IsUnder(canonical, canonicalRoot))
            return canonical;
    }
    throw Error(ErrorKind::Permission, "path " + path + " is outside " + policy.rootsSetting +
                                           " (resolves to " + canonical + ")");
}

void CheckDriverAllowed(const FileAccessPolicy& policy, const std::string& driver,
                        const std::string& path)
{
    if (policy.allowedDrivers.empty())
        return;
    for (const auto& d : policy.allowedDrivers)
    {
        if (d.size() == driver.size() &&
            std::equal(d.begin(), d.end(), driver.begin(), [](char a, char b) {
                return std::tolower((unsigned char)a) == std::tolower((unsigned char)b);
            }))
            return;
    }
    throw Error(ErrorKind::Permission, "raster " + path + " is a " + driver + " file, and " +
                                           driver + " is not in pgmosaic.allowed_drivers");
}

} // namespace pgmosaic
