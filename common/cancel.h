// A stop request that the engine's long loops check (the scan of every block of a raster at
// registration): the front door says how to tell that its caller wants to stop. Tiny and
// without GDAL or PostgreSQL on purpose.
//
// The backend wires `stop` to a test of PostgreSQL's InterruptPending (never
// CHECK_FOR_INTERRUPTS() itself, whose longjmp must not cross C++ frames) and calls
// CHECK_FOR_INTERRUPTS() once the Cancelled exception is back at its boundary.
#pragma once

#include <stdexcept>
#include <string>

namespace pgmosaic
{

// Thrown by Cancel::Check when the caller asked to stop.
class Cancelled : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

struct Cancel
{
    bool (*stop)(void* data) = nullptr; // true: stop now; may be called from any thread
    void* data = nullptr;
    // Throws Cancelled ("<what>: interrupted") when stop() says so.
    void Check(const std::string& what) const
    {
        if (Stopping())
            throw Cancelled(what + ": interrupted");
    }
    bool Stopping() const { return stop != nullptr && stop(data); }
    // A GDAL progress function (GDALProgressFunc) over a const Cancel* as its data: GDAL's own
    // loops (RasterIO, polygonize) stop when the caller wants to stop.
    static int Progress(double, const char*, void* cancel)
    {
        return !static_cast<const Cancel*>(cancel)->Stopping();
    }
};

} // namespace pgmosaic
