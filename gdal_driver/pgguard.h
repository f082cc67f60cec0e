// The driver's one exception boundary: every entry point GDAL calls runs its body through
// GdalGuard, so that no C++ exception crosses into GDAL.
#pragma once

#include <exception>
#include <type_traits>

#include "cpl_error.h"

// Runs `fn` and returns its result. An exception becomes a CPLError ("PGMOSAIC: <what>") and
// `onError` is returned instead.
template <typename F>
std::invoke_result_t<F&> GdalGuard(F&& fn, std::invoke_result_t<F&> onError)
{
    try
    {
        return fn();
    }
    catch (const std::exception& e)
    {
        CPLError(CE_Failure, CPLE_AppDefined, "PGMOSAIC: %s", e.what());
    }
    catch (...)
    {
        CPLError(CE_Failure, CPLE_AppDefined, "PGMOSAIC: unexpected error");
    }
    return onError;
}

// GdalGuard for a body that returns nothing: CE_None, or CE_Failure after an exception.
template <typename F> CPLErr Guarded(F&& fn)
{
    return GdalGuard(
        [&]() -> CPLErr {
            fn();
            return CE_None;
        },
        CE_Failure);
}

// What a write through the raster side gets: the pixels are read-only.
inline CPLErr ReadOnly()
{
    CPLError(CE_Failure, CPLE_NotSupported, "PGMOSAIC: the dataset is read-only");
    return CE_Failure;
}
