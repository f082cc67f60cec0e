-- Health and repair: check() finds problems, sync() brings items up to date, repair_paths()
-- and path_root move storage. Files are moved and rewritten with \! under work/.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
-- Reports without modification times (they depend on when the test runs) and with N for
-- numbers (sizes depend on the GDAL release).
CREATE FUNCTION pg_temp.health(mosaic text, deep boolean DEFAULT false)
RETURNS TABLE (file text, problem text, detail text) LANGUAGE sql AS $$
    SELECT regexp_replace(c.path::text, '.*/', ''), c.problem,
           regexp_replace(regexp_replace(c.detail, '(; )?modified [^;]*', '', 'g'), '\d+', 'N', 'g')
    FROM pgmosaic.check(mosaic, deep) c ORDER BY c.item_id, c.problem
$$;
CREATE FUNCTION pg_temp.synced(mosaic text, dry_run boolean DEFAULT false)
RETURNS TABLE (file text, action text, detail text) LANGUAGE sql AS $$
    SELECT regexp_replace(s.path::text, '.*/', ''), s.action,
           regexp_replace(regexp_replace(s.detail, '(; )?modified [^;]*', '', 'g'), '\d+', 'N', 'g')
    FROM pgmosaic.sync(mosaic, dry_run) s ORDER BY s.item_id
$$;
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
\! cp /tmp/pgmosaic_regress/a.tif /tmp/pgmosaic_regress/work/m1.tif
\! cp /tmp/pgmosaic_regress/b.tif /tmp/pgmosaic_regress/work/m2.tif
\! cp /tmp/pgmosaic_regress/cog.tif /tmp/pgmosaic_regress/work/m3.tif
\! cp /tmp/pgmosaic_regress/sub/c.tif /tmp/pgmosaic_regress/work/m4.tif
INSERT INTO path_root VALUES ('work', '/tmp/pgmosaic_regress/work');
SELECT path, item_id IS NOT NULL AS registered
FROM create_mosaic_from_files('health', ARRAY['@work/m1.tif', '@work/m2.tif', '@work/m3.tif',
                                              '/tmp/pgmosaic_regress/work/m4.tif',
                                              '@work/m4.tif']);

-- A healthy mosaic: only GeoTIFFs that are not COGs, and one file registered twice
SELECT * FROM pg_temp.health('health');
SELECT remove_rasters('health', ARRAY['@work/m4.tif']);

-- Files change behind the catalog: one goes, one is rewritten, one is corrupted
\! mv /tmp/pgmosaic_regress/work/m1.tif /tmp/pgmosaic_regress/work/m1.moved
\! cp /tmp/pgmosaic_regress/wide.tif /tmp/pgmosaic_regress/work/m2.tif
\! cp /tmp/pgmosaic_regress/corrupt.tif /tmp/pgmosaic_regress/work/m3.tif
SELECT * FROM pg_temp.health('health');
-- deep opens every file: the corrupted one is unreadable
SELECT * FROM pg_temp.health('health', deep => true);

-- sync: a dry run reports and changes nothing
SELECT * FROM pg_temp.synced('health', dry_run => true);
SELECT regexp_replace(path::text, '.*/', '') AS file, status, width
FROM item WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'health') ORDER BY id;
-- then does it: statuses, the rewritten file's header, the extent
SELECT * FROM pg_temp.synced('health');
SELECT regexp_replace(path::text, '.*/', '') AS file, status, width
FROM item WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'health') ORDER BY id;
SELECT min_x, max_x FROM mosaic WHERE name = 'health';
SELECT count(*) AS second_sync_changes FROM pg_temp.synced('health');
-- The files come back
\! mv /tmp/pgmosaic_regress/work/m1.moved /tmp/pgmosaic_regress/work/m1.tif
\! cp /tmp/pgmosaic_regress/cog.tif /tmp/pgmosaic_regress/work/m3.tif
SELECT * FROM pg_temp.synced('health');
SELECT * FROM pg_temp.health('health');

-- Files the settings refuse are reported as denied, unknown roots as such
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress/dir';
SELECT * FROM pg_temp.health('health');
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
UPDATE path_root SET name = 'work_old' WHERE name = 'work';
SELECT * FROM pg_temp.health('health');
UPDATE path_root SET name = 'work' WHERE name = 'work_old';
-- File access off: check refuses to run rather than report every file
RESET pgmosaic.enable_file_access;
SELECT regress.try($$SELECT * FROM pgmosaic.check('health')$$);
SET pgmosaic.enable_file_access = on;

-- Moving the storage: a root is one UPDATE; references not under a root need repair_paths
\! mv /tmp/pgmosaic_regress/work /tmp/pgmosaic_regress/work2
SELECT file, problem FROM pg_temp.health('health');
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress/work2' WHERE name = 'work';
SELECT file, problem FROM pg_temp.health('health');
SELECT repair_paths('health', '/tmp/pgmosaic_regress/work/', '/tmp/pgmosaic_regress/work2');
SELECT path FROM items('health');
-- ... or put them under the root
SELECT repair_paths('health', '/tmp/pgmosaic_regress/work2', '@work');
SELECT path, resolved_path FROM items('health');
SELECT file, problem FROM pg_temp.health('health');
SELECT repair_paths('health', '/nothing/here', '/elsewhere') AS nothing_to_repair;
SELECT regress.try($$SELECT pgmosaic.repair_paths('health', '@work', 'relative')$$);
SELECT regress.try($$SELECT pgmosaic.repair_paths('health', '@work/m2.tif', '@work/m3.tif')$$);
SELECT regress.try($$SELECT pgmosaic.repair_paths('nope', '/a', '/b')$$);
\! mv /tmp/pgmosaic_regress/work2 /tmp/pgmosaic_regress/work
UPDATE path_root SET prefix = '/tmp/pgmosaic_regress/work' WHERE name = 'work';

-- The catalog edited by hand: an extent too small, a band count and type that do not fit
UPDATE mosaic SET max_x = 500100 WHERE name = 'health';
UPDATE item SET band_count = 1, data_type = 'UInt16'
WHERE mosaic_id = (SELECT id FROM mosaic WHERE name = 'health') AND path = '@work/m1.tif';
SELECT file, problem, detail FROM pg_temp.health('health') WHERE problem <> 'not_cog';
-- deep compares the files themselves, which still fit
SELECT file, problem FROM pg_temp.health('health', true) WHERE problem <> 'not_cog';
SELECT refresh_mosaic('health');
SELECT file, problem FROM pg_temp.health('health') WHERE problem <> 'not_cog';

SELECT drop_mosaic('health');
DELETE FROM path_root WHERE name = 'work';
