-- The path GDAL opens for an item's reference, given its root's prefix (NULL: no root, or an
-- unknown one, which resolve() names in its error). Plain SQL without SET, so that it is
-- inlined into the item queries: the one function of the extension without a fixed
-- search_path, so every name in it is schema-qualified (the security test checks that).
CREATE OR REPLACE FUNCTION pgmosaic._resolved_path(ref pgmosaic.pathref, prefix pgmosaic.pathref)
    RETURNS pg_catalog.text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN prefix IS NOT NULL
                THEN pgmosaic.pathref_under_root(ref, prefix)::pg_catalog.text
                WHEN pgmosaic.pathref_root(ref) IS NULL THEN ref::pg_catalog.text
                ELSE pgmosaic.resolve(ref) END
$$;

-- The query of _read_items() for its arguments: filter and sort are expressions over the
-- columns of pgmosaic.item (named item; with `versions`, of pgmosaic.item_version at $5); the
-- query runs as the caller. Parameters: $1 mosaic id, $2 area, $3 time range, $4 ids, $5 asof.
CREATE OR REPLACE FUNCTION pgmosaic._items_query(versions boolean, has_area boolean,
                                                 has_time boolean, has_ids boolean,
                                                 filter text, order_by text)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    q text;
BEGIN
    PERFORM pgmosaic._check_fragment('filter', filter);
    PERFORM pgmosaic._check_fragment('sort', order_by);
    -- The filter applies to this mosaic's items only: "x) OR (y" cannot widen the scope.
    q := 'SELECT item.id, item.path, '
             'pgmosaic._resolved_path(item.path, item_root.prefix), '
             'item.priority, item.srid, item.geotransform, item.width, item.height, '
             'item.footprint, item.acquired, item.cloud_cover, item.status, item.attributes, '
             'item.statistics, item.file_size, item.file_mtime, item.bands, item.band_count, '
             'item.data_type, item.max_pixel_size '
             'FROM (SELECT * FROM '
             || CASE WHEN versions THEN 'pgmosaic.item_version' ELSE 'pgmosaic.item' END
             || ' AS i WHERE '
             -- Through the window key, not a btree on mosaic_id ANDed with it (see window_key).
             || CASE WHEN has_area THEN 'i.mosaic_id OPERATOR(pg_catalog.+) 0'
                     ELSE 'i.mosaic_id' END
             || ' = $1 AND i.category = ''primary'' AND i.batch IS NULL';
    IF versions THEN
        q := q || ' AND i.valid @> $5';
    END IF;
    -- Through the window key indexes of items and of their history (20_tables.sql).
    IF has_area THEN
        q := q || ' AND pgmosaic.window_key(i.mosaic_id, i.overview_level,'
               || ' i.footprint) OPERATOR(pgmosaic.&&&) pgmosaic.window_key($1, 0, $2)'
               || ' AND ST_Intersects(i.footprint, $2)';
    END IF;
    IF has_time THEN
        q := q || ' AND i.acquired && $3';
    END IF;
    IF has_ids THEN
        q := q || ' AND i.id = ANY ($4)';
    END IF;
    q := q || ') AS item LEFT JOIN pgmosaic.path_root AS item_root '
                   || 'ON item_root.name = pgmosaic.pathref_root(item.path)';
    IF filter IS NOT NULL THEN
        q := q || format(' WHERE (%s)', filter);
    END IF;
    RETURN q || ' ORDER BY ' || COALESCE(order_by || ', ', '')
           || 'item.priority DESC, item.id DESC';
END
$$;

