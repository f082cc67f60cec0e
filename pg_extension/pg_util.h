// Small helpers for SQL-callable functions, on top of the boundary of pg_boundary.h: argument and
// result conversions that go through PgCall, and errors with an explicit SQLSTATE.
#pragma once

#include <string>
#include <vector>

#include "pg_boundary.h"

extern "C"
{
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

namespace pgmosaic
{

// Raises a PostgreSQL error with this SQLSTATE as a C++ exception (a PgError), so that
// CppBoundary reports it unchanged once the C++ frames are gone.
[[noreturn]] inline void ThrowSqlError(int sqlstate, const std::string& message)
{
    PgCall([&] { ereport(ERROR, (errcode(sqlstate), errmsg("%s", message.c_str()))); });
    throw Error(ErrorKind::Internal, message); // not reached: ereport(ERROR) does not return
}

// Runs `fn` and reports a pgmosaic::Error of kind InvalidParameter under `sqlstate` (e.g.
// ERRCODE_INVALID_TEXT_REPRESENTATION in a type's input function).
template <typename Fn> auto WithInvalidParameterAs(int sqlstate, Fn&& fn) -> decltype(fn())
{
    try
    {
        return fn();
    }
    catch (const Error& e)
    {
        if (e.kind() != ErrorKind::InvalidParameter)
            throw;
        ThrowSqlError(sqlstate, e.what());
    }
}

// The text (or text-like varlena) argument n as a std::string.
inline std::string TextArg(FunctionCallInfo fcinfo, int n)
{
    struct varlena* v = PgCall([&] { return PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(n)); });
    return std::string(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

// The elements of a text[] argument (a NULL element as an empty string).
inline std::vector<std::string> TextArrayArg(FunctionCallInfo fcinfo, int n)
{
    std::vector<std::string> out;
    ArrayType* array = PgCall([&] { return PG_GETARG_ARRAYTYPE_P(n); });
    Datum* values = nullptr;
    bool* nulls = nullptr;
    int count = 0;
    PgCall([&] {
        deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &values, &nulls, &count);
    });
    for (int i = 0; i < count; ++i)
    {
        if (nulls[i])
        {
            out.emplace_back();
            continue;
        }
        struct varlena* v = PgCall([&] { return PG_DETOAST_DATUM_PACKED(values[i]); });
        out.emplace_back(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
    }
    return out;
}

// A text (or text-like varlena) Datum holding `s`.
inline Datum TextDatum(const std::string& s)
{
    return PgCall(
        [&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), (int)s.size())); });
}

} // namespace pgmosaic
