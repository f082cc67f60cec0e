-- The catalog at scale (issue 17): bulk registration from inspection JSON (register_rasters),
-- the mosaic window key that window and overview lookups use (one index for a mosaic's items
-- or one overview level in a window, under row-level security too), and the versions recorded
-- by statement triggers.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
CREATE ROLE regress_bulk_writer IN ROLE pgmosaic_writer;
CREATE ROLE regress_bulk_reader IN ROLE pgmosaic_reader;
CREATE ROLE regress_bulk_other IN ROLE pgmosaic_writer;
-- A staging table of paths with what inspect_raster (or the driver) gave for each: a 4 x 3 grid
-- of 100 m items, and their JSON.
CREATE TEMP TABLE staging AS
SELECT k, format('/data/bulk/r%s_c%s.tif', k / 4, k % 4) AS path,
       jsonb_build_object(
           'srid', 32631, 'width', 10, 'height', 10, 'band_count', 1, 'data_type', 'Byte',
           'driver', 'GTiff', 'file_size', 1000, 'mtime', 1704067200, 'is_cog', true,
           'block_width', 256, 'block_height', 256, 'overview_count', 0,
           'bands', '[{"data_type": "Byte", "nodata": 0}]'::jsonb,
           'geotransform', jsonb_build_array(600000 + (k % 4) * 100, 10, 0,
                                             5000000 - (k / 4) * 100, 0, -10),
           'footprint', ST_AsText(ST_MakeEnvelope(600000 + (k % 4) * 100,
                                                  5000000 - (k / 4 + 1) * 100,
                                                  600000 + (k % 4 + 1) * 100,
                                                  5000000 - (k / 4) * 100))) AS info
FROM generate_series(0, 11) k;
GRANT SELECT ON staging TO regress_bulk_writer, regress_bulk_other;

SET ROLE regress_bulk_writer;
-- A new mosaic takes its grid from the first raster; ids follow the order given (the last one
-- drawn on top); properties as register_raster takes them.
SELECT r.path, r.item_id - min(r.item_id) OVER () AS id_offset
FROM register_rasters('bulk', (SELECT array_agg(path ORDER BY k) FROM staging WHERE k < 8),
                      (SELECT array_agg(info ORDER BY k) FROM staging WHERE k < 8),
                      (SELECT array_agg(CASE WHEN k = 7 THEN '{"priority": 2, "cloud_cover": 5,
                                         "acquired": "2021-06-01", "sensor": "x"}'::jsonb END
                                        ORDER BY k) FROM staging WHERE k < 8)) r;
SELECT name, res_x, res_y, origin_x, origin_y, min_x, min_y, max_x, max_y, band_count, data_type,
       ST_AsText(ST_Normalize(boundary)) AS boundary
FROM mosaic WHERE name = 'bulk';
SELECT i.path, i.priority, i.cloud_cover, i.acquired, i.attributes, i.status,
       ST_AsText(i.footprint) AS footprint
FROM items('bulk', ST_MakeEnvelope(600150, 4999850, 600250, 4999950, 32631)) i;
-- One dirty area for the load's statement (the first raster's own registration has its own),
-- and a version per item.
SELECT d.reason, cardinality(d.items) AS items FROM dirty_area d
JOIN mosaic m ON m.id = d.mosaic_id WHERE m.name = 'bulk' ORDER BY d.id;
SELECT count(*) AS versions, count(*) FILTER (WHERE upper_inf(v.valid)) AS current
FROM item_version v JOIN mosaic m ON m.id = v.mosaic_id WHERE m.name = 'bulk';
-- Already registered: fail (nothing stored), skip (no id), update (same id)
SELECT count(*) FROM register_rasters('bulk', (SELECT array_agg(path ORDER BY k) FROM staging),
                                      (SELECT array_agg(info ORDER BY k) FROM staging));
SELECT count(*) AS items_after_failure FROM item i JOIN mosaic m ON m.id = i.mosaic_id
WHERE m.name = 'bulk';
SELECT r.path, r.item_id IS NOT NULL AS stored
FROM register_rasters('bulk', (SELECT array_agg(path ORDER BY k) FROM staging WHERE k >= 6),
                      (SELECT array_agg(info ORDER BY k) FROM staging WHERE k >= 6),
                      on_duplicate => 'skip') r;
SELECT id AS r0_c0 FROM item WHERE path = '/data/bulk/r0_c0.tif' \gset
SELECT r.path, r.item_id = :r0_c0 AS same_id
FROM register_rasters('bulk', ARRAY['/data/bulk/r0_c0.tif'],
                      (SELECT array_agg(info) FROM staging WHERE k = 0),
                      ARRAY['{"cloud_cover": 40}'::jsonb], 'update') r;
