-- Registration: from one file, a list, a directory (SuperMap's quick-create paths); one
-- transaction, all or nothing unless skip_bad; item metadata; removal.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SET timezone = 'UTC';

-- One file: SRID, grid, bands, type, nodata, band descriptions and colours from the file
SELECT create_mosaic_from_file('single', '/tmp/pgmosaic_regress/b.tif') > 0 AS created;
SELECT srid, res_x, res_y, origin_x, origin_y, min_x, min_y, max_x, max_y, band_count,
       data_type, nodata, band_descriptions, color_interp, ST_AsText(boundary) AS boundary
FROM mosaic WHERE name = 'single';
SELECT i.path, i.status, i.is_cog, i.min_pixel_size, i.block_width, i.overview_count,
       jsonb_array_length(i.bands) AS bands, i.statistics -> 0 AS band1_stats
FROM item i JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'single';

-- A list: a bad file fails the whole call, naming it, and leaves nothing behind
SELECT regress.try($$SELECT * FROM pgmosaic.create_mosaic_from_files('list',
    ARRAY['/tmp/pgmosaic_regress/a.tif', '/tmp/pgmosaic_regress/corrupt.tif'])$$);
SELECT regress.try($$SELECT * FROM pgmosaic.create_mosaic_from_files('list',
    ARRAY['/tmp/pgmosaic_regress/a.tif', '/tmp/pgmosaic_regress/one_band.tif'])$$);
SELECT count(*) AS mosaics_named_list FROM mosaic WHERE name = 'list';
-- ... unless the caller asks to skip bad files: then they are reported as rows, in list order
SELECT path, item_id IS NOT NULL AS registered, error_code, error_message
FROM create_mosaic_from_files('list',
    ARRAY['/tmp/pgmosaic_regress/corrupt.tif', '/tmp/pgmosaic_regress/a.tif',
          '/tmp/pgmosaic_regress/one_band.tif', '/tmp/pgmosaic_regress/uint16.tif',
          '/tmp/pgmosaic_regress/missing.tif', 'relative.tif', '@nope/x.tif',
          '/tmp/pgmosaic_regress/../pgmosaic_regress_outside/secret.tif',
          '/tmp/pgmosaic_regress/b.tif', '/tmp/pgmosaic_regress//a.tif'],
    skip_bad => true);
-- The SRID came from the first readable file; extent and boundary were grown once at the end
SELECT srid, min_x, max_x, ST_AsText(boundary) AS boundary FROM mosaic WHERE name = 'list';
SELECT path FROM items('list');
-- Lists added to an existing mosaic, later ones on top
SELECT path, item_id IS NOT NULL AS registered
FROM add_rasters('list', ARRAY['/tmp/pgmosaic_regress/sub/c.tif'], '{"batch": 2}', 3);
SELECT path, priority, attributes FROM items('list');
SELECT regress.try($$SELECT * FROM pgmosaic.add_rasters('nope', ARRAY['/x.tif'])$$);
SELECT regress.try($$SELECT * FROM pgmosaic.create_mosaic_from_files('empty', ARRAY[]::text[])$$);

-- A directory: recursive, case-insensitive glob, path order; under a root the references keep
-- the root, so that moving the storage stays one UPDATE
INSERT INTO path_root VALUES ('dirs', '/tmp/pgmosaic_regress/dir');
SELECT path, item_id IS NOT NULL AS registered, error_code
FROM create_mosaic_from_directory('fromdir', '@dirs', skip_bad => true);
SELECT path, resolved_path FROM items('fromdir');
SELECT path, item_id IS NOT NULL AS registered
FROM create_mosaic_from_directory('flat', '/tmp/pgmosaic_regress/dir/', 'x*.tif', false);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', '/tmp/pgmosaic_regress/dir', 'bad.tif')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', '/tmp/pgmosaic_regress/dir', '*.jp2')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', '/tmp/pgmosaic_regress/none')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', '/tmp/pgmosaic_regress_outside')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', '@nope')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.add_directory('flat', 'relative/dir')$$);

-- Item metadata: acquisition time, cloud cover, overview category
SELECT add_raster('flat', '/tmp/pgmosaic_regress/wide.tif', '{"sensor": "s2"}', 0,
                  '[2021-06-01 10:00:00+00,2021-06-01 10:00:00+00]', 12.5) AS wide_id \gset
