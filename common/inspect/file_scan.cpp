#include "inspect/file_scan.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "cpl_vsi.h"

#include "error.h"

namespace pgmosaic
{

FileState StatRasterFile(const FileAccessPolicy& policy, const std::string& path)
{
    if (!policy.enabled)
        CheckPathAllowed(policy, path); // throws the "file access is disabled" error
    FileState state;
    std::string checked;
    try
    {
        checked = CheckPathAllowed(policy, path);
    }
    catch (const Error& e)
    {
        state.kind =
            e.kind() == ErrorKind::NotFound ? FileState::Kind::Missing : FileState::Kind::Denied;
        state.detail = e.what();
        return state;
    }
    VSIStatBufL st;
    // An object on the network is asked again, not answered from what GDAL cached earlier.
    if (checked.rfind("/vsi", 0) == 0)
        VSICurlPartialClearCache(checked.c_str());
    if (VSIStatL(checked.c_str(), &st) != 0)
    {
        state.kind = FileState::Kind::Missing;
        state.detail = "raster file not found: " + path;
        return state;
    }
    state.kind = FileState::Kind::Present;
    state.size = static_cast<std::int64_t>(st.st_size);
    state.mtime = static_cast<std::int64_t>(st.st_mtime);
    return state;
}

std::vector<std::string> ListRasterFiles(const FileAccessPolicy& policy,
                                         const std::string& directory, const std::string& pattern,
                                         bool recursive, std::size_t maxFiles)
{
    namespace fs = std::filesystem;
    if (directory.rfind("/vsi", 0) == 0)
        throw Error(ErrorKind::InvalidParameter,
                    "listing " + directory + ": only local directories can be listed");
    if (pattern.empty())
        throw Error(ErrorKind::InvalidParameter, "the file name pattern is empty");
    const std::string canonical = CheckPathAllowed(policy, directory);
    std::error_code ec;
    if (!fs::is_directory(canonical, ec))
        throw Error(ErrorKind::NotFound, "not a directory: " + directory);

    std::vector<std::string> out;
    auto consider = [&](const fs::directory_entry& entry) {
        std::error_code fileEc;
        if (!entry.is_regular_file(fileEc))
            return;
        const std::string name = entry.path().filename().string();
        if (fnmatch(pattern.c_str(), name.c_str(), FNM_CASEFOLD) != 0)
            return;
        if (out.size() >= maxFiles)
            throw Error(ErrorKind::InvalidParameter,
                        "more than " + std::to_string(maxFiles) + " files match in " + directory);
        out.push_back(entry.path().lexically_relative(canonical).string());
    };
    const auto options = fs::directory_options::skip_permission_denied;
    if (recursive)
    {
        for (fs::recursive_directory_iterator it(canonical, options, ec), end; !ec && it != end;
             it.increment(ec))
            consider(*it);
    }
    else
    {
        for (fs::directory_iterator it(canonical, options, ec), end; !ec && it != end;
             it.increment(ec))
            consider(*it);
    }
    if (ec)
        throw Error(ErrorKind::Io, "cannot list " + directory + ": " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace pgmosaic
