// Raster references: NormalizePathRef either refuses the text with pgmosaic::Error or returns
// a normalised reference that is a fixed point (normalising it again gives it back) and whose
// scheme, root name and relative part agree with each other.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "error.h"
#include "types/pathref.h"
#include "fuzz_check.h"

using namespace pgmosaic;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::string norm;
    try
    {
        norm = NormalizePathRef(input);
    }
    catch (const Error&)
    {
        return 0;
    }
    FUZZ_CHECK(!norm.empty());
    FUZZ_CHECK(NormalizePathRef(norm) == norm); // idempotent: no Error either
    for (char c : norm)
        FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    const PathScheme scheme = SchemeOf(norm);
    FUZZ_CHECK(PathSchemeName(scheme) != std::string("unknown"));
    if (scheme == PathScheme::Root)
    {
        const std::string root = RootNameOf(norm), rel = RelativePartOf(norm);
        FUZZ_CHECK(IsValidRootName(root));
        FUZZ_CHECK(!rel.empty() && norm == "@" + root + "/" + rel);
        // Resolving under a local prefix gives a local reference below that prefix.
        const std::string resolved = ResolveRootRef(norm, "/data");
        FUZZ_CHECK(SchemeOf(resolved) == PathScheme::Local);
        FUZZ_CHECK(IsPathUnder(resolved, "/data"));
        FUZZ_CHECK(NormalizePathRef(resolved) == resolved);
    }
    else
    {
        FUZZ_CHECK(norm[0] == '/');
        FUZZ_CHECK(RootNameOf(norm).empty() && RelativePartOf(norm).empty());
        FUZZ_CHECK(IsPathUnder(norm, norm));
        // No ".." segment survives in the path (a URL's query may hold anything).
        const std::string path = scheme == PathScheme::VsiCurl
                                     ? norm.substr(0, norm.find_first_of("?#"))
                                     : norm;
        FUZZ_CHECK(path.find("/../") == std::string::npos &&
                   path.compare(path.size() >= 3 ? path.size() - 3 : 0, 3, "/..") != 0);
        if (scheme == PathScheme::Local)
            FUZZ_CHECK(norm.rfind("/vsi", 0) != 0 && norm.find("//") == std::string::npos);
    }
    const std::string quoted = QuoteForMessage(input);
    FUZZ_CHECK(quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"');
    return 0;
}
