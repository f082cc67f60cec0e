-- pgmosaic 0.1 -> 0.2, as released (frozen: the current definition is in sql/src/). The 0.1
-- data is kept: item paths and root
-- prefixes become pathref (a reference 0.2 refuses makes the update fail, naming it), mosaics
-- get an owner (the role running the update) and keep their 0.1 visibility through PUBLIC
-- grants.
\echo Use "ALTER EXTENSION pgmosaic UPDATE TO '0.2'" to load this file. \quit

--------------------------------------------------------------------------------------------
-- Roles (cluster-wide: created once, by the first database that installs pgmosaic)
--------------------------------------------------------------------------------------------

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_reader') THEN
        CREATE ROLE pgmosaic_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_writer') THEN
        CREATE ROLE pgmosaic_writer NOLOGIN IN ROLE pgmosaic_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_admin') THEN
        CREATE ROLE pgmosaic_admin NOLOGIN IN ROLE pgmosaic_writer;
    END IF;
END
$roles$;

--------------------------------------------------------------------------------------------
-- pathref: a normalised, validated raster reference
--------------------------------------------------------------------------------------------

CREATE TYPE pgmosaic.pathref;

CREATE OR REPLACE FUNCTION pgmosaic.pathref_in(cstring) RETURNS pgmosaic.pathref
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_out(pgmosaic.pathref) RETURNS cstring
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_recv(internal) RETURNS pgmosaic.pathref
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_send(pgmosaic.pathref) RETURNS bytea
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE pgmosaic.pathref (
    INPUT = pgmosaic.pathref_in,
    OUTPUT = pgmosaic.pathref_out,
    RECEIVE = pgmosaic.pathref_recv,
    SEND = pgmosaic.pathref_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended,
    CATEGORY = 'S' -- a string: text operators apply through the implicit cast, as for citext
);
COMMENT ON TYPE pgmosaic.pathref IS
    'A raster reference: a local absolute path, @root/relative, /vsicurl/, /vsis3/, /vsigs/ or '
    '/vsiaz/ (https:// and s3:// are normalised to them). NUL, control characters, "..", '
    'relative paths and other schemes are refused.';

CREATE OR REPLACE FUNCTION pgmosaic.pathref(text) RETURNS pgmosaic.pathref
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_from_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref(text) IS 'Validates and normalises a raster reference.';
CREATE CAST (text AS pgmosaic.pathref) WITH FUNCTION pgmosaic.pathref(text) AS ASSIGNMENT;
CREATE CAST (pgmosaic.pathref AS text) WITHOUT FUNCTION AS IMPLICIT;

