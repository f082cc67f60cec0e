-- Why a raster (its inspect_raster JSON) cannot join a mosaic, or NULL when it can.
CREATE OR REPLACE FUNCTION pgmosaic._misfit(m pgmosaic.mosaic, ref text, info jsonb)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
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

-- The union of footprints, as ST_Union gives it (the same area, without the vertices that
-- their shared edges leave on straight lines). Footprints that are axis-aligned rectangles (a
-- north-up raster's, in its mosaic's SRID) are first merged row by row: rectangles of the same
-- rows whose columns overlap or touch make one rectangle, so that a grid of 100,000 tiles is a
-- few hundred strips for GEOS (ST_Union of the tiles took 3 to 4 s, a third of their bulk
-- registration; this takes 0.5 s). Other footprints go to ST_Union as they are.
CREATE OR REPLACE FUNCTION pgmosaic._union_footprints(fps geometry[]) RETURNS geometry
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    WITH f AS (
        SELECT u.g, ST_SRID(u.g) AS srid, ST_XMin(b.b) AS x0, ST_YMin(b.b) AS y0,
               ST_XMax(b.b) AS x1, ST_YMax(b.b) AS y1,
               ST_GeometryType(u.g) = 'ST_Polygon' AND ST_NPoints(u.g) = 5
               AND ST_NRings(u.g) = 1 AND ST_Equals(u.g, ST_Envelope(u.g)) AS rect
        FROM unnest(fps) u (g)
        -- The box computed once, not for each of its four sides.
        CROSS JOIN LATERAL (SELECT u.g::box3d OFFSET 0) b (b)
        WHERE u.g IS NOT NULL
    ), starts AS ( -- a rectangle starts a strip unless one before it in its row reaches it
        SELECT f.srid, f.x0, f.y0, f.x1, f.y1,
               COALESCE(f.x0 > max(f.x1) OVER (PARTITION BY f.y0, f.y1 ORDER BY f.x0, f.x1
                                              ROWS BETWEEN UNBOUNDED PRECEDING
                                                       AND 1 PRECEDING), true) AS starts
        FROM f WHERE f.rect
    ), strips AS (
        SELECT s.srid, s.x0, s.y0, s.x1, s.y1,
               count(*) FILTER (WHERE s.starts)
                   OVER (PARTITION BY s.y0, s.y1 ORDER BY s.x0, s.x1) AS strip
        FROM starts s
    )
    SELECT ST_Union(x.g) FROM (
        SELECT ST_MakeEnvelope(min(s.x0), s.y0, max(s.x1), s.y1, min(s.srid)) AS g
        FROM strips s GROUP BY s.y0, s.y1, s.strip
        UNION ALL
        SELECT f.g FROM f WHERE NOT f.rect) x
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
    SELECT ST_Extent(i.footprint), pgmosaic._union_footprints(array_agg(i.footprint))
    INTO ext, fps
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
    SELECT ST_Extent(i.footprint), pgmosaic._union_footprints(array_agg(i.footprint))
    INTO ext, fps
    FROM pgmosaic.item i
    WHERE i.mosaic_id = _refresh_extent.mosaic_id AND i.category = 'primary';
    PERFORM pgmosaic._set_extent(_refresh_extent.mosaic_id, ext, fps, false);
END
$$;

-- Refuses item properties a caller gives that make no sense, naming the raster.
CREATE OR REPLACE FUNCTION pgmosaic._check_item_props(ref text, props pgmosaic.item)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path FROM CURRENT
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
    -- The window at every overview level (1 to 62), below which no item is.
    UPDATE pgmosaic.item i SET status = 'stale'
    WHERE pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint)
          OPERATOR(pgmosaic.&&&)
          ST_MakeLine(ST_MakePoint(ST_XMin(area), ST_YMin(area), _stale_overviews.mosaic_id, 1),
                      ST_MakePoint(ST_XMax(area), ST_YMax(area), _stale_overviews.mosaic_id, 62))
      AND i.mosaic_id OPERATOR(pg_catalog.+) 0 = _stale_overviews.mosaic_id
      AND i.category = 'overview' AND i.status = 'ok' AND area IS NOT NULL
      AND ST_Intersects(i.footprint, area)
