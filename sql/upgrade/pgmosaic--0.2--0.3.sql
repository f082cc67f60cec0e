-- pgmosaic 0.2 -> 0.3: what moves data or changes a table, before the re-runnable topic
-- sources of sql/src/ are applied again (sql/generate.sh appends them).
--
-- Besides the sources' functions (a fixed search_path for each, pixel reads by item for
-- non-admins), row-level security (write policies on tiles, themes and theme rules) and
-- privileges (90_security.sql drops the 0.2 policies it no longer defines), 0.3 changes one
-- column and one function's arguments.

-- mosaic.default_sort becomes a list of item columns: as an expression it ran in the queries
-- of every role reading the mosaic (a writer's stored SQL run by an admin). Sorts that are not
-- such a list are dropped, and named.
DO $sorts$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.id, m.name, m.default_sort FROM pgmosaic.mosaic m
             WHERE m.default_sort !~* '^\s*[a-z_][a-z0-9_]*(\s+(asc|desc))?(\s+nulls\s+(first|last))?(\s*,\s*[a-z_][a-z0-9_]*(\s+(asc|desc))?(\s+nulls\s+(first|last))?)*\s*$' LOOP
        RAISE WARNING 'pgmosaic 0.3: default_sort "%" of mosaic "%" is not a list of item columns and is removed',
            r.default_sort, r.name;
        UPDATE pgmosaic.mosaic SET default_sort = NULL WHERE id = r.id;
    END LOOP;
END
$sorts$;
ALTER TABLE pgmosaic.mosaic
    DROP CONSTRAINT mosaic_default_sort_check,
    ADD CONSTRAINT mosaic_default_sort_check CHECK (default_sort ~* '^\s*[a-z_][a-z0-9_]*(\s+(asc|desc))?(\s+nulls\s+(first|last))?(\s*,\s*[a-z_][a-z0-9_]*(\s+(asc|desc))?(\s+nulls\s+(first|last))?)*\s*$');
COMMENT ON COLUMN pgmosaic.mosaic.default_sort IS
    'ORDER BY list of item columns (each with ASC or DESC, NULLS FIRST or LAST) used by items() '
    'when no sort is given; the mosaic order (priority DESC, id DESC) always breaks ties.';

-- estimate_size() takes the output SRID and format of export() (two more arguments with
-- defaults): the 0.2 signature would make every call ambiguous.
DROP FUNCTION IF EXISTS pgmosaic.estimate_size(text, geometry, double precision, integer[]);

-- Items on object storage record their version and the bytes GDAL reads to open them (see
-- 20_tables.sql); items registered before have none and are read through GDAL.
CREATE TABLE pgmosaic.item_remote (
    mosaic_id    integer NOT NULL,
    item_id      bigint NOT NULL,
    etag         text,
    header       bytea NOT NULL,
    PRIMARY KEY (mosaic_id, item_id),
    FOREIGN KEY (mosaic_id, item_id) REFERENCES pgmosaic.item (mosaic_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE pgmosaic.item_remote IS
    'Items on object storage or HTTP servers: the ETag of the version registered and the byte '
    'ranges of the file GDAL reads to open it (encoded as "PGMH1", then per range an 8-byte '
    'offset, a 4-byte length, little-endian, and the bytes). Recorded at registration.';
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.item_remote', '');

-- GDAL options of a path root's storage (see 20_tables.sql).
CREATE TABLE pgmosaic.path_root_option (
    root   text NOT NULL REFERENCES pgmosaic.path_root (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key    text NOT NULL CONSTRAINT path_root_option_key_check CHECK (key IN (
        'AWS_S3_ENDPOINT', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_VIRTUAL_HOSTING',
        'AWS_HTTPS', 'AWS_REQUEST_PAYER', 'AWS_NO_SIGN_REQUEST', 'AWS_PROFILE',
        'GS_NO_SIGN_REQUEST', 'GS_USER_PROJECT', 'AZURE_STORAGE_ACCOUNT',
        'AZURE_NO_SIGN_REQUEST', 'OSS_ENDPOINT', 'OSS_HTTPS', 'OSS_VIRTUAL_HOSTING',
        'GDAL_HTTP_HEADERS', 'GDAL_HTTP_TIMEOUT', 'GDAL_HTTP_CONNECTTIMEOUT',
        'GDAL_HTTP_MAX_RETRY', 'GDAL_HTTP_RETRY_DELAY', 'GDAL_HTTP_USERAGENT',
        'GDAL_HTTP_VERSION')),
    value  text NOT NULL CONSTRAINT path_root_option_value_check CHECK (
        CASE WHEN key = 'GDAL_HTTP_HEADERS'
             THEN value !~* '(^|[\r\n])[ \t]*(authorization|proxy-authorization|cookie|x-amz-security-token|x-goog-[a-z0-9-]*|x-ms-[a-z0-9-]*|x-api-key)[ \t]*:'
                  AND value !~ '[\x01-\x09\x0b\x0c\x0e-\x1f\x7f]'
             ELSE value !~ '[[:cntrl:]]' END),
    PRIMARY KEY (root, key)
);
COMMENT ON TABLE pgmosaic.path_root_option IS
    'GDAL options of the storage under a path root (an endpoint, a region, path-style '
    'addressing, requester pays, HTTP headers), applied by readers and registration to the paths '
    'under its prefix as GDAL path-specific options. Never secrets (the keys are limited to these, '
    'headers that carry credentials are refused): credentials come from GDAL''s usual sources. An '
    'endpoint is used only where the reader''s network prefixes allow it as /vsicurl/ URLs.';
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.path_root_option', '');

-- Items made of several files (assets): the mosaic's band sources, the asset table, and DRAD
-- tiles recorded per asset ('' for an item's own file).
ALTER TABLE pgmosaic.mosaic
    ADD COLUMN band_sources jsonb CHECK (jsonb_typeof(band_sources) = 'array');
COMMENT ON COLUMN pgmosaic.mosaic.band_sources IS
    'For items made of several files (assets): per band, {name, asset, band}: the band is band '
    '"band" of each item''s asset "asset" (see set_bands()); NULL: every item is one file.';
ALTER TABLE pgmosaic.mosaic ADD COLUMN mask text, ADD COLUMN virtual_bands text[];
COMMENT ON COLUMN pgmosaic.mosaic.virtual_bands IS
    'Virtual bands readers expose after the mosaic''s own, each name:expression or '
    'name:type:expression over the composed bands (e.g. ndvi:(nir-red)/(nir+red)); Float32 '
    'unless a type is given.';
COMMENT ON COLUMN pgmosaic.mosaic.mask IS
    'A band expression true where an item''s pixels are transparent, as nodata is (e.g. '
    'bit(qa, 3) or bit(qa, 4); scl in (3, 8, 9, 10)); the reads'' mask= overrides it.';
ALTER TABLE pgmosaic.tile ADD COLUMN asset text NOT NULL DEFAULT '';
ALTER TABLE pgmosaic.tile DROP CONSTRAINT tile_pkey,
    ADD PRIMARY KEY (mosaic_id, item_id, asset, level, key);
CREATE TABLE pgmosaic.asset (
    mosaic_id    integer NOT NULL,
    item_id      bigint NOT NULL,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_-]*$'),
    path         pgmosaic.pathref NOT NULL,
    bands        integer[],
    footprint    geometry NOT NULL,
    srid         integer NOT NULL,
    geotransform double precision[] NOT NULL CHECK (cardinality(geotransform) = 6),
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    band_count   integer NOT NULL,
    data_type    text NOT NULL,
    nodata       double precision,
    driver       text,
    file_size    bigint,
    file_mtime   timestamptz,
    min_pixel_size double precision CHECK (min_pixel_size > 0),
    band_info    jsonb,
    statistics   jsonb,
    is_cog       boolean,
    block_width  integer,
    block_height integer,
    overview_count integer,
    status       text NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'missing', 'stale', 'unreadable')),
    PRIMARY KEY (mosaic_id, item_id, name),
    FOREIGN KEY (mosaic_id, item_id) REFERENCES pgmosaic.item (mosaic_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE pgmosaic.asset IS
    'The files of items made of several files (assets): one row per asset, with what '
    'registration recorded of its file. Items of one file have none.';
COMMENT ON COLUMN pgmosaic.asset.bands IS 'The bands of the file the item takes; NULL: all.';
COMMENT ON COLUMN pgmosaic.asset.band_info IS
    'Per band of the file: data_type, nodata, description, color_interp.';
CREATE INDEX asset_path_idx ON pgmosaic.asset (mosaic_id, path);
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.asset', '');

-- Items registered in a batch published at once (publish()).
ALTER TABLE pgmosaic.item ADD COLUMN batch text;
-- When an item's row took its current values (its version's start): the items of an upgraded
-- catalog are valid since the upgrade.
ALTER TABLE pgmosaic.item ADD COLUMN changed timestamptz NOT NULL DEFAULT now();


-- The window key of items (10_types.sql) and its index (20_tables.sql): items of one mosaic and
-- level in a window, found without the items of other mosaics or levels there.

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
CREATE INDEX item_mosaic_window_idx ON pgmosaic.item
    USING gist (pgmosaic.window_key(mosaic_id, overview_level, footprint)
                pgmosaic.window_ops);
-- The window key serves every window lookup of items (search() and estimate_size() too): the
-- 2D index of footprint_ops is one more index for each insert to write.
DROP INDEX pgmosaic.item_window_idx;

-- Versions (0.3): every row of the primary items and of their assets as it stood over time
-- (valid: from the transaction that wrote it to the one that changed or removed it), recorded
-- by triggers; reads with asof= read these. A current item is its row in pgmosaic.item (valid
-- from its `changed`); item_history keeps the rows items had before they were changed or
-- removed, so registering items writes nothing more (a copy of every new row, with its indexes
-- and foreign key, took a fifth of a bulk registration). Changing pgmosaic.item or
-- pgmosaic.asset: change these alike.
CREATE TABLE pgmosaic.item_history (LIKE pgmosaic.item);
ALTER TABLE pgmosaic.item_history ADD COLUMN valid tstzrange NOT NULL,
    ADD FOREIGN KEY (mosaic_id) REFERENCES pgmosaic.mosaic (id) ON DELETE CASCADE;
COMMENT ON TABLE pgmosaic.item_history IS
    'The rows primary items had before they were changed or removed, each valid over a time '
    'range (see item_version).';
CREATE INDEX item_history_item_idx ON pgmosaic.item_history (mosaic_id, id, lower(valid));
CREATE INDEX item_history_window_idx ON pgmosaic.item_history
    USING gist (pgmosaic.window_key(mosaic_id, overview_level, footprint) pgmosaic.window_ops);
-- Under the caller's row-level security (security_invoker): a role sees the versions of the
-- items it may read.
CREATE VIEW pgmosaic.item_version WITH (security_invoker = true) AS
SELECT i.*, tstzrange(i.changed, NULL) AS valid FROM pgmosaic.item i WHERE i.category = 'primary'
UNION ALL
SELECT h.* FROM pgmosaic.item_history h;
COMMENT ON VIEW pgmosaic.item_version IS
    'Every version of the primary items'' rows, valid over a time range (the reads'' asof=): '
    'the current rows of pgmosaic.item and the earlier ones of item_history.';
CREATE TABLE pgmosaic.asset_version (LIKE pgmosaic.asset);
ALTER TABLE pgmosaic.asset_version ADD COLUMN valid tstzrange NOT NULL,
    ADD FOREIGN KEY (mosaic_id) REFERENCES pgmosaic.mosaic (id) ON DELETE CASCADE;
COMMENT ON TABLE pgmosaic.asset_version IS
    'Every version of the assets'' rows, valid over a time range (the reads'' asof=).';
CREATE INDEX asset_version_item_idx ON pgmosaic.asset_version (mosaic_id, item_id, lower(valid));
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.item_history', '');
SELECT pg_catalog.pg_extension_config_dump('pgmosaic.asset_version', '');
