-- Keeping tile caches true: every change of what a mosaic shows is recorded as a dirty area in
-- the changing transaction (triggers on item, path_root, mosaic); dirty_areas() returns those
-- not visible in a snapshot a listener kept; rows follow their mosaic's access.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
CREATE TEMP VIEW dirty AS
SELECT d.reason, cardinality(d.items) AS items, ST_AsText(ST_Envelope(d.area)) AS area
FROM dirty_area d JOIN mosaic m ON m.id = d.mosaic_id WHERE m.name = 'cached' ORDER BY d.id;

SELECT create_mosaic('cached', 32631) > 0 AS created;
-- Registration: a row per item registered, its footprint
SELECT count(*) FROM add_rasters('cached', ARRAY['/tmp/pgmosaic_regress/a.tif',
                                                 '/tmp/pgmosaic_regress/b.tif']);
SELECT * FROM dirty;
-- A listener's snapshot; then a reorder: only that change is new to it
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_current_snapshot() AS snap \gset
SELECT count(*) AS seen_before FROM dirty_areas('cached', :'snap');
COMMIT;
UPDATE item SET priority = 5
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'cached') AND path::text LIKE '%/a.tif';
SELECT reason, cardinality(items), ST_AsText(ST_Envelope(area))
FROM dirty_areas('cached', :'snap');
-- One statement changing two items: one row naming both
UPDATE item SET priority = priority + 1
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'cached');
SELECT reason, items = (SELECT array_agg(id ORDER BY id) FROM item
                        WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'cached')) AS both_items,
       ST_AsText(ST_Envelope(area))
FROM dirty_areas('cached', :'snap') OFFSET 1;
-- Statistics are not pixels: no row. A re-pointed item: its old and new footprints.
UPDATE item SET statistics = '[]'
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'cached');
SELECT count(*) AS after_statistics FROM dirty_areas('cached', :'snap');
UPDATE item SET footprint = ST_Translate(footprint, 1000, 0)
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'cached') AND path::text LIKE '%/b.tif';
SELECT reason, ST_AsText(ST_Envelope(area)) FROM dirty_areas('cached', :'snap') OFFSET 2;
-- Removed items, a path root added, moved and removed, the mosaic's method
SELECT remove_rasters('cached', ARRAY['/tmp/pgmosaic_regress/b.tif']);
INSERT INTO path_root VALUES ('cacheroot', '/tmp/pgmosaic_regress');
SELECT add_raster('cached', '@cacheroot/sub/c.tif') > 0 AS added;
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress_moved' WHERE name = 'cacheroot';
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress' WHERE name = 'cacheroot';
UPDATE mosaic SET default_method = 'max' WHERE name = 'cached';
UPDATE mosaic SET title = 'no pixels change' WHERE name = 'cached';
SELECT * FROM dirty OFFSET 4;
-- In the SRS of a tile grid
SELECT DISTINCT ST_SRID(area) FROM dirty_areas('cached', NULL, 3857);
SELECT regress.try($$SELECT * FROM pgmosaic.dirty_areas('no_such_mosaic')$$);

-- Access: read with the mosaic, inserted by its writers' changes only, never updated
SELECT id AS cached_id FROM mosaic WHERE name = 'cached' \gset
CREATE ROLE regress_cache_writer IN ROLE pgmosaic_writer;
CREATE ROLE regress_cache_reader IN ROLE pgmosaic_reader;
CREATE ROLE regress_cache_other IN ROLE pgmosaic_reader;
SET ROLE regress_cache_writer;
SELECT create_mosaic('cached_w', 32631) > 0 AS created;
SELECT add_raster('cached_w', '/tmp/pgmosaic_regress/a.tif') > 0 AS added;
SELECT grant_access('cached_w', 'regress_cache_reader', 'read');
SELECT count(*) AS writer_sees FROM dirty_areas('cached_w');
-- not into a mosaic it may not write
SELECT regress.try(format($$INSERT INTO pgmosaic.dirty_area (mosaic_id, area, reason)
    VALUES (%s, ST_MakeEnvelope(0, 0, 1, 1, 32631), 'insert')$$, :cached_id));
