--------------------------------------------------------------------------------------------
-- The SQL door: the mosaic's pixels composed in the backend by the engine the GDAL driver
-- uses (pg_extension/pg_read.cpp). Each function reads the items the caller may see, in
-- mosaic order, and opens their files only as the backend's file access settings allow
-- (pgmosaic.enable_file_access, allowed_roots, allowed_drivers, allowed_network_prefixes);
-- pgmosaic.max_read_pixels caps what one call composes. The options jsonb takes the driver's
-- read keys as text: where, time, sort, ids, method, resampling, missing.
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic._compose(mosaic text, area_wkb bytea, srid integer,
                                             resolution double precision, bands integer[],
                                             options jsonb, format text)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgmosaic_compose' LANGUAGE C STABLE PARALLEL SAFE
    SET search_path FROM CURRENT;
COMMENT ON FUNCTION pgmosaic._compose(text, bytea, integer, double precision, integer[], jsonb,
                                      text) IS
    'The composed area (WKB in srid) as a file of a GDAL format: export().';

CREATE OR REPLACE FUNCTION pgmosaic._values(mosaic text, points_wkb bytea[], band integer)
    RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'pgmosaic_values' LANGUAGE C STABLE PARALLEL SAFE STRICT
    SET search_path FROM CURRENT;
COMMENT ON FUNCTION pgmosaic._values(text, bytea[], integer) IS
    'The composed value of a band at each point (WKB in the mosaic''s SRS), NULL where no item '
    'has a valid pixel: value().';

CREATE OR REPLACE FUNCTION pgmosaic._composed_zonal_stats(mosaic text, zones_wkb bytea[],
                                                          band integer, exact boolean)
    RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'pgmosaic_composed_zonal_stats' LANGUAGE C STABLE PARALLEL SAFE STRICT
    SET search_path FROM CURRENT;
COMMENT ON FUNCTION pgmosaic._composed_zonal_stats(text, bytea[], integer, boolean) IS
    'count, min, max, mean, stddev, sum of the composed band in each zone (WKB in the mosaic''s '
    'SRS), six values a zone; not exact: whole DRAD tiles from their statistics. '
    'zonal_stats(mosaic, ...).';

CREATE OR REPLACE FUNCTION pgmosaic._render_tile(mosaic text, z integer, x integer, y integer,
                                                 format text, options jsonb)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgmosaic_render_tile' LANGUAGE C STABLE PARALLEL SAFE
    SET search_path FROM CURRENT;

-- The area in the output SRID: an area without SRID is in the mosaic's SRS.
CREATE OR REPLACE FUNCTION pgmosaic._output_area(m pgmosaic.mosaic, area geometry,
                                                 srid integer)
    RETURNS bytea
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF area IS NULL OR ST_IsEmpty(area) THEN
        RAISE EXCEPTION 'an area is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ST_AsBinary(pgmosaic._in_srid(pgmosaic._in_srid(area, m.srid), srid));
END
$$;

CREATE OR REPLACE FUNCTION pgmosaic._read_options(options jsonb, method text)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
    RETURN COALESCE(options, '{}'::jsonb)
           || CASE WHEN method IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('method', method) END;

-- C: the raster is composed in place in the value returned (a PL/pgSQL wrapper copied it twice
-- more, and ST_RastFromWKB of raster WKB twice again: 1.5 s of a 4096 x 4096 read that composes
-- in 0.3 s). The mosaic, the output SRID and the area in it come from _mosaic, _output_area
-- and _read_options, run by the function through SPI as the caller.
CREATE OR REPLACE FUNCTION pgmosaic.read(mosaic text, area geometry,
                                         resolution double precision DEFAULT NULL,
                                         srid integer DEFAULT NULL,
                                         bands integer[] DEFAULT NULL,
                                         method text DEFAULT NULL,
                                         options jsonb DEFAULT '{}')
    RETURNS raster
    AS 'MODULE_PATHNAME', 'pgmosaic_read' LANGUAGE C STABLE PARALLEL SAFE
    SET search_path FROM CURRENT;
COMMENT ON FUNCTION pgmosaic.read(text, geometry, double precision, integer, integer[], text,
                                  jsonb) IS
    'The composed mosaic over an area as an in-db raster: in the mosaic''s SRS on its own grid '
    '(at its resolution or the one given), or reprojected to srid on a grid aligned to '
    'multiples of the resolution; pixels whose centre is outside the area are nodata (the '
    'mosaic''s, else 0).';