SELECT cloud_cover FROM item WHERE path = '/data/bulk/r0_c0.tif';
-- update with new and registered rasters: the new stored (the insert leaves the others out by
-- their key), the others updated in place (in a transaction rolled back: what follows sees the
-- mosaic as it was); skip and update still refuse a raster given twice
BEGIN;
SELECT r.path, r.item_id = :r0_c0 AS same_id, r.item_id > :r0_c0 AS new_id
FROM register_rasters('bulk', ARRAY['/data/bulk/r0_c0.tif', '/data/bulk/r5_c5.tif'],
                      ARRAY[(SELECT info FROM staging WHERE k = 0),
                            (SELECT info || jsonb_build_object(
                                 'geotransform', '[600400, 10, 0, 5000000, 0, -10]'::jsonb,
                                 'footprint', 'POLYGON((600400 4999900,600500 4999900,600500 5000000,600400 5000000,600400 4999900))')
                             FROM staging WHERE k = 0)],
                      ARRAY['{"cloud_cover": 30}'::jsonb, '{"cloud_cover": 31}'::jsonb], 'update') r;
SELECT path, cloud_cover, ST_AsText(footprint) AS footprint FROM item
WHERE path IN ('/data/bulk/r0_c0.tif', '/data/bulk/r5_c5.tif') ORDER BY id;
ROLLBACK;
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif', '/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k < 2),
                               on_duplicate => 'skip');
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/r0_c0.tif', '/data/bulk/new.tif', '/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k < 3),
                               on_duplicate => 'update');
SELECT min_x, min_y, max_x, max_y, ST_AsText(ST_Normalize(boundary)) AS boundary
FROM mosaic WHERE name = 'bulk';
-- Refused before anything is stored, naming the raster
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif', '/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k < 2));
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif'], ARRAY['{"srid": 32631}'::jsonb]);
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif'],
                               (SELECT array_agg(info || '{"band_count": 3}') FROM staging WHERE k = 0));
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k = 0),
                               ARRAY['{"category": "overview", "overview_level": 1}'::jsonb]);
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k = 0),
                               ARRAY['{"cloud_cover": 140}'::jsonb]);
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif', '/data/bulk/new2.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k = 0));
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/new.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k = 0),
                               on_duplicate => 'replace');
SELECT count(*) AS items_after_refusals FROM item i JOIN mosaic m ON m.id = i.mosaic_id
WHERE m.name = 'bulk';
SELECT count(*) FROM register_rasters('bulk', '{}', '{}');
-- What an inspection carries besides the item (DRAD tiles here) is stored for the rasters
-- that have it, and only for them
SELECT count(*) AS registered FROM register_rasters('bulk', ARRAY['/data/bulk/drad_a.tif', '/data/bulk/drad_b.tif'],
    ARRAY[(SELECT info || jsonb_build_object(
               'geotransform', '[601000, 10, 0, 5000000, 0, -10]'::jsonb,
               'footprint', 'POLYGON((601000 4999900,601100 4999900,601100 5000000,601000 5000000,601000 4999900))',
               'tiles', '[[0, 0, 0, 0, 601000, 4999900, 601100, 5000000, 1000, 500, false, []]]'::jsonb)
           FROM staging WHERE k = 0),
          (SELECT info || jsonb_build_object(
               'geotransform', '[601100, 10, 0, 5000000, 0, -10]'::jsonb,
               'footprint', 'POLYGON((601100 4999900,601200 4999900,601200 5000000,601100 5000000,601100 4999900))')
           FROM staging WHERE k = 0)]) r;
SELECT i.path, count(t.item_id) AS tiles, max(t.byte_offset) AS byte_offset,
       max(t.byte_length) AS byte_length
FROM item i LEFT JOIN tile t ON t.mosaic_id = i.mosaic_id AND t.item_id = i.id
WHERE i.path::text LIKE '/data/bulk/drad_%' GROUP BY i.path ORDER BY i.path;
SELECT * FROM register_rasters('bulk', '{{/data/bulk/new.tif}}', (SELECT array_agg(info) FROM staging WHERE k = 0));
-- Lists of other bounds are paired by position, as unnest() pairs them (into a mosaic of their own)
SELECT r.path, r.item_id IS NOT NULL AS stored
FROM register_rasters('bulk_bounds',
                      (SELECT '[0:2]={/data/b/0.tif,/data/b/1.tif,/data/b/2.tif}'::text[]),
                      (SELECT array_agg(info ORDER BY k) FROM staging WHERE k < 3),
                      (SELECT '[5:7]={"{}","{\"priority\": 3}","{}"}'::jsonb[])) r;