$$;

-- Whether a mosaic has up-to-date overview tiles (a one-time condition: the union of many
-- footprints is computed for _stale_overviews only when there is something to mark).
CREATE OR REPLACE FUNCTION pgmosaic._has_overviews(mosaic_id integer) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT EXISTS (SELECT 1 FROM pgmosaic.item i
                   WHERE i.mosaic_id = _has_overviews.mosaic_id AND i.category = 'overview'
                     AND i.status = 'ok')
$$;

-- What an overview tile over `bounds` ({xmin, ymin, xmax, ymax}) is built from: a digest of the
-- primary items under it (ids and row versions). gdaladdo takes it before composing a tile
-- and registers the tile with it (register_raster's built_from); registration, holding the
-- mosaic's lock that every load takes, marks the tile stale when the items under it changed
-- meanwhile.
CREATE OR REPLACE FUNCTION pgmosaic._overview_sources(mosaic_id integer,
                                                      bounds double precision[])
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT md5(COALESCE(string_agg(i.id || ':' || i.xmin::text, ',' ORDER BY i.id), ''))
    FROM pgmosaic.mosaic m
    CROSS JOIN LATERAL (SELECT ST_MakeEnvelope(bounds[1], bounds[2], bounds[3], bounds[4],
                                               m.srid)) a (area)
    CROSS JOIN pgmosaic.item i
    WHERE m.id = _overview_sources.mosaic_id AND i.category = 'primary'
      AND pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint)
          OPERATOR(pgmosaic.&&&) pgmosaic.window_key(m.id, 0, a.area)
      AND i.mosaic_id OPERATOR(pg_catalog.+) 0 = m.id
      AND ST_Intersects(i.footprint, a.area)
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
                                        block_height, overview_count, status, batch)
        VALUES (m.id, ref, it.footprint, it.srid, it.geotransform, it.width, it.height,
                it.band_count, it.data_type, it.nodata, it.driver, it.file_size,
                it.file_mtime, COALESCE(props.priority, 0), COALESCE(props.attributes, '{}'),
                props.acquired, props.cloud_cover, props.category, props.overview_level,
                it.min_pixel_size, props.max_pixel_size, it.bands, it.statistics, it.is_cog,
                it.block_width, it.block_height, it.overview_count, 'ok', props.batch)
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

-- Item properties a caller gives (register_raster, register_item): priority, cloud_cover,
-- category, overview_level, max_pixel_size, acquired (a range or an instant), attributes;
-- other keys become attributes; keys of columns read from files, and built_from (register_raster
-- reads it), are ignored. Names the raster (or item) `ref` in errors.
CREATE OR REPLACE FUNCTION pgmosaic._item_props(ref text, properties jsonb)
    RETURNS pgmosaic.item
    LANGUAGE plpgsql STABLE -- timestamptz input depends on TimeZone
    SET search_path FROM CURRENT
AS $$
DECLARE
    props pgmosaic.item;
    p jsonb := COALESCE(properties, '{}');
    k text;
    v jsonb;
    from_file constant text[] := ARRAY['mosaic_id', 'id', 'path', 'location', 'footprint',
        'srid', 'geotransform', 'width', 'height', 'band_count', 'data_type', 'nodata',
        'driver', 'file_size', 'file_mtime', 'registered', 'min_pixel_size', 'bands',
        'statistics', 'is_cog', 'block_width', 'block_height', 'overview_count', 'status'];