SELECT regress.try($$UPDATE pgmosaic.dirty_area SET reason = 'delete'$$);
RESET ROLE;
SET ROLE regress_cache_reader;
SELECT count(*) AS reader_sees FROM dirty_areas('cached_w');
SELECT count(DISTINCT mosaic_id) AS reader_mosaics FROM dirty_area;
SELECT regress.try($$DELETE FROM pgmosaic.dirty_area$$);
RESET ROLE;
SET ROLE regress_cache_other;
SELECT count(*) AS other_rows FROM dirty_area;
SELECT regress.try($$SELECT * FROM pgmosaic.dirty_areas('cached_w')$$);
RESET ROLE;
-- Writers prune their mosaics' old rows
SET ROLE regress_cache_writer;
DELETE FROM dirty_area WHERE changed < now() + interval '1 hour';
SELECT count(*) AS left_after_prune FROM dirty_areas('cached_w');
SELECT drop_mosaic('cached_w');
RESET ROLE;
-- Dropping a mosaic drops its rows (the items' cascade records nothing)
SELECT drop_mosaic('cached');
SELECT count(*) AS rows_left FROM dirty_area WHERE mosaic_id = :cached_id;
DELETE FROM path_root WHERE name = 'cacheroot';
-- A root over more than 100,000 items of a mosaic (synthetic rows): moving it records the box
-- of their footprints and no ids (10 million footprints in one value passed 1 GB and the
-- UPDATE failed); at 100,000 the footprints and the ids
SELECT create_mosaic('bigroot', 32631) > 0 AS created;
INSERT INTO path_root VALUES ('bigroot', '/tmp/pgmosaic_regress');
INSERT INTO item (mosaic_id, path, footprint, srid, geotransform, width, height, band_count,
                  data_type, nodata, driver, file_size, file_mtime, min_pixel_size, bands)
SELECT (SELECT id FROM mosaic WHERE name = 'bigroot'), ('@bigroot/f' || k || '.tif')::pathref,
       ST_MakeEnvelope(500000 + (k % 400) * 100, 5000000 - (k / 400 + 1) * 100,
                       500100 + (k % 400) * 100, 5000000 - (k / 400) * 100, 32631),
       32631, ARRAY[500000 + (k % 400) * 100, 1, 0, 5000000 - (k / 400) * 100, 0, -1],
       100, 100, 1, 'Byte', 0, 'GTiff', 1000, '2024-01-01', 1, '[{"type": "Byte"}]'
FROM generate_series(0, 100000) k;
CREATE TEMP VIEW bigroot_dirty AS
SELECT d.reason, cardinality(d.items) AS items, ST_NumGeometries(d.area) AS parts,
       ST_AsText(ST_Envelope(d.area)) AS area
FROM dirty_area d JOIN mosaic m ON m.id = d.mosaic_id
WHERE m.name = 'bigroot' AND d.reason = 'root' ORDER BY d.id;
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress/moved' WHERE name = 'bigroot';
SELECT * FROM bigroot_dirty;
-- The same bound for the items themselves: one statement over more than 100,000 items of a
-- mosaic (the load above, an UPDATE) records the box of their footprints and no ids (an UPDATE
-- of 10 million items collected more than 1 GB); at 100,000 their footprints (old and new for
-- an UPDATE) and ids
UPDATE item SET priority = 1 WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'bigroot');
DELETE FROM item WHERE path = '@bigroot/f100000.tif'::pathref;
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress' WHERE name = 'bigroot';
SELECT * FROM bigroot_dirty;
UPDATE item SET priority = 2 WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'bigroot');
SELECT d.reason, cardinality(d.items) AS items, ST_NumGeometries(d.area) AS parts,
       ST_AsText(ST_Envelope(d.area)) AS area
FROM dirty_area d JOIN mosaic m ON m.id = d.mosaic_id
WHERE m.name = 'bigroot' AND d.reason <> 'root' ORDER BY d.id;
SELECT drop_mosaic('bigroot');
DELETE FROM path_root WHERE name = 'bigroot';
DROP ROLE regress_cache_writer, regress_cache_reader, regress_cache_other;
