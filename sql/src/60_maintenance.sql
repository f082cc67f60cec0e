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
    -- An item made of several files goes with any of its files.
    PERFORM pgmosaic._stale_overviews(m.id, (
        SELECT pgmosaic._union_footprints(array_agg(i.footprint))
        FROM pgmosaic.item i
        WHERE pgmosaic._has_overviews(m.id) AND i.mosaic_id = m.id AND i.category = 'primary'
          AND (i.path = ANY (refs) OR i.id IN (SELECT x.item_id FROM pgmosaic.asset x
                                               WHERE x.mosaic_id = m.id
                                                 AND x.path = ANY (refs)))));
    DELETE FROM pgmosaic.item i
    WHERE i.mosaic_id = m.id
      AND (i.path = ANY (refs) OR i.id IN (SELECT x.item_id FROM pgmosaic.asset x
                                           WHERE x.mosaic_id = m.id AND x.path = ANY (refs)));
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 THEN
        PERFORM pgmosaic._refresh_extent(m.id);
    END IF;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION pgmosaic.remove_rasters(text, text[]) IS
    'Removes items by path (not the files) and recomputes the extent and boundary; an item made '
    'of several files goes with any of its files. Returns how many items were removed.';

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
    assets_changed bigint;
BEGIN
    -- A prefix is a reference (normalised), or a bare root "@name".
    old_p := CASE WHEN old_prefix ~ '^@[A-Za-z0-9_-]+/*$' THEN rtrim(old_prefix, '/')
                  ELSE rtrim(pgmosaic.pathref(old_prefix)::text, '/') END;
    new_p := CASE WHEN new_prefix ~ '^@[A-Za-z0-9_-]+/*$' THEN rtrim(new_prefix, '/')
                  ELSE rtrim(pgmosaic.pathref(new_prefix)::text, '/') END;
    -- Re-pointed items may show other pixels: the overview tiles over them are stale.
    PERFORM pgmosaic._stale_overviews(m.id, (
        SELECT pgmosaic._union_footprints(array_agg(i.footprint))
        FROM pgmosaic.item i
        WHERE pgmosaic._has_overviews(m.id) AND i.mosaic_id = m.id AND i.category = 'primary'
          AND ((i.path::text = old_p OR starts_with(i.path::text, old_p || '/'))
               OR i.id IN (SELECT x.item_id FROM pgmosaic.asset x WHERE x.mosaic_id = m.id
                             AND (x.path::text = old_p
                                  OR starts_with(x.path::text, old_p || '/'))))));
    UPDATE pgmosaic.item i
    SET path = pgmosaic.pathref(new_p || substr(i.path::text, length(old_p) + 1))
    WHERE i.mosaic_id = m.id
      AND (i.path::text = old_p OR starts_with(i.path::text, old_p || '/'))
      AND NOT EXISTS (SELECT 1 FROM pgmosaic.asset x
                      WHERE x.mosaic_id = m.id AND x.item_id = i.id);
    GET DIAGNOSTICS changed = ROW_COUNT;
    -- The files of items made of several files, each counted (and the item's own reference to
    -- its reference file, not counted again).
    UPDATE pgmosaic.asset x
    SET path = pgmosaic.pathref(new_p || substr(x.path::text, length(old_p) + 1))
    WHERE x.mosaic_id = m.id
      AND (x.path::text = old_p OR starts_with(x.path::text, old_p || '/'));
    GET DIAGNOSTICS assets_changed = ROW_COUNT;
    IF assets_changed > 0 THEN
        UPDATE pgmosaic.item i
        SET path = pgmosaic.pathref(new_p || substr(i.path::text, length(old_p) + 1))
        WHERE i.mosaic_id = m.id
          AND (i.path::text = old_p OR starts_with(i.path::text, old_p || '/'))
          AND EXISTS (SELECT 1 FROM pgmosaic.asset x
                      WHERE x.mosaic_id = m.id AND x.item_id = i.id);
    END IF;
    RETURN changed + assets_changed;
