--------------------------------------------------------------------------------------------
-- Security: every row-level security policy and every privilege of the extension, in one
-- place. Re-runnable: an upgrade runs this file again and ends with exactly these policies
-- and privileges, whatever the older version had.
--
-- A role reads the mosaics it owns (or whose owner role it has the privileges of) and those
-- granted to it or to PUBLIC; it writes those it owns or was granted write on (can_write);
-- pgmosaic_admin reads and writes every mosaic. The rows of every other table follow their
-- mosaic: readable when it is readable, written only when it is writable. Superusers and the
-- owner of the tables (the role that created the extension) are not subject to policies.
--
-- Policy expressions are parsed once, here, with the extension's search_path; the functions
-- they call have a fixed search_path (the security regression test checks every function).
--------------------------------------------------------------------------------------------

-- Whether the current role may write a mosaic: admin, owner, or a write grant.
CREATE OR REPLACE FUNCTION pgmosaic.can_write(mosaic_id integer) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    -- Operators qualified, as in is_owner().
    SELECT pgmosaic.is_admin()
        OR EXISTS (SELECT 1 FROM pgmosaic.mosaic m
                   WHERE m.id OPERATOR(pg_catalog.=) can_write.mosaic_id
                     AND pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'USAGE'))
        OR EXISTS (SELECT 1 FROM pgmosaic.mosaic_grant g
                   WHERE g.mosaic_id OPERATOR(pg_catalog.=) can_write.mosaic_id
                     AND g.privilege OPERATOR(pg_catalog.=) 'write'::pg_catalog.text
                     AND (g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                          OR pg_catalog.pg_has_role(g.grantee::pg_catalog.oid, 'USAGE')))
$$;
COMMENT ON FUNCTION pgmosaic.can_write(integer) IS
    'Whether the current role may write a mosaic (its items, tiles, themes and rules): '
    'pgmosaic_admin, the owner''s privileges, or a write grant to it or to PUBLIC.';

ALTER TABLE pgmosaic.mosaic ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.item ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.mosaic_grant ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.tile ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.item_remote ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.theme_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.theme ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.asset ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.item_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.asset_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgmosaic.dirty_area ENABLE ROW LEVEL SECURITY;

-- Mosaics. (SELECT pgmosaic.is_admin()): evaluated once per query, not per row.
DROP POLICY IF EXISTS mosaic_read ON pgmosaic.mosaic;
CREATE POLICY mosaic_read ON pgmosaic.mosaic FOR SELECT
    USING ((SELECT pgmosaic.is_admin())
           OR pg_catalog.pg_has_role(owner::oid, 'USAGE')
           OR id IN (SELECT g.mosaic_id FROM pgmosaic.mosaic_grant g
                     WHERE g.grantee::oid = 0 OR pg_catalog.pg_has_role(g.grantee::oid, 'USAGE')));
DROP POLICY IF EXISTS mosaic_insert ON pgmosaic.mosaic;
CREATE POLICY mosaic_insert ON pgmosaic.mosaic FOR INSERT
    WITH CHECK ((SELECT pgmosaic.is_admin()) OR pg_catalog.pg_has_role(owner::oid, 'USAGE'));
DROP POLICY IF EXISTS mosaic_update ON pgmosaic.mosaic;
CREATE POLICY mosaic_update ON pgmosaic.mosaic FOR UPDATE
    USING (pgmosaic.can_write(id));
DROP POLICY IF EXISTS mosaic_delete ON pgmosaic.mosaic;
CREATE POLICY mosaic_delete ON pgmosaic.mosaic FOR DELETE
    USING ((SELECT pgmosaic.is_admin()) OR pg_catalog.pg_has_role(owner::oid, 'USAGE'));

-- Grants are visible to every reader (as table privileges are in pg_class); only a mosaic's
-- owner or an admin changes them.
DROP POLICY IF EXISTS grant_read ON pgmosaic.mosaic_grant;
CREATE POLICY grant_read ON pgmosaic.mosaic_grant FOR SELECT USING (true);
DROP POLICY IF EXISTS grant_insert ON pgmosaic.mosaic_grant;
CREATE POLICY grant_insert ON pgmosaic.mosaic_grant FOR INSERT
    WITH CHECK ((SELECT pgmosaic.is_admin()) OR pgmosaic.is_owner(mosaic_id));
DROP POLICY IF EXISTS grant_delete ON pgmosaic.mosaic_grant;
CREATE POLICY grant_delete ON pgmosaic.mosaic_grant FOR DELETE
    USING ((SELECT pgmosaic.is_admin()) OR pgmosaic.is_owner(mosaic_id));

