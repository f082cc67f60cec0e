-- Items made of several files (assets): bands declared by asset, registration of each file,
-- mixed band counts, the catalog's health functions over every file, row-level security.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SET timezone = 'UTC';

SELECT create_mosaic('scenes', 32631) > 0 AS created;
-- Before the bands are declared, an item is refused naming what to do
SELECT regress.try($$SELECT pgmosaic.add_item('scenes',
    '{"red": "/tmp/pgmosaic_regress/scene1/red.tif"}')$$);
-- Bands by asset: asset, asset[n], name=asset[n]; bad or repeated names are refused
SELECT regress.try($$SELECT pgmosaic.set_bands('scenes', ARRAY['red', 'bad name'])$$);
SELECT regress.try($$SELECT pgmosaic.set_bands('scenes', ARRAY['red', 'RED=nir'])$$);
SELECT regress.try($$SELECT pgmosaic.set_bands('scenes', ARRAY['red', 'x[0]'])$$);
SELECT set_bands('scenes', ARRAY['red', 'nir', 'qa']);
SELECT set_bands('scenes', ARRAY['red', 'nir', 'qa_bits=qa[1]']);
SELECT band_count, band_descriptions, color_interp, data_type FROM mosaic WHERE name = 'scenes';

-- An item of three files: red and nir at 10 m, qa at 20 m; the grid comes from the finest
SELECT add_item('scenes', '{"red": "/tmp/pgmosaic_regress/scene1/red.tif",
                            "nir": {"href": "/tmp/pgmosaic_regress/scene1/nir.tif", "bands": [1]},
                            "qa": "/tmp/pgmosaic_regress/scene1/qa.tif"}',
                '{"id": "S1", "cloud_cover": 12, "acquired": "2021-06-01T10:00:00Z"}') > 0 AS s1;
SELECT srid, res_x, res_y, min_x, max_x, band_count, data_type, nodata
FROM mosaic WHERE name = 'scenes';
SELECT regexp_replace(i.path::text, '.*/', '') AS reference, i.band_count, i.data_type,
       i.cloud_cover, i.attributes, ST_AsText(i.footprint) AS footprint,
       jsonb_path_query_array(i.statistics, '$[*].count') AS counts,
       jsonb_path_query_array(i.bands, '$[*].asset') AS assets
FROM item i JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'scenes';
SELECT a.name, regexp_replace(a.path::text, '.*/', '') AS file, a.bands, a.width, a.height,
       a.data_type, a.min_pixel_size, (a.statistics -> 0 ->> 'mean')::float8 AS mean
FROM asset a JOIN mosaic m ON m.id = a.mosaic_id WHERE m.name = 'scenes' ORDER BY a.name;
-- DRAD tiles per asset
SELECT t.asset, count(*) AS tiles
FROM tile t JOIN mosaic m ON m.id = t.mosaic_id WHERE m.name = 'scenes'
GROUP BY t.asset ORDER BY t.asset;

-- Mixed band counts: an item without qa
SELECT add_item('scenes', '{"red": "/tmp/pgmosaic_regress/scene2/red.tif",
                            "nir": "/tmp/pgmosaic_regress/scene2/nir.tif"}',
                '{"id": "S2"}') > 0 AS s2;
SELECT regexp_replace(path::text, '.*/scene', 'scene') AS reference, ST_AsText(footprint)
FROM items('scenes');
SELECT min_x, max_x FROM mosaic WHERE name = 'scenes';
-- Refused: an asset the mosaic does not take, a type the mosaic's does not hold, a duplicate,
-- bands after the first item; nothing half-loaded
SELECT regress.try($$SELECT pgmosaic.add_item('scenes',
    '{"red": "/tmp/pgmosaic_regress/scene2/red.tif", "swir": "/tmp/pgmosaic_regress/scene2/nir.tif"}')$$);
SELECT regress.try($$SELECT pgmosaic.add_item('scenes',
    '{"red": "/tmp/pgmosaic_regress/scene2/float.tif"}', '{"id": "F"}')$$);
SELECT regress.try($$SELECT pgmosaic.add_item('scenes',
    '{"red": "/tmp/pgmosaic_regress/scene2/red.tif", "nir": "/tmp/pgmosaic_regress/scene2/nir.tif"}')$$);
SELECT add_item('scenes', '{"red": "/tmp/pgmosaic_regress/scene2/red.tif",
                            "nir": "/tmp/pgmosaic_regress/scene2/nir.tif"}',
                on_duplicate => 'skip') IS NULL AS skipped;
SELECT regress.try($$SELECT pgmosaic.add_item('scenes', '{"red": {"bands": [1]}}')$$);
SELECT regress.try($$SELECT pgmosaic.add_item('scenes', '{"red": {"href": "/tmp/pgmosaic_regress/scene2/red.tif", "bands": [0]}}')$$);
SELECT regress.try($$SELECT pgmosaic.set_bands('scenes', ARRAY['red'])$$);
SELECT count(*) AS items, (SELECT count(*) FROM asset a WHERE a.mosaic_id = m.id) AS assets
FROM item i JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'scenes' GROUP BY m.id;

