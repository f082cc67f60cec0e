// The SQL types pathref and tilekey: I/O, comparison and functions. Thin wrappers: the parsing
// and the math are in common/types/ (pathref, tilekey, wkb_cover).
extern "C"
{
#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "access/stratnum.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"
#include "utils/tuplestore.h"
    // pathref and tilekey live in a module of their own (pgmosaic_types), without GDAL.
    PG_MODULE_MAGIC;
}

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "types/pathref.h"
#include "pg_util.h"
#include "types/tilekey.h"
#include "types/wkb_cover.h"

using pgmosaic::PgCall;
using pgmosaic::TileKey;

namespace
{

// ---- pathref: a varlena holding the normalised text --------------------------------------

struct Bytes
{
    const char* data;
    int len;
};

Bytes PathrefArg(FunctionCallInfo fcinfo, int n)
{
    struct varlena* v = PgCall([&] { return PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(n)); });
    return {VARDATA_ANY(v), static_cast<int>(VARSIZE_ANY_EXHDR(v))};
}

// Byte order, shorter first on a common prefix: the order of the normalised text in the C
// collation, the same on every server.
int ComparePathrefs(FunctionCallInfo fcinfo)
{
    const Bytes a = PathrefArg(fcinfo, 0), b = PathrefArg(fcinfo, 1);
    const int c = std::memcmp(a.data, b.data, static_cast<size_t>(std::min(a.len, b.len)));
    if (c != 0)
        return c < 0 ? -1 : 1;
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

std::string NormalizeForSql(const std::string& text)
{
    return pgmosaic::WithInvalidParameterAs(ERRCODE_INVALID_TEXT_REPRESENTATION,
                                            [&] { return pgmosaic::NormalizePathRef(text); });
}

std::string PathrefText(FunctionCallInfo fcinfo, int n)
{
    const Bytes b = PathrefArg(fcinfo, n);
    return std::string(b.data, static_cast<size_t>(b.len));
}

// ---- tilekey: 64 bits passed by value ----------------------------------------------------

TileKey KeyArg(FunctionCallInfo fcinfo, int n)
{
    return TileKey::FromBits(static_cast<std::uint64_t>(DatumGetInt64(PG_GETARG_DATUM(n))));
}

Datum KeyDatum(TileKey k)
{
    return Int64GetDatum(static_cast<std::int64_t>(k.bits()));
}

int CompareKeys(FunctionCallInfo fcinfo)
{
    const std::int64_t a = DatumGetInt64(PG_GETARG_DATUM(0));
    const std::int64_t b = DatumGetInt64(PG_GETARG_DATUM(1));
    return a < b ? -1 : (a > b ? 1 : 0);
}

pgmosaic::QuadMatrix MatrixArgs(FunctionCallInfo fcinfo, int first)
{
    pgmosaic::QuadMatrix m;
    m.originX = PG_GETARG_FLOAT8(first);
    m.originY = PG_GETARG_FLOAT8(first + 1);
    m.spanX = PG_GETARG_FLOAT8(first + 2);
    m.spanY = PG_GETARG_FLOAT8(first + 3);
    return m;
}

// Planner support of tilekey_contained(k, a) (k <@ a) and tilekey_contains(a, k) (a @> k)
// when k is a btree-indexed column: the descendants of a are the keys in
// [a, tilekey_range_end(a)], an exact index range. Plain PostgreSQL calls only (run under
// PgCall).
List* TileKeyIndexCondition(Node* raw)
{
    if (!IsA(raw, SupportRequestIndexCondition))
        return NIL;
    auto* req = reinterpret_cast<SupportRequestIndexCondition*>(raw);
    List* args = NIL;
    if (IsA(req->node, OpExpr))
        args = reinterpret_cast<OpExpr*>(req->node)->args;
    else if (IsA(req->node, FuncExpr))
        args = reinterpret_cast<FuncExpr*>(req->node)->args;
    if (list_length(args) != 2)
        return NIL;
    const char* name = get_func_name(req->funcid);
    const int descendant = name == nullptr                          ? -1
                           : strcmp(name, "tilekey_contained") == 0 ? 0
                           : strcmp(name, "tilekey_contains") == 0  ? 1
                                                                    : -1;
    if (descendant < 0 || req->indexarg != descendant)
        return NIL;
    Node* key = static_cast<Node*>(list_nth(args, descendant));
    Node* ancestor = static_cast<Node*>(list_nth(args, 1 - descendant));
    if (!is_pseudo_constant_for_index(req->root, ancestor, req->index))
        return NIL;
    const Oid keyType = exprType(key);
    const Oid ge =
        get_opfamily_member(req->opfamily, keyType, keyType, BTGreaterEqualStrategyNumber);
    const Oid le = get_opfamily_member(req->opfamily, keyType, keyType, BTLessEqualStrategyNumber);
    if (!OidIsValid(ge) || !OidIsValid(le))
        return NIL;
    Oid argTypes[1] = {keyType};
    const Oid rangeEnd = LookupFuncName(
        list_make2(makeString(pstrdup("pgmosaic")), makeString(pstrdup("tilekey_range_end"))), 1,
        argTypes, true);
    if (!OidIsValid(rangeEnd))
        return NIL;
    Expr* end = reinterpret_cast<Expr*>(makeFuncExpr(rangeEnd, keyType,
                                                     list_make1(copyObjectImpl(ancestor)),
                                                     InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    Expr* lower =
        make_opclause(ge, BOOLOID, false, static_cast<Expr*>(copyObjectImpl(key)),
                      static_cast<Expr*>(copyObjectImpl(ancestor)), InvalidOid, InvalidOid);
    Expr* upper = make_opclause(le, BOOLOID, false, static_cast<Expr*>(copyObjectImpl(key)), end,
                                InvalidOid, InvalidOid);
    req->lossy = false;
    return list_make2(lower, upper);
}

// Returns the keys as the rows of a set-returning function.
Datum ReturnKeys(FunctionCallInfo fcinfo, const std::vector<TileKey>& keys)
{
    PgCall([&] {
        InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
        ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        bool isnull = false;
        for (const TileKey k : keys)
        {
            Datum d = KeyDatum(k);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
        }
    });
    return static_cast<Datum>(0);
}

} // namespace

// ---- pathref ---------------------------------------------------------------------------

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_in)
{
    return pgmosaic::TextDatum(NormalizeForSql(PG_GETARG_CSTRING(0)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_out)
{
    const Bytes b = PathrefArg(fcinfo, 0);
    return PgCall([&] { return CStringGetDatum(pnstrdup(b.data, b.len)); });
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_recv)
{
    StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
    int nbytes = 0;
    char* s = PgCall([&] { return pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes); });
    return pgmosaic::TextDatum(NormalizeForSql(std::string(s, static_cast<size_t>(nbytes))));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_send)
{
    const Bytes b = PathrefArg(fcinfo, 0);
    return PgCall([&] {
        StringInfoData buf;
        pq_begintypsend(&buf);
        pq_sendtext(&buf, b.data, b.len);
        return PointerGetDatum(pq_endtypsend(&buf));
    });
}

// text -> pathref: the same checks as the input function, with the same SQLSTATE.
PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_from_text)
{
    return pgmosaic::TextDatum(NormalizeForSql(pgmosaic::TextArg(fcinfo, 0)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_cmp)
{
    return Int32GetDatum(ComparePathrefs(fcinfo));
}

#define PGMOSAIC_PATHREF_OP(name, test)                                                            \
    PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_##name)                                                 \
    {                                                                                              \
        return BoolGetDatum(ComparePathrefs(fcinfo) test);                                         \
    }
PGMOSAIC_PATHREF_OP(eq, == 0)
PGMOSAIC_PATHREF_OP(ne, != 0)
PGMOSAIC_PATHREF_OP(lt, < 0)
PGMOSAIC_PATHREF_OP(le, <= 0)
PGMOSAIC_PATHREF_OP(gt, > 0)
PGMOSAIC_PATHREF_OP(ge, >= 0)
#undef PGMOSAIC_PATHREF_OP

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_hash)
{
    const Bytes b = PathrefArg(fcinfo, 0);
    return hash_any(reinterpret_cast<const unsigned char*>(b.data), b.len);
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_hash_extended)
{
    const Bytes b = PathrefArg(fcinfo, 0);
    return hash_any_extended(reinterpret_cast<const unsigned char*>(b.data), b.len,
                             static_cast<uint64>(PG_GETARG_INT64(1)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_scheme)
{
    const auto scheme = pgmosaic::SchemeOf(PathrefText(fcinfo, 0));
    return pgmosaic::TextDatum(pgmosaic::PathSchemeName(scheme));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_root)
{
    const std::string root = pgmosaic::RootNameOf(PathrefText(fcinfo, 0));
    if (root.empty())
        PG_RETURN_NULL();
    return pgmosaic::TextDatum(root);
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_relative)
{
    const std::string rel = pgmosaic::RelativePartOf(PathrefText(fcinfo, 0));
    if (rel.empty())
        PG_RETURN_NULL();
    return pgmosaic::TextDatum(rel);
}

// pathref_under_root(ref, prefix): the reference @root/rel designates once its root is
// `prefix`; ref itself when it is not a root reference.
PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_under_root)
{
    const std::string ref = PathrefText(fcinfo, 0);
    if (pgmosaic::SchemeOf(ref) != pgmosaic::PathScheme::Root)
        return pgmosaic::TextDatum(ref);
    return pgmosaic::TextDatum(
        pgmosaic::WithInvalidParameterAs(ERRCODE_INVALID_PARAMETER_VALUE, [&] {
            return pgmosaic::ResolveRootRef(ref, PathrefText(fcinfo, 1));
        }));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_pathref_is_under)
{
    return BoolGetDatum(pgmosaic::IsPathUnder(PathrefText(fcinfo, 0), PathrefText(fcinfo, 1)));
}

// ---- tilekey ---------------------------------------------------------------------------

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_in)
{
    const std::string text = PG_GETARG_CSTRING(0);
    return KeyDatum(pgmosaic::WithInvalidParameterAs(ERRCODE_INVALID_TEXT_REPRESENTATION,
                                                     [&] { return TileKey::Parse(text); }));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_out)
{
    const std::string q = KeyArg(fcinfo, 0).Quadkey();
    return PgCall([&] { return CStringGetDatum(pstrdup(q.c_str())); });
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_recv)
{
    StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
    const int64 bits = PgCall([&] { return pq_getmsgint64(buf); });
    return KeyDatum(pgmosaic::WithInvalidParameterAs(ERRCODE_INVALID_BINARY_REPRESENTATION, [&] {
        return TileKey::FromBits(static_cast<std::uint64_t>(bits));
    }));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_send)
{
    const int64 bits = DatumGetInt64(PG_GETARG_DATUM(0));
    return PgCall([&] {
        StringInfoData buf;
        pq_begintypsend(&buf);
        pq_sendint64(&buf, bits);
        return PointerGetDatum(pq_endtypsend(&buf));
    });
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_cmp)
{
    return Int32GetDatum(CompareKeys(fcinfo));
}

#define PGMOSAIC_TILEKEY_OP(name, test)                                                            \
    PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_##name)                                                 \
    {                                                                                              \
        return BoolGetDatum(CompareKeys(fcinfo) test);                                             \
    }
PGMOSAIC_TILEKEY_OP(eq, == 0)
PGMOSAIC_TILEKEY_OP(ne, != 0)
PGMOSAIC_TILEKEY_OP(lt, < 0)
PGMOSAIC_TILEKEY_OP(le, <= 0)
PGMOSAIC_TILEKEY_OP(gt, > 0)
PGMOSAIC_TILEKEY_OP(ge, >= 0)
#undef PGMOSAIC_TILEKEY_OP

// Sorting compares the keys as signed 64-bit integers (bit 63 is never set).
PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_sortsupport)
{
    SortSupport ssup = reinterpret_cast<SortSupport>(PG_GETARG_POINTER(0));
    ssup->comparator = ssup_datum_signed_cmp;
    return static_cast<Datum>(0);
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_hash)
{
    const int64 bits = DatumGetInt64(PG_GETARG_DATUM(0));
    return hash_any(reinterpret_cast<const unsigned char*>(&bits), sizeof(bits));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_hash_extended)
{
    const int64 bits = DatumGetInt64(PG_GETARG_DATUM(0));
    return hash_any_extended(reinterpret_cast<const unsigned char*>(&bits), sizeof(bits),
                             static_cast<uint64>(PG_GETARG_INT64(1)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_make)
{
    return KeyDatum(TileKey::FromZxy(PG_GETARG_INT32(0), PG_GETARG_INT32(1), PG_GETARG_INT32(2)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_from_bigint)
{
    return KeyDatum(TileKey::FromBits(static_cast<std::uint64_t>(PG_GETARG_INT64(0))));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_to_bigint)
{
    return PG_GETARG_DATUM(0);
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_zoom)
{
    return Int32GetDatum(KeyArg(fcinfo, 0).zoom());
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_x)
{
    return Int32GetDatum(static_cast<int32>(KeyArg(fcinfo, 0).x()));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_y)
{
    return Int32GetDatum(static_cast<int32>(KeyArg(fcinfo, 0).y()));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_zxy)
{
    return pgmosaic::TextDatum(KeyArg(fcinfo, 0).Zxy());
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_quadkey)
{
    return pgmosaic::TextDatum(KeyArg(fcinfo, 0).Quadkey());
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_parent)
{
    const TileKey k = KeyArg(fcinfo, 0);
    if (!k.HasParent())
        PG_RETURN_NULL();
    return KeyDatum(k.Parent());
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_ancestor)
{
    return KeyDatum(KeyArg(fcinfo, 0).Ancestor(PG_GETARG_INT32(1)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_children)
{
    const TileKey k = KeyArg(fcinfo, 0);
    std::vector<TileKey> keys;
    for (int q = 0; q < 4; ++q)
        keys.push_back(k.Child(q));
    return ReturnKeys(fcinfo, keys);
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_neighbours)
{
    return ReturnKeys(fcinfo, KeyArg(fcinfo, 0).Neighbours());
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_contains)
{
    return BoolGetDatum(KeyArg(fcinfo, 0).Contains(KeyArg(fcinfo, 1)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_contained)
{
    return BoolGetDatum(KeyArg(fcinfo, 1).Contains(KeyArg(fcinfo, 0)));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_support)
{
    Node* raw = reinterpret_cast<Node*>(PG_GETARG_POINTER(0));
    return PointerGetDatum(PgCall([&] { return TileKeyIndexCondition(raw); }));
}

PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_range_end)
{
    return KeyDatum(KeyArg(fcinfo, 0).RangeEnd());
}

// tilekey_at(x, y, zoom, origin_x, origin_y, span_x, span_y)
PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_at)
{
    return KeyDatum(pgmosaic::KeyAt(MatrixArgs(fcinfo, 3), PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1),
                                    PG_GETARG_INT32(2)));
}

// tilekey_bounds(key, origin_x, origin_y, span_x, span_y) -> {xmin, ymin, xmax, ymax}
PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_bounds)
{
    const pgmosaic::QuadMatrix m = MatrixArgs(fcinfo, 1);
    m.Validate();
    const pgmosaic::Envelope e = pgmosaic::TileEnvelope(m, KeyArg(fcinfo, 0));
    return PgCall([&] {
        Datum values[4] = {Float8GetDatum(e.minx), Float8GetDatum(e.miny), Float8GetDatum(e.maxx),
                           Float8GetDatum(e.maxy)};
        return PointerGetDatum(construct_array(values, 4, FLOAT8OID, 8, FLOAT8PASSBYVAL, 'd'));
    });
}

// tilekey_cover_wkb(wkb, zoom, origin_x, origin_y, span_x, span_y, compact)
PGMOSAIC_SQL_FUNCTION(pgmosaic_tilekey_cover_wkb)
{
    bytea* wkb = PgCall([&] { return PG_GETARG_BYTEA_PP(0); });
    const auto geometry = pgmosaic::ParseWkb(
        reinterpret_cast<const unsigned char*>(VARDATA_ANY(wkb)), VARSIZE_ANY_EXHDR(wkb));
    pgmosaic::CoverOptions options;
    options.compact = PG_GETARG_BOOL(6);
    return ReturnKeys(
        fcinfo, pgmosaic::Cover(MatrixArgs(fcinfo, 2), geometry, PG_GETARG_INT32(1), options));
}
