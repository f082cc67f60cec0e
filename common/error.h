// Errors of the mosaic engine. common/ throws pgmosaic::Error; each front door turns it into
// its own error channel (CPLError in the driver, ereport in the backend) at its boundary.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "cpl_error.h"

namespace pgmosaic
{

enum class ErrorKind
{
    InvalidParameter, // a malformed argument or option
    NotFound,         // an unknown mosaic, a missing file
    Permission,       // file access disabled, path outside the allowed roots
    Mismatch,         // a raster that does not fit its mosaic
    Io,               // a file GDAL could not open or read
    Catalog,          // the catalog database refused or failed
    Internal,
};

class Error : public std::runtime_error
{
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_eKind(kind)
    {
    }
    ErrorKind kind() const { return m_eKind; }

private:
    ErrorKind m_eKind;
};

// Collects the GDAL errors raised on this thread while it lives, instead of letting them reach
// the default handler, so that the caller reports them once GDAL has returned.
class GdalErrorCollector final
{
public:
    GdalErrorCollector();
    ~GdalErrorCollector();
    GdalErrorCollector(const GdalErrorCollector&) = delete;
    GdalErrorCollector& operator=(const GdalErrorCollector&) = delete;

    // The collected failure messages joined with "; ", or `fallback` when there are none.
    std::string Message(const std::string& fallback = "unknown GDAL error") const;
    bool HasErrors() const { return !m_aosErrors.empty(); }

private:
    static void CPL_STDCALL Handler(CPLErr eErr, CPLErrorNum nNum, const char* pszMsg);
    std::vector<std::string> m_aosErrors{};
};

} // namespace pgmosaic