SELECT acquired, cloud_cover, category, overview_level, attributes FROM item WHERE id = :wide_id;
SELECT add_raster('flat', '/tmp/pgmosaic_regress/cog.tif', category => 'overview',
                  overview_level => 1) AS overview_id \gset
SELECT path, is_cog, category, overview_level FROM item WHERE id = :overview_id;
SELECT count(*) AS primary_items_listed FROM items('flat');
SELECT regress.try($$SELECT pgmosaic.add_raster('flat', '/tmp/pgmosaic_regress/a.tif', category => 'overview')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('flat', '/tmp/pgmosaic_regress/a.tif', cloud_cover => 120)$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('flat', '/tmp/pgmosaic_regress/a.tif', category => 'thumbnail')$$);
SELECT create_mosaic('nogrid', 32631) > 0 AS created;
SELECT regress.try($$SELECT pgmosaic.add_raster('nogrid', '/tmp/pgmosaic_regress/cog.tif', category => 'overview', overview_level => 1)$$);

-- Removal: items go (not the files), the extent and boundary shrink
SELECT min_x, max_x FROM mosaic WHERE name = 'flat';
SELECT remove_rasters('flat', ARRAY['/tmp/pgmosaic_regress/wide.tif', '/tmp/pgmosaic_regress/none.tif']);
SELECT min_x, max_x, ST_AsText(boundary) AS boundary FROM mosaic WHERE name = 'flat';
-- Direct edits of the table leave the boundary to refresh_mosaic()
DELETE FROM item WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'flat')
                   AND path = '/tmp/pgmosaic_regress/dir/x2.TIF';
SELECT refresh_mosaic('flat');
SELECT min_x, max_x, ST_AsText(boundary) AS boundary FROM mosaic WHERE name = 'flat';

-- Registering rasters inspected elsewhere (the GDAL driver inspects on the client): no backend
-- file access; a missing mosaic is created in the raster's SRID; properties fill columns, and
-- attributes with what is not a column
CREATE TEMP TABLE inspected AS
SELECT p AS path, inspect_raster(p, 'cheap') AS info
FROM unnest(ARRAY['/tmp/pgmosaic_regress/a.tif', '/tmp/pgmosaic_regress/b.tif']) AS p;
RESET pgmosaic.enable_file_access;
SELECT register_raster('remote', path, info,
                       '{"acquired": "2024-05-01T10:00:00Z", "cloud_cover": 20, "sensor": "S2",
                         "width": 99, "location": "/ignored.tif"}') > 0 AS registered
FROM inspected ORDER BY path;
SELECT m.srid, m.res_x, m.min_x, m.max_x, count(*) AS items
FROM mosaic m JOIN item i ON i.mosaic_id = m.id WHERE m.name = 'remote' GROUP BY 1, 2, 3, 4;
SELECT path, acquired, cloud_cover, attributes, width, statistics IS NOT NULL AS statistics
FROM items('remote') ORDER BY path;
-- Duplicates fail, are skipped or updated
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', path, info) FROM inspected$$);
SELECT register_raster('remote', path, info, '{}', 'skip') IS NULL AS skipped
FROM inspected WHERE path LIKE '%a.tif';
SELECT register_raster('remote', path, info, '{"priority": 7, "tile": "t1"}', 'update') > 0
    AS updated
FROM inspected WHERE path LIKE '%a.tif';
SELECT path, priority, attributes, acquired FROM items('remote') ORDER BY path;
-- Refusals name the raster
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', '/x.tif', '{"srid": 32631}')$$);
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', '/tmp/pgmosaic_regress/c.tif',
    info, '{"acquired": "sometime"}') FROM inspected WHERE path LIKE '%a.tif'$$);
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', '/tmp/pgmosaic_regress/c.tif',
    info, '{"category": "overview"}') FROM inspected WHERE path LIKE '%a.tif'$$);
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', path, info, '{}', 'replace')
    FROM inspected WHERE path LIKE '%a.tif'$$);
SELECT regress.try($$SELECT pgmosaic.register_raster('remote', 'relative.tif', info)
    FROM inspected WHERE path LIKE '%a.tif'$$);
SET pgmosaic.enable_file_access = on;

SELECT drop_mosaic(name) FROM mosaic
WHERE name IN ('single', 'list', 'fromdir', 'flat', 'nogrid', 'remote');
DELETE FROM path_root WHERE name = 'dirs';