CREATE OR REPLACE FUNCTION pgmosaic.pathref_eq(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_ne(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_lt(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_le(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_gt(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_ge(pgmosaic.pathref, pgmosaic.pathref) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_cmp(pgmosaic.pathref, pgmosaic.pathref) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_hash(pgmosaic.pathref) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.pathref_hash_extended(pgmosaic.pathref, bigint) RETURNS bigint
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_hash_extended'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR pgmosaic.= (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_eq,
    COMMUTATOR = OPERATOR(pgmosaic.=), NEGATOR = OPERATOR(pgmosaic.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR pgmosaic.<> (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_ne,
    COMMUTATOR = OPERATOR(pgmosaic.<>), NEGATOR = OPERATOR(pgmosaic.=),
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR pgmosaic.< (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_lt,
    COMMUTATOR = OPERATOR(pgmosaic.>), NEGATOR = OPERATOR(pgmosaic.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pgmosaic.<= (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_le,
    COMMUTATOR = OPERATOR(pgmosaic.>=), NEGATOR = OPERATOR(pgmosaic.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pgmosaic.> (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_gt,
    COMMUTATOR = OPERATOR(pgmosaic.<), NEGATOR = OPERATOR(pgmosaic.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR pgmosaic.>= (
    LEFTARG = pgmosaic.pathref, RIGHTARG = pgmosaic.pathref, FUNCTION = pgmosaic.pathref_ge,
    COMMUTATOR = OPERATOR(pgmosaic.<=), NEGATOR = OPERATOR(pgmosaic.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR CLASS pgmosaic.pathref_ops DEFAULT FOR TYPE pgmosaic.pathref USING btree AS
    OPERATOR 1 pgmosaic.<,
    OPERATOR 2 pgmosaic.<=,
    OPERATOR 3 pgmosaic.=,
    OPERATOR 4 pgmosaic.>=,
    OPERATOR 5 pgmosaic.>,
    FUNCTION 1 pgmosaic.pathref_cmp(pgmosaic.pathref, pgmosaic.pathref);
CREATE OPERATOR CLASS pgmosaic.pathref_hash_ops DEFAULT FOR TYPE pgmosaic.pathref USING hash AS
    OPERATOR 1 pgmosaic.=,
    FUNCTION 1 pgmosaic.pathref_hash(pgmosaic.pathref),
    FUNCTION 2 pgmosaic.pathref_hash_extended(pgmosaic.pathref, bigint);

CREATE OR REPLACE FUNCTION pgmosaic.pathref_scheme(pgmosaic.pathref) RETURNS text
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_scheme' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref_scheme(pgmosaic.pathref) IS
    'The kind of a raster reference: local, root, vsicurl, vsis3, vsigs or vsiaz.';
CREATE OR REPLACE FUNCTION pgmosaic.pathref_root(pgmosaic.pathref) RETURNS text
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_root' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref_root(pgmosaic.pathref) IS
    'The root name of a @root/relative reference; NULL for other references.';
CREATE OR REPLACE FUNCTION pgmosaic.pathref_relative(pgmosaic.pathref) RETURNS text
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_relative' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref_relative(pgmosaic.pathref) IS
    'The part after the root of a @root/relative reference; NULL for other references.';
CREATE OR REPLACE FUNCTION pgmosaic.pathref_under_root(ref pgmosaic.pathref, prefix pgmosaic.pathref)
    RETURNS pgmosaic.pathref
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_under_root' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref_under_root(pgmosaic.pathref, pgmosaic.pathref) IS
    'The reference @root/rel designates when its root is prefix (prefix/rel); other references '
    'unchanged.';
CREATE OR REPLACE FUNCTION pgmosaic.pathref_is_under(ref pgmosaic.pathref, prefix pgmosaic.pathref)
    RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_pathref_is_under' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.pathref_is_under(pgmosaic.pathref, pgmosaic.pathref) IS
    'Whether ref is prefix itself or below it, at a "/" boundary.';

--------------------------------------------------------------------------------------------
-- tilekey: zoom/x/y in 64 bits, Morton order; the descendants of a key are one btree range
--------------------------------------------------------------------------------------------

CREATE TYPE pgmosaic.tilekey;

CREATE OR REPLACE FUNCTION pgmosaic.tilekey_in(cstring) RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_out(pgmosaic.tilekey) RETURNS cstring
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_recv(internal) RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_send(pgmosaic.tilekey) RETURNS bytea
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE pgmosaic.tilekey (
    INPUT = pgmosaic.tilekey_in,
    OUTPUT = pgmosaic.tilekey_out,
    RECEIVE = pgmosaic.tilekey_recv,
    SEND = pgmosaic.tilekey_send,
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double
);
COMMENT ON TYPE pgmosaic.tilekey IS
    'A quadtree tile (zoom 0 to 29, x, y) packed in 64 bits in Morton order. Text I/O: quadkey '
    '(''0231'', '''' for zoom 0); input also accepts z/x/y (''4/3/9''). A tile sorts before its '
    'descendants, which are exactly the keys between it and tilekey_range_end(it).';

CREATE OR REPLACE FUNCTION pgmosaic.tilekey_eq(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_ne(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_lt(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_le(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_gt(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_ge(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_cmp(pgmosaic.tilekey, pgmosaic.tilekey) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_sortsupport(internal) RETURNS void
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_hash(pgmosaic.tilekey) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_hash_extended(pgmosaic.tilekey, bigint) RETURNS bigint
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_hash_extended'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- Planner support: k <@ a and a @> k on a btree-indexed k become k >= a AND k <=
-- tilekey_range_end(a), the exact index range of a's descendants.
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_support(internal) RETURNS internal
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_contains(pgmosaic.tilekey, pgmosaic.tilekey)
    RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT pgmosaic.tilekey_support;
COMMENT ON FUNCTION pgmosaic.tilekey_contains(pgmosaic.tilekey, pgmosaic.tilekey) IS
    'Whether the second tile is the first or one of its descendants.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_contained(pgmosaic.tilekey, pgmosaic.tilekey)
    RETURNS boolean
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_contained' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT pgmosaic.tilekey_support;
COMMENT ON FUNCTION pgmosaic.tilekey_contained(pgmosaic.tilekey, pgmosaic.tilekey) IS
    'Whether the first tile is the second or one of its descendants.';

CREATE OPERATOR pgmosaic.= (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_eq,
    COMMUTATOR = OPERATOR(pgmosaic.=), NEGATOR = OPERATOR(pgmosaic.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR pgmosaic.<> (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_ne,
    COMMUTATOR = OPERATOR(pgmosaic.<>), NEGATOR = OPERATOR(pgmosaic.=),
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR pgmosaic.< (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_lt,
    COMMUTATOR = OPERATOR(pgmosaic.>), NEGATOR = OPERATOR(pgmosaic.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pgmosaic.<= (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_le,
    COMMUTATOR = OPERATOR(pgmosaic.>=), NEGATOR = OPERATOR(pgmosaic.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pgmosaic.> (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_gt,
    COMMUTATOR = OPERATOR(pgmosaic.<), NEGATOR = OPERATOR(pgmosaic.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR pgmosaic.>= (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_ge,
    COMMUTATOR = OPERATOR(pgmosaic.<=), NEGATOR = OPERATOR(pgmosaic.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pgmosaic.@> (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_contains,
    COMMUTATOR = OPERATOR(pgmosaic.<@), RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR pgmosaic.<@ (
    LEFTARG = pgmosaic.tilekey, RIGHTARG = pgmosaic.tilekey, FUNCTION = pgmosaic.tilekey_contained,
    COMMUTATOR = OPERATOR(pgmosaic.@>), RESTRICT = contsel, JOIN = contjoinsel);

CREATE OPERATOR CLASS pgmosaic.tilekey_ops DEFAULT FOR TYPE pgmosaic.tilekey USING btree AS
    OPERATOR 1 pgmosaic.<,
    OPERATOR 2 pgmosaic.<=,
    OPERATOR 3 pgmosaic.=,
    OPERATOR 4 pgmosaic.>=,
    OPERATOR 5 pgmosaic.>,
    FUNCTION 1 pgmosaic.tilekey_cmp(pgmosaic.tilekey, pgmosaic.tilekey),
    FUNCTION 2 pgmosaic.tilekey_sortsupport(internal);
CREATE OPERATOR CLASS pgmosaic.tilekey_hash_ops DEFAULT FOR TYPE pgmosaic.tilekey USING hash AS
    OPERATOR 1 pgmosaic.=,
    FUNCTION 1 pgmosaic.tilekey_hash(pgmosaic.tilekey),
    FUNCTION 2 pgmosaic.tilekey_hash_extended(pgmosaic.tilekey, bigint);

CREATE OR REPLACE FUNCTION pgmosaic.tilekey(zoom integer, x integer, y integer)
    RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_make' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey(integer, integer, integer) IS
    'The key of tile x, y (from the top left) at a zoom.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_from_bigint(bigint) RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_from_bigint' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_to_bigint(pgmosaic.tilekey) RETURNS bigint
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_to_bigint' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (bigint AS pgmosaic.tilekey) WITH FUNCTION pgmosaic.tilekey_from_bigint(bigint);
CREATE CAST (pgmosaic.tilekey AS bigint) WITH FUNCTION pgmosaic.tilekey_to_bigint(pgmosaic.tilekey);

CREATE OR REPLACE FUNCTION pgmosaic.tilekey_zoom(pgmosaic.tilekey) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_zoom' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_x(pgmosaic.tilekey) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_x' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_y(pgmosaic.tilekey) RETURNS integer
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_y' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_zxy(pgmosaic.tilekey) RETURNS text
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_zxy' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_zxy(pgmosaic.tilekey) IS 'The key as z/x/y text.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_quadkey(pgmosaic.tilekey) RETURNS text
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_quadkey' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_quadkey(pgmosaic.tilekey) IS 'The key as a quadkey.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_parent(pgmosaic.tilekey) RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_parent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_parent(pgmosaic.tilekey) IS
    'The tile one zoom up; NULL at zoom 0.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_parent(pgmosaic.tilekey, zoom integer)
    RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_ancestor' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_parent(pgmosaic.tilekey, integer) IS
    'The tile at a zoom (at most the key''s) that contains the key.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_children(pgmosaic.tilekey)
    RETURNS SETOF pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_children' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    ROWS 4;
COMMENT ON FUNCTION pgmosaic.tilekey_children(pgmosaic.tilekey) IS
    'The four tiles one zoom down, in key order.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_neighbours(pgmosaic.tilekey)
    RETURNS SETOF pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_neighbours' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    ROWS 8;
COMMENT ON FUNCTION pgmosaic.tilekey_neighbours(pgmosaic.tilekey) IS
    'The up to 8 tiles around a tile at its zoom (none outside the matrix), in key order.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_range_end(pgmosaic.tilekey) RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_range_end' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_range_end(pgmosaic.tilekey) IS
    'The greatest key among a tile''s descendants: they are the keys k with '
    'key <= k AND k <= tilekey_range_end(key), one btree range.';

-- Any quadtree tile matrix: tile 0/0/0 spans [origin_x, origin_x + span_x] x
-- [origin_y - span_y, origin_y], rows counting down from origin_y.
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_at(x double precision, y double precision,
                                               zoom integer, origin_x double precision,
                                               origin_y double precision,
                                               span_x double precision, span_y double precision)
    RETURNS pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_at' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_at(double precision, double precision, integer,
                                        double precision, double precision, double precision,
                                        double precision) IS
    'The key of the tile holding point (x, y) at a zoom of the tile matrix whose zoom-0 tile has '
    'its top left corner at (origin_x, origin_y) and spans span_x by span_y.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_bounds(key pgmosaic.tilekey,
                                                   origin_x double precision,
                                                   origin_y double precision,
                                                   span_x double precision,
                                                   span_y double precision)
    RETURNS double precision[]
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_bounds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_bounds(pgmosaic.tilekey, double precision,
                                            double precision, double precision,
                                            double precision) IS
    'The {xmin, ymin, xmax, ymax} of a tile in a tile matrix (see tilekey_at).';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_cover_wkb(wkb bytea, zoom integer,
                                                      origin_x double precision,
                                                      origin_y double precision,
                                                      span_x double precision,
                                                      span_y double precision,
                                                      compact boolean)
    RETURNS SETOF pgmosaic.tilekey
    AS '$libdir/pgmosaic_types', 'pgmosaic_tilekey_cover_wkb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.tilekey_cover_wkb(bytea, integer, double precision,
                                               double precision, double precision,
                                               double precision, boolean) IS
    'The keys at a zoom of the tiles a WKB geometry covers in a tile matrix (see tilekey_at), in '
    'key order: tiles whose interior meets a polygon''s interior, tiles a line passes through, '
    'tiles holding a point. compact merges complete quadrants into their ancestors.';

-- WebMercatorQuad (EPSG:3857), the XYZ tiles of web maps.
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_at(point geometry, zoom integer)
    RETURNS pgmosaic.tilekey
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT pgmosaic.tilekey_at(ST_X(p), ST_Y(p), zoom, -20037508.342789244, 20037508.342789244,
                               40075016.685578488, 40075016.685578488)
    FROM (SELECT CASE WHEN ST_SRID(point) IN (0, 3857) THEN point
                      ELSE ST_Transform(point, 3857) END AS p) AS t
$$;
COMMENT ON FUNCTION pgmosaic.tilekey_at(geometry, integer) IS
    'The WebMercatorQuad (XYZ) tile holding a point at a zoom; SRID 0 is taken as EPSG:3857.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_envelope(key pgmosaic.tilekey) RETURNS geometry
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT ST_MakeEnvelope(b[1], b[2], b[3], b[4], 3857)
    FROM (SELECT pgmosaic.tilekey_bounds(key, -20037508.342789244, 20037508.342789244,
                                         40075016.685578488, 40075016.685578488) AS b) AS t
$$;
COMMENT ON FUNCTION pgmosaic.tilekey_envelope(pgmosaic.tilekey) IS
    'The extent of a WebMercatorQuad (XYZ) tile, in EPSG:3857.';
CREATE OR REPLACE FUNCTION pgmosaic.tilekey_cover(area geometry, zoom integer,
                                                  compact boolean DEFAULT false)
    RETURNS SETOF pgmosaic.tilekey
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT pgmosaic.tilekey_cover_wkb(
        ST_AsBinary(CASE WHEN ST_SRID(area) IN (0, 3857) THEN area
                         ELSE ST_Transform(area, 3857) END),
        zoom, -20037508.342789244, 20037508.342789244, 40075016.685578488, 40075016.685578488,
        compact)
$$;
COMMENT ON FUNCTION pgmosaic.tilekey_cover(geometry, integer, boolean) IS
    'The WebMercatorQuad (XYZ) tiles at a zoom that a geometry covers, in key order (see '
    'tilekey_cover_wkb); SRID 0 is taken as EPSG:3857.';

--------------------------------------------------------------------------------------------
-- A leakproof bounding-box overlap for footprints. Under row-level security PostgreSQL only
-- uses leakproof operators as index conditions, and PostGIS's && is not marked leakproof: a
-- reader's window lookup would scan every item of the mosaic. This is the same C function as
-- PostGIS's && (gserialized_overlaps_2d: a box comparison that raises no error on any input,
-- mixed SRIDs and empty geometries included), declared leakproof, with a GiST operator class
-- made of PostGIS's 2D support functions. items() looks windows up with it.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.footprint_overlaps(geometry, geometry) RETURNS boolean
    AS '$libdir/postgis-3', 'gserialized_overlaps_2d'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF COST 1;
COMMENT ON FUNCTION pgmosaic.footprint_overlaps(geometry, geometry) IS
    'Whether the 2D bounding boxes of two geometries overlap (PostGIS''s &&, leakproof).';
CREATE OPERATOR pgmosaic.&& (
    LEFTARG = geometry, RIGHTARG = geometry, FUNCTION = pgmosaic.footprint_overlaps,
    COMMUTATOR = OPERATOR(pgmosaic.&&),
    RESTRICT = gserialized_gist_sel_2d, JOIN = gserialized_gist_joinsel_2d);
CREATE OPERATOR CLASS pgmosaic.footprint_ops FOR TYPE geometry USING gist AS
    STORAGE box2df,
    OPERATOR 3 pgmosaic.&&,
    FUNCTION 1 geometry_gist_consistent_2d (internal, geometry, integer),
    FUNCTION 2 geometry_gist_union_2d (bytea, internal),
    FUNCTION 3 geometry_gist_compress_2d (internal),
    FUNCTION 4 geometry_gist_decompress_2d (internal),
    FUNCTION 5 geometry_gist_penalty_2d (internal, internal, internal),
    FUNCTION 6 geometry_gist_picksplit_2d (internal, internal),
    FUNCTION 7 geometry_gist_same_2d (geometry, geometry, internal),
    FUNCTION 11 geometry_gist_sortsupport_2d (internal);

--------------------------------------------------------------------------------------------
-- Tables: the 0.2 columns are appended, in the order of a fresh 0.2 install.
--------------------------------------------------------------------------------------------

-- Functions whose signature or result changes, and the 0.1 functions the 0.2 tables no longer
-- match.
DROP FUNCTION pgmosaic.items(text, geometry);
DROP FUNCTION pgmosaic.add_raster(text, text, jsonb, integer);
DROP FUNCTION pgmosaic.inspect_raster(text);

ALTER TABLE pgmosaic.mosaic
    ADD COLUMN origin_x double precision,
    ADD COLUMN origin_y double precision,
    ADD COLUMN tile_size integer NOT NULL DEFAULT 256
        CHECK (tile_size BETWEEN 16 AND 65536 AND (tile_size & (tile_size - 1)) = 0),
    ADD COLUMN band_descriptions text[],
    ADD COLUMN color_interp text[],
    ADD COLUMN default_sort text CHECK (default_sort !~ '(;|--|/\*|\*/)'),
    ADD COLUMN default_method text NOT NULL DEFAULT 'first'
        CHECK (default_method IN ('first', 'last', 'min', 'max', 'mean', 'sum', 'count')),
    ADD COLUMN boundary geometry,
    ADD COLUMN owner regrole NOT NULL
        DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(current_user)),
    ADD COLUMN title text,
    ADD COLUMN abstract text,
    ADD COLUMN purpose text,
    ADD COLUMN keywords text[] NOT NULL DEFAULT '{}',
    ADD COLUMN place_keywords text[] NOT NULL DEFAULT '{}',
    ADD COLUMN source_date date,
    ADD COLUMN begin_date date,
    ADD COLUMN end_date date,
    ADD COLUMN publication_date date,
    ADD COLUMN constraints text,
    ADD COLUMN contact text,
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT mosaic_check CHECK (begin_date <= end_date);
COMMENT ON COLUMN pgmosaic.mosaic.origin_x IS
    'A corner of the pixel grid (set by the first item): pixel edges are at origin + k * res.';
COMMENT ON COLUMN pgmosaic.mosaic.tile_size IS
    'Pixels per side of the mosaic''s quadtree tiles at its native zoom (see mosaic_tile_matrix).';
COMMENT ON COLUMN pgmosaic.mosaic.default_sort IS
    'ORDER BY list over item columns used by items() when no sort is given; the mosaic order '
    '(priority DESC, id DESC) always breaks ties.';
COMMENT ON COLUMN pgmosaic.mosaic.boundary IS
    'Union of the footprints of the primary items, maintained by the catalog functions '
    '(refresh_mosaic() recomputes it after direct edits of pgmosaic.item).';
COMMENT ON COLUMN pgmosaic.mosaic.owner IS
    'The role that owns the mosaic: it and its members read and write it, and grant access.';
COMMENT ON COLUMN pgmosaic.mosaic.metadata IS
    'Further descriptive metadata (FGDC fields without a column of their own).';

-- The grid anchor of a 0.1 mosaic: its top left corner is on its pixel grid.
UPDATE pgmosaic.mosaic SET origin_x = min_x, origin_y = max_y;

ALTER TABLE pgmosaic.item
    ALTER COLUMN path TYPE pgmosaic.pathref USING pgmosaic.pathref(path),
    ADD COLUMN acquired tstzrange,
    ADD COLUMN cloud_cover double precision CHECK (cloud_cover BETWEEN 0 AND 100),
    ADD COLUMN category text NOT NULL DEFAULT 'primary'
        CHECK (category IN ('primary', 'overview')),
    ADD COLUMN overview_level integer CHECK (overview_level > 0),
    ADD COLUMN min_pixel_size double precision CHECK (min_pixel_size > 0),
    ADD COLUMN max_pixel_size double precision CHECK (max_pixel_size > 0),
    ADD COLUMN bands jsonb,
    ADD COLUMN statistics jsonb,
    ADD COLUMN is_cog boolean,
    ADD COLUMN block_width integer,
    ADD COLUMN block_height integer,
    ADD COLUMN overview_count integer,
    ADD COLUMN status text NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'missing', 'stale', 'unreadable')),
    ADD CONSTRAINT item_check CHECK ((category = 'overview') = (overview_level IS NOT NULL)),
    ADD CONSTRAINT item_check1 CHECK (max_pixel_size >= min_pixel_size);
COMMENT ON COLUMN pgmosaic.item.acquired IS 'When the raster was acquired (an instant is [t, t]).';
COMMENT ON COLUMN pgmosaic.item.cloud_cover IS 'Cloud cover, in percent.';
COMMENT ON COLUMN pgmosaic.item.category IS
    'primary (a source raster) or overview (a mosaic-wide overview tile of overview_level).';
COMMENT ON COLUMN pgmosaic.item.min_pixel_size IS
    'The item''s native pixel size in mosaic units (sqrt of the pixel area).';
COMMENT ON COLUMN pgmosaic.item.max_pixel_size IS
    'The coarsest pixel size at which the item is still drawn; NULL: any.';
COMMENT ON COLUMN pgmosaic.item.bands IS
    'Per band, from the file: data_type, nodata, description, color_interp.';
COMMENT ON COLUMN pgmosaic.item.statistics IS
    'Per band statistics, a JSON array of {count, min, max, mean, stddev, p0_5, p2, p98, '
    'p99_5, approximate} (count: valid pixels read; approximate: read from an overview or a '
    'subsample); NULL when they were not cheap to compute at registration.';
COMMENT ON COLUMN pgmosaic.item.is_cog IS 'Whether the file is a Cloud Optimized GeoTIFF.';
COMMENT ON COLUMN pgmosaic.item.status IS
    'What the last sync() found: ok, missing, stale (changed since registration) or unreadable.';

-- The window lookups of items(), usable under row-level security (see footprint_ops).
CREATE INDEX item_window_idx ON pgmosaic.item USING gist (footprint pgmosaic.footprint_ops);

-- Native pixel sizes of 0.1 items, in mosaic units.
UPDATE pgmosaic.item i
SET min_pixel_size = CASE
        WHEN i.srid = m.srid THEN sqrt(abs(i.geotransform[2] * i.geotransform[6]
                                           - i.geotransform[3] * i.geotransform[5]))
        ELSE sqrt(ST_Area(i.footprint) / (i.width::double precision * i.height)) END
FROM pgmosaic.mosaic m
WHERE m.id = i.mosaic_id;

ALTER TABLE pgmosaic.path_root
    DROP CONSTRAINT path_root_prefix_check,
    ALTER COLUMN prefix TYPE pgmosaic.pathref USING pgmosaic.pathref(prefix),
    ADD CONSTRAINT path_root_prefix_check CHECK (pgmosaic.pathref_scheme(prefix) <> 'root');

CREATE TABLE pgmosaic.mosaic_grant (
    mosaic_id   integer NOT NULL REFERENCES pgmosaic.mosaic (id) ON DELETE CASCADE,
    grantee     regrole NOT NULL,            -- 0 ('-'): PUBLIC
    privilege   text NOT NULL CHECK (privilege IN ('read', 'write')),
    PRIMARY KEY (mosaic_id, grantee, privilege)
);
COMMENT ON TABLE pgmosaic.mosaic_grant IS
    'Per-mosaic access: a role (0 for PUBLIC) may read, or read and write, a mosaic''s items. '
    'See grant_access().';

-- In 0.1, table privileges alone decided who read and wrote mosaics: the mosaics that exist keep
-- that behaviour (PUBLIC may read and write them, within table privileges) until their owner or
-- an admin revokes it.
INSERT INTO pgmosaic.mosaic_grant (mosaic_id, grantee, privilege)
SELECT m.id, 0::oid::regrole, p.privilege
FROM pgmosaic.mosaic m CROSS JOIN (VALUES ('read'), ('write')) AS p (privilege);

SELECT pg_catalog.pg_extension_config_dump('pgmosaic.mosaic_grant', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.mosaic_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.item_id_seq', '');

--------------------------------------------------------------------------------------------
-- Backend functions (C++): file access under the superuser settings pgmosaic.enable_file_access,
-- pgmosaic.allowed_roots, pgmosaic.allowed_drivers and pgmosaic.allowed_network_prefixes.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.inspect_raster(path text, statistics text DEFAULT 'none')
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_inspect_raster_v2'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.inspect_raster(text, text) IS
    'Opens a raster file in the backend and returns its header as JSON; statistics: none, cheap '
    '(approximate, only when an overview or the raster is small) or approximate. Needs '
    'pgmosaic.enable_file_access, a path under pgmosaic.allowed_roots (or a network path under '
    'pgmosaic.allowed_network_prefixes) and a driver in pgmosaic.allowed_drivers.';

CREATE OR REPLACE FUNCTION pgmosaic.try_inspect_raster(path text, statistics text DEFAULT 'none')
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_try_inspect_raster'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.try_inspect_raster(text, text) IS
    'inspect_raster that returns {"error": ..., "sqlstate": ...} for a file it cannot inspect '
    'instead of raising (it still raises when backend file access is disabled).';

CREATE OR REPLACE FUNCTION pgmosaic.stat_raster(path text, OUT state text, OUT size bigint,
                                                OUT mtime timestamptz, OUT detail text)
    AS 'MODULE_PATHNAME', 'pgmosaic_stat_raster'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.stat_raster(text) IS
    'The state of a raster file for the backend: present (with size and mtime), missing or denied '
    '(with the reason).';

CREATE OR REPLACE FUNCTION pgmosaic.list_rasters(directory text, pattern text DEFAULT '*.tif',
                                                 recursive boolean DEFAULT true)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'pgmosaic_list_rasters'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.list_rasters(text, text, boolean) IS
    'The files below a local directory (under pgmosaic.allowed_roots) whose name matches a glob '
    'pattern, case-insensitively, as sorted paths relative to the directory.';

CREATE OR REPLACE FUNCTION pgmosaic.gdal_version() RETURNS text
    AS 'MODULE_PATHNAME', 'pgmosaic_gdal_version'
    LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.gdal_version() IS 'The GDAL release the backend module runs on.';

--------------------------------------------------------------------------------------------
-- Access control helpers (used by the row-level security policies)
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.is_admin() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.pg_has_role('pgmosaic_admin', 'USAGE') $$;
COMMENT ON FUNCTION pgmosaic.is_admin() IS
    'Whether the current role has the privileges of pgmosaic_admin (all mosaics).';

CREATE OR REPLACE FUNCTION pgmosaic.is_owner(mosaic_id integer) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT EXISTS (SELECT 1 FROM pgmosaic.mosaic m
                   WHERE m.id = is_owner.mosaic_id
                     AND pg_catalog.pg_has_role(m.owner::oid, 'USAGE'))
$$;
COMMENT ON FUNCTION pgmosaic.is_owner(integer) IS
    'Whether the current role has the privileges of the owner of a mosaic.';

--------------------------------------------------------------------------------------------
-- Internal helpers
--------------------------------------------------------------------------------------------

-- The mosaic of a name; raises 42704 naming it when there is none (or none the role may see).
CREATE OR REPLACE FUNCTION pgmosaic._mosaic(name text) RETURNS pgmosaic.mosaic
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = _mosaic.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown mosaic "%"', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN m;
END
$$;

-- An area in the mosaic's SRID: SRID 0 is taken as the mosaic's, others are transformed.
-- PL/pgSQL, not SQL: an SQL function with SET is not inlined, and is parsed and planned again
-- on every call from PL/pgSQL (a third of a catalog lookup's server time).
CREATE OR REPLACE FUNCTION pgmosaic._in_srid(area geometry, srid integer) RETURNS geometry
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN CASE WHEN area IS NULL THEN NULL
                WHEN ST_SRID(area) = 0 THEN ST_SetSRID(area, srid)
                WHEN ST_SRID(area) = srid THEN area
                ELSE ST_Transform(area, srid) END;
END
$$;

-- Refuses an SQL fragment (filter, sort) with a statement separator or a comment. items() runs
-- as the caller, so a fragment can never do more than the caller may; this only keeps
-- fragments to one expression.
CREATE OR REPLACE FUNCTION pgmosaic._check_fragment(kind text, fragment text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF fragment ~ '(;|--|/\*|\*/)' THEN
        RAISE EXCEPTION 'invalid % "%": semicolons and comments are not allowed', kind, fragment
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- The path GDAL opens for a reference, or NULL when its root is unknown.
CREATE OR REPLACE FUNCTION pgmosaic._resolve_or_null(ref pgmosaic.pathref) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN pgmosaic.pathref_root(ref) IS NULL THEN ref::text
                ELSE (SELECT pgmosaic.pathref_under_root(ref, r.prefix)::text
                      FROM pgmosaic.path_root r
                      WHERE r.name = pgmosaic.pathref_root(ref)) END
$$;

-- Bytes per sample of a GDAL data type.
CREATE OR REPLACE FUNCTION pgmosaic._data_type_bytes(data_type text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE data_type
        WHEN 'Byte' THEN 1 WHEN 'Int8' THEN 1
        WHEN 'UInt16' THEN 2 WHEN 'Int16' THEN 2
        WHEN 'UInt32' THEN 4 WHEN 'Int32' THEN 4 WHEN 'Float32' THEN 4 WHEN 'CInt16' THEN 4
        WHEN 'UInt64' THEN 8 WHEN 'Int64' THEN 8 WHEN 'Float64' THEN 8
        WHEN 'CInt32' THEN 8 WHEN 'CFloat32' THEN 8
        WHEN 'CFloat64' THEN 16 END
$$;

-- Why a raster (its inspect_raster JSON) cannot join a mosaic, or NULL when it can.
CREATE OR REPLACE FUNCTION pgmosaic._misfit(m pgmosaic.mosaic, ref text, info jsonb)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN m.band_count IS NOT NULL AND m.band_count <> (info ->> 'band_count')::integer
            THEN format('raster "%s" has %s bands but mosaic "%s" has %s',
                        ref, info ->> 'band_count', m.name, m.band_count)
        WHEN m.data_type IS NOT NULL AND m.data_type <> info ->> 'data_type'
            THEN format('raster "%s" is of type %s but mosaic "%s" is of type %s',
                        ref, info ->> 'data_type', m.name, m.data_type)
        END
$$;

-- The item columns that come from a file (its inspect_raster JSON), for a mosaic in `srid`.
CREATE OR REPLACE FUNCTION pgmosaic._item_from_info(info jsonb, srid integer)
    RETURNS pgmosaic.item
    LANGUAGE plpgsql IMMUTABLE
    SET search_path FROM CURRENT
AS $$
DECLARE
    it pgmosaic.item;
    fp geometry;
    band0 jsonb := info -> 'bands' -> 0;
BEGIN
    it.geotransform := ARRAY(SELECT jsonb_array_elements_text(info -> 'geotransform')
                             ::double precision);
    it.srid := (info ->> 'srid')::integer;
    -- The outline of the valid pixels when the inspection traced it, else the extent.
    fp := ST_GeomFromText(COALESCE(NULLIF(info ->> 'valid_footprint', ''), info ->> 'footprint'),
                          it.srid);
    IF it.srid <> srid THEN
        fp := ST_Transform(ST_Segmentize(fp, GREATEST(ST_XMax(fp) - ST_XMin(fp),
                                                      ST_YMax(fp) - ST_YMin(fp)) / 16), srid);
    END IF;
    it.footprint := fp;
    it.width := (info ->> 'width')::integer;
    it.height := (info ->> 'height')::integer;
    it.band_count := (info ->> 'band_count')::integer;
    it.data_type := info ->> 'data_type';
    it.nodata := CASE WHEN band0 ->> 'nodata' IS NULL THEN NULL
                      ELSE (band0 ->> 'nodata')::double precision END;
    it.driver := info ->> 'driver';
    it.file_size := (info ->> 'file_size')::bigint;
    it.file_mtime := to_timestamp((info ->> 'mtime')::double precision);
    it.min_pixel_size := CASE
        WHEN it.srid = srid THEN sqrt(abs(it.geotransform[2] * it.geotransform[6]
                                          - it.geotransform[3] * it.geotransform[5]))
        ELSE sqrt(ST_Area(ST_Transform(ST_GeomFromText(info ->> 'footprint', it.srid), srid))
                  / (it.width::double precision * it.height)) END;
    it.bands := info -> 'bands';
    it.statistics := CASE WHEN jsonb_typeof(info -> 'statistics') = 'array'
                          THEN info -> 'statistics' END;
    it.is_cog := (info ->> 'is_cog')::boolean;
    it.block_width := (info ->> 'block_width')::integer;
    it.block_height := (info ->> 'block_height')::integer;
    it.overview_count := (info ->> 'overview_count')::integer;
    it.status := 'ok';
    RETURN it;
END
$$;

-- Grows a mosaic's extent (snapped outward to its pixel grid) and boundary by some of its
-- items.
CREATE OR REPLACE FUNCTION pgmosaic._grow_extent(mosaic_id integer, item_ids bigint[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    ext box2d;
    fps geometry;
BEGIN
    SELECT ST_Extent(i.footprint), ST_Union(i.footprint) INTO ext, fps
    FROM pgmosaic.item i
    WHERE i.mosaic_id = _grow_extent.mosaic_id AND i.id = ANY (item_ids)
      AND i.category = 'primary';
    IF fps IS NULL THEN
        RETURN;
    END IF;
    PERFORM pgmosaic._set_extent(_grow_extent.mosaic_id, ext, fps, true);
END
$$;

-- Sets (or, with grow, widens) a mosaic's extent to `ext` snapped outward to its pixel grid,
-- and its boundary to `fps` (or the union with it).
CREATE OR REPLACE FUNCTION pgmosaic._set_extent(mosaic_id integer, ext box2d, fps geometry,
                                                grow boolean)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    eps constant double precision := 1e-6;
    m pgmosaic.mosaic;
    x0 double precision; y0 double precision; x1 double precision; y1 double precision;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.id = _set_extent.mosaic_id;
    IF ext IS NULL THEN
        UPDATE pgmosaic.mosaic mo SET min_x = NULL, min_y = NULL, max_x = NULL, max_y = NULL,
            boundary = NULL
        WHERE mo.id = m.id;
        RETURN;
    END IF;
    x0 := m.origin_x + floor((ST_XMin(ext) - m.origin_x) / m.res_x + eps) * m.res_x;
    x1 := m.origin_x + ceil((ST_XMax(ext) - m.origin_x) / m.res_x - eps) * m.res_x;
    y1 := m.origin_y + ceil((ST_YMax(ext) - m.origin_y) / m.res_y - eps) * m.res_y;
    y0 := m.origin_y + floor((ST_YMin(ext) - m.origin_y) / m.res_y + eps) * m.res_y;
    IF grow AND m.min_x IS NOT NULL THEN
        x0 := LEAST(x0, m.min_x);
        x1 := GREATEST(x1, m.max_x);
        y0 := LEAST(y0, m.min_y);
        y1 := GREATEST(y1, m.max_y);
        IF m.boundary IS NOT NULL THEN
            fps := ST_Union(m.boundary, fps);
        END IF;
    END IF;
    UPDATE pgmosaic.mosaic mo SET min_x = x0, min_y = y0, max_x = x1, max_y = y1,
        boundary = fps
    WHERE mo.id = m.id;
END
$$;

-- Recomputes a mosaic's extent and boundary from its primary items.
CREATE OR REPLACE FUNCTION pgmosaic._refresh_extent(mosaic_id integer) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    ext box2d;
    fps geometry;
BEGIN
    SELECT ST_Extent(i.footprint), ST_Union(i.footprint) INTO ext, fps
    FROM pgmosaic.item i
    WHERE i.mosaic_id = _refresh_extent.mosaic_id AND i.category = 'primary';
    PERFORM pgmosaic._set_extent(_refresh_extent.mosaic_id, ext, fps, false);
END
$$;

-- Refuses item properties a caller gives that make no sense, naming the raster.
CREATE OR REPLACE FUNCTION pgmosaic._check_item_props(ref text, props pgmosaic.item)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF props.category IS NULL OR props.category NOT IN ('primary', 'overview') THEN
        RAISE EXCEPTION 'unknown category "%" for raster "%": use primary or overview',
            props.category, ref USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (props.category = 'overview') <> (props.overview_level IS NOT NULL)
       OR props.overview_level < 1 THEN
        RAISE EXCEPTION 'raster "%": an overview item needs an overview_level of 1 or more, a '
                        'primary item none (got %)', ref,
                        COALESCE(props.overview_level::text, 'none')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF props.cloud_cover < 0 OR props.cloud_cover > 100 THEN
        RAISE EXCEPTION 'raster "%": cloud cover % is not a percentage', ref, props.cloud_cover
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF props.max_pixel_size <= 0 THEN
        RAISE EXCEPTION 'raster "%": max_pixel_size % is not positive', ref, props.max_pixel_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- Stores one inspected raster (its inspect_raster JSON) as an item of a mosaic, with the
-- properties the caller gives (priority, attributes, acquired, cloud_cover, category,
-- overview_level, max_pixel_size): checks it fits the mosaic (the first primary item sets
-- the grid, bands, type and nodata); a raster already registered fails, is skipped (NULL) or
-- is updated, as on_duplicate says; with grow_extent, widens the mosaic's extent and
-- boundary at once (bulk registration does it once at the end).
-- Marks the up-to-date overview tiles of a mosaic that meet `area` as stale: reads no longer
-- use them and the next gdaladdo rebuilds them.
CREATE OR REPLACE FUNCTION pgmosaic._stale_overviews(mosaic_id integer, area geometry)
    RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path FROM CURRENT
AS $$
    UPDATE pgmosaic.item i SET status = 'stale'
    WHERE i.mosaic_id = _stale_overviews.mosaic_id AND i.category = 'overview'
      AND i.status = 'ok' AND area IS NOT NULL
      AND i.footprint OPERATOR(pgmosaic.&&) area AND ST_Intersects(i.footprint, area)
$$;

CREATE OR REPLACE FUNCTION pgmosaic._store_item(mosaic_id integer, ref pgmosaic.pathref,
                                                info jsonb, props pgmosaic.item,
                                                on_duplicate text, grow_extent boolean)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
    it pgmosaic.item;
    misfit text;
    first_item boolean;
    existing bigint;
    new_id bigint;
BEGIN
    -- Lock the mosaic row: grid initialisation and extent updates are serialised per mosaic.
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.id = _store_item.mosaic_id FOR UPDATE;
    IF NOT FOUND THEN
        -- Visible (read access) but not lockable: no write access.
        SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.id = _store_item.mosaic_id;
        IF FOUND THEN
            RAISE EXCEPTION 'permission denied to register rasters in mosaic "%": no write access',
                m.name USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'unknown mosaic id %', _store_item.mosaic_id
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM pgmosaic._check_item_props(ref::text, props);
    SELECT i.id INTO existing FROM pgmosaic.item i WHERE i.mosaic_id = m.id AND i.path = ref;
    IF existing IS NOT NULL THEN
        IF on_duplicate = 'skip' THEN
            RETURN NULL;
        ELSIF on_duplicate IS DISTINCT FROM 'update' THEN
            RAISE EXCEPTION 'raster "%" is already registered in mosaic "%"', ref, m.name
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    first_item := m.res_x IS NULL OR m.origin_x IS NULL;
    IF first_item AND props.category = 'overview' THEN
        RAISE EXCEPTION 'mosaic "%" has no grid yet: register a primary item before overview "%"',
            m.name, ref USING ERRCODE = 'invalid_parameter_value';
    END IF;
    misfit := pgmosaic._misfit(m, ref::text, info);
    IF misfit IS NOT NULL THEN
        RAISE EXCEPTION '%', misfit USING ERRCODE = 'data_exception';
    END IF;
    it := pgmosaic._item_from_info(info, m.srid);

    -- The grid comes from the first item: its pixel size (unless create_mosaic gave one) and
    -- its corner as the anchor of the pixel grid.
    IF first_item THEN
        IF m.res_x IS NULL THEN
            IF it.srid <> m.srid OR it.geotransform[3] <> 0 OR it.geotransform[5] <> 0 THEN
                RAISE EXCEPTION 'mosaic "%" has no resolution and raster "%" is not on a '
                                'north-up grid in SRID %: give a resolution to create_mosaic',
                                m.name, ref, m.srid
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            m.res_x := it.geotransform[2];
            m.res_y := -it.geotransform[6];
        END IF;
        IF it.srid = m.srid AND it.geotransform[3] = 0 AND it.geotransform[5] = 0 THEN
            m.origin_x := it.geotransform[1];
            m.origin_y := it.geotransform[4];
        ELSE
            m.origin_x := ST_XMin(it.footprint);
            m.origin_y := ST_YMax(it.footprint);
        END IF;
        UPDATE pgmosaic.mosaic mo SET res_x = m.res_x, res_y = m.res_y,
            origin_x = m.origin_x, origin_y = m.origin_y,
            band_count = it.band_count, data_type = it.data_type, nodata = it.nodata,
            band_descriptions = ARRAY(SELECT b ->> 'description'
                                      FROM jsonb_array_elements(info -> 'bands') b),
            color_interp = ARRAY(SELECT b ->> 'color_interp'
                                 FROM jsonb_array_elements(info -> 'bands') b)
        WHERE mo.id = m.id;
    END IF;

    IF existing IS NULL THEN
        INSERT INTO pgmosaic.item AS i (mosaic_id, path, footprint, srid, geotransform, width,
                                        height, band_count, data_type, nodata, driver,
                                        file_size, file_mtime, priority, attributes, acquired,
                                        cloud_cover, category, overview_level, min_pixel_size,
                                        max_pixel_size, bands, statistics, is_cog, block_width,
                                        block_height, overview_count, status)
        VALUES (m.id, ref, it.footprint, it.srid, it.geotransform, it.width, it.height,
                it.band_count, it.data_type, it.nodata, it.driver, it.file_size,
                it.file_mtime, COALESCE(props.priority, 0), COALESCE(props.attributes, '{}'),
                props.acquired, props.cloud_cover, props.category, props.overview_level,
                it.min_pixel_size, props.max_pixel_size, it.bands, it.statistics, it.is_cog,
                it.block_width, it.block_height, it.overview_count, 'ok')
        RETURNING i.id INTO new_id;
    ELSE
        UPDATE pgmosaic.item i
        SET footprint = it.footprint, srid = it.srid, geotransform = it.geotransform,
            width = it.width, height = it.height, band_count = it.band_count,
            data_type = it.data_type, nodata = it.nodata, driver = it.driver,
            file_size = it.file_size, file_mtime = it.file_mtime,
            priority = COALESCE(props.priority, i.priority),
            attributes = i.attributes || COALESCE(props.attributes, '{}'),
            acquired = COALESCE(props.acquired, i.acquired),
            cloud_cover = COALESCE(props.cloud_cover, i.cloud_cover),
            category = props.category, overview_level = props.overview_level,
            min_pixel_size = it.min_pixel_size,
            max_pixel_size = COALESCE(props.max_pixel_size, i.max_pixel_size),
            bands = it.bands, statistics = COALESCE(it.statistics, i.statistics),
            is_cog = it.is_cog, block_width = it.block_width, block_height = it.block_height,
            overview_count = it.overview_count, status = 'ok'
        WHERE i.mosaic_id = m.id AND i.id = existing;
        new_id := existing;
    END IF;

    -- Mosaic-wide overview tiles over a new or changed primary item are out of date; its DRAD
    -- tiles and theme polygons are (re)stored.
    IF props.category = 'primary' THEN
        PERFORM pgmosaic._stale_overviews(m.id, (SELECT i.footprint FROM pgmosaic.item i
                                                 WHERE i.mosaic_id = m.id AND i.id = new_id));
        PERFORM pgmosaic._store_abstractions(m.id, new_id, info,
                                             pgmosaic._resolve_or_null(ref));
    END IF;
    IF grow_extent OR first_item THEN
        PERFORM pgmosaic._grow_extent(m.id, ARRAY[new_id]);
    END IF;
    RETURN new_id;
END
$$;

-- Registers one raster the backend inspects (statistics when cheap).
CREATE OR REPLACE FUNCTION pgmosaic._register_item(mosaic_id integer, ref pgmosaic.pathref,
                                                   attributes jsonb, priority integer,
                                                   acquired tstzrange,
                                                   cloud_cover double precision,
                                                   category text, overview_level integer,
                                                   grow_extent boolean)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    props pgmosaic.item;
BEGIN
    props.attributes := attributes;
    props.priority := priority;
    props.acquired := acquired;
    props.cloud_cover := cloud_cover;
    props.category := COALESCE(category, 'primary');
    props.overview_level := overview_level;
    -- Refuse bad properties before opening the file.
    PERFORM pgmosaic._check_item_props(ref::text, props);
    RETURN pgmosaic._store_item(mosaic_id, ref,
                                pgmosaic.inspect_raster(pgmosaic.resolve(ref), 'cheap'), props,
                                'fail', grow_extent);
END
$$;

-- The raster references of the files a directory holds: under the same root when the
-- directory is given as @root/dir (so that moving the root stays one UPDATE).
CREATE OR REPLACE FUNCTION pgmosaic._directory_refs(directory text, pattern text,
                                                    recursive boolean)
    RETURNS text[]
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    base text;
    resolved text;
BEGIN
    IF directory ~ '^@[A-Za-z0-9_-]+/*$' THEN
        base := rtrim(directory, '/');
        SELECT r.prefix::text INTO resolved FROM pgmosaic.path_root r
        WHERE r.name = substr(base, 2);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown path root "%" in directory "%"', substr(base, 2), directory
                USING ERRCODE = 'undefined_object';
        END IF;
    ELSE
        base := pgmosaic.pathref(directory)::text;
        resolved := pgmosaic.resolve(pgmosaic.pathref(base));
    END IF;
    IF base = '/' THEN
        base := '';
    END IF;
    RETURN ARRAY(SELECT base || '/' || f FROM pgmosaic.list_rasters(resolved, pattern, recursive) f);
END
$$;

--------------------------------------------------------------------------------------------
-- Catalog functions
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.resolve(ref pgmosaic.pathref) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    root_name text := pgmosaic.pathref_root(ref);
    root_prefix pgmosaic.pathref;
BEGIN
    IF root_name IS NULL THEN
        RETURN ref::text;
    END IF;
    SELECT r.prefix INTO root_prefix FROM pgmosaic.path_root r WHERE r.name = root_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown path root "%" in path "%"', root_name, ref
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add it with INSERT INTO pgmosaic.path_root (name, prefix) VALUES (...).';
    END IF;
    RETURN pgmosaic.pathref_under_root(ref, root_prefix)::text;
END
$$;
COMMENT ON FUNCTION pgmosaic.resolve(pgmosaic.pathref) IS
    'The path GDAL opens for a raster reference: @root/rel becomes the root''s prefix/rel.';

CREATE OR REPLACE FUNCTION pgmosaic.resolve_path(path text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT pgmosaic.resolve(pgmosaic.pathref(path)) $$;
COMMENT ON FUNCTION pgmosaic.resolve_path(text) IS
    'The path GDAL opens for an item path: @root/rel becomes the root''s prefix/rel.';

CREATE OR REPLACE FUNCTION pgmosaic.create_mosaic(name text, srid integer,
                                                  resolution double precision DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    new_id integer;
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'a mosaic needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM spatial_ref_sys s WHERE s.srid = create_mosaic.srid) THEN
        RAISE EXCEPTION 'unknown SRID % for mosaic "%"', srid, name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF resolution IS NOT NULL AND NOT resolution > 0 THEN
        RAISE EXCEPTION 'resolution must be positive, got %', resolution
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        INSERT INTO pgmosaic.mosaic (name, srid, res_x, res_y)
        VALUES (name, srid, resolution, resolution)
        RETURNING id INTO new_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'mosaic "%" already exists', name USING ERRCODE = 'duplicate_object';
    END;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION pgmosaic.create_mosaic(text, integer, double precision) IS
    'Creates an empty mosaic in an SRID, owned by the current role; its grid, bands, type and '
    'nodata come from the first registered item when not given.';

CREATE OR REPLACE FUNCTION pgmosaic.drop_mosaic(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    mid integer;
BEGIN
    SELECT m.id INTO mid FROM pgmosaic.mosaic m WHERE m.name = drop_mosaic.name FOR UPDATE;
    IF mid IS NULL THEN
        RAISE EXCEPTION 'unknown mosaic "%"', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM pgmosaic.item WHERE mosaic_id = mid;
    DELETE FROM pgmosaic.mosaic WHERE id = mid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission denied to drop mosaic "%": only its owner or a '
                        'pgmosaic_admin may', name USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION pgmosaic.drop_mosaic(text) IS 'Drops a mosaic and its items (not the files).';

CREATE OR REPLACE FUNCTION pgmosaic.add_raster(mosaic text, path text,
                                               attributes jsonb DEFAULT '{}',
                                               priority integer DEFAULT 0,
                                               acquired tstzrange DEFAULT NULL,
                                               cloud_cover double precision DEFAULT NULL,
                                               category text DEFAULT 'primary',
                                               overview_level integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN pgmosaic._register_item((pgmosaic._mosaic(mosaic)).id, pgmosaic.pathref(path),
                                   attributes, priority, acquired, cloud_cover, category,
                                   overview_level, true);
END
$$;
COMMENT ON FUNCTION pgmosaic.add_raster(text, text, jsonb, integer, tstzrange,
                                        double precision, text, integer) IS
    'Registers a raster file in a mosaic: the backend opens it and records its header, footprint '
    'and (when cheap) statistics. Later registrations are drawn above earlier ones of the same '
    'priority.';

CREATE OR REPLACE FUNCTION pgmosaic.register_raster(mosaic text, path text, info jsonb,
                                                    properties jsonb DEFAULT '{}',
                                                    on_duplicate text DEFAULT 'fail')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    ref pgmosaic.pathref := pgmosaic.pathref(path);
    mid integer;
    props pgmosaic.item;
    p jsonb := COALESCE(properties, '{}');
    k text;
    v jsonb;
    -- Item columns that come from the file: properties never set them.
    from_file constant text[] := ARRAY['mosaic_id', 'id', 'path', 'location', 'footprint',
        'srid', 'geotransform', 'width', 'height', 'band_count', 'data_type', 'nodata',
        'driver', 'file_size', 'file_mtime', 'registered', 'min_pixel_size', 'bands',
        'statistics', 'is_cog', 'block_width', 'block_height', 'overview_count', 'status'];
BEGIN
    IF on_duplicate IS NULL OR on_duplicate NOT IN ('fail', 'skip', 'update') THEN
        RAISE EXCEPTION 'invalid on_duplicate "%": use fail, skip or update', on_duplicate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF info IS NULL OR jsonb_typeof(info) <> 'object' OR NOT info ?& ARRAY['srid',
            'geotransform', 'width', 'height', 'band_count', 'data_type', 'footprint'] THEN
        RAISE EXCEPTION 'raster "%": info is not the JSON of an inspection (see inspect_raster)',
            path USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p) <> 'object' THEN
        RAISE EXCEPTION 'raster "%": properties must be a JSON object', path
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    props.category := 'primary';
    props.attributes := '{}';
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(p) e LOOP
        CONTINUE WHEN v = 'null'::jsonb OR k = ANY (from_file);
        BEGIN
            CASE k
                WHEN 'priority' THEN props.priority := (v #>> '{}')::integer;
                WHEN 'cloud_cover' THEN props.cloud_cover := (v #>> '{}')::double precision;
                WHEN 'category' THEN props.category := v #>> '{}';
                WHEN 'overview_level' THEN props.overview_level := (v #>> '{}')::integer;
                WHEN 'max_pixel_size' THEN
                    props.max_pixel_size := (v #>> '{}')::double precision;
                WHEN 'acquired' THEN
                    -- A range ('[t1,t2)') or an instant (taken as [t, t]).
                    props.acquired := CASE WHEN (v #>> '{}') ~ '^\s*[\[\(]'
                                           THEN (v #>> '{}')::tstzrange
                                           ELSE tstzrange((v #>> '{}')::timestamptz,
                                                          (v #>> '{}')::timestamptz, '[]') END;
                WHEN 'attributes' THEN
                    props.attributes := props.attributes
                                        || CASE WHEN jsonb_typeof(v) = 'object' THEN v
                                                ELSE jsonb_build_object(k, v) END;
                ELSE
                    props.attributes := props.attributes || jsonb_build_object(k, v);
            END CASE;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'raster "%": property % = %: %', path, k, v, SQLERRM
                USING ERRCODE = SQLSTATE;
        END;
    END LOOP;
    SELECT mo.id INTO mid FROM pgmosaic.mosaic mo WHERE mo.name = register_raster.mosaic;
    IF mid IS NULL THEN
        -- Loading into a new mosaic creates it, in the SRID of its first raster; a rotated one
        -- gives its pixel size as the resolution of the north-up grid.
        mid := pgmosaic.create_mosaic(mosaic, (info ->> 'srid')::integer,
            CASE WHEN (info -> 'geotransform' ->> 2)::double precision <> 0
                   OR (info -> 'geotransform' ->> 4)::double precision <> 0
                 THEN sqrt(abs((info -> 'geotransform' ->> 1)::double precision
                               * (info -> 'geotransform' ->> 5)::double precision
                               - (info -> 'geotransform' ->> 2)::double precision
                               * (info -> 'geotransform' ->> 4)::double precision)) END);
    END IF;
    RETURN pgmosaic._store_item(mid, ref, info, props, on_duplicate, true);
END
$$;
COMMENT ON FUNCTION pgmosaic.register_raster(text, text, jsonb, jsonb, text) IS
    'Registers a raster inspected elsewhere (the JSON of inspect_raster, e.g. made by the GDAL '
    'driver on the client: no backend file access is needed). properties set priority, '
    'cloud_cover, acquired (a range or an instant), category, overview_level, max_pixel_size '
    'and attributes; other keys go into attributes, keys of columns read from the file are '
    'ignored. A raster already registered fails, is skipped (NULL) or is updated, as '
    'on_duplicate (fail, skip, update) says. A mosaic that does not exist is created in the '
    'raster''s SRID. Returns the item id.';

CREATE OR REPLACE FUNCTION pgmosaic.add_rasters(mosaic text, paths text[],
                                                attributes jsonb DEFAULT '{}',
                                                priority integer DEFAULT 0,
                                                skip_bad boolean DEFAULT false)
    RETURNS TABLE (path text, item_id bigint, error_code text, error_message text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    mid integer := (pgmosaic._mosaic(mosaic)).id;
    p text;
    added bigint[] := '{}';
BEGIN
    FOREACH p IN ARRAY COALESCE(paths, '{}') LOOP
        path := p;
        item_id := NULL;
        error_code := NULL;
        error_message := NULL;
        IF skip_bad THEN
            BEGIN
                item_id := pgmosaic._register_item(mid, pgmosaic.pathref(p), attributes,
                                                   priority, NULL, NULL, 'primary', NULL,
                                                   false);
            EXCEPTION WHEN OTHERS THEN
                error_code := SQLSTATE;
                error_message := SQLERRM;
            END;
        ELSE
            item_id := pgmosaic._register_item(mid, pgmosaic.pathref(p), attributes, priority,
                                               NULL, NULL, 'primary', NULL, false);
        END IF;
        IF item_id IS NOT NULL THEN
            added := added || item_id;
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM pgmosaic._grow_extent(mid, added);
END
$$;
COMMENT ON FUNCTION pgmosaic.add_rasters(text, text[], jsonb, integer, boolean) IS
    'Registers a list of raster files, in list order, in one transaction: a bad file fails the '
    'whole call naming it, unless skip_bad (then its row carries the error). One row per path.';

CREATE OR REPLACE FUNCTION pgmosaic.add_directory(mosaic text, directory text,
                                                  pattern text DEFAULT '*.tif',
                                                  recursive boolean DEFAULT true,
                                                  attributes jsonb DEFAULT '{}',
                                                  priority integer DEFAULT 0,
                                                  skip_bad boolean DEFAULT false)
    RETURNS TABLE (path text, item_id bigint, error_code text, error_message text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    refs text[] := pgmosaic._directory_refs(directory, pattern, recursive);
BEGIN
    IF cardinality(refs) = 0 THEN
        RAISE EXCEPTION 'no file matching "%" in directory "%"', pattern, directory
            USING ERRCODE = 'undefined_file';
    END IF;
    RETURN QUERY SELECT * FROM pgmosaic.add_rasters(mosaic, refs, attributes, priority, skip_bad);
END
$$;
COMMENT ON FUNCTION pgmosaic.add_directory(text, text, text, boolean, jsonb, integer, boolean) IS
    'Registers the files of a directory whose name matches a glob pattern (recursively by '
    'default), in path order, like add_rasters. A directory given as @root/dir registers '
    '@root/dir/... references.';

CREATE OR REPLACE FUNCTION pgmosaic.create_mosaic_from_files(name text, paths text[],
                                                             srid integer DEFAULT NULL,
                                                             resolution double precision
                                                                 DEFAULT NULL,
                                                             skip_bad boolean DEFAULT false)
    RETURNS TABLE (path text, item_id bigint, error_code text, error_message text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    mosaic_srid integer := srid;
    p text;
    info jsonb;
    first_error text;
BEGIN
    IF cardinality(paths) IS NULL OR cardinality(paths) = 0 THEN
        RAISE EXCEPTION 'mosaic "%" needs at least one file', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Without an SRID, the mosaic takes the one of its first readable file.
    IF mosaic_srid IS NULL THEN
        FOREACH p IN ARRAY paths LOOP
            BEGIN
                info := pgmosaic.try_inspect_raster(pgmosaic.resolve(pgmosaic.pathref(p)));
            EXCEPTION WHEN OTHERS THEN
                IF NOT skip_bad THEN
                    RAISE;
                END IF;
                info := jsonb_build_object('error', SQLERRM, 'sqlstate', SQLSTATE);
            END;
            IF info ? 'error' THEN
                first_error := COALESCE(first_error, info ->> 'error');
                IF NOT skip_bad THEN
                    RAISE EXCEPTION '%', info ->> 'error' USING ERRCODE = info ->> 'sqlstate';
                END IF;
            ELSE
                mosaic_srid := (info ->> 'srid')::integer;
                EXIT;
            END IF;
        END LOOP;
        IF mosaic_srid IS NULL THEN
            RAISE EXCEPTION 'none of the files of mosaic "%" can be read: %', name, first_error
                USING ERRCODE = 'undefined_file';
        END IF;
    END IF;
    PERFORM pgmosaic.create_mosaic(name, mosaic_srid, resolution);
    RETURN QUERY SELECT * FROM pgmosaic.add_rasters(name, paths, '{}', 0, skip_bad);
END
$$;
COMMENT ON FUNCTION pgmosaic.create_mosaic_from_files(text, text[], integer, double precision,
                                                      boolean) IS
    'Creates a mosaic from a list of files in one transaction (SRID: the first file''s unless '
    'given), like create_mosaic + add_rasters.';

CREATE OR REPLACE FUNCTION pgmosaic.create_mosaic_from_file(name text, path text,
                                                            srid integer DEFAULT NULL,
                                                            resolution double precision
                                                                DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pgmosaic.create_mosaic_from_files(name, ARRAY[path], srid, resolution, false);
    RETURN (pgmosaic._mosaic(name)).id;
END
$$;
COMMENT ON FUNCTION pgmosaic.create_mosaic_from_file(text, text, integer, double precision) IS
    'Creates a mosaic of one file (SRID, grid, bands and type from the file); returns its id.';

CREATE OR REPLACE FUNCTION pgmosaic.create_mosaic_from_directory(name text, directory text,
                                                                 pattern text DEFAULT '*.tif',
                                                                 recursive boolean DEFAULT true,
                                                                 srid integer DEFAULT NULL,
                                                                 resolution double precision
                                                                     DEFAULT NULL,
                                                                 skip_bad boolean DEFAULT false)
    RETURNS TABLE (path text, item_id bigint, error_code text, error_message text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    refs text[] := pgmosaic._directory_refs(directory, pattern, recursive);
BEGIN
    IF cardinality(refs) = 0 THEN
        RAISE EXCEPTION 'no file matching "%" in directory "%"', pattern, directory
            USING ERRCODE = 'undefined_file';
    END IF;
    RETURN QUERY SELECT * FROM pgmosaic.create_mosaic_from_files(name, refs, srid, resolution,
                                                                 skip_bad);
END
$$;
COMMENT ON FUNCTION pgmosaic.create_mosaic_from_directory(text, text, text, boolean, integer,
                                                          double precision, boolean) IS
    'Creates a mosaic from the files of a directory matching a glob pattern (recursively by '
    'default), in path order, like create_mosaic_from_files.';

CREATE OR REPLACE FUNCTION pgmosaic.remove_rasters(mosaic text, paths text[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    refs pgmosaic.pathref[] := paths::pgmosaic.pathref[];
    removed bigint;
BEGIN
    PERFORM 1 FROM pgmosaic.mosaic mo WHERE mo.id = m.id FOR UPDATE;
    PERFORM pgmosaic._stale_overviews(m.id, (SELECT ST_Union(i.footprint) FROM pgmosaic.item i
                                             WHERE i.mosaic_id = m.id AND i.path = ANY (refs)
                                               AND i.category = 'primary'));
    DELETE FROM pgmosaic.item i WHERE i.mosaic_id = m.id AND i.path = ANY (refs);
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 THEN
        PERFORM pgmosaic._refresh_extent(m.id);
    END IF;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION pgmosaic.remove_rasters(text, text[]) IS
    'Removes items by path (not the files) and recomputes the extent and boundary; returns how '
    'many were removed.';

CREATE OR REPLACE FUNCTION pgmosaic.refresh_mosaic(mosaic text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    PERFORM 1 FROM pgmosaic.mosaic mo WHERE mo.id = m.id FOR UPDATE;
    PERFORM pgmosaic._refresh_extent(m.id);
END
$$;
COMMENT ON FUNCTION pgmosaic.refresh_mosaic(text) IS
    'Recomputes a mosaic''s extent and boundary from its items (after direct edits of '
    'pgmosaic.item).';

CREATE OR REPLACE FUNCTION pgmosaic.repair_paths(mosaic text, old_prefix text, new_prefix text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    old_p text;
    new_p text;
    changed bigint;
BEGIN
    -- A prefix is a reference (normalised), or a bare root "@name".
    old_p := CASE WHEN old_prefix ~ '^@[A-Za-z0-9_-]+/*$' THEN rtrim(old_prefix, '/')
                  ELSE rtrim(pgmosaic.pathref(old_prefix)::text, '/') END;
    new_p := CASE WHEN new_prefix ~ '^@[A-Za-z0-9_-]+/*$' THEN rtrim(new_prefix, '/')
                  ELSE rtrim(pgmosaic.pathref(new_prefix)::text, '/') END;
    -- Re-pointed items may show other pixels: the overview tiles over them are stale.
    PERFORM pgmosaic._stale_overviews(m.id, (SELECT ST_Union(i.footprint) FROM pgmosaic.item i
        WHERE i.mosaic_id = m.id AND i.category = 'primary'
          AND (i.path::text = old_p OR starts_with(i.path::text, old_p || '/'))));
    UPDATE pgmosaic.item i
    SET path = pgmosaic.pathref(new_p || substr(i.path::text, length(old_p) + 1))
    WHERE i.mosaic_id = m.id
      AND (i.path::text = old_p OR starts_with(i.path::text, old_p || '/'));
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION pgmosaic.repair_paths(text, text, text) IS
    'Rewrites the item references of a mosaic that start with old_prefix (at a "/" boundary) to '
    'start with new_prefix instead — for references not under a path root (moving a root is one '
    'UPDATE of pgmosaic.path_root); a prefix may be a bare root such as @nas1. Returns how many '
    'references changed.';

-- The path GDAL opens for an item's reference, given its root's prefix (NULL: no root, or an
-- unknown one, which resolve() names in its error). Plain SQL: inlined into the item queries.
CREATE OR REPLACE FUNCTION pgmosaic._resolved_path(ref pgmosaic.pathref, prefix pgmosaic.pathref)
    RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN prefix IS NOT NULL THEN pgmosaic.pathref_under_root(ref, prefix)::text
                WHEN pgmosaic.pathref_root(ref) IS NULL THEN ref::text
                ELSE pgmosaic.resolve(ref) END
$$;

-- The items of a mosaic in mosaic order: the one definition of the order the driver also uses.
CREATE OR REPLACE FUNCTION pgmosaic.items(mosaic text, area geometry DEFAULT NULL,
                                          filter text DEFAULT NULL,
                                          time_range tstzrange DEFAULT NULL,
                                          sort text DEFAULT NULL, ids bigint[] DEFAULT NULL)
    RETURNS TABLE (id bigint, path pgmosaic.pathref, resolved_path text, priority integer,
                   srid integer, geotransform double precision[], width integer, height integer,
                   footprint geometry, acquired tstzrange, cloud_cover double precision,
                   status text, attributes jsonb, statistics jsonb)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    order_by text;
    query text;
BEGIN
    area := pgmosaic._in_srid(area, m.srid);
    order_by := COALESCE(sort, m.default_sort);
    -- The driver's window lookup: static queries (cached plans that use the GiST index), not
    -- "area IS NULL OR ...".
    IF filter IS NULL AND order_by IS NULL AND time_range IS NULL AND ids IS NULL THEN
        IF area IS NULL THEN
            RETURN QUERY
                SELECT i.id, i.path,
                       pgmosaic._resolved_path(i.path, r.prefix),
                       i.priority, i.srid, i.geotransform, i.width, i.height, i.footprint,
                       i.acquired, i.cloud_cover, i.status, i.attributes, i.statistics
                FROM pgmosaic.item i
                LEFT JOIN pgmosaic.path_root r ON r.name = pgmosaic.pathref_root(i.path)
                WHERE i.mosaic_id = m.id AND i.category = 'primary'
                ORDER BY i.priority DESC, i.id DESC;
        ELSE
            RETURN QUERY
                SELECT i.id, i.path,
                       pgmosaic._resolved_path(i.path, r.prefix),
                       i.priority, i.srid, i.geotransform, i.width, i.height, i.footprint,
                       i.acquired, i.cloud_cover, i.status, i.attributes, i.statistics
                FROM pgmosaic.item i
                LEFT JOIN pgmosaic.path_root r ON r.name = pgmosaic.pathref_root(i.path)
                WHERE i.mosaic_id = m.id AND i.category = 'primary'
                  AND i.footprint OPERATOR(pgmosaic.&&) area
                  AND ST_Intersects(i.footprint, area)
                ORDER BY i.priority DESC, i.id DESC;
        END IF;
        RETURN;
    END IF;
    -- Otherwise a query planned for these arguments. filter and sort are expressions over the
    -- columns of pgmosaic.item (named item); the query runs as the caller.
    PERFORM pgmosaic._check_fragment('filter', filter);
    PERFORM pgmosaic._check_fragment('sort', order_by);
    -- The filter applies to this mosaic's items only: "x) OR (y" cannot widen the scope.
    query := 'SELECT item.id, item.path, '
             'pgmosaic._resolved_path(item.path, item_root.prefix), '
             'item.priority, item.srid, item.geotransform, item.width, item.height, '
             'item.footprint, item.acquired, item.cloud_cover, item.status, item.attributes, '
             'item.statistics '
             'FROM (SELECT * FROM pgmosaic.item AS i '
             'WHERE i.mosaic_id = $1 AND i.category = ''primary''';
    IF area IS NOT NULL THEN
        query := query || ' AND i.footprint OPERATOR(pgmosaic.&&) $2'
                       || ' AND ST_Intersects(i.footprint, $2)';
    END IF;
    IF time_range IS NOT NULL THEN
        query := query || ' AND i.acquired && $3';
    END IF;
    IF ids IS NOT NULL THEN
        query := query || ' AND i.id = ANY ($4)';
    END IF;
    query := query || ') AS item LEFT JOIN pgmosaic.path_root AS item_root '
                   || 'ON item_root.name = pgmosaic.pathref_root(item.path)';
    IF filter IS NOT NULL THEN
        query := query || format(' WHERE (%s)', filter);
    END IF;
    query := query || ' ORDER BY ' || COALESCE(order_by || ', ', '')
             || 'item.priority DESC, item.id DESC';
    RETURN QUERY EXECUTE query USING m.id, area, time_range, ids;
END
$$;
COMMENT ON FUNCTION pgmosaic.items(text, geometry, text, tstzrange, text, bigint[]) IS
    'The primary items of a mosaic intersecting an area (all without one), acquired within a '
    'time range, satisfying filter (a boolean SQL expression over item columns), in mosaic order: '
    'sort (an ORDER BY list over item columns, default: the mosaic''s default_sort) then '
    'priority DESC, id DESC — the item drawn on top first.';

CREATE OR REPLACE FUNCTION pgmosaic.check(mosaic text, deep boolean DEFAULT false)
    RETURNS TABLE (item_id bigint, path pgmosaic.pathref, problem text, detail text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    RETURN QUERY
    WITH it AS MATERIALIZED (
        SELECT i.id, i.path, i.category, i.status, i.file_size, i.file_mtime, i.is_cog, i.driver,
               i.block_width, i.width, i.overview_count, i.band_count, i.data_type, i.footprint,
               pgmosaic._resolve_or_null(i.path) AS resolved
        FROM pgmosaic.item i
        WHERE i.mosaic_id = m.id
    ), st AS MATERIALIZED (
        SELECT it.*, s.state, s.size, s.mtime, s.detail AS stat_detail,
               CASE WHEN deep AND s.state = 'present'
                    THEN pgmosaic.try_inspect_raster(it.resolved) END AS info
        FROM it LEFT JOIN LATERAL pgmosaic.stat_raster(it.resolved) s ON true
    ), problems AS (
        SELECT st.id, st.path, 'unknown_root' AS problem,
               format('path root "%s" is not in pgmosaic.path_root',
                      pgmosaic.pathref_root(st.path)) AS detail
        FROM st WHERE st.resolved IS NULL
        UNION ALL
        SELECT st.id, st.path, st.state, st.stat_detail
        FROM st WHERE st.state IN ('missing', 'denied')
        UNION ALL
        SELECT st.id, st.path, 'stale',
               concat_ws('; ',
                   CASE WHEN st.size IS DISTINCT FROM st.file_size
                        THEN format('size %s -> %s', st.file_size, st.size) END,
                   CASE WHEN st.mtime IS DISTINCT FROM st.file_mtime
                        THEN format('modified %s -> %s', st.file_mtime, st.mtime) END)
        FROM st
        WHERE st.state = 'present'
          AND (st.size IS DISTINCT FROM st.file_size OR st.mtime IS DISTINCT FROM st.file_mtime)
        UNION ALL
        SELECT st.id, st.path, 'unreadable',
               CASE WHEN deep THEN st.info ->> 'error'
                    ELSE 'the last sync could not read it' END
        FROM st
        WHERE (deep AND st.info ? 'error') OR (NOT deep AND st.status = 'unreadable')
        UNION ALL
        SELECT st.id, st.path, 'not_cog',
               format('%s file, %s, %s overviews',
                      COALESCE(st.info ->> 'driver', st.driver),
                      CASE WHEN COALESCE((st.info ->> 'block_width')::integer, st.block_width)
                                < COALESCE((st.info ->> 'width')::integer, st.width)
                           THEN 'tiled' ELSE 'not tiled' END,
                      COALESCE((st.info ->> 'overview_count')::integer, st.overview_count))
        FROM st
        WHERE COALESCE((st.info ->> 'is_cog')::boolean, st.is_cog) IS FALSE
        UNION ALL
        SELECT st.id, st.path, 'band_mismatch',
               format('%s bands, mosaic "%s" has %s',
                      COALESCE((st.info ->> 'band_count')::integer, st.band_count),
                      m.name, m.band_count)
        FROM st
        WHERE COALESCE((st.info ->> 'band_count')::integer, st.band_count) <> m.band_count
        UNION ALL
        SELECT st.id, st.path, 'type_mismatch',
               format('type %s, mosaic "%s" is of type %s',
                      COALESCE(st.info ->> 'data_type', st.data_type), m.name, m.data_type)
        FROM st
        WHERE COALESCE(st.info ->> 'data_type', st.data_type) <> m.data_type
        UNION ALL
        SELECT st.id, st.path, 'outside_extent',
               format('footprint %s is not within the mosaic extent %s',
                      ST_AsText(ST_Envelope(st.footprint))::text,
                      ST_AsText(ST_MakeEnvelope(m.min_x, m.min_y, m.max_x, m.max_y))::text)
        FROM st
        WHERE st.category = 'primary' AND m.min_x IS NOT NULL
          AND NOT ST_CoveredBy(st.footprint,
                               ST_MakeEnvelope(m.min_x, m.min_y, m.max_x, m.max_y, m.srid))
        UNION ALL
        SELECT st.id, st.path, 'invalid_footprint', ST_IsValidReason(st.footprint)
        FROM st
        WHERE ST_IsEmpty(st.footprint) OR NOT ST_IsValid(st.footprint)
        UNION ALL
        SELECT d.id, d.path, 'duplicate',
               format('same file as item %s (%s)', d.first_id, d.resolved)
        FROM (SELECT st.id, st.path, st.resolved,
                     first_value(st.id) OVER (PARTITION BY st.resolved ORDER BY st.id) AS first_id
              FROM st WHERE st.resolved IS NOT NULL) d
        WHERE d.id <> d.first_id
    )
    SELECT p.id, p.path, p.problem, p.detail FROM problems p ORDER BY p.id, p.problem;
END
$$;
COMMENT ON FUNCTION pgmosaic.check(text, boolean) IS
    'One row per problem of a mosaic''s items: unknown_root, missing, denied (refused by the file '
    'access settings), stale (size or mtime changed), unreadable, not_cog, band_mismatch, '
    'type_mismatch, outside_extent, invalid_footprint, duplicate (same file as another item). '
    'deep re-opens every file; otherwise unreadable and not_cog come from the catalog.';

CREATE OR REPLACE FUNCTION pgmosaic.sync(mosaic text, dry_run boolean DEFAULT false)
    RETURNS TABLE (item_id bigint, path pgmosaic.pathref, action text, detail text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    r record;
    s record;
    info jsonb;
    it pgmosaic.item;
    misfit text;
    changes text[];
    footprints_changed boolean := false;
BEGIN
    IF NOT dry_run THEN
        PERFORM 1 FROM pgmosaic.mosaic mo WHERE mo.id = m.id FOR UPDATE;
    END IF;
    FOR r IN SELECT i.*, pgmosaic._resolve_or_null(i.path) AS resolved
             FROM pgmosaic.item i WHERE i.mosaic_id = m.id ORDER BY i.id
    LOOP
        item_id := r.id;
        path := r.path;
        action := NULL;
        detail := NULL;
        IF r.resolved IS NULL THEN
            SELECT 'missing'::text AS state, NULL::bigint AS size, NULL::timestamptz AS mtime,
                   format('path root "%s" is not in pgmosaic.path_root',
                          pgmosaic.pathref_root(r.path)) AS detail
            INTO s;
        ELSE
            SELECT * INTO s FROM pgmosaic.stat_raster(r.resolved);
        END IF;

        IF s.state <> 'present' THEN
            IF r.status <> 'missing' THEN
                action := 'mark_missing';
                detail := s.detail;
                IF NOT dry_run THEN
                    UPDATE pgmosaic.item i SET status = 'missing'
                    WHERE i.mosaic_id = m.id AND i.id = r.id;
                END IF;
            END IF;
        ELSIF s.size IS NOT DISTINCT FROM r.file_size AND s.mtime IS NOT DISTINCT FROM r.file_mtime
              AND r.status IN ('ok', 'missing') THEN
            IF r.status = 'missing' THEN
                action := 'recovered';
                detail := 'the file is back, unchanged';
                IF NOT dry_run THEN
                    UPDATE pgmosaic.item i SET status = 'ok'
                    WHERE i.mosaic_id = m.id AND i.id = r.id;
                END IF;
            END IF;
        ELSE
            -- Changed since registration (or stale / unreadable before): inspect again.
            info := pgmosaic.try_inspect_raster(r.resolved, 'cheap');
            misfit := CASE WHEN info ? 'error' THEN info ->> 'error'
                           ELSE pgmosaic._misfit(m, r.path::text, info) END;
            IF misfit IS NOT NULL THEN
                IF r.status <> 'unreadable' OR r.file_size IS DISTINCT FROM s.size
                   OR r.file_mtime IS DISTINCT FROM s.mtime THEN
                    action := 'mark_unreadable';
                    detail := misfit;
                    -- Size and time of the unreadable file: reported again only if it changes.
                    IF NOT dry_run THEN
                        UPDATE pgmosaic.item i SET status = 'unreadable', file_size = s.size,
                            file_mtime = s.mtime
                        WHERE i.mosaic_id = m.id AND i.id = r.id;
                    END IF;
                END IF;
            ELSE
                it := pgmosaic._item_from_info(info, m.srid);
                changes := ARRAY[]::text[];
                IF r.file_size IS DISTINCT FROM it.file_size THEN
                    changes := changes || format('size %s -> %s', r.file_size, it.file_size);
                END IF;
                IF r.file_mtime IS DISTINCT FROM it.file_mtime THEN
                    changes := changes || format('modified %s -> %s', r.file_mtime, it.file_mtime);
                END IF;
                IF r.width <> it.width OR r.height <> it.height THEN
                    changes := changes || format('%sx%s -> %sx%s pixels', r.width, r.height,
                                                 it.width, it.height);
                END IF;
                IF r.geotransform <> it.geotransform OR r.srid <> it.srid THEN
                    changes := changes || 'georeferencing changed'::text;
                END IF;
                IF NOT ST_Equals(r.footprint, it.footprint) THEN
                    changes := changes || 'footprint changed'::text;
                    footprints_changed := true;
                END IF;
                IF r.status <> 'ok' THEN
                    changes := changes || format('status %s -> ok', r.status);
                END IF;
                action := 'update';
                detail := array_to_string(changes, '; ');
                IF NOT dry_run THEN
                    UPDATE pgmosaic.item i
                    SET footprint = it.footprint, srid = it.srid, geotransform = it.geotransform,
                        width = it.width, height = it.height, band_count = it.band_count,
                        data_type = it.data_type, nodata = it.nodata, driver = it.driver,
                        file_size = it.file_size, file_mtime = it.file_mtime,
                        min_pixel_size = it.min_pixel_size, bands = it.bands,
                        statistics = COALESCE(it.statistics, i.statistics), is_cog = it.is_cog,
                        block_width = it.block_width, block_height = it.block_height,
                        overview_count = it.overview_count, status = 'ok'
                    WHERE i.mosaic_id = m.id AND i.id = r.id;
                END IF;
            END IF;
        END IF;
        IF action IS NOT NULL THEN
            RETURN NEXT;
        END IF;
    END LOOP;
    IF footprints_changed AND NOT dry_run THEN
        PERFORM pgmosaic._refresh_extent(m.id);
    END IF;
END
$$;
COMMENT ON FUNCTION pgmosaic.sync(text, boolean) IS
    'Brings a mosaic''s items up to date with their files: marks missing and unreadable items, '
    're-inspects changed (stale) ones and recovered ones, and reports one row per change '
    '(mark_missing, recovered, mark_unreadable, update). dry_run reports without changing.';

--------------------------------------------------------------------------------------------
-- Search, estimates and export
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.search(keywords text[] DEFAULT NULL,
                                           place_keywords text[] DEFAULT NULL,
                                           period daterange DEFAULT NULL,
                                           area geometry DEFAULT NULL,
                                           text_query text DEFAULT NULL)
    RETURNS TABLE (mosaic text, title text, abstract text, begin_date date, end_date date,
                   item_count bigint, items_in_area bigint)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
BEGIN
    -- GeoStor's order: the metadata filter first, then the (costlier) spatial filter on what
    -- is left.
    RETURN QUERY
    WITH by_metadata AS MATERIALIZED (
        SELECT m.*
        FROM pgmosaic.mosaic m
        WHERE (search.keywords IS NULL
               OR EXISTS (SELECT 1 FROM unnest(m.keywords) k
                          WHERE lower(k) = ANY (SELECT lower(q) FROM unnest(search.keywords) q)))
          AND (search.place_keywords IS NULL
               OR EXISTS (SELECT 1 FROM unnest(m.place_keywords) k
                          WHERE lower(k) = ANY (SELECT lower(q)
                                                FROM unnest(search.place_keywords) q)))
          AND (period IS NULL
               OR (COALESCE(m.begin_date, m.end_date) IS NOT NULL
                   AND daterange(m.begin_date, m.end_date, '[]') && period))
          AND (text_query IS NULL
               OR to_tsvector('simple', concat_ws(' ', m.name, m.title, m.abstract, m.purpose,
                                                   array_to_string(m.keywords, ' '),
                                                   array_to_string(m.place_keywords, ' ')))
                  @@ websearch_to_tsquery('simple', text_query))
    ), by_area AS (
        SELECT b.*, pgmosaic._in_srid(area, b.srid) AS a
        FROM by_metadata b
    )
    SELECT b.name, b.title, b.abstract, b.begin_date, b.end_date,
           (SELECT count(*) FROM pgmosaic.item i
            WHERE i.mosaic_id = b.id AND i.category = 'primary'),
           CASE WHEN area IS NOT NULL THEN
               (SELECT count(*) FROM pgmosaic.item i
                WHERE i.mosaic_id = b.id AND i.category = 'primary'
                  AND i.footprint OPERATOR(pgmosaic.&&) b.a
                  AND ST_Intersects(i.footprint, b.a)) END
    FROM by_area b
    WHERE area IS NULL OR (b.boundary IS NOT NULL AND ST_Intersects(b.boundary, b.a))
    ORDER BY b.name;
END
$$;
COMMENT ON FUNCTION pgmosaic.search(text[], text[], daterange, geometry, text) IS
    'The mosaics the role may read whose metadata match (any of the keywords, any of the place '
    'keywords, case-insensitive; a date range overlapping begin_date..end_date, open-ended when '
    'one of them is NULL; a web-search '
    'style text query over name, title, abstract, purpose and keywords) and then whose boundary '
    'intersects an area, with their item counts.';

CREATE OR REPLACE FUNCTION pgmosaic.estimate_size(mosaic text, area geometry,
                                                  resolution double precision DEFAULT NULL,
                                                  bands integer[] DEFAULT NULL)
    RETURNS TABLE (width bigint, height bigint, band_count integer, data_type text, bytes bigint,
                   source_bytes bigint, item_count bigint)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    a geometry;
    win geometry;
    rx double precision;
    ry double precision;
    nb integer;
BEGIN
    IF area IS NULL THEN
        RAISE EXCEPTION 'estimate_size needs an area' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF resolution IS NOT NULL AND NOT resolution > 0 THEN
        RAISE EXCEPTION 'resolution must be positive, got %', resolution
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF bands IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(bands) b
                                     WHERE b IS NULL OR b < 1 OR b > m.band_count) THEN
        RAISE EXCEPTION 'bands % are not all between 1 and % (mosaic "%")', bands, m.band_count,
            m.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    nb := COALESCE(cardinality(bands), m.band_count);
    IF m.min_x IS NULL THEN
        RETURN QUERY SELECT 0::bigint, 0::bigint, nb, m.data_type, 0::bigint, 0::bigint,
                            0::bigint;
        RETURN;
    END IF;
    a := pgmosaic._in_srid(area, m.srid);
    -- The window a download of the area produces: its bounding box within the mosaic extent.
    win := ST_Intersection(ST_Envelope(a),
                           ST_MakeEnvelope(m.min_x, m.min_y, m.max_x, m.max_y, m.srid));
    rx := COALESCE(resolution, m.res_x);
    ry := COALESCE(resolution * m.res_y / m.res_x, m.res_y);
    IF ST_IsEmpty(win) OR ST_Area(win) = 0 THEN
        width := 0;
        height := 0;
    ELSE
        width := ceil((ST_XMax(win) - ST_XMin(win)) / rx - 1e-9)::bigint;
        height := ceil((ST_YMax(win) - ST_YMin(win)) / ry - 1e-9)::bigint;
    END IF;
    band_count := nb;
    data_type := m.data_type;
    bytes := width * height * nb * pgmosaic._data_type_bytes(m.data_type);
    SELECT count(*),
           round(sum(i.file_size * ST_Area(ST_Intersection(i.footprint, a))
                     / NULLIF(ST_Area(i.footprint), 0)))::bigint
    INTO item_count, source_bytes
    FROM pgmosaic.item i
    WHERE i.mosaic_id = m.id AND i.category = 'primary'
      AND i.footprint OPERATOR(pgmosaic.&&) a AND ST_Intersects(i.footprint, a);
    source_bytes := COALESCE(source_bytes, 0);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION pgmosaic.estimate_size(text, geometry, double precision, integer[]) IS
    'Estimates a download before it is made: the pixel size of the area''s bounding box within '
    'the mosaic extent at a resolution (default: native), its uncompressed bytes for the bands '
    '(default: all), and the bytes of the source files that cover it (file sizes prorated by '
    'area), with their count.';

CREATE OR REPLACE FUNCTION pgmosaic.footprints(mosaic text, broken_only boolean DEFAULT false)
    RETURNS TABLE (id bigint, path pgmosaic.pathref, resolved_path text, category text,
                   overview_level integer, status text, priority integer, acquired tstzrange,
                   cloud_cover double precision, footprint geometry)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    RETURN QUERY
    SELECT i.id, i.path, r.resolved, i.category, i.overview_level, i.status, i.priority,
           i.acquired, i.cloud_cover, i.footprint
    FROM pgmosaic.item i
    CROSS JOIN LATERAL (SELECT pgmosaic._resolve_or_null(i.path) AS resolved) r
    WHERE i.mosaic_id = m.id
      AND (NOT broken_only OR r.resolved IS NULL OR i.status IN ('missing', 'unreadable'))
    ORDER BY i.id;
END
$$;
COMMENT ON FUNCTION pgmosaic.footprints(text, boolean) IS
    'Every item of a mosaic with its footprint (for ogr2ogr or ST_AsGeoJSON); broken_only keeps '
    'the items the last sync() found missing or unreadable and those whose root is unknown.';

CREATE OR REPLACE FUNCTION pgmosaic.footprints_geojson(mosaic text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT jsonb_build_object(
        'type', 'FeatureCollection',
        'features', COALESCE(jsonb_agg(jsonb_build_object(
            'type', 'Feature',
            'id', f.id,
            'geometry', ST_AsGeoJSON(ST_Transform(f.footprint, 4326), 9)::jsonb,
            'properties', jsonb_build_object(
                'path', f.path::text, 'resolved_path', f.resolved_path, 'category', f.category,
                'overview_level', f.overview_level, 'status', f.status, 'priority', f.priority,
                'acquired_from', lower(f.acquired), 'acquired_to', upper(f.acquired),
                'cloud_cover', f.cloud_cover))
            ORDER BY f.id), '[]'::jsonb))
    FROM pgmosaic.footprints(mosaic) f
$$;
COMMENT ON FUNCTION pgmosaic.footprints_geojson(text) IS
    'The footprints of a mosaic as a GeoJSON FeatureCollection (WGS 84).';

CREATE OR REPLACE FUNCTION pgmosaic.boundary(mosaic text) RETURNS geometry
    LANGUAGE sql STABLE STRICT
    SET search_path FROM CURRENT
AS $$ SELECT (pgmosaic._mosaic(mosaic)).boundary $$;
COMMENT ON FUNCTION pgmosaic.boundary(text) IS
    'The boundary of a mosaic: the union of its primary items'' footprints.';

CREATE OR REPLACE FUNCTION pgmosaic.file_list(mosaic text, broken_only boolean DEFAULT false)
    RETURNS TABLE (id bigint, path pgmosaic.pathref, resolved_path text, status text)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT f.id, f.path, f.resolved_path, f.status
    FROM pgmosaic.footprints(mosaic, broken_only) f
    ORDER BY f.id
$$;
COMMENT ON FUNCTION pgmosaic.file_list(text, boolean) IS
    'The file list of a mosaic (resolved paths, e.g. for gdalbuildvrt -input_file_list); '
    'broken_only as in footprints().';

--------------------------------------------------------------------------------------------
-- Per-mosaic access
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.grant_access(mosaic text, grantee text,
                                                 privilege text DEFAULT 'read')
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    role_id oid;
BEGIN
    IF privilege IS NULL OR privilege NOT IN ('read', 'write') THEN
        RAISE EXCEPTION 'unknown privilege "%": use read or write', privilege
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lower(grantee) = 'public' THEN
        role_id := 0;
    ELSE
        SELECT r.oid INTO role_id FROM pg_catalog.pg_roles r WHERE r.rolname = grantee;
        IF role_id IS NULL THEN
            RAISE EXCEPTION 'role "%" does not exist', grantee USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    IF NOT (pgmosaic.is_admin() OR pgmosaic.is_owner(m.id)) THEN
        RAISE EXCEPTION 'permission denied to grant access to mosaic "%": only its owner or a '
                        'pgmosaic_admin may', m.name USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO pgmosaic.mosaic_grant (mosaic_id, grantee, privilege)
    VALUES (m.id, role_id::regrole, privilege)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION pgmosaic.grant_access(text, text, text) IS
    'Lets a role (or public) read, or read and write, a mosaic''s items. Only the mosaic''s owner '
    'or a pgmosaic_admin may.';

CREATE OR REPLACE FUNCTION pgmosaic.revoke_access(mosaic text, grantee text,
                                                  privilege text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    role_id oid;
BEGIN
    IF lower(grantee) = 'public' THEN
        role_id := 0;
    ELSE
        SELECT r.oid INTO role_id FROM pg_catalog.pg_roles r WHERE r.rolname = grantee;
        IF role_id IS NULL THEN
            RAISE EXCEPTION 'role "%" does not exist', grantee USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    IF NOT (pgmosaic.is_admin() OR pgmosaic.is_owner(m.id)) THEN
        RAISE EXCEPTION 'permission denied to revoke access to mosaic "%": only its owner or a '
                        'pgmosaic_admin may', m.name USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM pgmosaic.mosaic_grant g
    WHERE g.mosaic_id = m.id AND g.grantee = role_id::regrole
      AND (revoke_access.privilege IS NULL OR g.privilege = revoke_access.privilege);
END
$$;
COMMENT ON FUNCTION pgmosaic.revoke_access(text, text, text) IS
    'Takes back a role''s (or public''s) read and/or write access to a mosaic.';

--------------------------------------------------------------------------------------------
-- The mosaic's own quadtree: at the native zoom (20) a tile is tile_size x tile_size pixels
-- of the mosaic grid; each zoom up doubles the tile side. The grid anchor is a tile corner at
-- every zoom up to 20, and the matrix reaches 2^19 tiles of tile_size pixels on each side of
-- it.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.mosaic_tile_matrix(mosaic text,
                                                       OUT origin_x double precision,
                                                       OUT origin_y double precision,
                                                       OUT span_x double precision,
                                                       OUT span_y double precision,
                                                       OUT native_zoom integer)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    IF m.origin_x IS NULL OR m.res_x IS NULL THEN
        RAISE EXCEPTION 'mosaic "%" has no grid yet (register an item first)', m.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    native_zoom := 20;
    span_x := m.tile_size * m.res_x * 2.0 ^ native_zoom;
    span_y := m.tile_size * m.res_y * 2.0 ^ native_zoom;
    origin_x := m.origin_x - span_x / 2;
    origin_y := m.origin_y + span_y / 2;
END
$$;
COMMENT ON FUNCTION pgmosaic.mosaic_tile_matrix(text) IS
    'The quadtree tile matrix of a mosaic''s grid (for tilekey_at, tilekey_bounds and '
    'tilekey_cover_wkb): zoom 20 tiles are tile_size mosaic pixels wide.';

CREATE OR REPLACE FUNCTION pgmosaic.mosaic_tilekey_at(mosaic text, point geometry, zoom integer)
    RETURNS pgmosaic.tilekey
    LANGUAGE sql STABLE STRICT
    SET search_path FROM CURRENT
AS $$
    SELECT pgmosaic.tilekey_at(ST_X(p), ST_Y(p), zoom, t.origin_x, t.origin_y, t.span_x,
                               t.span_y)
    FROM pgmosaic.mosaic_tile_matrix(mosaic) t,
         LATERAL (SELECT pgmosaic._in_srid(point, (pgmosaic._mosaic(mosaic)).srid) AS p) q
$$;
COMMENT ON FUNCTION pgmosaic.mosaic_tilekey_at(text, geometry, integer) IS
    'The key of the tile of a mosaic''s quadtree holding a point at a zoom.';

CREATE OR REPLACE FUNCTION pgmosaic.mosaic_tile_envelope(mosaic text, key pgmosaic.tilekey)
    RETURNS geometry
    LANGUAGE sql STABLE STRICT
    SET search_path FROM CURRENT
AS $$
    SELECT ST_MakeEnvelope(b[1], b[2], b[3], b[4], (pgmosaic._mosaic(mosaic)).srid)
    FROM pgmosaic.mosaic_tile_matrix(mosaic) t,
         LATERAL (SELECT pgmosaic.tilekey_bounds(key, t.origin_x, t.origin_y, t.span_x,
                                                 t.span_y) AS b) q
$$;
COMMENT ON FUNCTION pgmosaic.mosaic_tile_envelope(text, pgmosaic.tilekey) IS
    'The extent of a tile of a mosaic''s quadtree, in the mosaic''s SRID.';

CREATE OR REPLACE FUNCTION pgmosaic.mosaic_tilekey_cover(mosaic text, area geometry,
                                                         zoom integer,
                                                         compact boolean DEFAULT false)
    RETURNS SETOF pgmosaic.tilekey
    LANGUAGE sql STABLE STRICT
    SET search_path FROM CURRENT
AS $$
    SELECT k
    FROM pgmosaic.mosaic_tile_matrix(mosaic) t,
         LATERAL pgmosaic.tilekey_cover_wkb(
             ST_AsBinary(pgmosaic._in_srid(area, (pgmosaic._mosaic(mosaic)).srid)), zoom,
             t.origin_x, t.origin_y, t.span_x, t.span_y, compact) k
$$;
COMMENT ON FUNCTION pgmosaic.mosaic_tilekey_cover(text, geometry, integer, boolean) IS
    'The tiles of a mosaic''s quadtree at a zoom that a geometry covers, in key order (see '
    'tilekey_cover_wkb).';

--------------------------------------------------------------------------------------------
-- Row-level security: a role reads the mosaics it owns (or whose owner role it has the
-- privileges of) and those granted to it or to public; it writes those it owns or was granted
-- write on; pgmosaic_admin reads and writes every mosaic. Superusers and the owner of the
-- tables (the role that created the extension) are not subject to these policies.
--------------------------------------------------------------------------------------------

ALTER TABLE pgmosaic.mosaic ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.item ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.mosaic_grant ENABLE ROW LEVEL SECURITY;

CREATE POLICY mosaic_read ON pgmosaic.mosaic FOR SELECT
    USING (pgmosaic.is_admin()
           OR pg_catalog.pg_has_role(owner::oid, 'USAGE')
           OR id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                     WHERE g.grantee::oid = 0 OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')));
CREATE POLICY mosaic_insert ON pgmosaic.mosaic FOR INSERT
    WITH CHECK (pgmosaic.is_admin() OR pg_catalog.pg_has_role(owner::oid, 'USAGE'));
CREATE POLICY mosaic_update ON pgmosaic.mosaic FOR UPDATE
    USING (pgmosaic.is_admin()
           OR pg_catalog.pg_has_role(owner::oid, 'USAGE')
           OR id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                     WHERE g.privilege = 'write'
                       AND (g.grantee::oid = 0
                            OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE'))));
CREATE POLICY mosaic_delete ON pgmosaic.mosaic FOR DELETE
    USING (pgmosaic.is_admin() OR pg_catalog.pg_has_role(owner::oid, 'USAGE'));

-- Items follow their mosaic: readable when the mosaic is, writable when it is.
CREATE POLICY item_read ON pgmosaic.item FOR SELECT
    USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m));
-- (Separate write policies rather than one FOR ALL: a SELECT then evaluates item_read only.)
CREATE POLICY item_insert ON pgmosaic.item FOR INSERT
    WITH CHECK (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m
                      WHERE pgmosaic.is_admin()
                         OR pg_catalog.pg_has_role(m.owner::oid, 'USAGE')
                         OR m.id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                                     WHERE g.privilege = 'write'
                                       AND (g.grantee::oid = 0
                                            OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')))));
CREATE POLICY item_update ON pgmosaic.item FOR UPDATE
    USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m
                      WHERE pgmosaic.is_admin()
                         OR pg_catalog.pg_has_role(m.owner::oid, 'USAGE')
                         OR m.id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                                     WHERE g.privilege = 'write'
                                       AND (g.grantee::oid = 0
                                            OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')))))
    WITH CHECK (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m
                      WHERE pgmosaic.is_admin()
                         OR pg_catalog.pg_has_role(m.owner::oid, 'USAGE')
                         OR m.id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                                     WHERE g.privilege = 'write'
                                       AND (g.grantee::oid = 0
                                            OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')))));
CREATE POLICY item_delete ON pgmosaic.item FOR DELETE
    USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m
                      WHERE pgmosaic.is_admin()
                         OR pg_catalog.pg_has_role(m.owner::oid, 'USAGE')
                         OR m.id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                                     WHERE g.privilege = 'write'
                                       AND (g.grantee::oid = 0
                                            OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')))));

-- Grants are visible to every reader (as table privileges are in pg_class); only a mosaic's
-- owner or an admin changes them.
CREATE POLICY grant_read ON pgmosaic.mosaic_grant FOR SELECT USING (true);
CREATE POLICY grant_insert ON pgmosaic.mosaic_grant FOR INSERT
    WITH CHECK (pgmosaic.is_admin() OR pgmosaic.is_owner(mosaic_id));
CREATE POLICY grant_delete ON pgmosaic.mosaic_grant FOR DELETE
    USING (pgmosaic.is_admin() OR pgmosaic.is_owner(mosaic_id));

--------------------------------------------------------------------------------------------
-- Privileges: pgmosaic_reader < pgmosaic_writer < pgmosaic_admin (each a member of the one
-- before). Catalog functions are not executable by PUBLIC; the types' functions are.
--------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA pgmosaic TO pgmosaic_reader;
GRANT SELECT ON pgmosaic.mosaic, pgmosaic.item, pgmosaic.path_root, pgmosaic.mosaic_grant
    TO pgmosaic_reader;
GRANT INSERT, DELETE ON pgmosaic.mosaic, pgmosaic.item, pgmosaic.mosaic_grant
    TO pgmosaic_writer;
GRANT UPDATE ON pgmosaic.item TO pgmosaic_writer;
GRANT UPDATE (name, srid, res_x, res_y, min_x, min_y, max_x, max_y, band_count, data_type,
              nodata, origin_x, origin_y, tile_size, band_descriptions, color_interp,
              default_sort, default_method, boundary, title, abstract, purpose, keywords,
              place_keywords, source_date, begin_date, end_date, publication_date, constraints,
              contact, metadata)
    ON pgmosaic.mosaic TO pgmosaic_writer;
GRANT UPDATE (owner) ON pgmosaic.mosaic TO pgmosaic_admin;
GRANT INSERT, UPDATE, DELETE ON pgmosaic.path_root TO pgmosaic_admin;
GRANT USAGE ON SEQUENCE pgmosaic.mosaic_id_seq, pgmosaic.item_id_seq TO pgmosaic_writer;

CREATE INDEX IF NOT EXISTS item_overview_idx ON pgmosaic.item (mosaic_id, overview_level)
    WHERE category = 'overview';

CREATE OR REPLACE FUNCTION pgmosaic.overview_levels(mosaic text)
    RETURNS TABLE (level integer, factor integer, tiles bigint, stale_tiles bigint,
                   coverage double precision)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT i.overview_level, (2 ^ i.overview_level)::integer, count(*),
           count(*) FILTER (WHERE i.status <> 'ok'),
           ST_Area(ST_Intersection(ST_Union(i.footprint) FILTER (WHERE i.status = 'ok'),
                                   m.boundary)) / NULLIF(ST_Area(m.boundary), 0)
    FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id
    WHERE m.name = overview_levels.mosaic AND i.category = 'overview'
    GROUP BY i.overview_level, m.boundary
    ORDER BY 1
$$;
COMMENT ON FUNCTION pgmosaic.overview_levels(text) IS
    'The mosaic-wide overview levels (gdaladdo): tiles, stale tiles (rebuilt by the next '
    'gdaladdo, never read) and the share of the mosaic boundary up-to-date tiles cover.';

REVOKE EXECUTE ON FUNCTION
    pgmosaic.inspect_raster(text, text),
    pgmosaic.try_inspect_raster(text, text),
    pgmosaic.stat_raster(text),
    pgmosaic.list_rasters(text, text, boolean),
    pgmosaic._mosaic(text),
    pgmosaic._in_srid(geometry, integer),
    pgmosaic._check_fragment(text, text),
    pgmosaic._resolve_or_null(pgmosaic.pathref),
    pgmosaic._data_type_bytes(text),
    pgmosaic._misfit(pgmosaic.mosaic, text, jsonb),
    pgmosaic._item_from_info(jsonb, integer),
    pgmosaic._grow_extent(integer, bigint[]),
    pgmosaic._set_extent(integer, box2d, geometry, boolean),
    pgmosaic._refresh_extent(integer),
    pgmosaic._register_item(integer, pgmosaic.pathref, jsonb, integer, tstzrange,
                            double precision, text, integer, boolean),
    pgmosaic._stale_overviews(integer, geometry),
    pgmosaic._check_item_props(text, pgmosaic.item),
    pgmosaic._store_item(integer, pgmosaic.pathref, jsonb, pgmosaic.item, text, boolean),
    pgmosaic.register_raster(text, text, jsonb, jsonb, text),
    pgmosaic._directory_refs(text, text, boolean),
    pgmosaic.resolve(pgmosaic.pathref),
    pgmosaic.resolve_path(text),
    pgmosaic.create_mosaic(text, integer, double precision),
    pgmosaic.drop_mosaic(text),
    pgmosaic.add_raster(text, text, jsonb, integer, tstzrange, double precision, text, integer),
    pgmosaic.add_rasters(text, text[], jsonb, integer, boolean),
    pgmosaic.add_directory(text, text, text, boolean, jsonb, integer, boolean),
    pgmosaic.create_mosaic_from_files(text, text[], integer, double precision, boolean),
    pgmosaic.create_mosaic_from_file(text, text, integer, double precision),
    pgmosaic.create_mosaic_from_directory(text, text, text, boolean, integer, double precision,
                                          boolean),
    pgmosaic.remove_rasters(text, text[]),
    pgmosaic.refresh_mosaic(text),
    pgmosaic.repair_paths(text, text, text),
    pgmosaic.items(text, geometry, text, tstzrange, text, bigint[]),
    pgmosaic.check(text, boolean),
    pgmosaic.sync(text, boolean),
    pgmosaic.search(text[], text[], daterange, geometry, text),
    pgmosaic.estimate_size(text, geometry, double precision, integer[]),
    pgmosaic.footprints(text, boolean),
    pgmosaic.footprints_geojson(text),
    pgmosaic.boundary(text),
    pgmosaic.file_list(text, boolean),
    pgmosaic.grant_access(text, text, text),
    pgmosaic.revoke_access(text, text, text),
    pgmosaic.mosaic_tile_matrix(text),
    pgmosaic.mosaic_tilekey_at(text, geometry, integer),
    pgmosaic.mosaic_tile_envelope(text, pgmosaic.tilekey),
    pgmosaic.mosaic_tilekey_cover(text, geometry, integer, boolean),
    pgmosaic.overview_levels(text)
    FROM PUBLIC;

-- Reading: the catalog's read functions (they run as the caller, under the policies above).
GRANT EXECUTE ON FUNCTION
    pgmosaic._mosaic(text),
    pgmosaic._in_srid(geometry, integer),
    pgmosaic._check_fragment(text, text),
    pgmosaic._resolve_or_null(pgmosaic.pathref),
    pgmosaic._data_type_bytes(text),
    pgmosaic.resolve(pgmosaic.pathref),
    pgmosaic.resolve_path(text),
    pgmosaic.items(text, geometry, text, tstzrange, text, bigint[]),
    pgmosaic.search(text[], text[], daterange, geometry, text),
    pgmosaic.estimate_size(text, geometry, double precision, integer[]),
    pgmosaic.footprints(text, boolean),
    pgmosaic.footprints_geojson(text),
    pgmosaic.boundary(text),
    pgmosaic.file_list(text, boolean),
    pgmosaic.mosaic_tile_matrix(text),
    pgmosaic.mosaic_tilekey_at(text, geometry, integer),
    pgmosaic.mosaic_tile_envelope(text, pgmosaic.tilekey),
    pgmosaic.mosaic_tilekey_cover(text, geometry, integer, boolean),
    pgmosaic.overview_levels(text)
    TO pgmosaic_reader;

-- Writing: registration, maintenance and the file functions they use (file access itself
-- stays behind the superuser settings).
GRANT EXECUTE ON FUNCTION
    pgmosaic.inspect_raster(text, text),
    pgmosaic.try_inspect_raster(text, text),
    pgmosaic.stat_raster(text),
    pgmosaic.list_rasters(text, text, boolean),
    pgmosaic._misfit(pgmosaic.mosaic, text, jsonb),
    pgmosaic._item_from_info(jsonb, integer),
    pgmosaic._grow_extent(integer, bigint[]),
    pgmosaic._set_extent(integer, box2d, geometry, boolean),
    pgmosaic._refresh_extent(integer),
    pgmosaic._register_item(integer, pgmosaic.pathref, jsonb, integer, tstzrange,
                            double precision, text, integer, boolean),
    pgmosaic._stale_overviews(integer, geometry),
    pgmosaic._check_item_props(text, pgmosaic.item),
    pgmosaic._store_item(integer, pgmosaic.pathref, jsonb, pgmosaic.item, text, boolean),
    pgmosaic.register_raster(text, text, jsonb, jsonb, text),
    pgmosaic._directory_refs(text, text, boolean),
    pgmosaic.create_mosaic(text, integer, double precision),
    pgmosaic.drop_mosaic(text),
    pgmosaic.add_raster(text, text, jsonb, integer, tstzrange, double precision, text, integer),
    pgmosaic.add_rasters(text, text[], jsonb, integer, boolean),
    pgmosaic.add_directory(text, text, text, boolean, jsonb, integer, boolean),
    pgmosaic.create_mosaic_from_files(text, text[], integer, double precision, boolean),
    pgmosaic.create_mosaic_from_file(text, text, integer, double precision),
    pgmosaic.create_mosaic_from_directory(text, text, text, boolean, integer, double precision,
                                          boolean),
    pgmosaic.remove_rasters(text, text[]),
    pgmosaic.refresh_mosaic(text),
    pgmosaic.repair_paths(text, text, text),
    pgmosaic.check(text, boolean),
    pgmosaic.sync(text, boolean),
    pgmosaic.grant_access(text, text, text),
    pgmosaic.revoke_access(text, text, text)
    TO pgmosaic_writer;

-- DRAD: the internal tiles of every item, at every level of its file.
CREATE TABLE pgmosaic.tile (
    mosaic_id    integer NOT NULL,
    item_id      bigint NOT NULL,
    level        integer NOT NULL CHECK (level >= 0), -- 0: full resolution, then overviews
    key          pgmosaic.tilekey NOT NULL,  -- the tile's quadtree key within its file
    bounds       geometry NOT NULL,          -- minimum enclosing rectangle, mosaic SRID
    byte_offset  bigint,                     -- where the tile's bytes are (GeoTIFF)
    byte_length  bigint,
    empty        boolean NOT NULL,           -- absent from the file, or no valid pixel
    stats        jsonb,                      -- full resolution: [[min, max, sum, count], ...]
    PRIMARY KEY (mosaic_id, item_id, level, key),
    FOREIGN KEY (mosaic_id, item_id) REFERENCES pgmosaic.item (mosaic_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE pgmosaic.tile IS
    'DRAD: each item''s internal tiles per level, their enclosing rectangles, tile keys, byte '
    'ranges, emptiness and (full resolution) per-band statistics. Recorded at registration.';
CREATE INDEX tile_bounds_idx ON pgmosaic.tile USING gist (bounds);

-- DAD: thematic rules, and the polygons where they hold.
CREATE TABLE pgmosaic.theme_rule (
    mosaic_id   integer NOT NULL REFERENCES pgmosaic.mosaic (id) ON DELETE CASCADE,
    theme       text NOT NULL CHECK (theme <> ''),
    expression  text NOT NULL,
    PRIMARY KEY (mosaic_id, theme)
);
COMMENT ON TABLE pgmosaic.theme_rule IS
    'Thematic rules: a band expression (e.g. (b2-b4)/(b2+b4) > 0.1) whose matching pixels are '
    'polygonized into pgmosaic.theme when items are registered.';
CREATE TABLE pgmosaic.theme (
    mosaic_id   integer NOT NULL REFERENCES pgmosaic.mosaic (id) ON DELETE CASCADE,
    id          bigint GENERATED BY DEFAULT AS IDENTITY,
    theme       text NOT NULL,
    class       text,
    item_id     bigint,                      -- NULL for polygons loaded from elsewhere
    polygon     geometry NOT NULL,           -- mosaic SRID
    area        double precision,            -- of the matching pixels (map units)
    pixels      bigint,
    attributes  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (mosaic_id, id),
    FOREIGN KEY (mosaic_id, item_id) REFERENCES pgmosaic.item (mosaic_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE pgmosaic.theme IS
    'Thematic polygons (DAD): derived by a rule when items are registered, or loaded.';
CREATE INDEX theme_polygon_idx ON pgmosaic.theme USING gist (polygon);
CREATE INDEX theme_theme_idx ON pgmosaic.theme (mosaic_id, theme);
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.tile', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.theme_rule', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.theme', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.theme_id_seq', '');

CREATE OR REPLACE FUNCTION pgmosaic.check_expression(expression text) RETURNS integer
    AS 'MODULE_PATHNAME', 'pgmosaic_check_expression' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.check_expression(text) IS
    'Checks a band expression (numbers, b1..bn, + - * /, comparisons, and/or/not); returns the '
    'highest band it uses, or fails naming the position of the problem.';
CREATE OR REPLACE FUNCTION pgmosaic.compute_theme(path text, expression text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_compute_theme' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgmosaic.compute_theme(text, text) IS
    'Polygonizes the valid pixels of a raster where an expression holds (backend file access): '
    '[{wkt, area, pixels}] in the raster''s own coordinates.';
CREATE OR REPLACE FUNCTION pgmosaic.zonal_stats(path text, band integer, area_wkt text)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_zonal_stats' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgmosaic.zonal_stats(text, integer, text) IS
    'count, min, max and sum of the valid pixels of a band whose centres lie inside an area '
    '(WKT in the raster''s SRS), read by the backend.';

-- Stores an item's tiles and theme polygons from its inspection (info -> tiles, themes); rules
-- the inspection did not compute are computed here (backend file access).
CREATE OR REPLACE FUNCTION pgmosaic._store_abstractions(mosaic_id integer, item_id bigint,
                                                        info jsonb, path text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    msrid integer := (SELECT mo.srid FROM pgmosaic.mosaic mo WHERE mo.id = _store_abstractions.mosaic_id);
    isrid integer := (info ->> 'srid')::integer;
    r record;
    polys jsonb;
BEGIN
    DELETE FROM pgmosaic.tile t
    WHERE t.mosaic_id = _store_abstractions.mosaic_id AND t.item_id = _store_abstractions.item_id;
    IF jsonb_typeof(info -> 'tiles') = 'array' THEN
        INSERT INTO pgmosaic.tile (mosaic_id, item_id, level, key, bounds, byte_offset,
                                   byte_length, empty, stats)
        SELECT _store_abstractions.mosaic_id, _store_abstractions.item_id, (e ->> 0)::integer,
               pgmosaic.tilekey((e ->> 3)::integer, (e ->> 1)::integer, (e ->> 2)::integer),
               CASE WHEN isrid = msrid
                    THEN ST_MakeEnvelope((e ->> 4)::float8, (e ->> 5)::float8,
                                         (e ->> 6)::float8, (e ->> 7)::float8, msrid)
                    ELSE ST_Transform(ST_MakeEnvelope((e ->> 4)::float8, (e ->> 5)::float8,
                                                      (e ->> 6)::float8, (e ->> 7)::float8,
                                                      isrid), msrid) END,
               NULLIF((e ->> 8)::bigint, 0), NULLIF((e ->> 9)::bigint, 0), (e ->> 10)::boolean,
               CASE WHEN jsonb_array_length(e -> 11) > 0 THEN e -> 11 END
        FROM jsonb_array_elements(info -> 'tiles') e;
    END IF;
    DELETE FROM pgmosaic.theme t
    WHERE t.mosaic_id = _store_abstractions.mosaic_id AND t.item_id = _store_abstractions.item_id;
    FOR r IN SELECT tr.theme, tr.expression FROM pgmosaic.theme_rule tr
             WHERE tr.mosaic_id = _store_abstractions.mosaic_id LOOP
        polys := COALESCE(info -> 'themes' -> r.theme,
                          pgmosaic.compute_theme(path, r.expression));
        INSERT INTO pgmosaic.theme (mosaic_id, theme, class, item_id, polygon, area, pixels)
        SELECT _store_abstractions.mosaic_id, r.theme, r.theme, _store_abstractions.item_id,
               CASE WHEN isrid = msrid THEN ST_GeomFromText(p ->> 'wkt', msrid)
                    ELSE ST_Transform(ST_GeomFromText(p ->> 'wkt', isrid), msrid) END,
               (p ->> 'area')::double precision, (p ->> 'pixels')::bigint
        FROM jsonb_array_elements(polys) p;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgmosaic.tiles(mosaic text, area geometry, at_level integer DEFAULT 0)
    RETURNS TABLE (item_id bigint, path text, level integer, key pgmosaic.tilekey,
                   bounds geometry, byte_offset bigint, byte_length bigint, empty boolean)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    SET jit = off -- as items(): a wide area's join would be compiled on every call
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    a geometry := pgmosaic._in_srid(area, m.srid);
BEGIN
    -- Seed 001's range query: the tiles (and their bytes) an area needs, in mosaic order.
    RETURN QUERY
        SELECT t.item_id, i.resolved_path, t.level, t.key, t.bounds, t.byte_offset,
               t.byte_length, t.empty
        FROM pgmosaic.items(mosaic, a) WITH ORDINALITY AS i
        JOIN pgmosaic.tile t ON t.mosaic_id = m.id AND t.item_id = i.id
        WHERE t.level = at_level AND t.bounds OPERATOR(pgmosaic.&&) a
          AND ST_Intersects(t.bounds, a)
        ORDER BY i.ordinality, t.key;
END
$$;
COMMENT ON FUNCTION pgmosaic.tiles(text, geometry, integer) IS
    'The internal tiles of a level (0: full resolution) an area needs, with their byte ranges '
    'and emptiness, in mosaic order.';

CREATE OR REPLACE FUNCTION pgmosaic.summary(mosaic text, area geometry, band integer DEFAULT 1,
                                            exact boolean DEFAULT false)
    RETURNS TABLE (count bigint, min double precision, max double precision,
                   mean double precision, tiles_used bigint, items_read integer)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    a geometry := pgmosaic._in_srid(area, m.srid);
    it record;
    inner_area geometry;
    edge geometry;
    z jsonb;
    n bigint := 0;
    s double precision := 0;
    lo double precision;
    hi double precision;
    used bigint := 0;
    reads integer := 0;
    tn bigint; tlo double precision; thi double precision; ts double precision; tc bigint;
BEGIN
    IF band IS NULL OR band < 1 OR band > m.band_count THEN
        RAISE EXCEPTION 'band % does not exist in mosaic "%"', band, m.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Whole full-resolution tiles inside the area answer from their statistics; pixels are
    -- read only in the rest (the edge), per item.
    FOR it IN SELECT i.id, i.resolved_path, i.srid, i.footprint FROM pgmosaic.items(mosaic, a) i
    LOOP
        inner_area := NULL;
        IF NOT exact THEN
            SELECT ST_Union(t.bounds), count(*), sum((t.stats -> (band - 1) ->> 3)::bigint),
                   min((t.stats -> (band - 1) ->> 0)::float8)
                       FILTER (WHERE (t.stats -> (band - 1) ->> 3)::bigint > 0),
                   max((t.stats -> (band - 1) ->> 1)::float8)
                       FILTER (WHERE (t.stats -> (band - 1) ->> 3)::bigint > 0),
                   sum((t.stats -> (band - 1) ->> 2)::float8)
            INTO inner_area, tc, tn, tlo, thi, ts
            FROM pgmosaic.tile t
            WHERE t.mosaic_id = m.id AND t.item_id = it.id AND t.level = 0
              AND t.bounds OPERATOR(pgmosaic.&&) a AND ST_CoveredBy(t.bounds, a);
            IF tc > 0 THEN
                used := used + tc;
                n := n + COALESCE(tn, 0);
                s := s + COALESCE(ts, 0);
                lo := LEAST(lo, tlo);
                hi := GREATEST(hi, thi);
            END IF;
        END IF;
        edge := ST_Intersection(a, it.footprint);
        IF inner_area IS NOT NULL THEN
            edge := ST_Difference(edge, inner_area);
        END IF;
        IF NOT ST_IsEmpty(edge) AND ST_Area(edge) > 0 THEN
            z := pgmosaic.zonal_stats(it.resolved_path, band,
                                      ST_AsText(CASE WHEN it.srid = m.srid THEN edge
                                                     ELSE ST_Transform(edge, it.srid) END));
            reads := reads + 1;
            IF (z ->> 'count')::bigint > 0 THEN
                n := n + (z ->> 'count')::bigint;
                s := s + (z ->> 'sum')::float8;
                lo := LEAST(lo, (z ->> 'min')::float8);
                hi := GREATEST(hi, (z ->> 'max')::float8);
            END IF;
        END IF;
    END LOOP;
    RETURN QUERY SELECT n, lo, hi, s / NULLIF(n, 0), used, reads;
END
$$;
COMMENT ON FUNCTION pgmosaic.summary(text, geometry, integer, boolean) IS
    'count, min, max and mean of a band over an area, per item (overlaps count once per item): '
    'from the statistics of whole tiles inside it, pixels read only along its edge; exact reads '
    'every pixel. Reading pixels needs backend file access.';

CREATE OR REPLACE FUNCTION pgmosaic.add_theme_rule(mosaic text, theme text, expression text,
                                                   apply boolean DEFAULT true)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_variable
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    bands integer := pgmosaic.check_expression(expression);
    it record;
    done integer := 0;
BEGIN
    IF m.band_count IS NOT NULL AND bands > m.band_count THEN
        RAISE EXCEPTION 'expression "%" uses b% but mosaic "%" has % bands', expression, bands,
            m.name, m.band_count USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgmosaic.theme_rule AS r (mosaic_id, theme, expression)
    VALUES (m.id, theme, expression)
    ON CONFLICT ON CONSTRAINT theme_rule_pkey DO UPDATE SET expression = EXCLUDED.expression;
    IF apply THEN
        FOR it IN SELECT i.id, i.resolved_path FROM pgmosaic.items(mosaic) i LOOP
            DELETE FROM pgmosaic.theme t
            WHERE t.mosaic_id = m.id AND t.item_id = it.id AND t.theme = add_theme_rule.theme;
            INSERT INTO pgmosaic.theme (mosaic_id, theme, class, item_id, polygon, area, pixels)
            SELECT m.id, add_theme_rule.theme, add_theme_rule.theme, it.id,
                   ST_Transform(ST_GeomFromText(p ->> 'wkt', i.srid), m.srid),
                   (p ->> 'area')::double precision, (p ->> 'pixels')::bigint
            FROM pgmosaic.item i,
                 jsonb_array_elements(pgmosaic.compute_theme(it.resolved_path, expression)) p
            WHERE i.mosaic_id = m.id AND i.id = it.id;
            done := done + 1;
        END LOOP;
    END IF;
    RETURN done;
END
$$;
COMMENT ON FUNCTION pgmosaic.add_theme_rule(text, text, text, boolean) IS
    'Adds (or replaces) a thematic rule of a mosaic; items registered later get its polygons, '
    'and with apply the existing items too (backend file access). Returns the items processed.';

CREATE OR REPLACE FUNCTION pgmosaic.theme_area(mosaic text, theme text,
                                               area geometry DEFAULT NULL)
    RETURNS double precision
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    -- Seed 001's thematic selection: answered from the polygons, no pixel is read.
    SELECT COALESCE(sum(CASE WHEN theme_area.area IS NULL THEN t.area
                             ELSE ST_Area(ST_Intersection(
                                      t.polygon, pgmosaic._in_srid(theme_area.area, m.srid))) END),
                    0)
    FROM pgmosaic.theme t JOIN pgmosaic.mosaic m ON m.id = t.mosaic_id
    WHERE m.name = theme_area.mosaic AND t.theme = theme_area.theme
      AND (theme_area.area IS NULL
           OR t.polygon OPERATOR(pgmosaic.&&) pgmosaic._in_srid(theme_area.area, m.srid))
$$;
COMMENT ON FUNCTION pgmosaic.theme_area(text, text, geometry) IS
    'The area a theme covers (of its matching pixels; within an area: of its polygons).';

CREATE OR REPLACE FUNCTION pgmosaic.theme_polygons(mosaic text, theme text,
                                                   area geometry DEFAULT NULL)
    RETURNS TABLE (id bigint, item_id bigint, class text, polygon geometry,
                   area double precision, pixels bigint)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT t.id, t.item_id, t.class, t.polygon, t.area, t.pixels
    FROM pgmosaic.theme t JOIN pgmosaic.mosaic m ON m.id = t.mosaic_id
    WHERE m.name = theme_polygons.mosaic AND t.theme = theme_polygons.theme
      AND (theme_polygons.area IS NULL
           OR ST_Intersects(t.polygon, pgmosaic._in_srid(theme_polygons.area, m.srid)))
    ORDER BY t.id
$$;

ALTER TABLE pgmosaic.tile ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.theme_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.theme ENABLE ROW LEVEL SECURITY;
-- Visible with their mosaic; written by those who can write its items (table privileges).
CREATE POLICY tile_access ON pgmosaic.tile USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m));
CREATE POLICY theme_rule_access ON pgmosaic.theme_rule
    USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m));
CREATE POLICY theme_access ON pgmosaic.theme
    USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m));
GRANT SELECT ON pgmosaic.tile, pgmosaic.theme_rule, pgmosaic.theme TO pgmosaic_reader;
GRANT INSERT, UPDATE, DELETE ON pgmosaic.tile, pgmosaic.theme_rule, pgmosaic.theme
    TO pgmosaic_writer;
GRANT USAGE ON SEQUENCE pgmosaic.theme_id_seq TO pgmosaic_writer;
REVOKE EXECUTE ON FUNCTION pgmosaic.compute_theme(text, text),
    pgmosaic.zonal_stats(text, integer, text),
    pgmosaic._store_abstractions(integer, bigint, jsonb, text),
    pgmosaic.tiles(text, geometry, integer), pgmosaic.summary(text, geometry, integer, boolean),
    pgmosaic.add_theme_rule(text, text, text, boolean),
    pgmosaic.theme_area(text, text, geometry), pgmosaic.theme_polygons(text, text, geometry)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgmosaic.check_expression(text),
    pgmosaic.tiles(text, geometry, integer), pgmosaic.summary(text, geometry, integer, boolean),
    pgmosaic.zonal_stats(text, integer, text),
    pgmosaic.theme_area(text, text, geometry), pgmosaic.theme_polygons(text, text, geometry)
    TO pgmosaic_reader;
GRANT EXECUTE ON FUNCTION pgmosaic.compute_theme(text, text),
    pgmosaic._store_abstractions(integer, bigint, jsonb, text),
    pgmosaic.add_theme_rule(text, text, text, boolean)
    TO pgmosaic_writer;