END
$$;
COMMENT ON FUNCTION pgmosaic.repair_paths(text, text, text) IS
    'Rewrites the item references of a mosaic that start with old_prefix (at a "/" boundary) to '
    'start with new_prefix instead — for references not under a path root (moving a root is one '
    'UPDATE of pgmosaic.path_root); a prefix may be a bare root such as @nas1. The files of '
    'items made of several files are rewritten too. Returns how many references changed.';

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
    -- The files: items of one file, and the assets of items made of several.
    RETURN QUERY
    WITH it AS MATERIALIZED (
        SELECT i.id, i.path, NULL::text AS asset, i.category, i.status, i.file_size,
               i.file_mtime, i.is_cog, i.driver, i.block_width, i.width, i.overview_count,
               i.band_count, i.data_type, i.footprint,
               pgmosaic._resolve_or_null(i.path) AS resolved
        FROM pgmosaic.item i
        WHERE i.mosaic_id = m.id
          AND NOT EXISTS (SELECT 1 FROM pgmosaic.asset x
                          WHERE x.mosaic_id = m.id AND x.item_id = i.id)
        UNION ALL
        SELECT x.item_id, x.path, x.name, 'primary', x.status, x.file_size, x.file_mtime,
               x.is_cog, x.driver, x.block_width, x.width, x.overview_count, NULL::integer,
               NULL::text, x.footprint, pgmosaic._resolve_or_null(x.path)
        FROM pgmosaic.asset x
        WHERE x.mosaic_id = m.id
    ), st AS MATERIALIZED (
        SELECT it.*, s.state, s.size, s.mtime, s.detail AS stat_detail,
               CASE WHEN deep AND s.state = 'present'
                    THEN pgmosaic.try_inspect_raster(it.resolved) END AS info
        FROM it LEFT JOIN LATERAL pgmosaic.stat_raster(it.resolved) s ON true
    ), problems AS (
        SELECT st.id, st.path, st.asset, 'unknown_root' AS problem,
               format('path root "%s" is not in pgmosaic.path_root',
                      pgmosaic.pathref_root(st.path)) AS detail
        FROM st WHERE st.resolved IS NULL
        UNION ALL
        SELECT st.id, st.path, st.asset, st.state, st.stat_detail
        FROM st WHERE st.state IN ('missing', 'denied')
        UNION ALL
        SELECT st.id, st.path, st.asset, 'stale',
               concat_ws('; ',
                   CASE WHEN st.size IS DISTINCT FROM st.file_size
                        THEN format('size %s -> %s', st.file_size, st.size) END,
                   CASE WHEN st.mtime IS DISTINCT FROM st.file_mtime
                        THEN format('modified %s -> %s', st.file_mtime, st.mtime) END)
        FROM st
        WHERE st.state = 'present'
          AND (st.size IS DISTINCT FROM st.file_size OR st.mtime IS DISTINCT FROM st.file_mtime)
        UNION ALL
        SELECT st.id, st.path, st.asset, 'unreadable',
               CASE WHEN deep THEN st.info ->> 'error'
                    ELSE 'the last sync could not read it' END
        FROM st
        WHERE (deep AND st.info ? 'error') OR (NOT deep AND st.status = 'unreadable')
        UNION ALL
        SELECT st.id, st.path, st.asset, 'not_cog',
               format('%s file, %s, %s overviews',
                      COALESCE(st.info ->> 'driver', st.driver),
                      CASE WHEN COALESCE((st.info ->> 'block_width')::integer, st.block_width)
                                < COALESCE((st.info ->> 'width')::integer, st.width)
                           THEN 'tiled' ELSE 'not tiled' END,
                      COALESCE((st.info ->> 'overview_count')::integer, st.overview_count))
        FROM st
        WHERE COALESCE((st.info ->> 'is_cog')::boolean, st.is_cog) IS FALSE
        UNION ALL
        SELECT st.id, st.path, st.asset, 'band_mismatch',
               format('%s bands, mosaic "%s" has %s',
                      COALESCE((st.info ->> 'band_count')::integer, st.band_count),
                      m.name, m.band_count)
        FROM st
        WHERE st.asset IS NULL
          AND COALESCE((st.info ->> 'band_count')::integer, st.band_count) <> m.band_count
        UNION ALL
        SELECT st.id, st.path, st.asset, 'type_mismatch',
               format('type %s, mosaic "%s" is of type %s',
                      COALESCE(st.info ->> 'data_type', st.data_type), m.name, m.data_type)
        FROM st
        WHERE st.asset IS NULL
          AND COALESCE(st.info ->> 'data_type', st.data_type) <> m.data_type
        UNION ALL
        SELECT st.id, st.path, st.asset, 'outside_extent',
               format('footprint %s is not within the mosaic extent %s',
                      ST_AsText(ST_Envelope(st.footprint))::text,
                      ST_AsText(ST_MakeEnvelope(m.min_x, m.min_y, m.max_x, m.max_y))::text)
        FROM st
        WHERE st.category = 'primary' AND m.min_x IS NOT NULL
          AND NOT ST_CoveredBy(st.footprint,
                               ST_MakeEnvelope(m.min_x, m.min_y, m.max_x, m.max_y, m.srid))
        UNION ALL
        SELECT st.id, st.path, st.asset, 'invalid_footprint', ST_IsValidReason(st.footprint)
        FROM st
        WHERE ST_IsEmpty(st.footprint) OR NOT ST_IsValid(st.footprint)
        UNION ALL
        SELECT d.id, d.path, d.asset, 'duplicate',
               format('same file as item %s (%s)', d.first_id, d.resolved)
        FROM (SELECT st.id, st.path, st.asset, st.resolved,
                     first_value(st.id) OVER (PARTITION BY st.resolved ORDER BY st.id) AS first_id
              FROM st WHERE st.resolved IS NOT NULL) d
        WHERE d.id <> d.first_id
    )
    SELECT p.id, p.path, p.problem,
           CASE WHEN p.asset IS NULL THEN p.detail
                ELSE concat('asset ', p.asset, ': ', p.detail) END
    FROM problems p ORDER BY p.id, p.asset NULLS FIRST, p.problem;
