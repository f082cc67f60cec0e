#include "conninfo.h"

#include <cctype>
#include <set>

#include "error.h"

namespace pgmosaic
{
namespace
{

// Keys of the design's connection string that later versions implement; naming one now gets a
// clear "not supported yet" instead of libpq's "invalid connection option".
// Keys of later versions: naming one gets "not supported yet" rather than libpq's error.
const std::set<std::string> kFutureKeys = {};

const std::set<std::string> kOwnKeys = {
    kKeyMosaic,   kKeyMethod, kKeyBands, kKeyResampling, kKeyMissing, kKeyNumThreads,
    kKeyPrefetch, kKeyWhere,  kKeyTime,  kKeySort,       kKeyIds,     kKeyStatementTimeout,
    kKeyMask,     kKeyMaxItems, kKeyAsof};

std::string Lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool StartsWithCI(const char* text, const char* prefix)
{
    if (text == nullptr)
        return false;
    for (; *prefix; ++prefix, ++text)
    {
        if (*text == '\0' || std::toupper(static_cast<unsigned char>(*text)) !=
                                 std::toupper(static_cast<unsigned char>(*prefix)))
            return false;
    }
    return true;
}

Error Malformed(const std::string& what)
{
    return Error(ErrorKind::InvalidParameter, "malformed PGMOSAIC connection string: " + what);
}

} // namespace

std::string ConnectionString::Get(const std::string& key) const
{
    auto it = options.find(key);
    return it == options.end() ? std::string() : it->second;
}

bool HasConnectionPrefix(const char* text)
{
    return StartsWithCI(text, kConnectionPrefix);
}

bool HasPathPrefix(const char* text)
{
    return StartsWithCI(text, kPathPrefix);
}

std::string ConnectionTextOf(const std::string& name)
{
    if (HasConnectionPrefix(name.c_str()))
        return name.substr(std::string(kConnectionPrefix).size());
    if (!HasPathPrefix(name.c_str()))
        throw Malformed("expected PGMOSAIC:<conninfo> or " + std::string(kPathPrefix) +
                        "<conninfo>/<mosaic>");
    const std::string rest = name.substr(std::string(kPathPrefix).size());
    const size_t slash = rest.rfind('/');
    const std::string mosaic = slash == std::string::npos ? rest : rest.substr(slash + 1);
    if (mosaic.empty() || slash == std::string::npos)
        throw Malformed("a " + std::string(kPathPrefix) +
                        " path names the mosaic last: " + kPathPrefix +
                        "<conninfo>/<mosaic> (\"" + RedactConninfo(rest) + "\" has none)");
    // The part before the mosaic is parsed on its own and written again quoted, so that
    // nothing in it (an open quote, a trailing backslash) takes in the mosaic appended.
    const ConnectionString head = ParseConnectionString(rest.substr(0, slash));
    if (!head.Get(kKeyMosaic).empty())
        throw Malformed("a " + std::string(kPathPrefix) +
                        " path names the mosaic last, not with mosaic=");
    std::string text = head.conninfo;
    for (const auto& kv : head.options)
        text += (text.empty() ? "" : " ") + kv.first + "=" + QuoteConnValue(kv.second);
    return text + (text.empty() ? "" : " ") + kKeyMosaic + "=" + QuoteConnValue(mosaic);
}

ConnectionString ParseConnectionString(const std::string& text)
{
    ConnectionString out;
    size_t i = 0;
    const size_t n = text.size();
    auto skipSpace = [&] {
        while (i < n && std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
    };
    while (true)
    {
        skipSpace();
        if (i >= n)
            break;
        size_t keyStart = i;
        while (i < n && text[i] != '=' && !std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
        std::string key = text.substr(keyStart, i - keyStart);
        skipSpace();
        if (i >= n || text[i] != '=')
            throw Malformed("missing \"=\" after \"" + key + "\"");
        ++i;
        skipSpace();
        std::string value;
        if (i < n && text[i] == '\'')
        {
            ++i;
            bool closed = false;
            while (i < n)
            {
                char c = text[i++];
                if (c == '\\' && i < n)
                    value += text[i++];
                else if (c == '\'')
                {
                    closed = true;
                    break;
                }
                else
                    value += c;
            }
            if (!closed)
                throw Malformed("unterminated quoted value for \"" + key + "\"");
        }
        else
        {
            while (i < n && !std::isspace(static_cast<unsigned char>(text[i])))
            {
                if (text[i] == '\\' && i + 1 < n)
                    ++i;
                value += text[i++];
            }
        }
        if (key.empty())
            throw Malformed("empty key");
        const std::string lkey = Lower(key);
        if (kOwnKeys.count(lkey))
        {
            if (value.empty())
                throw Malformed("empty value for \"" + lkey + "\"");
            out.options[lkey] = value;
        }
        else if (kFutureKeys.count(lkey))
        {
            throw Error(ErrorKind::InvalidParameter,
                        "PGMOSAIC option \"" + lkey + "\" is not supported in this version");
        }
        else
        {
            if (!out.conninfo.empty())
                out.conninfo += ' ';
            out.conninfo += key + "=" + QuoteConnValue(value);
        }
    }
    return out;
}

std::string QuoteConnValue(const std::string& value)
{
    bool plain = !value.empty();
    for (char c : value)
    {
        if (std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '\\')
            plain = false;
    }
    if (plain)
        return value;
    std::string out = "'";
    for (char c : value)
    {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "'";
}

std::string RedactConninfo(const std::string& conninfo)
{
    ConnectionString parsed;
    try
    {
        parsed = ParseConnectionString(conninfo);
    }
    catch (const Error&)
    {
        return "(unparsable connection string)";
    }
    // Re-serialise, hiding the password.
    std::string out;
    size_t i = 0;
    const std::string& s = parsed.conninfo;
    while (i < s.size())
    {
        size_t eq = s.find('=', i);
        if (eq == std::string::npos)
            break;
        std::string key = s.substr(i, eq - i);
        size_t j = eq + 1;
        if (j < s.size() && s[j] == '\'')
        {
            ++j;
            while (j < s.size() && s[j] != '\'')
                j += (s[j] == '\\') ? 2 : 1;
            ++j;
        }
        else
        {
            while (j < s.size() && s[j] != ' ')
                ++j;
        }
        if (!out.empty())
            out += ' ';
        out += Lower(key) == "password" ? key + "=***" : s.substr(i, j - i);
        i = j + 1;
    }
    for (const auto& kv : parsed.options)
        out += (out.empty() ? "" : " ") + kv.first + "=" + QuoteConnValue(kv.second);
    return out;
}

} // namespace pgmosaic