SELECT path, priority, geotransform[1] AS x0 FROM items('bulk_bounds') ORDER BY path;
SELECT drop_mosaic('bulk_bounds');
RESET ROLE;
-- Without write access: refused
SELECT grant_access('bulk', 'regress_bulk_other', 'read');
SET ROLE regress_bulk_other;
SELECT * FROM register_rasters('bulk', ARRAY['/data/bulk/other.tif'],
                               (SELECT array_agg(info) FROM staging WHERE k = 0));
RESET ROLE;

-- Overview tiles: the window key finds one level's tiles; an item registered under an
-- up-to-date tile makes it (and only the tiles it meets, at every level) stale.
SET ROLE regress_bulk_writer;
SELECT register_raster('bulk', format('/data/bulk/ovr/%s_%s.tif', l, x),
                       jsonb_build_object('srid', 32631, 'width', 10, 'height', 10,
                           'band_count', 1, 'data_type', 'Byte', 'driver', 'GTiff',
                           'geotransform', jsonb_build_array(600000 + x * 200 * l, 20 * l, 0,
                                                             5000000, 0, -20 * l),
                           'footprint', ST_AsText(ST_MakeEnvelope(600000 + x * 200 * l,
                               5000000 - 200 * l, 600000 + (x + 1) * 200 * l, 5000000))),
                       jsonb_build_object('category', 'overview', 'overview_level', l)) > 0 AS ok
FROM (VALUES (1, 0), (1, 1), (2, 0)) v (l, x);
SELECT overview_level, count(*) AS tiles,
       count(*) FILTER (WHERE ST_Intersects(footprint, ST_MakeEnvelope(600250, 4999900, 600260, 4999910, 32631))) AS meeting
FROM item WHERE category = 'overview' AND path::text LIKE '/data/bulk/ovr/%' GROUP BY 1 ORDER BY 1;
SELECT r.path IS NOT NULL AS registered
FROM register_rasters('bulk', ARRAY['/data/bulk/r9_c9.tif'],
                      ARRAY[(SELECT info || jsonb_build_object('geotransform',
                                 '[600250, 1, 0, 4999910, 0, -1]'::jsonb, 'footprint',
                                 'POLYGON((600250 4999900,600260 4999900,600260 4999910,600250 4999910,600250 4999900))')
                             FROM staging WHERE k = 0)]) r;
SELECT path, status FROM item WHERE category = 'overview' AND path::text LIKE '/data/bulk/ovr/%'
ORDER BY path;
RESET ROLE;

-- The driver's lookups as a reader, with the plan a prepared statement ends up with (generic):
-- the window key's index, never a scan of the mosaic's btree entries (which read every item of
-- a mosaic of 10 million under row-level security: tests/bench/bench_catalog_10m.py).
SELECT grant_access('bulk', 'regress_bulk_reader', 'read');
SET ROLE regress_bulk_reader;
SELECT count(*) AS items_in_window
FROM items('bulk', ST_MakeEnvelope(600050, 4999750, 600250, 4999950, 32631));
SET plan_cache_mode = force_generic_plan;
PREPARE find_items (integer, geometry) AS
SELECT i.id FROM item i
WHERE window_key(i.mosaic_id, i.overview_level, i.footprint)
      OPERATOR(pgmosaic.&&&) window_key($1, 0, $2)
  AND i.mosaic_id OPERATOR(pg_catalog.+) 0 = $1 AND i.category = 'primary'
  AND ST_Intersects(i.footprint, $2);
CREATE TEMP TABLE plans (name text, line text);
DO $$
DECLARE
    mid integer := (SELECT id FROM pgmosaic.mosaic WHERE name = 'bulk');
    l text;
BEGIN
    FOR l IN EXECUTE format('EXPLAIN (COSTS OFF) EXECUTE find_items(%s, %L)', mid,
                            ST_MakeEnvelope(600050, 4999750, 600250, 4999950, 32631)) LOOP
        INSERT INTO plans VALUES ('items', l);
    END LOOP;
END
$$;
SELECT name, bool_or(line LIKE '%item_mosaic_window_idx%') AS window_key_index,
       bool_or(line ~ 'item_(order_idx|pkey|overview_idx|mosaic_id_path_key)') AS btree
FROM plans GROUP BY name ORDER BY name;
-- One level's tiles in a window
SELECT count(*) AS level_1_tiles FROM item i
WHERE window_key(i.mosaic_id, i.overview_level, i.footprint)
      OPERATOR(pgmosaic.&&&) window_key((SELECT id FROM mosaic WHERE name = 'bulk'), 1,
                                        ST_MakeEnvelope(600000, 4999000, 601000, 5000000, 32631));