-- The rows of a mosaic (items, their assets and remote records, DRAD tiles, themes, theme
-- rules): read with the mosaic, written
-- only with write access to it. Separate policies per command rather than one FOR ALL: a
-- SELECT evaluates the read policy only, and a read grant never lets a row be changed. The
-- mosaics a query may write are found once per query (a hashed subplan over mosaic).
DO $policies$
DECLARE
    t text;
    writable constant text :=
        'mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m WHERE pgmosaic.can_write(m.id))';
BEGIN
    FOREACH t IN ARRAY ARRAY['item', 'item_remote', 'tile', 'theme', 'theme_rule', 'dirty_area',
                             'asset', 'item_history', 'asset_version'] LOOP
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON pgmosaic.%I', t || '_access', t);
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON pgmosaic.%I', t || '_read', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY %I ON pgmosaic.%I FOR SELECT '
            'USING (mosaic_id IN (SELECT m.id FROM pgmosaic.mosaic m))', t || '_read', t);
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON pgmosaic.%I', t || '_insert', t);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON pgmosaic.%I FOR INSERT WITH CHECK (%s)',
                                  t || '_insert', t, writable);
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON pgmosaic.%I', t || '_update', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY %I ON pgmosaic.%I FOR UPDATE USING (%s) WITH CHECK (%s)',
            t || '_update', t, writable, writable);
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON pgmosaic.%I', t || '_delete', t);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON pgmosaic.%I FOR DELETE USING (%s)',
                                  t || '_delete', t, writable);
    END LOOP;
END
$policies$;

--------------------------------------------------------------------------------------------
-- Privileges: pgmosaic_reader < pgmosaic_writer < pgmosaic_admin (each a member of the one
-- before). Everything is revoked first, then granted as listed here.
--------------------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA pgmosaic
    FROM PUBLIC, pgmosaic_reader, pgmosaic_writer, pgmosaic_admin;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgmosaic
    FROM PUBLIC, pgmosaic_reader, pgmosaic_writer, pgmosaic_admin;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgmosaic
    FROM PUBLIC, pgmosaic_reader, pgmosaic_writer, pgmosaic_admin;

GRANT USAGE ON SCHEMA pgmosaic TO pgmosaic_reader;

-- Tables: readers select (rows under the policies above), writers change the rows of the
-- mosaics they may write; path roots (where every item of a root points) are the admins'.
GRANT SELECT ON pgmosaic.mosaic, pgmosaic.item, pgmosaic.path_root, pgmosaic.mosaic_grant,
                pgmosaic.tile, pgmosaic.theme_rule, pgmosaic.theme, pgmosaic.item_remote,
                pgmosaic.path_root_option, pgmosaic.dirty_area, pgmosaic.asset,
                pgmosaic.item_history, pgmosaic.item_version, pgmosaic.asset_version
    TO pgmosaic_reader;
-- Writers insert mosaics without choosing their id: a chosen id could squat the next one of
-- the sequence and make another role's create_mosaic fail.
GRANT INSERT (name, srid, res_x, res_y, min_x, min_y, max_x, max_y, band_count, data_type,
              nodata, created, origin_x, origin_y, tile_size, band_descriptions, color_interp,
              default_sort, default_method, boundary, owner, title, abstract, purpose, keywords,
              place_keywords, source_date, begin_date, end_date, publication_date, constraints,
              contact, metadata, band_sources, mask, virtual_bands)
    ON pgmosaic.mosaic TO pgmosaic_writer;
GRANT DELETE ON pgmosaic.mosaic TO pgmosaic_writer;
GRANT INSERT, DELETE ON pgmosaic.mosaic_grant TO pgmosaic_writer;
-- Items: every column but `changed`, the start of the row's version, which the catalog sets
-- (a writer could otherwise back-date what asof= reads show).
GRANT INSERT (mosaic_id, id, path, footprint, srid, geotransform, width, height, band_count,
              data_type, nodata, driver, file_size, file_mtime, priority, attributes,
              registered, acquired, cloud_cover, category, overview_level, min_pixel_size,
              max_pixel_size, bands, statistics, is_cog, block_width, block_height,
              overview_count, status, batch),
      UPDATE (mosaic_id, id, path, footprint, srid, geotransform, width, height, band_count,
              data_type, nodata, driver, file_size, file_mtime, priority, attributes,
              registered, acquired, cloud_cover, category, overview_level, min_pixel_size,
              max_pixel_size, bands, statistics, is_cog, block_width, block_height,
              overview_count, status, batch),
      DELETE
    ON pgmosaic.item TO pgmosaic_writer;
