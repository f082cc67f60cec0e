#include "types/pathref.h"

#include <cctype>
#include <cstdio>
#include <vector>

#include "error.h"

namespace pgmosaic
{
namespace
{

constexpr const char* kVsiCurl = "/vsicurl/";
constexpr const char* kVsiS3 = "/vsis3/";
constexpr const char* kVsiGs = "/vsigs/";
constexpr const char* kVsiAz = "/vsiaz/";

bool StartsWith(const std::string& s, const char* prefix)
{
    return s.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

std::string Lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

[[noreturn]] void Invalid(const std::string& value, const std::string& reason)
{
    throw Error(ErrorKind::InvalidParameter,
                "invalid raster reference " + QuoteForMessage(value) + ": " + reason);
}

std::vector<std::string> Split(const std::string& s)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (true)
    {
        size_t slash = s.find('/', start);
        out.push_back(
            s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
        if (slash == std::string::npos)
            return out;
        start = slash + 1;
    }
}

std::string Join(const std::vector<std::string>& parts)
{
    std::string out;
    for (const auto& p : parts)
    {
        if (!out.empty())
            out += '/';
        out += p;
    }
    return out;
}

// A file-system path below some base: "//" and "." collapse, ".." is refused.
std::vector<std::string> FileSegments(const std::string& input, const std::string& rest)
{
    std::vector<std::string> out;
    for (auto& seg : Split(rest))
    {
        if (seg.empty() || seg == ".")
            continue;
        if (seg == "..")
            Invalid(input, "\"..\" segments are not allowed");
        out.push_back(std::move(seg));
    }
    return out;
}

// An object-store key: opaque except that it may not contain empty, "." or ".." segments (they
// would name another object, or one that GDAL and the store understand differently).
std::string ObjectStorePath(const std::string& input, const char* vsiPrefix,
                            const std::string& rest)
{
    std::string body = rest;
    while (!body.empty() && body.back() == '/')
        body.pop_back();
    if (body.empty())
        Invalid(input, "a bucket or container name is required");
    for (const auto& seg : Split(body))
    {
        if (seg == "..")
            Invalid(input, "\"..\" segments are not allowed");
        if (seg.empty() || seg == ".")
            Invalid(input, "empty and \".\" segments are not allowed in object keys");
    }
    return std::string(vsiPrefix) + body;
}

std::string DecodeDots(const std::string& seg)
{
    std::string out;
    for (size_t i = 0; i < seg.size(); ++i)
    {
        if (seg[i] == '%' && i + 2 < seg.size() && seg[i + 1] == '2' &&
            (seg[i + 2] == 'e' || seg[i + 2] == 'E'))
        {
            out += '.';
            i += 2;
        }
        else
            out += seg[i];
    }
    return out;
}

// An http(s) URL for /vsicurl/: scheme and host lower-cased, the rest verbatim.
std::string CurlPath(const std::string& input, const std::string& url)
{
    const size_t sep = url.find("://");
    const std::string scheme = sep == std::string::npos ? "" : Lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https")
        Invalid(input, "/vsicurl/ needs an http:// or https:// URL");
    const size_t hostStart = sep + 3;
    const size_t hostEnd = url.find_first_of("/?#", hostStart);
    const std::string host = url.substr(
        hostStart, hostEnd == std::string::npos ? std::string::npos : hostEnd - hostStart);
    if (host.empty())
        Invalid(input, "the URL has no host");
    if (host.find('@') != std::string::npos)
        Invalid(input, "credentials in URLs are not allowed (use GDAL configuration options)");
    for (char c : host)
    {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
            c != ':' && c != '[' && c != ']')
            Invalid(input, "the URL's host contains an invalid character");
    }
    if (host[0] == '.')
        Invalid(input, "the URL's host is invalid");
    const std::string tail = hostEnd == std::string::npos ? "" : url.substr(hostEnd);
    const size_t queryStart = tail.find_first_of("?#");
    const std::string urlPath = tail.substr(0, queryStart);
    for (const auto& seg : Split(urlPath))
    {
        if (DecodeDots(seg) == "..")
            Invalid(input, "\"..\" segments are not allowed");
    }
    return std::string(kVsiCurl) + scheme + "://" + Lower(host) + tail;
}

} // namespace

const char* PathSchemeName(PathScheme scheme)
{
    switch (scheme)
    {
    case PathScheme::Local:
        return "local";
    case PathScheme::Root:
        return "root";
    case PathScheme::VsiCurl:
        return "vsicurl";
    case PathScheme::VsiS3:
        return "vsis3";
    case PathScheme::VsiGs:
        return "vsigs";
    case PathScheme::VsiAz:
        return "vsiaz";
    }
    return "unknown";
}

bool IsValidRootName(const std::string& name)
{
    if (name.empty())
        return false;
    for (char c : name)
    {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
            return false;
    }
    return true;
}

std::string QuoteForMessage(const std::string& value)
{
    constexpr size_t kMax = 256;
    std::string out = "\"";
    for (size_t i = 0; i < value.size() && i < kMax; ++i)
    {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        if (c < 0x20 || c == 0x7f)
        {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        }
        else
            out += static_cast<char>(c);
    }
    if (value.size() > kMax)
        out += "...";
    return out + "\"";
}

std::string NormalizePathRef(const std::string& input)
{
    if (input.empty())
        Invalid(input, "the reference is empty");
    for (char ch : input)
    {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c == 0)
            Invalid(input, "it contains a NUL byte");
        if (c < 0x20 || c == 0x7f)
            Invalid(input, "it contains a control character");
    }

