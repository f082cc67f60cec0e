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
    changed_areas geometry[] := '{}'; -- footprints (old and new) of primary items re-read
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
                    IF r.category = 'primary' THEN
                        changed_areas := changed_areas || r.footprint;
                    END IF;
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
                IF r.category = 'primary' THEN
                    changed_areas := changed_areas || r.footprint || it.footprint;
                END IF;
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
    -- A file changed in place shows other pixels: the mosaic-wide overview tiles over it are
    -- stale (reads leave them out, the next gdaladdo rebuilds them).
    IF cardinality(changed_areas) > 0 AND NOT dry_run THEN
        PERFORM pgmosaic._stale_overviews(m.id, ST_Union(changed_areas));
    END IF;
END
$$;
COMMENT ON FUNCTION pgmosaic.sync(text, boolean) IS
    'Brings a mosaic''s items up to date with their files: marks missing and unreadable items, '
    're-inspects changed (stale) ones and recovered ones, and reports one row per change '
    '(mark_missing, recovered, mark_unreadable, update); the mosaic-wide overview tiles over '
    'items it re-read are marked stale. dry_run reports without changing.';