GRANT INSERT, UPDATE, DELETE ON pgmosaic.tile, pgmosaic.theme_rule, pgmosaic.theme,
                                pgmosaic.item_remote, pgmosaic.asset
    TO pgmosaic_writer;
-- Versions (item_history, asset_version) are written by their triggers alone, as the
-- extension's owner (47_versions.sql): no writer rewrites a mosaic's history.
GRANT UPDATE (name, srid, res_x, res_y, min_x, min_y, max_x, max_y, band_count, data_type,
              nodata, origin_x, origin_y, tile_size, band_descriptions, color_interp,
              default_sort, default_method, boundary, title, abstract, purpose, keywords,
              place_keywords, source_date, begin_date, end_date, publication_date, constraints,
              contact, metadata, band_sources, mask, virtual_bands)
    ON pgmosaic.mosaic TO pgmosaic_writer;
-- Dirty areas are inserted by the catalog's triggers as the role changing the items (under
-- the write policy), never updated; writers of a mosaic may delete its old ones.
GRANT INSERT (mosaic_id, area, items, reason), DELETE ON pgmosaic.dirty_area TO pgmosaic_writer;
GRANT UPDATE (owner) ON pgmosaic.mosaic TO pgmosaic_admin;
GRANT INSERT, UPDATE, DELETE ON pgmosaic.path_root, pgmosaic.path_root_option TO pgmosaic_admin;
-- SELECT on the sequences: pg_dump by a writer reads them.
GRANT USAGE, SELECT ON SEQUENCE pgmosaic.mosaic_id_seq, pgmosaic.item_id_seq,
                               pgmosaic.theme_id_seq
    TO pgmosaic_writer;

-- Functions. The types' functions (pathref, tilekey, the footprint and window overlaps, the
-- window key) are everyone's.
DO $types$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'pgmosaic'::regnamespace
               AND (p.proname ~ '^(pathref|tilekey)'
                    OR p.proname IN ('footprint_overlaps', 'window_overlaps', 'window_key'))
             ORDER BY p.oid LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$types$;

-- Reading: the catalog's read functions. They run as the caller, under the policies above:
-- a reader composes, summarises and lists only the mosaics it may see.
GRANT EXECUTE ON FUNCTION
    pgmosaic.is_admin(),
    pgmosaic.is_owner(integer),
    pgmosaic.can_write(integer),
    pgmosaic.gdal_version(),
    pgmosaic.check_expression(text),
    pgmosaic.check_expression(text, text[]),
    pgmosaic._mosaic(text),
    pgmosaic._in_srid(geometry, integer),
    pgmosaic._check_fragment(text, text),
    pgmosaic._items_query(boolean, boolean, boolean, boolean, text, text),
    pgmosaic._resolve_or_null(pgmosaic.pathref),
    pgmosaic._resolved_path(pgmosaic.pathref, pgmosaic.pathref),
    pgmosaic._data_type_bytes(text),
    pgmosaic._item_zonal_stats(integer, bigint, integer, text),
    pgmosaic.resolve(pgmosaic.pathref),
    pgmosaic.resolve_path(text),
    pgmosaic._read_items(text, geometry, text, tstzrange, text, bigint[], timestamptz),
    pgmosaic.items(text, geometry, text, tstzrange, text, bigint[]),
    pgmosaic.items(text, geometry, text, tstzrange, text, bigint[], timestamptz),
    pgmosaic._extent_asof(integer, timestamptz),
    pgmosaic.tiles(text, geometry, integer),
    pgmosaic.summary(text, geometry, integer, boolean),
    pgmosaic.search(text[], text[], daterange, geometry, text),
    pgmosaic.estimate_size(text, geometry, double precision, integer[], integer, text),
    pgmosaic.footprints(text, boolean),
    pgmosaic.footprints_geojson(text),
    pgmosaic.boundary(text),
    pgmosaic.file_list(text, boolean),
    pgmosaic.mosaic_tile_matrix(text),
    pgmosaic.mosaic_tilekey_at(text, geometry, integer),
    pgmosaic.mosaic_tile_envelope(text, pgmosaic.tilekey),
    pgmosaic.mosaic_tilekey_cover(text, geometry, integer, boolean),
    pgmosaic.overview_levels(text),
    pgmosaic.theme_area(text, text, geometry),
    pgmosaic.theme_polygons(text, text, geometry),
    pgmosaic._compose(text, bytea, integer, double precision, integer[], jsonb, text),
    pgmosaic._values(text, bytea[], integer),
    pgmosaic._composed_zonal_stats(text, bytea[], integer, boolean),
    pgmosaic._render_tile(text, integer, integer, integer, text, jsonb),
    pgmosaic._output_grid(text, bytea, integer, double precision),
    pgmosaic._output_area(pgmosaic.mosaic, geometry, integer),
    pgmosaic._read_options(jsonb, text),
    pgmosaic.read(text, geometry, double precision, integer, integer[], text, jsonb),
    pgmosaic.export(text, geometry, text, integer, double precision, integer[], jsonb),
    pgmosaic.value(text, geometry, integer),
    pgmosaic.value(text, geometry[], integer),
    pgmosaic.zonal_stats(text, geometry, integer, boolean),
    pgmosaic.zonal_stats(text, geometry[], integer, boolean),
    pgmosaic.render_tile(text, integer, integer, integer, text, jsonb),
    pgmosaic.dirty_areas(text, pg_snapshot, integer)
    TO pgmosaic_reader;

