// PGMOSAIC: connection strings: ParseConnectionString either refuses the text with
// pgmosaic::Error or splits it; the libpq part it re-quotes parses again to itself with no
// pgmosaic keys, the pgmosaic keys are known, lower-case and non-empty, and the redacted form
// parses and never shows a password's value.
#include <cstdint>
#include <string>

#include "conninfo.h"
#include "error.h"
#include "fuzz_check.h"

using namespace pgmosaic;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    (void)HasConnectionPrefix(text.c_str());
    // The path form either names a mosaic (the last component) or is refused.
    try
    {
        const ConnectionString p = ParseConnectionString(ConnectionTextOf(kPathPrefix + text));
        FUZZ_CHECK(!p.Get(kKeyMosaic).empty());
    }
    catch (const Error&)
    {
    }
    ConnectionString cs;
    try
    {
        cs = ParseConnectionString(text);
    }
    catch (const Error&)
    {
        return 0;
    }
    for (const auto& kv : cs.options)
    {
        FUZZ_CHECK(!kv.first.empty() && !kv.second.empty());
        for (char c : kv.first)
            FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        FUZZ_CHECK(cs.Get(kv.first) == kv.second);
        // Each value quoted as a conninfo value comes back whole.
        const ConnectionString one = ParseConnectionString(kv.first + "=" + QuoteConnValue(kv.second));
        FUZZ_CHECK(one.Get(kv.first) == kv.second && one.conninfo.empty());
    }
    const ConnectionString again = ParseConnectionString(cs.conninfo);
    FUZZ_CHECK(again.conninfo == cs.conninfo);
    FUZZ_CHECK(again.options.empty());
    // Redacting never throws, gives a parsable string with the same pgmosaic keys, and hides
    // every password value.
    const std::string redacted = RedactConninfo(text);
    const ConnectionString r = ParseConnectionString(redacted);
    FUZZ_CHECK(r.options == cs.options);
    const ConnectionString plain = ParseConnectionString(RedactConninfo(cs.conninfo));
    FUZZ_CHECK(plain.options.empty());
    // The marker must not already show in the text's own values (an escaped "Z\q9"
    // unescapes to it).
    if (redacted.find("Zq9") == std::string::npos)
    {
        const std::string secret = RedactConninfo("PassWord=Zq9secret " + text);
        FUZZ_CHECK(secret.find("Zq9") == std::string::npos);
        FUZZ_CHECK(secret.find("PassWord=***") != std::string::npos);
    }
    return 0;
}