RESET plan_cache_mode;
RESET ROLE;

-- Versions by statement triggers: one statement changing several items closes their current
-- versions and opens new ones; a version written and changed in one transaction is dropped;
-- removed items keep only closed versions.
CREATE TEMP VIEW bulk_versions AS
SELECT count(*) AS versions, count(*) FILTER (WHERE upper_inf(v.valid)) AS current
FROM item_version v JOIN mosaic m ON m.id = v.mosaic_id WHERE m.name = 'bulk';
SELECT * FROM bulk_versions;
UPDATE item SET priority = 7
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'bulk') AND category = 'primary'
  AND path::text LIKE '/data/bulk/r0_%';
SELECT * FROM bulk_versions;
BEGIN;
UPDATE item SET priority = 8
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'bulk') AND path::text LIKE '/data/bulk/r1_%';
UPDATE item SET priority = 9
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'bulk') AND path::text LIKE '/data/bulk/r1_%';
COMMIT;
SELECT * FROM bulk_versions;
SELECT remove_rasters('bulk', ARRAY['/data/bulk/r0_c0.tif', '/data/bulk/r0_c1.tif']);
SELECT * FROM bulk_versions;
-- A mosaic deleted directly (its items removed by the cascade) goes with its history: the
-- items' versions are not recorded for a mosaic that no longer is
SET ROLE regress_bulk_writer;
SELECT register_raster('bulk_deleted', '/data/bulk/d.tif', (SELECT info FROM staging WHERE k = 0)) > 0 AS registered;
UPDATE item SET priority = 1 WHERE path = '/data/bulk/d.tif';
SELECT regress.try($$DELETE FROM pgmosaic.mosaic WHERE name = 'bulk_deleted'$$);
RESET ROLE;
SELECT count(*) AS mosaics, (SELECT count(*) FROM item_history h
                             WHERE NOT EXISTS (SELECT 1 FROM mosaic m WHERE m.id = h.mosaic_id))
                            AS orphan_versions
FROM mosaic WHERE name = 'bulk_deleted';

SELECT drop_mosaic('bulk');
DROP TABLE staging;
DROP TABLE plans;
DROP VIEW bulk_versions;
DROP ROLE regress_bulk_writer;
DROP ROLE regress_bulk_reader;
DROP ROLE regress_bulk_other;

-- The union of footprints (the boundary) merges axis-aligned rectangles row by row before
-- GEOS: the same area as ST_Union for rectangles that touch, overlap, nest or stand apart in
-- a row, in rows of different heights, and for footprints that are not rectangles (a
-- rotated square, a square with a hole, a multipolygon, an empty one, a NULL)
WITH f (g) AS (
    SELECT NULL::geometry
    UNION ALL SELECT ST_MakeEnvelope(x, 0, x + 10, 10, 32631) FROM generate_series(0, 90, 10) x
    UNION ALL SELECT ST_MakeEnvelope(5, 0, 25, 10, 32631)          -- overlaps the row
    UNION ALL SELECT ST_MakeEnvelope(2, 2, 3, 3, 32631)            -- inside it
    UNION ALL SELECT ST_MakeEnvelope(200, 0, 210, 10, 32631)       -- a gap before it
    UNION ALL SELECT ST_MakeEnvelope(0, 10, 50, 30, 32631)         -- a taller row above
    UNION ALL SELECT ST_MakeEnvelope(50, 10, 60, 30, 32631)
    UNION ALL SELECT ST_Rotate(ST_MakeEnvelope(300, 0, 310, 10, 32631), 0.3,
                               ST_MakePoint(305, 5))
    UNION ALL SELECT ST_GeomFromText('POLYGON((400 0,420 0,420 20,400 20,400 0),'
                                     '(405 5,410 5,410 10,405 10,405 5))', 32631)
    UNION ALL SELECT ST_GeomFromText('MULTIPOLYGON(((500 0,510 0,510 10,500 10,500 0)),'
                                     '((520 0,530 0,530 10,520 10,520 0)))', 32631)
    UNION ALL SELECT ST_GeomFromText('POLYGON EMPTY', 32631)
)
SELECT ST_Equals(pgmosaic._union_footprints(array_agg(g)), ST_Union(g)) AS same_area,
       ST_NumGeometries(pgmosaic._union_footprints(array_agg(g))) AS parts,
       ST_Area(pgmosaic._union_footprints(array_agg(g))) = ST_Area(ST_Union(g)) AS same_size
FROM f;
SELECT pgmosaic._union_footprints(NULL) IS NULL AS no_footprints,
       pgmosaic._union_footprints(ARRAY[NULL::geometry]) IS NULL AS only_null;
