#include "read/read_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <thread>

#include "conninfo.h"
#include "cpl_string.h"
#include "error.h"

namespace pgmosaic
{
namespace
{

std::string Lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Error Bad(const std::string& option, const std::string& value, const std::string& expected)
{
    return Error(ErrorKind::InvalidParameter,
                 "invalid " + option + " \"" + value + "\": expected " + expected);
}

struct MethodEntry
{
    const char* name;
    Method method;
};
constexpr MethodEntry kMethods[] = {
    {"first", Method::First},   {"last", Method::Last},   {"min", Method::Min},
    {"max", Method::Max},       {"mean", Method::Mean},   {"sum", Method::Sum},
    {"count", Method::Count},   {"median", Method::Median}, {"percentile", Method::Percentile},
    {"stdev", Method::Stdev},   {"quality", Method::Quality}};

} // namespace

Method ParseMethod(const std::string& value)
{
    ReadOptions o;
    ParseMethodInto(value, o);
    return o.method;
}

void ParseMethodInto(const std::string& value, ReadOptions& options)
{
    const size_t colon = value.find(':');
    const std::string name = Lower(value.substr(0, colon));
    const std::string arg = colon == std::string::npos ? "" : value.substr(colon + 1);
    const std::string expected = "first, last, min, max, mean, sum, count, median, stdev, "
                                 "percentile:<0-100> or quality:<band expression>";
    for (const auto& e : kMethods)
        if (name == e.name)
        {
            options.method = e.method;
            if (e.method == Method::Percentile)
            {
                char* end = nullptr;
                const double p = std::strtod(arg.c_str(), &end);
                if (arg.empty() || *end != '\0' || !(p >= 0 && p <= 100))
                    throw Bad("method", value, "percentile:<0-100>, e.g. percentile:90");
                options.percentile = p;
            }
            else if (e.method == Method::Quality)
            {
                if (arg.find_first_not_of(" \t") == std::string::npos)
                    throw Bad("method", value,
                              "quality:<band expression>, e.g. quality:(nir-red)/(nir+red)");
                options.quality = arg;
            }
            else if (colon != std::string::npos)
                throw Bad("method", value, expected);
            return;
        }
    throw Bad("method", value, expected);
}

std::string MethodText(const ReadOptions& options)
{
    if (options.method == Method::Percentile)
        return CPLSPrintf("percentile:%.15g", options.percentile);
    if (options.method == Method::Quality)
        return "quality:" + options.quality;
    return MethodName(options.method);
}

const char* MethodName(Method method)
{
    for (const auto& e : kMethods)
        if (e.method == method)
            return e.name;
    return "?";
}

Resampling ParseResampling(const std::string& value)
{
    struct Entry
    {
        const char* name;
        GDALRIOResampleAlg rio;
        GDALResampleAlg warp;
    };
    static const Entry kEntries[] = {
        {"nearest", GRIORA_NearestNeighbour, GRA_NearestNeighbour},
        {"bilinear", GRIORA_Bilinear, GRA_Bilinear},
        {"cubic", GRIORA_Cubic, GRA_Cubic},
        {"cubicspline", GRIORA_CubicSpline, GRA_CubicSpline},
        {"lanczos", GRIORA_Lanczos, GRA_Lanczos},
        {"average", GRIORA_Average, GRA_Average},
        {"mode", GRIORA_Mode, GRA_Mode},
    };
    const std::string v = Lower(value);
    for (const auto& e : kEntries)
        if (v == e.name)
            return {e.name, e.rio, e.warp};
    throw Bad("resampling", value,
              "nearest, bilinear, cubic, cubicspline, lanczos, average or mode");
}

bool ParseMissing(const std::string& value)
{
    const std::string v = Lower(value);
    if (v == "fail")
        return false;
    if (v == "skip")
        return true;
    throw Bad("missing", value, "fail or skip");
}

int ParseNumThreads(const std::string& value)
{
    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (Lower(value) == "all_cpus")
        return cpus;
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < 1 || n > 256)
        throw Bad("num_threads", value, "a number from 1 to 256 or ALL_CPUS");
    return static_cast<int>(n);
}

int BandOfToken(const std::string& token, int bandCount, const std::vector<std::string>& names)
{
    const std::string t = Lower(token);
    for (size_t k = 0; k < names.size() && static_cast<int>(k) < bandCount; ++k)
        if (!names[k].empty() && Lower(names[k]) == t)
            return static_cast<int>(k + 1);
    const size_t digits = !t.empty() && t[0] == 'b' ? 1 : 0;
    if (t.size() <= digits || t.find_first_not_of("0123456789", digits) != std::string::npos)
        return 0;
    const long b = std::strtol(t.c_str() + digits, nullptr, 10);
    return b >= 1 && b <= bandCount ? static_cast<int>(b) : 0;
}

std::vector<int> ParseBandList(const std::string& value, int bandCount,
                               const std::vector<std::string>& names)
{
    std::string known;
    for (const auto& n : names)
        if (!n.empty())
            known += (known.empty() ? "" : ", ") + n;
    std::vector<int> bands;
    size_t start = 0;
    while (start <= value.size())
    {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos)
            comma = value.size();
        std::string item = value.substr(start, comma - start);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
            item.pop_back();
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
            item.erase(0, 1);
        const int b = BandOfToken(item, bandCount, names);
        if (b == 0)
            throw Bad("bands", value,
                      "a comma-separated list of band numbers from 1 to " +
                          std::to_string(bandCount) +
                          (known.empty() ? std::string() : " or band names (" + known + ")"));
        if (std::find(bands.begin(), bands.end(), b) != bands.end())
            throw Bad("bands", value, "each band at most once");
        bands.push_back(b);
        start = comma + 1;
    }
    return bands;
}

double MethodFill(Method method, const std::optional<double>& mosaicNodata)
{
    return method == Method::Count ? 0.0 : mosaicNodata.value_or(0.0);
}

GDALDataType MethodDataType(Method method, GDALDataType itemType)
{
    switch (method)
    {
    case Method::Sum:
        return GDT_Float64;
    case Method::Count:
        return GDT_UInt16;
    case Method::Median:
    case Method::Percentile:
    case Method::Stdev:
        return itemType == GDT_Float64 || itemType == GDT_Int32 || itemType == GDT_UInt32
                   ? GDT_Float64
                   : GDT_Float32;
    default:
        return itemType;
    }
}

ReadOptions ParseReadOptions(const std::function<std::string(const char* key)>& option,
                             const std::string& defaultThreads)
{
    ReadOptions o;
    std::string v = option(kKeyMethod);
    if (!v.empty())
        ParseMethodInto(v, o);
    v = option(kKeyResampling);
    if (!v.empty())
        o.resampling = ParseResampling(v);
    v = option(kKeyMissing);
    if (!v.empty())
        o.skipMissing = ParseMissing(v);
    v = option(kKeyNumThreads);
    o.numThreads = ParseNumThreads(v.empty() ? defaultThreads : v);
    o.mask = option(kKeyMask);
    v = option(kKeyMaxItems);
    if (!v.empty())
    {
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 1000000)
            throw Bad("max_items", v, "a number of items from 1 to 1000000");
        o.maxItems = static_cast<int>(n);
    }
    return o;
}

} // namespace pgmosaic