    if (input[0] == '@')
    {
        const size_t slash = input.find('/');
        const std::string name =
            input.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
        if (!IsValidRootName(name))
            Invalid(input, "a root name is made of letters, digits, \"_\" and \"-\"");
        const auto segs =
            FileSegments(input, slash == std::string::npos ? "" : input.substr(slash + 1));
        if (segs.empty())
            Invalid(input, "a root reference needs a path after the root name (@" + name +
                               "/dir/file.tif)");
        return "@" + name + "/" + Join(segs);
    }

    if (StartsWith(input, "/vsi"))
    {
        if (StartsWith(input, kVsiCurl))
            return CurlPath(input, input.substr(std::char_traits<char>::length(kVsiCurl)));
        if (StartsWith(input, kVsiS3))
            return ObjectStorePath(input, kVsiS3, input.substr(7));
        if (StartsWith(input, kVsiGs))
            return ObjectStorePath(input, kVsiGs, input.substr(7));
        if (StartsWith(input, kVsiAz))
            return ObjectStorePath(input, kVsiAz, input.substr(7));
        const size_t end = input.find('/', 1);
        Invalid(input, "the GDAL virtual file system \"" + input.substr(0, end) +
                           "/\" is not supported (use /vsicurl/, /vsis3/, /vsigs/ or /vsiaz/)");
    }

    if (input[0] == '/')
    {
        const std::string local = "/" + Join(FileSegments(input, input.substr(1)));
        // "//vsis3/x" collapses to "/vsis3/x", which GDAL would read as another file system.
        if (StartsWith(local, "/vsi"))
            Invalid(input, "a local path cannot begin with /vsi (GDAL reads it as a virtual file "
                           "system)");
        return local;
    }

    const size_t sep = input.find("://");
    if (sep != std::string::npos && sep > 0)
    {
        const std::string scheme = Lower(input.substr(0, sep));
        bool wellFormed = std::isalpha(static_cast<unsigned char>(scheme[0]));
        for (char c : scheme)
            wellFormed = wellFormed && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' ||
                                        c == '-' || c == '.');
        if (wellFormed)
        {
            if (scheme == "http" || scheme == "https")
                return CurlPath(input, input);
            if (scheme == "s3")
                return ObjectStorePath(input, kVsiS3, input.substr(sep + 3));
            if (scheme == "gs")
                return ObjectStorePath(input, kVsiGs, input.substr(sep + 3));
            Invalid(input, "unknown scheme \"" + scheme +
                               "\" (use a local path, @root/..., http(s)://, s3://, gs:// or "
                               "/vsicurl/, /vsis3/, /vsigs/, /vsiaz/)");
        }
    }
    Invalid(input, "relative paths are not allowed (use an absolute path or @root/relative)");
}

PathScheme SchemeOf(const std::string& normalized)
{
    if (!normalized.empty() && normalized[0] == '@')
        return PathScheme::Root;
    if (StartsWith(normalized, kVsiCurl))
        return PathScheme::VsiCurl;
    if (StartsWith(normalized, kVsiS3))
        return PathScheme::VsiS3;
    if (StartsWith(normalized, kVsiGs))
        return PathScheme::VsiGs;
    if (StartsWith(normalized, kVsiAz))
        return PathScheme::VsiAz;
    return PathScheme::Local;
}

std::string RootNameOf(const std::string& normalized)
{
    if (SchemeOf(normalized) != PathScheme::Root)
        return "";
    return normalized.substr(1, normalized.find('/') - 1);
}

std::string RelativePartOf(const std::string& normalized)
{
    if (SchemeOf(normalized) != PathScheme::Root)
        return "";
    return normalized.substr(normalized.find('/') + 1);
}

std::string ResolveRootRef(const std::string& normalized, const std::string& prefix)
{
    if (SchemeOf(normalized) != PathScheme::Root)
        throw Error(ErrorKind::InvalidParameter,
                    QuoteForMessage(normalized) + " is not a @root/relative reference");
    if (SchemeOf(prefix) == PathScheme::Root)
        throw Error(ErrorKind::InvalidParameter,
                    "the prefix of a path root cannot itself be a root reference: " +
                        QuoteForMessage(prefix));
    const std::string rel = RelativePartOf(normalized);
    const std::string joined = prefix == "/" ? "/" + rel : prefix + "/" + rel;
    return NormalizePathRef(joined);
}

bool IsPathUnder(const std::string& path, const std::string& prefix)
{
    if (prefix.empty() || path.compare(0, prefix.size(), prefix) != 0)
        return false;
    return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

} // namespace pgmosaic
