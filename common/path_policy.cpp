#include "path_policy.h"

#include <unordered_map>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <sys/stat.h>
#include <memory>

#include "cpl_string.h"
#include "error.h"
#include "types/pathref.h"

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

// The path with "." and ".." taken lexically and repeated slashes folded, without touching the
// file system ("/a/b/../c" is "/a/c").
std::string LexicalPath(const std::string& path)
{
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= path.size())
    {
        size_t slash = path.find('/', start);
        if (slash == std::string::npos)
            slash = path.size();
        const std::string part = path.substr(start, slash - start);
        if (part == "..")
        {
            if (!parts.empty())
                parts.pop_back();
        }
        else if (!part.empty() && part != ".")
            parts.push_back(part);
        start = slash + 1;
    }
    std::string out;
    for (const auto& p : parts)
        out += "/" + p;
    return out.empty() ? "/" : out;
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
    // Each root as written and as resolved.
    std::vector<std::string> roots;
    for (const auto& root : policy.allowedRoots)
    {
        roots.push_back(LexicalPath(root));
        char buf[PATH_MAX];
        if (realpath(root.c_str(), buf) != nullptr)
            roots.push_back(buf);
    }
    const auto under = [&](const std::string& p) {
        return std::any_of(roots.begin(), roots.end(),
                           [&](const std::string& r) { return IsUnder(p, r); });
    };
    // A path outside the roots is refused before the file system is asked anything, so that
    // the answer says nothing of what exists there; one inside whose symbolic links lead out is
    // refused without saying where they lead.
    if (!under(LexicalPath(path)))
        throw Error(ErrorKind::Permission, "path " + path + " is outside " + policy.rootsSetting);
    const std::string canonical = RealPath(path);
    if (!under(canonical))
        throw Error(ErrorKind::Permission,
                    "path " + path +
                        " is outside " + policy.rootsSetting + " (a symbolic link leads out of them)");
    return canonical;
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
                                           driver + " is not in " + policy.driversSetting);
}

namespace
{

// The names in directory `dir` (empty when it cannot be listed), kept by the calling thread
// while the directory's modification time stays what it was: a read opening the items of one
// directory listed it once per item (400 names each time, a twentieth of zonal_stats' time); a
// stat now tells whether a listing still stands. A directory modified less than a second before
// it was listed is listed again next time (its time may not yet show a change in the same clock
// tick). Only names are kept: every sidecar candidate is still checked against the policy.
const std::vector<std::string>& DirectoryNames(const std::string& dir)
{
    struct Listing
    {
        std::vector<std::string> names;
        timespec mtime{};
        bool settled = false;
    };
    thread_local std::unordered_map<std::string, Listing> listings;
    struct stat st
    {
    };
    const bool known = stat(dir.c_str(), &st) == 0;
    const auto it = listings.find(dir);
    if (known && it != listings.end() && it->second.settled &&
        it->second.mtime.tv_sec == st.st_mtim.tv_sec &&
        it->second.mtime.tv_nsec == st.st_mtim.tv_nsec)
        return it->second.names;
    if (listings.size() >= 64)
        listings.clear();
    Listing& l = listings[dir];
    l.names.clear();
    l.mtime = st.st_mtim;
    l.settled = known && time(nullptr) > st.st_mtim.tv_sec + 1;
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
    if (d)
        while (const dirent* e = readdir(d.get()))
            l.names.emplace_back(e->d_name);
    return l.names;
}

} // namespace

std::vector<std::string> AllowedSiblingFiles(const FileAccessPolicy& policy,
                                             const std::string& canonical)
{
    std::vector<std::string> siblings;
    const size_t slash = canonical.rfind('/');
    if (canonical.rfind("/vsi", 0) == 0 || slash == std::string::npos)
        return siblings; // network: no sidecar
    const std::string dir = slash == 0 ? "/" : canonical.substr(0, slash);
    const std::string name = canonical.substr(slash + 1);
    const std::string stem = name.substr(0, name.find('.'));
    // The file itself is listed, as in GDAL's own listing: an empty list would reach GDAL as
    // none at all, and GDAL would look for sidecars itself.
    siblings.push_back(name);
    for (const std::string& entry : DirectoryNames(dir))
    {
        // Sidecars share the file's stem, then a dot (a.tif.ovr, a.aux.xml, a.tif.msk, a.tfw)
        // or an RPC suffix (a_rpc.txt); not other files that start like it (a1.tif).
        if (entry == name || entry.compare(0, stem.size(), stem) != 0 ||
            (entry.compare(stem.size(), 1, ".") != 0 &&
             !EQUAL(entry.c_str() + stem.size(), "_rpc.txt")))
            continue;
        const std::string full = dir + "/" + entry;
        try
        {
            CheckPathAllowed(policy, full);
        }
        catch (const Error&)
        {
            continue; // outside the roots (a symbolic link leading out) or gone
        }
        // A sidecar GDAL would open as a raster of a driver the policy refuses (a VRT named
        // .ovr or .msk reads any file or URL it names) is left out too; text and XML sidecars
        // (world files, .prj, .aux.xml) are no raster.
        if (!policy.allowedDrivers.empty())
        {
            GDALDriverH any = GDALIdentifyDriverEx(full.c_str(), GDAL_OF_RASTER, nullptr, nullptr);
            if (any != nullptr)
            {
                try
                {
                    CheckDriverAllowed(policy, GDALGetDriverShortName(any), full);
                }
                catch (const Error&)
                {
                    continue;
                }
            }
        }
        siblings.push_back(entry);
    }
    return siblings;
}

GDALDatasetUniquePtr OpenAllowed(const FileAccessPolicy& policy, const std::string& path,
                                 std::string* canonicalOut)
{
    const std::string canonical = CheckPathAllowed(policy, path);
    CPLStringList drivers, siblings;
    for (const auto& d : policy.allowedDrivers)
        drivers.AddString(d.c_str());
    for (const auto& s : AllowedSiblingFiles(policy, canonical))
        siblings.AddString(s.c_str());
    // A network path gets its own name as the only sibling: a list GDAL is given, so that it
    // asks the server for no sidecar (an empty one would reach GDAL as no list at all).
    if (siblings.empty())
        siblings.AddString(CPLGetFilename(canonical.c_str()));
    char** siblingList = siblings.List();
    GdalErrorCollector errors;
    GDALDatasetUniquePtr ds(GDALDataset::FromHandle(
        GDALOpenEx(canonical.c_str(), GDAL_OF_RASTER, drivers.empty() ? nullptr : drivers.List(),
                   nullptr, siblingList)));
    if (!ds)
    {
        if (!drivers.empty())
        {
            // A file of a refused format is named with its driver rather than reported as
            // unreadable (identifying with every driver costs time: only on failure).
            GDALDriverH drv = GDALIdentifyDriverEx(canonical.c_str(), GDAL_OF_RASTER, nullptr,
                                                   siblingList);
            if (drv != nullptr)
                CheckDriverAllowed(policy, GDALGetDriverShortName(drv), path);
        }
        throw Error(ErrorKind::Io, "cannot open raster " + path + ": " +
                                       errors.Message("not a raster GDAL can read"));
    }
    if (canonicalOut != nullptr)
        *canonicalOut = canonical;
    return ds;
}

} // namespace pgmosaic
