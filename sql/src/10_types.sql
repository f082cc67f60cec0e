-- install only
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
-- A mosaic's window, as one key: the footprint's box with the mosaic id and the overview level
-- (0: a primary item) as two more dimensions. A GiST index over it (item_mosaic_window_idx)
-- finds the items of one mosaic at one level in a window without reading the items of other
-- mosaics there, or of other levels: the window lookups of items(), the driver's overview
-- tiles and the stale-overview bookkeeping use it. A btree on mosaic_id joined to a 2D index
-- instead gets the planner to AND both bitmaps in generic plans (under row-level security
-- too), reading every item of the mosaic: 1 s at 10 million items, and an overview lookup
-- over the whole mosaic read every overview tile of every level.
-- PostGIS's n-D box overlap (&&&) and its n-D GiST support functions, declared leakproof as
-- footprint_ops above; window_key never raises an error (an empty footprint gives NULL).
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.window_overlaps(geometry, geometry) RETURNS boolean
    AS '$libdir/postgis-3', 'gserialized_overlaps'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF COST 1;
COMMENT ON FUNCTION pgmosaic.window_overlaps(geometry, geometry) IS
    'Whether the n-D bounding boxes of two geometries overlap (PostGIS''s &&&, leakproof).';
-- Not strict, and the level NULL for 0: indexed as window_key(mosaic_id, overview_level,
-- footprint), with no COALESCE around the column, which row-level security would take as leaky
-- (an index condition must be made of leakproof functions only). Never inlined (its fixed
-- search_path), so that a query's window_key stays one leakproof call. PL/pgSQL, with the box
-- computed once: every insert into pgmosaic.item computes it for the index, and as a SQL
-- function (an executor started for every call) it took 4.5 us a row, a sixth of a plain
-- insert's 27 us (without triggers, into a 2-million-item catalog); the same geometry in 2.6 us.
CREATE OR REPLACE FUNCTION pgmosaic.window_key(mosaic_id integer, level integer, area geometry)
    RETURNS geometry
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE LEAKPROOF
    SET search_path FROM CURRENT
AS $$
DECLARE
    b box3d := area;
BEGIN
    RETURN ST_MakeLine(ST_MakePoint(ST_XMin(b), ST_YMin(b), mosaic_id, COALESCE(level, 0)),
                       ST_MakePoint(ST_XMax(b), ST_YMax(b), mosaic_id, COALESCE(level, 0)));
END
$$;
COMMENT ON FUNCTION pgmosaic.window_key(integer, integer, geometry) IS
    'The box of an area (x, y) in a mosaic (z: its id) at a level (m: NULL or 0 for items, the '
    'overview level for overview tiles): what item_mosaic_window_idx indexes, compared with &&&.';
CREATE OPERATOR pgmosaic.&&& (
    LEFTARG = geometry, RIGHTARG = geometry, FUNCTION = pgmosaic.window_overlaps,
    COMMUTATOR = OPERATOR(pgmosaic.&&&),
    RESTRICT = gserialized_gist_sel_nd, JOIN = gserialized_gist_joinsel_nd);
CREATE OPERATOR CLASS pgmosaic.window_ops FOR TYPE geometry USING gist AS
    STORAGE gidx,
    OPERATOR 3 pgmosaic.&&&,
    FUNCTION 1 geometry_gist_consistent_nd (internal, geometry, integer),
    FUNCTION 2 geometry_gist_union_nd (bytea, internal),
    FUNCTION 3 geometry_gist_compress_nd (internal),
    FUNCTION 4 geometry_gist_decompress_nd (internal),
    FUNCTION 5 geometry_gist_penalty_nd (internal, internal, internal),
    FUNCTION 6 geometry_gist_picksplit_nd (internal, internal),
    FUNCTION 7 geometry_gist_same_nd (geometry, geometry, internal);