-- The items of a mosaic in mosaic order, as items() and items(..., asof) give them (they
-- are this function without the last columns): the one definition of which items a read
-- composes and in what order. The last columns are what registration recorded of each file,
-- which the driver checks a file against (common/catalog_sql.cpp FindItemsSql), read in the
-- same scan: looked up again by each item's key, they cost a fifth of the driver's window
-- lookup (2.7 of 14.8 million instructions for 121 items of 500,000).
CREATE OR REPLACE FUNCTION pgmosaic._read_items(mosaic text, area geometry, filter text,
                                                time_range tstzrange, sort text, ids bigint[],
                                                asof timestamptz)
    RETURNS TABLE (id bigint, path pgmosaic.pathref, resolved_path text, priority integer,
                   srid integer, geotransform double precision[], width integer, height integer,
                   footprint geometry, acquired tstzrange, cloud_cover double precision,
                   status text, attributes jsonb, statistics jsonb, file_size bigint,
                   file_mtime timestamptz, bands jsonb, band_count integer, data_type text,
                   max_pixel_size double precision)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
    -- The static query below keeps one generic plan (the window key's index either way): left
    -- to choose, PostgreSQL planned every call again for its parameters, which cost as much as
    -- running the query (0.7 of 2 ms for a driver's window of 110 items).
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    order_by text;
    query text;
BEGIN
    area := pgmosaic._in_srid(area, m.srid);
    order_by := COALESCE(sort, m.default_sort);
    -- The driver's window lookup: a static query (a cached plan that uses the window key's
    -- index, whatever the mosaic), not "area IS NULL OR ...". Without an area, a mosaic's
    -- items are planned for its id below (one generic plan for the average mosaic scanned
    -- every item of the catalog for a mosaic of a few items next to one of millions).
    IF area IS NOT NULL AND filter IS NULL AND order_by IS NULL AND time_range IS NULL
       AND ids IS NULL AND asof IS NULL THEN
        RETURN QUERY
            SELECT i.id, i.path,
                   pgmosaic._resolved_path(i.path, r.prefix),
                   i.priority, i.srid, i.geotransform, i.width, i.height, i.footprint,
                   i.acquired, i.cloud_cover, i.status, i.attributes, i.statistics,
                   i.file_size, i.file_mtime, i.bands, i.band_count, i.data_type,
                   i.max_pixel_size
            FROM pgmosaic.item i
            LEFT JOIN pgmosaic.path_root r ON r.name = pgmosaic.pathref_root(i.path)
            WHERE pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint)
                  OPERATOR(pgmosaic.&&&) pgmosaic.window_key(m.id, 0, area)
              -- Exact, and not a condition a btree on mosaic_id could AND with the
              -- window's bitmap (see window_key).
              AND i.mosaic_id OPERATOR(pg_catalog.+) 0 = m.id AND i.category = 'primary'
              AND i.batch IS NULL
              AND ST_Intersects(i.footprint, area)
            ORDER BY i.priority DESC, i.id DESC;
        RETURN;
    END IF;
    -- Otherwise a query planned for these arguments (_items_query); with asof, over the
    -- versions valid then (filter and sort see their columns).
    query := pgmosaic._items_query(asof IS NOT NULL, area IS NOT NULL, time_range IS NOT NULL,
                                   ids IS NOT NULL, filter, order_by);
    RETURN QUERY EXECUTE query USING m.id, area, time_range, ids, asof;
END
$$;

-- The items of a mosaic in mosaic order: _read_items() without the files' records, the one
-- definition of the items and order the driver reads.
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
AS $$
BEGIN
    RETURN QUERY
        SELECT r.id, r.path, r.resolved_path, r.priority, r.srid, r.geotransform, r.width,
               r.height, r.footprint, r.acquired, r.cloud_cover, r.status, r.attributes,
               r.statistics
        FROM pgmosaic._read_items(mosaic, area, filter, time_range, sort, ids, NULL) r;
END
$$;
COMMENT ON FUNCTION pgmosaic.items(text, geometry, text, tstzrange, text, bigint[]) IS
    'The primary items of a mosaic intersecting an area (all without one), acquired within a '
    'time range, satisfying filter (a boolean SQL expression over item columns), in mosaic order: '
    'sort (an ORDER BY list over item columns, default: the mosaic''s default_sort) then '
    'priority DESC, id DESC — the item drawn on top first.';

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
                WHERE i.mosaic_id OPERATOR(pg_catalog.+) 0 = b.id AND i.category = 'primary'
                  AND pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint)
                      OPERATOR(pgmosaic.&&&) pgmosaic.window_key(b.id, 0, b.a)
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
    -- Items of one file, and the files of items made of several.
    SELECT l.id, l.path, l.resolved_path, l.status
    FROM (SELECT f.id, f.path, f.resolved_path, f.status, NULL::text AS asset
          FROM pgmosaic.footprints(mosaic, broken_only) f
          WHERE NOT EXISTS (SELECT 1 FROM pgmosaic.asset x
                            WHERE x.mosaic_id = (pgmosaic._mosaic(mosaic)).id
                              AND x.item_id = f.id)
          UNION ALL
          SELECT x.item_id, x.path, r.resolved, x.status, x.name
          FROM pgmosaic.asset x
          CROSS JOIN LATERAL (SELECT pgmosaic._resolve_or_null(x.path) AS resolved) r
          WHERE x.mosaic_id = (pgmosaic._mosaic(mosaic)).id
            AND (NOT broken_only OR r.resolved IS NULL OR x.status IN ('missing', 'unreadable'))
         ) l
    ORDER BY l.id, l.asset NULLS FIRST
$$;
COMMENT ON FUNCTION pgmosaic.file_list(text, boolean) IS
    'The file list of a mosaic (resolved paths, e.g. for gdalbuildvrt -input_file_list), every '
    'file of items made of several files included; broken_only as in footprints().';

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