-- Every file is listed and checked; a missing asset file is reported naming its asset
SELECT regexp_replace(path::text, '.*/scene', 'scene') AS file, status FROM file_list('scenes');
SELECT count(*) AS problems FROM pgmosaic.check('scenes') WHERE problem <> 'not_cog';
\! cp -r /tmp/pgmosaic_regress/scene1 /tmp/pgmosaic_regress/work/scene1
SELECT create_mosaic('moved', 32631) > 0 AS created;
SELECT set_bands('moved', ARRAY['red', 'nir', 'qa']) IS NOT NULL AS declared;
SELECT add_item('moved', '{"red": "/tmp/pgmosaic_regress/work/scene1/red.tif",
                           "nir": "/tmp/pgmosaic_regress/work/scene1/nir.tif",
                           "qa": "/tmp/pgmosaic_regress/work/scene1/qa.tif"}') > 0 AS added;
\! mv /tmp/pgmosaic_regress/work/scene1/qa.tif /tmp/pgmosaic_regress/work/scene1/qa.gone
SELECT regexp_replace(path::text, '.*/', '') AS file, problem,
       regexp_replace(detail, '/tmp\S*', '...') AS detail
FROM pgmosaic.check('moved');
SELECT regexp_replace(path::text, '.*/', '') AS file, action, detail FROM sync('moved');
SELECT status FROM item i JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'moved';
\! mv /tmp/pgmosaic_regress/work/scene1/qa.gone /tmp/pgmosaic_regress/work/scene1/qa.tif
SELECT regexp_replace(path::text, '.*/', '') AS file, action, detail FROM sync('moved');
SELECT status FROM item i JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'moved';
-- Moving the files: every asset's reference is rewritten, each counted once
\! mv /tmp/pgmosaic_regress/work/scene1 /tmp/pgmosaic_regress/work/scene1b
SELECT repair_paths('moved', '/tmp/pgmosaic_regress/work/scene1',
                    '/tmp/pgmosaic_regress/work/scene1b') AS changed;
SELECT regexp_replace(path::text, '.*/work/', '') AS file FROM file_list('moved');
SELECT regexp_replace(path::text, '.*/work/', '') AS item_path FROM items('moved');
SELECT count(*) AS problems FROM pgmosaic.check('moved') WHERE problem <> 'not_cog';
-- Removing by any of its files removes the item and its assets
SELECT remove_rasters('moved', ARRAY['/tmp/pgmosaic_regress/work/scene1b/qa.tif']) AS removed;
SELECT count(*) AS assets_left FROM asset a JOIN mosaic m ON m.id = a.mosaic_id
WHERE m.name = 'moved';

-- Row-level security: assets are read with their mosaic and written with write access
CREATE ROLE regress_asset_reader IN ROLE pgmosaic_reader;
CREATE ROLE regress_asset_writer IN ROLE pgmosaic_writer;
SELECT grant_access('scenes', 'regress_asset_reader', 'read');
SET ROLE regress_asset_reader;
SELECT count(*) AS readable_assets FROM pgmosaic.asset;
SELECT regress.try($$UPDATE pgmosaic.asset SET path = '/etc/passwd'$$);
SELECT count(*) AS changed FROM pgmosaic.asset WHERE path::text = '/etc/passwd';
RESET ROLE;
SET ROLE regress_asset_writer;
SELECT count(*) AS visible_assets FROM pgmosaic.asset;
RESET ROLE;
SELECT grant_access('scenes', 'regress_asset_writer', 'read');
SET ROLE regress_asset_writer;
SELECT count(*) AS visible_assets FROM pgmosaic.asset;
SELECT regress.try($$UPDATE pgmosaic.asset SET path = '/etc/passwd'$$);
SELECT regress.try($$DELETE FROM pgmosaic.asset$$);
SELECT count(*) AS unchanged FROM pgmosaic.asset WHERE path::text <> '/etc/passwd';
SELECT regress.try($$SELECT pgmosaic.add_item('scenes',
    '{"red": "/tmp/pgmosaic_regress/scene1/red.tif", "nir": "/tmp/pgmosaic_regress/scene1/nir.tif"}',
    on_duplicate => 'update')$$);
-- A writer makes a collection of its own: bands, a mask, an item
SELECT create_mosaic('writers', 32631) > 0 AS created;
SELECT set_bands('writers', ARRAY['red', 'nir', 'qa']) IS NOT NULL AS declared;
SELECT set_mask('writers', 'bit(qa, 3) or qa in (16, 17)');
SELECT regress.try($$SELECT pgmosaic.set_mask('writers', 'swir > 1')$$);
SELECT regress.try($$SELECT pgmosaic.set_mask('writers', 'b4 > 1')$$);
SELECT add_item('writers', '{"red": "/tmp/pgmosaic_regress/scene1/red.tif"}') > 0 AS added;
SELECT mask, band_count FROM mosaic WHERE name = 'writers';
SELECT regress.try($$SELECT pgmosaic.set_mask('scenes', 'qa > 0')$$);
SELECT drop_mosaic('writers');
RESET ROLE;
DROP ROLE regress_asset_reader;
DROP ROLE regress_asset_writer;

SELECT drop_mosaic('scenes');
SELECT drop_mosaic('moved');
SELECT count(*) AS assets_left FROM asset;
