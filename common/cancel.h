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
        if (stop != nullptr && stop(data))
            throw Cancelled(what + ": interrupted");
    }
};

} // namespace pgmosaic
