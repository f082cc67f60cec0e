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

CREATE OR REPLACE FUNCTION pgmosaic.check_expression(expression text) RETURNS integer
    AS 'MODULE_PATHNAME', 'pgmosaic_check_expression' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION pgmosaic.check_expression(expression text, band_names text[])
    RETURNS integer
    AS 'MODULE_PATHNAME', 'pgmosaic_check_expression' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.check_expression(text, text[]) IS
    'check_expression where bands may also be named: band_names[k] names band k.';
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

-- The same two reads for the items of a mosaic, by item: the item is looked up as the caller,
-- under row-level security (readable for zonal statistics, writable for a theme), so that a
-- role reads through them only files of mosaics it may read. (A writer may register any file
-- under the allowed roots into a mosaic of its own: the roots bound what writers read.)
CREATE OR REPLACE FUNCTION pgmosaic._item_zonal_stats(mosaic_id integer, item_id bigint,
                                                      band integer, area_wkt text)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_item_zonal_stats' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgmosaic._item_zonal_stats(integer, bigint, integer, text) IS
    'zonal_stats of an item of a mosaic the caller may read (summary() uses it).';
CREATE OR REPLACE FUNCTION pgmosaic._item_theme(mosaic_id integer, item_id bigint,
                                                expression text)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_item_theme' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgmosaic._item_theme(integer, bigint, text) IS
    'compute_theme of an item of a mosaic the caller may write (registration uses it).';

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
    -- A network item's version and the bytes GDAL reads to open it (remote_header: base64).
    DELETE FROM pgmosaic.item_remote ir
    WHERE ir.mosaic_id = _store_abstractions.mosaic_id
      AND ir.item_id = _store_abstractions.item_id;
    IF info ? 'remote_header' THEN
        INSERT INTO pgmosaic.item_remote (mosaic_id, item_id, etag, header)
        VALUES (_store_abstractions.mosaic_id, _store_abstractions.item_id,
                NULLIF(info ->> 'etag', ''), decode(info ->> 'remote_header', 'base64'));
    END IF;
    DELETE FROM pgmosaic.theme t
    WHERE t.mosaic_id = _store_abstractions.mosaic_id AND t.item_id = _store_abstractions.item_id;
    FOR r IN SELECT tr.theme, tr.expression FROM pgmosaic.theme_rule tr
             WHERE tr.mosaic_id = _store_abstractions.mosaic_id LOOP
        polys := COALESCE(info -> 'themes' -> r.theme,
                          pgmosaic._item_theme(_store_abstractions.mosaic_id,
                                              _store_abstractions.item_id, r.expression));
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
            z := pgmosaic._item_zonal_stats(m.id, it.id, band,
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
    -- A mosaic of items of several files names its bands.
    bands integer := CASE WHEN m.band_sources IS NULL THEN pgmosaic.check_expression(expression)
                          ELSE pgmosaic.check_expression(expression,
                                   ARRAY(SELECT e ->> 'name'
                                         FROM jsonb_array_elements(m.band_sources) e)) END;
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
                   -- an item of several files: composed in the mosaic's SRS
                   ST_Transform(ST_GeomFromText(p ->> 'wkt', CASE WHEN EXISTS (
                       SELECT 1 FROM pgmosaic.asset x WHERE x.mosaic_id = m.id
                         AND x.item_id = it.id) THEN m.srid ELSE i.srid END), m.srid),
                   (p ->> 'area')::double precision, (p ->> 'pixels')::bigint
            FROM pgmosaic.item i,
                 jsonb_array_elements(pgmosaic._item_theme(m.id, it.id, expression)) p
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