-- Writing: registration and maintenance of the mosaics a writer may write, and the file
-- functions registration needs (file access itself stays behind the superuser settings).
GRANT EXECUTE ON FUNCTION
    pgmosaic.inspect_raster(text, text),
    pgmosaic.try_inspect_raster(text, text),
    pgmosaic.stat_raster(text),
    pgmosaic.list_rasters(text, text, boolean),
    pgmosaic._item_theme(integer, bigint, text),
    pgmosaic._misfit(pgmosaic.mosaic, text, jsonb),
    pgmosaic._item_from_info(jsonb, integer),
    pgmosaic._grow_extent(integer, bigint[]),
    pgmosaic._set_extent(integer, box2d, geometry, boolean),
    pgmosaic._union_footprints(geometry[]),
    pgmosaic._refresh_extent(integer),
    pgmosaic._register_item(integer, pgmosaic.pathref, jsonb, integer, tstzrange,
                            double precision, text, integer, boolean),
    pgmosaic._stale_overviews(integer, geometry),
    pgmosaic._has_overviews(integer),
    pgmosaic._overview_sources(integer, double precision[]),
    pgmosaic._check_item_props(text, pgmosaic.item),
    pgmosaic._store_item(integer, pgmosaic.pathref, jsonb, pgmosaic.item, text, boolean),
    pgmosaic._store_abstractions(integer, bigint, jsonb, text),
    pgmosaic._directory_refs(text, text, boolean),
    pgmosaic.register_raster(text, text, jsonb, jsonb, text),
    pgmosaic.register_rasters(text, text[], jsonb[], jsonb[], text),
    pgmosaic._bulk_props_ok(text, pgmosaic.item),
    pgmosaic._bulk_refusal(pgmosaic.mosaic, text[], jsonb[], integer, text),
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
    pgmosaic._sync_assets(pgmosaic.mosaic, boolean),
    pgmosaic.grant_access(text, text, text),
    pgmosaic.revoke_access(text, text, text),
    pgmosaic.add_theme_rule(text, text, text, boolean),
    pgmosaic._mark_dirty(integer, geometry, bigint[], text),
    pgmosaic._type_union(text, text),
    pgmosaic._color_of_name(text),
    pgmosaic._item_props(text, jsonb),
    pgmosaic._store_tiles(integer, bigint, text, jsonb),
    pgmosaic._store_item_themes(integer, bigint),
    pgmosaic.set_bands(text, text[]),
    pgmosaic.set_mask(text, text),
    pgmosaic._record_item_version(),
    pgmosaic._stamp_item_change(),
    pgmosaic.publish(text, text),
    pgmosaic.discard(text, text),
    pgmosaic._record_asset_version(),
    pgmosaic.set_virtual_bands(text, text[]),
    pgmosaic.register_item(text, jsonb, jsonb, text),
    pgmosaic.add_item(text, jsonb, jsonb, text),
    pgmosaic._stac_features(jsonb),
    pgmosaic._stac_href(text, text),
    pgmosaic._stac_assets(jsonb, text[], text),
    pgmosaic._stac_properties(jsonb),
    pgmosaic._stac_collection(text, text[], integer),
    pgmosaic.import_stac(text, jsonb, text[], text, text, boolean)
    TO pgmosaic_writer;

-- Reading pixels of any file by its path: admins only. Everyone else reads pixels through
-- the items of the mosaics they may see (_item_zonal_stats, _item_theme).
GRANT EXECUTE ON FUNCTION
    pgmosaic.zonal_stats(text, integer, text),
    pgmosaic.compute_theme(text, text),
    pgmosaic._read_json_file(text),
    pgmosaic.import_stac_file(text, text, text[], text, boolean)
    TO pgmosaic_admin;