CREATE OR REPLACE FUNCTION pgmosaic.export(mosaic text, area geometry,
                                           format text DEFAULT 'COG',
                                           srid integer DEFAULT NULL,
                                           resolution double precision DEFAULT NULL,
                                           bands integer[] DEFAULT NULL,
                                           options jsonb DEFAULT '{}')
    RETURNS bytea
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    s integer := COALESCE(srid, m.srid);
BEGIN
    RETURN pgmosaic._compose(mosaic, pgmosaic._output_area(m, area, s), s, resolution, bands,
                             COALESCE(options, '{}'::jsonb), COALESCE(format, 'COG'));
END
$$;
COMMENT ON FUNCTION pgmosaic.export(text, geometry, text, integer, double precision, integer[],
                                    jsonb) IS
    'read() as a file of a GDAL format (COG, GTiff, PNG, JPEG, WEBP, ...) with its '
    'georeferencing; options.creation_options: the driver''s creation options, comma-separated.';

CREATE OR REPLACE FUNCTION pgmosaic.value(mosaic text, location geometry, band integer DEFAULT 1)
    RETURNS double precision
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    RETURN (pgmosaic._values(mosaic, ARRAY[ST_AsBinary(pgmosaic._in_srid(location, m.srid))],
                             band))[1];
END
$$;
COMMENT ON FUNCTION pgmosaic.value(text, geometry, integer) IS
    'The composed value of a band at a point (the top valid item''s), NULL where no item has a '
    'valid pixel.';

CREATE OR REPLACE FUNCTION pgmosaic.value(mosaic text, locations geometry[],
                                          band integer DEFAULT 1)
    RETURNS TABLE (n integer, value double precision)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
BEGIN
    RETURN QUERY
        SELECT u.n::integer, u.v
        FROM unnest(pgmosaic._values(mosaic,
                    COALESCE((SELECT array_agg(ST_AsBinary(pgmosaic._in_srid(l.g, m.srid))
                                               ORDER BY l.o)
                              FROM unnest(locations) WITH ORDINALITY AS l(g, o)), '{}'),
                    band)) WITH ORDINALITY AS u(v, n);
END
$$;
COMMENT ON FUNCTION pgmosaic.value(text, geometry[], integer) IS
    'value() at many points in one call: n is the position in the array.';

CREATE OR REPLACE FUNCTION pgmosaic.zonal_stats(mosaic text, zones geometry[],
                                                band integer DEFAULT 1,
                                                exact boolean DEFAULT true)
    RETURNS TABLE (n integer, count bigint, min double precision, max double precision,
                   mean double precision, stddev double precision, sum double precision)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    v double precision[];
BEGIN
    v := pgmosaic._composed_zonal_stats(mosaic,
             COALESCE((SELECT array_agg(ST_AsBinary(pgmosaic._in_srid(z.g, m.srid)) ORDER BY z.o)
                       FROM unnest(zones) WITH ORDINALITY AS z(g, o)), '{}'),
             band, COALESCE(exact, true));
    RETURN QUERY
        SELECT i, v[6 * i - 5]::bigint, v[6 * i - 4], v[6 * i - 3], v[6 * i - 2], v[6 * i - 1],
               v[6 * i]
        FROM generate_series(1, COALESCE(cardinality(zones), 0)) AS i;
END
$$;
COMMENT ON FUNCTION pgmosaic.zonal_stats(text, geometry[], integer, boolean) IS
    'zonal_stats(mosaic, zone) of many zones in one call: n is the position in the array.';

CREATE OR REPLACE FUNCTION pgmosaic.zonal_stats(mosaic text, zone geometry, band integer DEFAULT 1,
                                                exact boolean DEFAULT true)
    RETURNS TABLE (count bigint, min double precision, max double precision,
                   mean double precision, stddev double precision, sum double precision)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT z.count, z.min, z.max, z.mean, z.stddev, z.sum
    FROM pgmosaic.zonal_stats(mosaic, ARRAY[zone], band, exact) z
$$;
COMMENT ON FUNCTION pgmosaic.zonal_stats(text, geometry, integer, boolean) IS
    'count, min, max, mean, stddev (population) and sum of the composed mosaic''s valid pixels '
    'whose centres lie in the zone: overlaps counted once, the item on top wins. exact => false: '
    'the DRAD tiles inside the zone that alone show in the composite answer from their recorded '
    'statistics, and only the rest (the zone''s edge, overlaps) is read.';