END
$$;
COMMENT ON FUNCTION pgmosaic.check(text, boolean) IS
    'One row per problem of a mosaic''s items: unknown_root, missing, denied (refused by the file '
    'access settings), stale (size or mtime changed), unreadable, not_cog, band_mismatch, '
    'type_mismatch, outside_extent, invalid_footprint, duplicate (same file as another item). '
    'deep re-opens every file; otherwise unreadable and not_cog come from the catalog. Items made '
    'of several files are checked file by file (the detail names the asset).';

-- sync() of the files of items made of several files: each asset's file is stat'ed, marked
-- missing or unreadable, or re-inspected when changed (its record, and the item's when it is
-- the item's reference file); each such item then takes the worst status of its files.
CREATE OR REPLACE FUNCTION pgmosaic._sync_assets(m pgmosaic.mosaic, dry_run boolean)
    RETURNS TABLE (item_id bigint, path pgmosaic.pathref, action text, detail text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
    r record;
    s record;
    info jsonb;
    it pgmosaic.item;
    problem text;
    changes text[];
    ids bigint[] := '{}';
BEGIN
    FOR r IN SELECT x.*, pgmosaic._resolve_or_null(x.path) AS resolved
             FROM pgmosaic.asset x WHERE x.mosaic_id = m.id ORDER BY x.item_id, x.name
    LOOP
        item_id := r.item_id;
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
                    UPDATE pgmosaic.asset x SET status = 'missing'
                    WHERE x.mosaic_id = m.id AND x.item_id = r.item_id AND x.name = r.name;
                END IF;
            END IF;
        ELSIF s.size IS NOT DISTINCT FROM r.file_size AND s.mtime IS NOT DISTINCT FROM r.file_mtime
              AND r.status IN ('ok', 'missing') THEN
            IF r.status = 'missing' THEN
                action := 'recovered';
                detail := 'the file is back, unchanged';
                IF NOT dry_run THEN
                    UPDATE pgmosaic.asset x SET status = 'ok'
                    WHERE x.mosaic_id = m.id AND x.item_id = r.item_id AND x.name = r.name;
                END IF;
            END IF;
        ELSE
            info := pgmosaic.try_inspect_raster(r.resolved, 'cheap');
            problem := CASE WHEN info ? 'error' THEN info ->> 'error'
                            WHEN m.data_type IS NOT NULL AND EXISTS (
                                SELECT 1 FROM jsonb_array_elements(info -> 'bands') b
                                WHERE pgmosaic._type_union(m.data_type, b ->> 'data_type')
                                      <> m.data_type)
                            THEN format('bands of type %s, mosaic "%s" is of type %s',
                                        info ->> 'data_type', m.name, m.data_type) END;
            IF problem IS NOT NULL THEN
                IF r.status <> 'unreadable' OR r.file_size IS DISTINCT FROM s.size
                   OR r.file_mtime IS DISTINCT FROM s.mtime THEN
                    action := 'mark_unreadable';
                    detail := problem;
                    IF NOT dry_run THEN
                        UPDATE pgmosaic.asset x SET status = 'unreadable', file_size = s.size,
                            file_mtime = s.mtime
                        WHERE x.mosaic_id = m.id AND x.item_id = r.item_id AND x.name = r.name;
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
                IF r.status <> 'ok' THEN
                    changes := changes || format('status %s -> ok', r.status);
                END IF;
                action := 'update';
                detail := array_to_string(changes, '; ');
                IF NOT dry_run THEN
                    UPDATE pgmosaic.asset x
                    SET footprint = it.footprint, srid = it.srid, geotransform = it.geotransform,
                        width = it.width, height = it.height, band_count = it.band_count,
                        data_type = it.data_type, nodata = it.nodata, driver = it.driver,
                        file_size = it.file_size, file_mtime = it.file_mtime,
                        min_pixel_size = it.min_pixel_size, band_info = it.bands,
                        statistics = COALESCE(it.statistics, x.statistics), is_cog = it.is_cog,
                        block_width = it.block_width, block_height = it.block_height,
                        overview_count = it.overview_count, status = 'ok'
                    WHERE x.mosaic_id = m.id AND x.item_id = r.item_id AND x.name = r.name;
                    -- The item's reference file: the item's file facts too.
                    UPDATE pgmosaic.item i
                    SET srid = it.srid, geotransform = it.geotransform, width = it.width,
                        height = it.height, driver = it.driver, file_size = it.file_size,
                        file_mtime = it.file_mtime, is_cog = it.is_cog,
                        block_width = it.block_width, block_height = it.block_height,
                        overview_count = it.overview_count
                    WHERE i.mosaic_id = m.id AND i.id = r.item_id AND i.path = r.path;
                    UPDATE pgmosaic.item i
                    SET footprint = (SELECT ST_Union(x.footprint) FROM pgmosaic.asset x
                                     WHERE x.mosaic_id = m.id AND x.item_id = r.item_id),
                        min_pixel_size = (SELECT min(x.min_pixel_size) FROM pgmosaic.asset x
                                          WHERE x.mosaic_id = m.id AND x.item_id = r.item_id)
                    WHERE i.mosaic_id = m.id AND i.id = r.item_id;
                END IF;
            END IF;
        END IF;
        IF action IS NOT NULL THEN
            ids := ids || r.item_id;
            detail := concat('asset ', r.name, ': ', detail);
            RETURN NEXT;
        END IF;
    END LOOP;
    IF NOT dry_run AND cardinality(ids) > 0 THEN
        UPDATE pgmosaic.item i
        SET status = (SELECT CASE WHEN bool_or(x.status = 'missing') THEN 'missing'
                                  WHEN bool_or(x.status = 'unreadable') THEN 'unreadable'
                                  WHEN bool_or(x.status = 'stale') THEN 'stale'
                                  ELSE 'ok' END
                      FROM pgmosaic.asset x WHERE x.mosaic_id = m.id AND x.item_id = i.id)
        WHERE i.mosaic_id = m.id AND i.id = ANY (ids);
    END IF;
END
$$;

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
             FROM pgmosaic.item i
             WHERE i.mosaic_id = m.id
               AND NOT EXISTS (SELECT 1 FROM pgmosaic.asset x
                               WHERE x.mosaic_id = m.id AND x.item_id = i.id)
             ORDER BY i.id
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
    -- The files of items made of several files.
    FOR item_id, path, action, detail IN SELECT * FROM pgmosaic._sync_assets(m, dry_run) LOOP
        footprints_changed := footprints_changed OR action = 'update';
        IF action IN ('update', 'mark_unreadable') THEN
            changed_areas := changed_areas || (SELECT i.footprint FROM pgmosaic.item i
                                               WHERE i.mosaic_id = m.id AND i.id = item_id
                                                 AND i.category = 'primary');
        END IF;
        RETURN NEXT;
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
    'items it re-read are marked stale. dry_run reports without changing. Items made of several '
    'files are synced file by file (the detail names the asset), the item taking the worst '
    'status of its files.';