BEGIN
    IF jsonb_typeof(p) <> 'object' THEN
        RAISE EXCEPTION 'raster "%": properties must be a JSON object', ref
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    props.category := 'primary';
    props.attributes := '{}';
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(p) e LOOP
        CONTINUE WHEN v = 'null'::jsonb OR k = ANY (from_file) OR k = 'built_from';
        BEGIN
            CASE k
                WHEN 'priority' THEN props.priority := (v #>> '{}')::integer;
                WHEN 'publish_batch' THEN props.batch := v #>> '{}';
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
            RAISE EXCEPTION 'raster "%": property % = %: %', ref, k, v, SQLERRM
                USING ERRCODE = SQLSTATE;
        END;
    END LOOP;
    RETURN props;
END
$$;

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
    built_from text; -- an overview tile's sources: '{xmin,ymin,xmax,ymax}|digest'
    new_id bigint;
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
    props := pgmosaic._item_props(path, p);
    built_from := p ->> 'built_from';
    SELECT mo.id INTO mid FROM pgmosaic.mosaic mo WHERE mo.name = register_raster.mosaic;
    IF mid IS NULL THEN
        -- Loading into a new mosaic creates it, in the SRID of its first raster; a rotated one
        -- gives its pixel size as the resolution of the north-up grid.
        BEGIN
            mid := pgmosaic.create_mosaic(mosaic, (info ->> 'srid')::integer,
                CASE WHEN (info -> 'geotransform' ->> 2)::double precision <> 0
                       OR (info -> 'geotransform' ->> 4)::double precision <> 0
                     THEN sqrt(abs((info -> 'geotransform' ->> 1)::double precision
                                   * (info -> 'geotransform' ->> 5)::double precision
                                   - (info -> 'geotransform' ->> 2)::double precision
                                   * (info -> 'geotransform' ->> 4)::double precision)) END);
        EXCEPTION WHEN duplicate_object THEN
            -- Another loader created it meanwhile (its insert waited for it to commit): load
            -- into that one, if this role may see it.
            SELECT mo.id INTO mid FROM pgmosaic.mosaic mo WHERE mo.name = register_raster.mosaic;
            IF mid IS NULL THEN
                RAISE EXCEPTION 'mosaic "%" already exists and is not readable by the current role',
                    mosaic USING ERRCODE = 'duplicate_object';
            END IF;
        END;
    END IF;
    new_id := pgmosaic._store_item(mid, ref, info, props, on_duplicate, true);
    IF built_from IS NOT NULL AND props.category = 'overview' THEN
        -- Composed from other items than are under it now (a load committed meanwhile; this
        -- statement runs after _store_item took the mosaic's lock): stale, rebuilt next time.
        UPDATE pgmosaic.item i SET status = 'stale'
        WHERE i.mosaic_id = mid AND i.id = new_id
          AND split_part(built_from, '|', 2) IS DISTINCT FROM pgmosaic._overview_sources(
                  mid, split_part(built_from, '|', 1)::double precision[]);
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION pgmosaic.register_raster(text, text, jsonb, jsonb, text) IS
    'Registers a raster inspected elsewhere (the JSON of inspect_raster, e.g. made by the GDAL '
    'driver on the client: no backend file access is needed). properties set priority, '
    'cloud_cover, acquired (a range or an instant), category, overview_level, max_pixel_size, '
    'built_from (an overview tile''s _overview_sources) and attributes; other keys go into '
    'attributes, keys of columns read from the file are '
    'ignored. A raster already registered fails, is skipped (NULL) or is updated, as '
    'on_duplicate (fail, skip, update) says. A mosaic that does not exist is created in the '
    'raster''s SRID. Returns the item id.';

-- Registers many rasters inspected elsewhere in one statement: what register_raster does for
-- each, set-based (one lock of the mosaic, one INSERT, the extent, boundary, stale overview
-- tiles and dirty area once for all), in one transaction.
CREATE OR REPLACE FUNCTION pgmosaic.register_rasters(mosaic text, paths text[], infos jsonb[],
                                                     properties jsonb[] DEFAULT NULL,
                                                     on_duplicate text DEFAULT 'fail')
    RETURNS TABLE (path text, item_id bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
    SET jit = off -- PostGIS's costs make these queries look worth compiling
    SET work_mem = '64MB' -- the new rows sorted in memory
    -- Plans with the arrays as parameters: a plan for their values took each array (80 MB of
    -- inspections for 100,000 rasters) into the plan as a constant, copied several times over
    -- while planning: a third of a bulk registration's time.
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n integer := COALESCE(cardinality(paths), 0);
    first_k integer := 1;
    m pgmosaic.mosaic;
    new_ids bigint[];
    new_refs pgmosaic.pathref[];
    new_box box2d;
    new_area geometry;
    first_id bigint; -- the smallest id of this call's items
BEGIN
    IF on_duplicate IS NULL OR on_duplicate NOT IN ('fail', 'skip', 'update') THEN
        RAISE EXCEPTION 'invalid on_duplicate "%": use fail, skip or update', on_duplicate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n <> COALESCE(cardinality(infos), 0)
       OR (properties IS NOT NULL AND n <> cardinality(properties)) THEN
        RAISE EXCEPTION 'register_rasters: % paths, % infos and % properties: give as many of '
                        'each (properties may be NULL)', n, COALESCE(cardinality(infos), 0),
                        COALESCE(cardinality(properties)::text, 'no')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    -- The arrays are read by subscript, 1 to n: lists, of any bounds (as unnest() pairs them).
    IF array_ndims(paths) > 1 OR array_ndims(infos) > 1 OR array_ndims(properties) > 1 THEN
        RAISE EXCEPTION 'register_rasters: paths, infos and properties are one-dimensional arrays'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_lower(paths, 1) <> 1 THEN
        paths := paths[array_lower(paths, 1):array_upper(paths, 1)];
    END IF;
    IF array_lower(infos, 1) <> 1 THEN
        infos := infos[array_lower(infos, 1):array_upper(infos, 1)];
    END IF;
    IF array_lower(properties, 1) <> 1 THEN
        properties := properties[array_lower(properties, 1):array_upper(properties, 1)];
    END IF;
    -- A new mosaic, or one without a grid yet, gets it from its first raster, as
    -- register_raster does.
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = register_rasters.mosaic;
    IF m.id IS NULL OR m.res_x IS NULL OR m.origin_x IS NULL THEN
        path := paths[1];
        item_id := pgmosaic.register_raster(mosaic, paths[1], infos[1], properties[1],
                                            on_duplicate);
        RETURN NEXT;
        first_k := 2;
        IF n = 1 THEN
            RETURN;
        END IF;
    END IF;
    -- Lock the mosaic row: grid, extent and overview bookkeeping are serialised per mosaic.
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = register_rasters.mosaic FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = register_rasters.mosaic;
        IF FOUND THEN
            RAISE EXCEPTION 'permission denied to register rasters in mosaic "%": no write access',
                m.name USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'mosaic "%" does not exist', mosaic USING ERRCODE = 'undefined_object';
    END IF;

    -- One pass over the rasters, in the order given (later ones drawn above earlier ones), each
    -- row's columns computed in the query (what _item_from_info computes): a PL/pgSQL call per
    -- row for its inspection and its properties, and a pass over the arrays per check, took half
    -- of a bulk registration. A raster that is not an inspection or does not fit the mosaic gets
    -- no reference, which the insert refuses; on any error _bulk_refusal names the first raster
    -- at fault, as its checks did before anything was written (else the error stands: nothing
    -- is stored either way). Properties, when given, are read row by row (errors name the
    -- raster) and overview tiles refused: gdaladdo registers those one by one with their
    -- sources' digest. Rasters already registered are left for the end (refused by
    -- _bulk_refusal when on_duplicate is fail).
    -- A plain insert, not ON CONFLICT DO NOTHING: its speculative insertion (a lock, a check
    -- and a second write of every row) took 0.5 s per 100,000 rows. With on_duplicate fail, a
    -- raster already registered or given twice fails the insert and _bulk_refusal names it;
    -- with skip or update, those already registered are left out by their key and one given
    -- twice is refused the same way. No other transaction stores one meanwhile: every write of
    -- an item locks its mosaic's row for its foreign key (FOR KEY SHARE), which waits for the
    -- lock taken above, as that lock waited for the writes before it.
    BEGIN
        WITH rows AS (
            SELECT u.k,
                   CASE WHEN jsonb_typeof(u.info) = 'object'
                             AND u.info ?& ARRAY['srid', 'geotransform', 'width', 'height',
                                                 'band_count', 'data_type', 'footprint']
                             AND NOT COALESCE(m.band_count <> (u.info ->> 'band_count')::integer,
                                              false)
                             AND NOT COALESCE(m.data_type <> u.info ->> 'data_type', false)
                        THEN pgmosaic.pathref(u.p) END AS ref,
                   u.info, f.isrid, f.gt,
                   CASE WHEN f.isrid = m.srid THEN f.fp
                        ELSE ST_Transform(ST_Segmentize(f.fp,
                                 GREATEST(ST_XMax(f.fp) - ST_XMin(f.fp),
                                          ST_YMax(f.fp) - ST_YMin(f.fp)) / 16), m.srid) END
                       AS footprint,
                   pr.priority, pr.attributes, pr.acquired, pr.cloud_cover, pr.max_pixel_size,
                   pr.batch
            -- The arrays by subscript, in order of k alone: unnest() would copy every inspection
            -- into a tuple store, and the insert's ORDER BY sort them (to disk, at 100,000).
            FROM (SELECT g.k FROM generate_series(first_k, n) AS g (k) ORDER BY g.k) g
            CROSS JOIN LATERAL (SELECT g.k, paths[g.k] AS p, infos[g.k] AS info,
                                       properties[g.k] AS props) u
            CROSS JOIN LATERAL (SELECT u.info -> 'geotransform' OFFSET 0) j (gt)
            -- The geotransform's six numbers read one by one (a subquery over its elements for
            -- every raster took 0.2 to 0.5 s per 100,000 rasters, this 0.1 s); any other length
            -- as a whole, which the item's check then refuses.
            CROSS JOIN LATERAL (
                SELECT (u.info ->> 'srid')::integer,
                       ST_GeomFromText(COALESCE(NULLIF(u.info ->> 'valid_footprint', ''),
                                                u.info ->> 'footprint'),
                                       (u.info ->> 'srid')::integer),
                       CASE WHEN jsonb_typeof(j.gt) = 'array' AND jsonb_array_length(j.gt) = 6
                            THEN ARRAY[(j.gt ->> 0)::double precision,
                                       (j.gt ->> 1)::double precision,
                                       (j.gt ->> 2)::double precision,
                                       (j.gt ->> 3)::double precision,
                                       (j.gt ->> 4)::double precision,
                                       (j.gt ->> 5)::double precision]
                            ELSE ARRAY(SELECT jsonb_array_elements_text(j.gt)::double precision)
                            END
                OFFSET 0) f (isrid, fp, gt)
            -- (Not called at all without properties: a one-time filter, kept by OFFSET 0.)
            LEFT JOIN LATERAL (
                SELECT ip.* FROM pgmosaic._item_props(u.p, u.props) ip
                WHERE u.props IS NOT NULL AND pgmosaic._bulk_props_ok(u.p, ip)
                OFFSET 0) pr ON true
        ), inserted AS (
            INSERT INTO pgmosaic.item AS i (mosaic_id, path, footprint, srid, geotransform,
                                            width, height, band_count, data_type, nodata,
                                            driver, file_size, file_mtime, priority,
                                            attributes, acquired, cloud_cover, category,
                                            overview_level, min_pixel_size, max_pixel_size,
                                            bands, statistics, is_cog, block_width,
                                            block_height, overview_count, status, batch)
            SELECT m.id, r.ref, r.footprint, r.isrid, r.gt, (r.info ->> 'width')::integer,
                   (r.info ->> 'height')::integer, (r.info ->> 'band_count')::integer,
                   r.info ->> 'data_type', (r.info -> 'bands' -> 0 ->> 'nodata')::double precision,
                   r.info ->> 'driver', (r.info ->> 'file_size')::bigint,
                   to_timestamp((r.info ->> 'mtime')::double precision),
                   COALESCE(r.priority, 0), COALESCE(r.attributes, '{}'), r.acquired,
                   r.cloud_cover, 'primary', NULL,
                   CASE WHEN r.isrid = m.srid
                        THEN sqrt(abs(r.gt[2] * r.gt[6] - r.gt[3] * r.gt[5]))
                        ELSE sqrt(ST_Area(ST_Transform(ST_GeomFromText(r.info ->> 'footprint',
                                                                       r.isrid), m.srid))
                                  / ((r.info ->> 'width')::integer::double precision
                                     * (r.info ->> 'height')::integer)) END,
                   r.max_pixel_size, r.info -> 'bands',
                   CASE WHEN jsonb_typeof(r.info -> 'statistics') = 'array'
                        THEN r.info -> 'statistics' END,
                   (r.info ->> 'is_cog')::boolean, (r.info ->> 'block_width')::integer,
                   (r.info ->> 'block_height')::integer, (r.info ->> 'overview_count')::integer,
                   'ok', r.batch
            FROM rows r
            -- Rasters already registered are left out with skip or update (skipped or updated
            -- at the end, as on_duplicate says).
            WHERE on_duplicate = 'fail'
               OR NOT EXISTS (SELECT 1 FROM pgmosaic.item x
                              WHERE x.mosaic_id = m.id AND x.path = r.ref)
            ORDER BY r.k
            RETURNING i.id, i.path, i.footprint
        )
        SELECT array_agg(ins.id ORDER BY ins.id), array_agg(ins.path ORDER BY ins.id),
               ST_Extent(ins.footprint),
               pgmosaic._union_footprints(array_agg(ins.footprint)), min(ins.id)
        FROM inserted ins
        INTO new_ids, new_refs, new_box, new_area, first_id;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pgmosaic._bulk_refusal(m, paths, infos, first_k, on_duplicate);
        RAISE;
    END;
    -- Fewer stored than given (already registered, or given twice): refused if given twice.
    IF COALESCE(cardinality(new_ids), 0) < n - first_k + 1 THEN
        PERFORM pgmosaic._bulk_refusal(m, paths, infos, first_k, on_duplicate);
    END IF;

    IF new_ids IS NOT NULL THEN
        -- DRAD tiles, remote records and themes, for the rasters whose inspection has them
        -- (or when the mosaic has theme rules).
        -- (By subscript, as above: unnest() would copy every inspection into a tuple store.)
        IF EXISTS (SELECT 1 FROM generate_series(first_k, n) AS g (k)
                   WHERE infos[g.k] ?| ARRAY['tiles', 'remote_header', 'themes'])
           OR EXISTS (SELECT 1 FROM pgmosaic.theme_rule tr WHERE tr.mosaic_id = m.id) THEN
            PERFORM pgmosaic._store_abstractions(m.id, i.id, u.info,
                                                 pgmosaic._resolve_or_null(i.path))
            FROM pgmosaic.item i
            JOIN unnest(paths, infos) WITH ORDINALITY u (p, info, k)
              ON i.path = pgmosaic.pathref(u.p) AND u.k >= first_k
            WHERE i.mosaic_id = m.id AND i.id >= first_id
              AND i.id IN (SELECT unnest(new_ids));
        END IF;
        -- Mosaic-wide overview tiles over the new items are out of date.
        IF pgmosaic._has_overviews(m.id) THEN
            PERFORM pgmosaic._stale_overviews(m.id, new_area);
        END IF;
        -- The extent and boundary grown by the new items (what _grow_extent does, from the
        -- rows just inserted rather than read again).
        PERFORM pgmosaic._set_extent(m.id, new_box, new_area, true);
    END IF;

    -- All stored: their ids, in the order given (the insert took them in that order).
    IF COALESCE(cardinality(new_ids), 0) = n - first_k + 1 THEN
        RETURN QUERY SELECT paths[g.k], new_ids[g.k - first_k + 1]
                     FROM generate_series(first_k, n) AS g (k) ORDER BY g.k;
        RETURN;
    END IF;
    -- Those already registered: skipped (no id), or updated one by one.
    RETURN QUERY
    SELECT u.p, COALESCE(nw.id, CASE WHEN on_duplicate = 'update'
                                     THEN pgmosaic._store_item(m.id, pgmosaic.pathref(u.p),
                                                               u.info,
                                                               pgmosaic._item_props(u.p, u.pr),
                                                               'update', true) END)
    FROM unnest(paths, infos, properties) WITH ORDINALITY u (p, info, pr, k)
    LEFT JOIN unnest(new_refs, new_ids) nw (ref, id) ON nw.ref = pgmosaic.pathref(u.p)
    WHERE u.k >= first_k
    ORDER BY u.k;
END
$$;
COMMENT ON FUNCTION pgmosaic.register_rasters(text, text[], jsonb[], jsonb[], text) IS
    'Registers many rasters inspected elsewhere (paths with their inspect_raster JSON and, '
    'optionally, properties as register_raster takes them) in one statement: the bulk path, '
    'e.g. SELECT * FROM register_rasters(''ortho'', (SELECT array_agg(path ORDER BY n) FROM '
    'staging), (SELECT array_agg(info ORDER BY n) FROM staging)). Every raster is checked '
    'before any is stored (an error names the first at fault); overview tiles are refused '
    '(register_raster registers them). A raster already registered fails, is skipped (no id) '
    'or is updated, as on_duplicate says; a missing mosaic is created as register_raster does. '
    'Returns each path with its item id, in the order given.';

-- Refuses what register_rasters does not take (an overview tile) and properties that make no
-- sense, naming the raster; true otherwise.
CREATE OR REPLACE FUNCTION pgmosaic._bulk_props_ok(path text, props pgmosaic.item)
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF props.category IS DISTINCT FROM 'primary' THEN
        RAISE EXCEPTION 'raster "%": register_rasters registers primary items only (register '
                        'overview tiles with register_raster)', path
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pgmosaic._check_item_props(path, props);
    RETURN true;
END
$$;

-- Why register_rasters refuses rasters, raised naming the first at fault (in this order: not an
-- inspection, not fitting the mosaic, given twice, already registered when on_duplicate is
-- fail); nothing when none of these applies. register_rasters runs it when its insert failed or
-- stored fewer rasters than given.
CREATE OR REPLACE FUNCTION pgmosaic._bulk_refusal(m pgmosaic.mosaic, paths text[], infos jsonb[],
                                                  first_k integer, on_duplicate text)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
AS $$
DECLARE
    bad record;
BEGIN
    SELECT u.p, u.k INTO bad
    FROM unnest(paths, infos) WITH ORDINALITY u (p, info, k)
    WHERE u.k >= first_k
      AND (u.p IS NULL OR u.info IS NULL OR jsonb_typeof(u.info) <> 'object'
           OR NOT u.info ?& ARRAY['srid', 'geotransform', 'width', 'height', 'band_count',
                                  'data_type', 'footprint'])
    ORDER BY u.k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'raster "%" (element %): info is not the JSON of an inspection (see '
                        'inspect_raster)', bad.p, bad.k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pgmosaic._misfit(m, u.p, u.info) AS misfit INTO bad
    FROM unnest(paths, infos) WITH ORDINALITY u (p, info, k)
    WHERE u.k >= first_k AND pgmosaic._misfit(m, u.p, u.info) IS NOT NULL
    ORDER BY u.k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', bad.misfit USING ERRCODE = 'data_exception';
    END IF;
    SELECT min(u.p) AS p INTO bad
    FROM unnest(paths) WITH ORDINALITY u (p, k)
    WHERE u.k >= first_k
    GROUP BY pgmosaic.pathref(u.p) HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'raster "%" is given twice', bad.p USING ERRCODE = 'unique_violation';
    END IF;
    IF on_duplicate = 'fail' THEN
        SELECT u.p INTO bad
        FROM unnest(paths) WITH ORDINALITY u (p, k)
        JOIN pgmosaic.item i ON i.mosaic_id = m.id AND i.path = pgmosaic.pathref(u.p)
        WHERE u.k >= first_k
        ORDER BY u.k LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'raster "%" is already registered in mosaic "%"', bad.p, m.name
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
END
$$;

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
