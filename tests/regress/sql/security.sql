-- Roles and per-mosaic access: least privilege for pgmosaic_reader < pgmosaic_writer <
-- pgmosaic_admin; row-level security keyed on the mosaic (owner, grants, PUBLIC grants).
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never

-- The roles: created by the extension (once per cluster), each a member of the one before
SELECT r.rolname, r.rolcanlogin,
       ARRAY(SELECT b.rolname FROM pg_auth_members am JOIN pg_roles b ON b.oid = am.roleid
             WHERE am.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname LIKE 'pgmosaic\_%' ORDER BY 1;
CREATE ROLE regress_alice IN ROLE pgmosaic_writer;
CREATE ROLE regress_erin IN ROLE pgmosaic_writer;
CREATE ROLE regress_bob IN ROLE pgmosaic_reader;
CREATE ROLE regress_carol IN ROLE pgmosaic_reader;
CREATE ROLE regress_dave;
CREATE ROLE regress_admin IN ROLE pgmosaic_admin;
-- Backend file access is the superuser's to enable (here, for this session)
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';

-- Alice, a writer, creates two mosaics: she owns them, and shares one with Bob
SET ROLE regress_alice;
SELECT create_mosaic('alice_shared', 32631) > 0 AS created,
       create_mosaic('alice_private', 32631) > 0 AS created;
SELECT add_raster('alice_shared', '/tmp/pgmosaic_regress/a.tif') > 0 AS added,
       add_raster('alice_private', '/tmp/pgmosaic_regress/b.tif') > 0 AS added;
SELECT grant_access('alice_shared', 'regress_bob');
SELECT name, owner FROM mosaic ORDER BY name;
RESET ROLE;

-- Bob reads the shared mosaic and nothing else
SET ROLE regress_bob;
SELECT name FROM mosaic ORDER BY name;
SELECT count(*) AS shared_items FROM items('alice_shared');
SELECT regress.try($$SELECT * FROM pgmosaic.items('alice_private')$$);
SELECT count(*) AS items_visible FROM item;
SELECT count(*) AS grants_visible FROM mosaic_grant;
-- ... and cannot write
SELECT regress.try($$SELECT pgmosaic.add_raster('alice_shared', '/tmp/pgmosaic_regress/b.tif')$$);
SELECT regress.try($$DELETE FROM pgmosaic.item$$);
SELECT regress.try($$SELECT pgmosaic.grant_access('alice_shared', 'regress_carol')$$);
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif')$$);
-- A filter runs as Bob: it cannot reach beyond the mosaic, nor carry a statement
SELECT count(*) AS widened FROM items('alice_shared', filter => 'true) OR (true');
SELECT regress.try($$SELECT * FROM pgmosaic.items('alice_shared', filter => 'true; DROP TABLE pgmosaic.item')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.items('alice_shared', sort => 'id /* x */')$$);
RESET ROLE;

-- Carol, another reader, sees nothing; Dave, with no pgmosaic role, cannot reach the schema
SET ROLE regress_carol;
SELECT count(*) AS mosaics, (SELECT count(*) FROM item) AS items FROM mosaic;
RESET ROLE;
SET ROLE regress_dave;
SELECT regress.try($$SELECT count(*) FROM pgmosaic.item$$);
SELECT regress.try($$SELECT * FROM pgmosaic.items('alice_shared')$$);
RESET ROLE;

-- Erin, a writer without a grant, cannot see or touch Alice's mosaics
SET ROLE regress_erin;
SELECT count(*) AS mosaics FROM mosaic;
SELECT regress.try($$SELECT pgmosaic.add_raster('alice_shared', '/tmp/pgmosaic_regress/b.tif')$$);
WITH u AS (UPDATE item SET priority = 9 RETURNING 1) SELECT count(*) AS updated FROM u;
RESET ROLE;
-- Read access lets her see, not write
SET ROLE regress_alice;
SELECT grant_access('alice_shared', 'regress_erin');
RESET ROLE;
SET ROLE regress_erin;
SELECT regress.try($$SELECT pgmosaic.add_raster('alice_shared', '/tmp/pgmosaic_regress/b.tif')$$);
WITH d AS (DELETE FROM item RETURNING 1) SELECT count(*) AS deleted FROM d;
RESET ROLE;
-- Write access lets her register, not drop the mosaic, share it or take it
SET ROLE regress_alice;
SELECT grant_access('alice_shared', 'regress_erin', 'write');
RESET ROLE;
SET ROLE regress_erin;
SELECT add_raster('alice_shared', '/tmp/pgmosaic_regress/b.tif') > 0 AS added;
SELECT regress.try($$SELECT pgmosaic.drop_mosaic('alice_shared')$$);
SELECT regress.try($$SELECT pgmosaic.grant_access('alice_shared', 'regress_carol')$$);
SELECT regress.try($$UPDATE pgmosaic.mosaic SET owner = 'regress_erin' WHERE name = 'alice_shared'$$);
SELECT regress.try($$INSERT INTO pgmosaic.mosaic_grant
    SELECT id, 'regress_erin', 'write' FROM pgmosaic.mosaic WHERE name = 'alice_shared'$$);
RESET ROLE;

-- PUBLIC grants, and the admin who sees and changes everything
SET ROLE regress_alice;
SELECT grant_access('alice_private', 'public');
SELECT regress.try($$SELECT pgmosaic.grant_access('alice_private', 'regress_nobody')$$);
SELECT regress.try($$SELECT pgmosaic.grant_access('alice_private', 'regress_bob', 'own')$$);
RESET ROLE;
SET ROLE regress_carol;
SELECT name FROM mosaic ORDER BY name;
RESET ROLE;
SET ROLE regress_admin;
SELECT name FROM mosaic WHERE name LIKE 'alice\_%' ORDER BY name;
SELECT revoke_access('alice_private', 'public');
SELECT revoke_access('alice_shared', 'regress_erin', 'write');
INSERT INTO path_root VALUES ('admin_root', '/tmp/pgmosaic_regress');
DELETE FROM path_root WHERE name = 'admin_root';
RESET ROLE;
SET ROLE regress_carol;
SELECT count(*) AS mosaics_after_revoke FROM mosaic;
RESET ROLE;
SELECT m.name, g.grantee::text, g.privilege FROM mosaic_grant g JOIN mosaic m ON m.id = g.mosaic_id
ORDER BY 1, 2, 3;

-- Storage roots and backend settings are not the writers'
SET ROLE regress_alice;
SELECT regress.try($$INSERT INTO pgmosaic.path_root VALUES ('mine', '/tmp')$$);
SELECT regress.try($$SET pgmosaic.enable_file_access = on$$);
SELECT regress.try($$SET pgmosaic.allowed_drivers = 'GTiff,VRT'$$);
SELECT regress.try($$SET pgmosaic.allowed_network_prefixes = '/vsis3/bucket'$$);
RESET ROLE;

-- Under row-level security only leakproof operators become index conditions: items() looks
-- windows up with pgmosaic.&&& (leakproof) on the window key (item_mosaic_window_idx), where
-- PostGIS's && could not use an index at all
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    out text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ '(Scan|Index Cond)' THEN
            out := out || regexp_replace(line, '''[0-9A-F]+''::geometry', 'W', 'g') || E'\n';
        END IF;
    END LOOP;
    RETURN out;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.plan(text) TO PUBLIC;
SELECT create_mosaic('alice_big', 32631, 10) > 0 AS created;
INSERT INTO item (mosaic_id, path, footprint, srid, geotransform, width, height, band_count,
                  data_type)
SELECT m.id, format('/data/big/%s.tif', g),
       ST_MakeEnvelope(g * 100, 0, g * 100 + 100, 100, 32631), 32631,
       ARRAY[g * 100, 10, 0, 100, 0, -10], 10, 10, 3, 'Byte'
FROM mosaic m, generate_series(1, 5000) g WHERE m.name = 'alice_big';
ANALYZE item;
SELECT grant_access('alice_big', 'regress_bob');
SET ROLE regress_bob;
SELECT pg_temp.plan($$SELECT id FROM pgmosaic.item i
    WHERE i.mosaic_id OPERATOR(pg_catalog.+) 0 = (SELECT id FROM pgmosaic.mosaic WHERE name = 'alice_big')
      AND pgmosaic.window_key(i.mosaic_id, i.overview_level, i.footprint) OPERATOR(pgmosaic.&&&)
          pgmosaic.window_key((SELECT id FROM pgmosaic.mosaic WHERE name = 'alice_big'), 0,
                              ST_MakeEnvelope(1000, 0, 1200, 100, 32631))$$)
    AS leakproof_window;
SELECT pg_temp.plan($$SELECT id FROM pgmosaic.item i
    WHERE i.mosaic_id = (SELECT id FROM pgmosaic.mosaic WHERE name = 'alice_big')
      AND i.footprint OPERATOR(public.&&) ST_MakeEnvelope(1000, 0, 1200, 100, 32631)$$)
    AS postgis_window;
SELECT count(*) AS window_items FROM items('alice_big', ST_MakeEnvelope(1000, 0, 1200, 100, 32631));
RESET ROLE;

-- Clean up: mosaics (their grants go with them), then the roles
SELECT drop_mosaic(name) FROM mosaic WHERE name LIKE 'alice\_%';
DROP ROLE regress_alice, regress_erin, regress_bob, regress_carol, regress_dave, regress_admin;
