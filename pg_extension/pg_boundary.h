// The C++/PostgreSQL boundary, both ways.
//
// PostgreSQL reports errors with longjmp, which must never cross a C++ frame that still has live
// destructors; C++ exceptions must never unwind into PostgreSQL's C frames. So:
//  - every SQL-callable function is a thin extern "C" wrapper around CppBoundary(), which runs
//    the C++ body, catches any exception, lets the destructors run, and only then raises the
//    PostgreSQL ERROR from a frame holding nothing but plain data;
//  - C++ code calls PostgreSQL functions that may ereport only through PgCall(), which catches
//    the PostgreSQL error under PG_TRY and rethrows it as a PgError exception.
#pragma once

extern "C"
{
#include "postgres.h"
#include "fmgr.h"
}

#include <exception>
#include <type_traits>

#include "cancel.h"
#include "error.h"

extern "C"
{
#include "miscadmin.h"
#include "utils/memutils.h"
}

namespace pgmosaic
{

// A PostgreSQL error carried across C++ frames, with its SQLSTATE and message intact.
class PgError final : public std::exception
{
public:
    explicit PgError(ErrorData* data) : m_poData(data) {}
    const char* what() const noexcept override { return m_poData->message; }
    ErrorData* data() const { return m_poData; }

private:
    ErrorData* m_poData;
};

// The SQLSTATE an engine error is reported with.
inline int SqlStateOf(ErrorKind kind)
{
    switch (kind)
    {
    case ErrorKind::InvalidParameter:
        return ERRCODE_INVALID_PARAMETER_VALUE;
    case ErrorKind::NotFound:
        return ERRCODE_UNDEFINED_FILE;
    case ErrorKind::Permission:
        return ERRCODE_INSUFFICIENT_PRIVILEGE;
    case ErrorKind::Mismatch:
        return ERRCODE_DATA_EXCEPTION;
    case ErrorKind::Io:
        return ERRCODE_IO_ERROR;
    case ErrorKind::Catalog:
        return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    case ErrorKind::Internal:
        break;
    }
    return ERRCODE_INTERNAL_ERROR;
}

template <typename Fn> auto PgCall(Fn&& fn) -> decltype(fn())
{
    using R = decltype(fn());
    MemoryContext callerContext = CurrentMemoryContext;
    // Locals written under PG_TRY and read after a longjmp must be volatile. R is a plain
    // value (Datum, pointer): PostgreSQL calls return nothing else.
    ErrorData* volatile edata = nullptr;
    volatile std::conditional_t<std::is_void<R>::value, int, R> result{};
    PG_TRY();
    {
        if constexpr (std::is_void<R>::value)
            fn();
        else
            result = fn();
    }
    PG_CATCH();
    {
        // The copy must outlive the caller's context: under SPI that is SPI's procedure
        // context, which SPI_finish deletes while the PgError is on its way to CppBoundary
        // (whose ReThrowError then read freed memory: a backend crashed when a statement
        // timeout struck during a catalog query of value()/zonal_stats()). The transaction's
        // context lasts until the error has been raised again; outside one, the caller's.
        MemoryContextSwitchTo(TopTransactionContext != nullptr ? TopTransactionContext
                                                               : callerContext);
        edata = CopyErrorData();
        FlushErrorState();
        MemoryContextSwitchTo(callerContext);
    }
    PG_END_TRY();
    if (edata != nullptr)
        throw PgError(edata);
    if constexpr (!std::is_void<R>::value)
        return result;
}

// Runs a C++ function body for PostgreSQL: every SQL-callable function runs its body through it,
// by PGMOSAIC_SQL_FUNCTION (below).
template <typename Fn> Datum CppBoundary(Fn&& body)
{
    char message[2048];
    int sqlstate = ERRCODE_INTERNAL_ERROR;
    ErrorData* pgError = nullptr;
    try
    {
        return body();
    }
    catch (const PgError& e)
    {
        pgError = e.data();
    }
    catch (const Cancelled& e)
    {
        // A loop stopped for a pending interrupt (BackendCancel): PostgreSQL reports it below,
        // as the cancel or termination it is.
        sqlstate = ERRCODE_QUERY_CANCELED;
        strlcpy(message, e.what(), sizeof(message));
    }
    catch (const Error& e)
    {
        sqlstate = SqlStateOf(e.kind());
        strlcpy(message, e.what(), sizeof(message));
    }
    catch (const std::bad_alloc&)
    {
        sqlstate = ERRCODE_OUT_OF_MEMORY;
        strlcpy(message, "out of memory", sizeof(message));
    }
    catch (const std::exception& e)
    {
        strlcpy(message, e.what(), sizeof(message));
    }
    catch (...)
    {
        strlcpy(message, "unexpected C++ exception", sizeof(message));
    }
    // Every C++ object of the body is destroyed by now: longjmp is safe from here.
    if (pgError != nullptr)
        ReThrowError(pgError);
    CHECK_FOR_INTERRUPTS();
    ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
    pg_unreachable();
}

// What the engine's long loops check in a backend: a pending cancel (pg_cancel_backend,
// statement_timeout) or termination. Only the flags are read, from any thread; the interrupt
// itself is served by CppBoundary once the C++ frames are gone. Not InterruptPending alone:
// it is also set for interrupts that stop nothing (a NOTIFY or cache-invalidation catch-up
// signal, a barrier), which would fail a registration as "interrupted".
inline Cancel BackendCancel()
{
    Cancel c;
    c.stop = [](void*) { return QueryCancelPending != 0 || ProcDiePending != 0; };
    return c;
}

} // namespace pgmosaic

// Declares the SQL-callable function `name` (the C symbol the extension scripts name as
// 'MODULE_PATHNAME', 'name') with its body run inside CppBoundary, so that no entry point can
// skip the boundary:
//
//   PGMOSAIC_SQL_FUNCTION(pgmosaic_xxx)
//   {
//       ...; // fcinfo, PG_GETARG_*, PG_NARGS work as in any V1 function
//       return datum;
//   }
//
// The braces are the body of a static C++ function; the extern "C" entry point calls it inside
// CppBoundary.
#define PGMOSAIC_SQL_FUNCTION(name)                                                            \
    static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo);                        \
    extern "C"                                                                                 \
    {                                                                                          \
        PG_FUNCTION_INFO_V1(name);                                                             \
        Datum name(PG_FUNCTION_ARGS)                                                           \
        {                                                                                      \
            return ::pgmosaic::CppBoundary([&]() -> Datum { return name##_body(fcinfo); });    \
        }                                                                                      \
    }                                                                                          \
    static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)
