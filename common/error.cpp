#include "error.h"

namespace pgmosaic
{

GdalErrorCollector::GdalErrorCollector()
{
    CPLPushErrorHandlerEx(Handler, this);
}

GdalErrorCollector::~GdalErrorCollector()
{
    CPLPopErrorHandler();
}

void CPL_STDCALL GdalErrorCollector::Handler(CPLErr eErr, CPLErrorNum, const char* pszMsg)
{
    if (eErr < CE_Failure)
        return; // debug messages and warnings are not failures
    auto* self = static_cast<GdalErrorCollector*>(CPLGetErrorHandlerUserData());
    try
    {
        self->m_aosErrors.emplace_back(pszMsg ? pszMsg : "");
    }
    catch (...)
    {
        // Out of memory while recording an error: the caller still sees the failure.
    }
}

std::string GdalErrorCollector::Message(const std::string& fallback) const
{
    if (m_aosErrors.empty())
        return fallback;
    std::string out;
    for (const auto& s : m_aosErrors)
    {
        if (!out.empty())
            out += "; ";
        out += s;
    }
    return out;
}

} // namespace pgmosaic