CREATE OR REPLACE FUNCTION pgmosaic.render_tile(mosaic text, z integer, x integer, y integer,
                                                format text DEFAULT 'PNG',
                                                options jsonb DEFAULT '{}')
    RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
    RETURN pgmosaic._render_tile(mosaic, z, x, y, COALESCE(format, 'PNG'),
                                 COALESCE(options, '{}'::jsonb));
COMMENT ON FUNCTION pgmosaic.render_tile(text, integer, integer, integer, text, jsonb) IS
    'One 256 x 256 XYZ web-mercator tile (RGBA, or gray and alpha for one band; a PNG whose '
    'pixels are all opaque comes as RGB or gray), transparent where no item has data; '
    'stretched to Byte from options min and max (a number, or one a '
    'band), else, for imagery other than Byte, from the catalog''s statistics.';

CREATE OR REPLACE FUNCTION pgmosaic._output_grid(mosaic text, area_wkb bytea, srid integer,
                                                 resolution double precision)
    RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'pgmosaic_output_grid' LANGUAGE C STABLE PARALLEL SAFE
    SET search_path FROM CURRENT;
COMMENT ON FUNCTION pgmosaic._output_grid(text, bytea, integer, double precision) IS
    'width, height and geotransform of the grid read() and export() compose for an area (WKB in '
    'srid); reads no file.';

CREATE OR REPLACE FUNCTION pgmosaic.estimate_size(mosaic text, area geometry,
                                                  resolution double precision DEFAULT NULL,
                                                  bands integer[] DEFAULT NULL,
                                                  srid integer DEFAULT NULL,
                                                  format text DEFAULT NULL)
    RETURNS TABLE (width bigint, height bigint, band_count integer, data_type text, bytes bigint,
                   source_bytes bigint, item_count bigint)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these cheap queries look worth compiling
AS $$
#variable_conflict use_column
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    s integer := COALESCE(srid, m.srid);
    f text := upper(COALESCE(format, 'GTiff'));
    a geometry;
    g double precision[];
    nb integer;
    w bigint;
    h bigint;
    pixels bigint;
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
    band_count := nb;
    data_type := m.data_type;
    IF m.min_x IS NULL THEN
        RETURN QUERY SELECT 0::bigint, 0::bigint, nb, m.data_type, 0::bigint, 0::bigint,
                            0::bigint;
        RETURN;
    END IF;
    -- The grid export() makes (the same code computes it).
    g := pgmosaic._output_grid(mosaic, pgmosaic._output_area(m, area, s), s, resolution);
    width := g[1]::bigint;
    height := g[2]::bigint;
    -- Uncompressed bytes: PNG and WEBP get an alpha band where a mosaic has no nodata; a COG
    -- is written in whole 512-pixel tiles and holds its overviews too (halved until they fit
    -- in one tile, as GDAL's COG driver does by default).
    IF f IN ('PNG', 'WEBP') AND m.nodata IS NULL THEN
        nb := nb + 1;
    END IF;
    pixels := width * height;
    IF f = 'COG' THEN
        w := width;
        h := height;
        pixels := 0;
        LOOP
            pixels := pixels + ((w + 511) / 512) * ((h + 511) / 512) * 512 * 512;
            EXIT WHEN w <= 512 AND h <= 512;
            w := (w + 1) / 2;
            h := (h + 1) / 2;
        END LOOP;
    END IF;
    bytes := pixels * nb * pgmosaic._data_type_bytes(m.data_type);
    a := pgmosaic._in_srid(area, m.srid);
    SELECT count(*),
           round(sum(i.file_size * ST_Area(ST_Intersection(i.footprint, a))
                     / NULLIF(ST_Area(i.footprint), 0)))::bigint
    INTO item_count, source_bytes
    FROM pgmosaic.item i
    WHERE i.mosaic_id OPERATOR(pg_catalog.+) 0 = m.id AND i.category = 'primary'
      AND pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint)
          OPERATOR(pgmosaic.&&&) pgmosaic.window_key(m.id, 0, a)
      AND ST_Intersects(i.footprint, a);
    source_bytes := COALESCE(source_bytes, 0);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION pgmosaic.estimate_size(text, geometry, double precision, integer[], integer,
                                           text) IS
    'Estimates a download before it is made: the grid export() makes of the area (its size in '
    'pixels at a resolution, default native, in srid, default the mosaic''s), its uncompressed '
    'bytes for the bands (default all) in a format (default GTiff; PNG and WEBP add an alpha '
    'band when the mosaic has no nodata, COG its whole tiles and overviews), and the bytes of the source files '
    'that cover it (file sizes prorated by area), with their count.';
