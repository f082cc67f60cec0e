-- The attacks of an adversarial review, kept as tests, and the rules that close their classes:
-- every function immune to the caller's search_path, every write policy requiring write
-- access, pixels read by path for admins only, nothing said about paths outside the roots.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never

-- Rule 1: every SQL and PL/pgSQL function has a fixed search_path, but _resolved_path (kept
-- inlinable), whose body names nothing unqualified: no bare operator, type or function.
SELECT p.oid::regprocedure AS function_without_search_path
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'pgmosaic'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
ORDER BY 1;
SELECT p.oid::regprocedure AS inlined, b.body ~ '[-=<>!+*/|&~^@#%]' AS bare_operator,
       b.body ~ '::\s*(?!pg_catalog\.|pgmosaic\.)' AS bare_type,
       b.body ~ '(^|[^.\w])(?!(CASE|WHEN|THEN|ELSE|END|SELECT|AND|OR|NOT|IS|NULL)\M)[a-z_]\w*\s*\('
           AS bare_function
FROM pg_proc p,
     LATERAL (SELECT regexp_replace(p.prosrc, 'OPERATOR\(pg_catalog\.[^)]+\)', '', 'g')) AS b (body)
WHERE p.oid = 'pgmosaic._resolved_path(pgmosaic.pathref, pgmosaic.pathref)'::regprocedure;
-- Rule 2: every function a policy calls has a fixed search_path (or is a built-in)
SELECT c.relname, pol.polname, d.refobjid::regprocedure AS function
FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
                AND d.refclassid = 'pg_proc'::regclass
JOIN pg_proc p ON p.oid = d.refobjid
WHERE c.relnamespace = 'pgmosaic'::regnamespace
  AND p.pronamespace <> 'pg_catalog'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) x WHERE x LIKE 'search\_path=%')
ORDER BY 1, 2;
-- Rule 3: every table has row-level security, a read policy, and write policies (insert,
-- update, delete) that require write access to the mosaic (can_write) or ownership
SELECT c.relname, c.relrowsecurity,
       string_agg(pol.polcmd::text, '' ORDER BY pol.polcmd) AS commands,
       bool_and(pol.polcmd = 'r' OR pg_get_expr(COALESCE(pol.polqual, pol.polwithcheck),
                                                pol.polrelid) ~ '(can_write|is_owner|pg_has_role)')
           AS writes_need_write_access
FROM pg_class c LEFT JOIN pg_policy pol ON pol.polrelid = c.oid
WHERE c.relnamespace = 'pgmosaic'::regnamespace AND c.relkind = 'r'
GROUP BY c.relname, c.relrowsecurity ORDER BY 1;

CREATE ROLE regress_victim IN ROLE pgmosaic_writer;
CREATE ROLE regress_mallory IN ROLE pgmosaic_writer;
CREATE ROLE regress_reader IN ROLE pgmosaic_reader;
CREATE ROLE regress_peer IN ROLE pgmosaic_writer;
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SET ROLE regress_victim;
SELECT create_mosaic('victim', 32631) > 0 AS created;
SELECT add_raster('victim', '/tmp/pgmosaic_regress/a.tif') > 0 AS added;
SELECT add_theme_rule('victim', 'bright', 'b1 > 4') AS themed;
SELECT grant_access('victim', 'regress_reader');
SELECT grant_access('victim', 'regress_peer');
RESET ROLE;
-- The attackers know the victim's ids (they are small integers)
SELECT m.id AS victim_id, i.id AS victim_item FROM mosaic m JOIN item i ON i.mosaic_id = m.id
WHERE m.name = 'victim' \gset

-- Attack 1: a writer who owns a mosaic and can create objects defines operators that always
-- hold, in a schema of its own and in public, puts them first on its search_path, and grants
-- itself write access to someone else's mosaic.
CREATE SCHEMA regress_evil AUTHORIZATION regress_mallory;
GRANT CREATE ON SCHEMA public TO regress_mallory;
SET ROLE regress_mallory;
SELECT create_mosaic('mallory', 32631) > 0 AS created;
CREATE FUNCTION regress_evil.yes(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_evil.yes(oid, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_evil.yes(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = regress_evil.yes);
CREATE OPERATOR regress_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.yes);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = regress_evil.yes);
SET search_path = regress_evil, pg_catalog, public;
SELECT regress.try(format($$INSERT INTO pgmosaic.mosaic_grant VALUES (%s, 'regress_mallory', 'write')$$, :victim_id));
SELECT regress.try($$SELECT pgmosaic.grant_access('victim', 'regress_mallory', 'write')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('victim', '/tmp/pgmosaic_regress/b.tif')$$);
SELECT regress.try(format($$UPDATE pgmosaic.mosaic SET title = 'mine' WHERE id = %s$$, :victim_id));
SELECT regress.try(format($$INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, height, band_count, data_type) VALUES (%s, '/tmp/x.tif', 'SRID=32631;POINT(0 0)', 32631, '{0,1,0,0,0,-1}', 1, 1, 1, 'Byte')$$, :victim_id));
SET search_path = pg_temp, regress_evil, public, pg_catalog;
SELECT regress.try(format($$INSERT INTO pgmosaic.mosaic_grant VALUES (%s, 'regress_mallory', 'write')$$, :victim_id));
SELECT regress.try($$SELECT pgmosaic.add_raster('victim', '/tmp/pgmosaic_regress/b.tif')$$);
RESET search_path;
RESET ROLE;
SET search_path = pgmosaic, public;
SELECT count(*) AS victim_items,
       (SELECT count(*) FROM mosaic_grant g
        WHERE g.mosaic_id = :victim_id AND g.grantee::text = 'regress_mallory') AS mallory_grants,
       (SELECT title FROM mosaic WHERE id = :victim_id) AS title
FROM item i WHERE i.mosaic_id = :victim_id;
DROP OPERATOR public.= (oid, integer);
REVOKE CREATE ON SCHEMA public FROM regress_mallory;

-- Attack 2: a read-only grantee changes the abstractions (empty tiles read as nodata, themes
-- deleted, rules rewritten) or adds rows to them: nothing changes.
SET ROLE regress_reader;
SELECT count(*) > 0 AS sees_tiles, (SELECT count(*) FROM theme) > 0 AS sees_themes,
       (SELECT count(*) FROM theme_rule) AS sees_rules FROM tile;
WITH u AS (UPDATE tile SET empty = true RETURNING 1) SELECT count(*) AS tiles_updated FROM u;
WITH d AS (DELETE FROM theme RETURNING 1) SELECT count(*) AS themes_deleted FROM d;
WITH u AS (UPDATE theme_rule SET expression = 'b1 > 0' RETURNING 1) SELECT count(*) AS rules_updated FROM u;
WITH d AS (DELETE FROM tile RETURNING 1) SELECT count(*) AS tiles_deleted FROM d;
WITH u AS (UPDATE item SET status = 'missing' RETURNING 1) SELECT count(*) AS items_updated FROM u;
SELECT regress.try($$INSERT INTO pgmosaic.theme_rule
    SELECT id, 'evil', 'b1 > 0' FROM pgmosaic.mosaic WHERE name = 'victim'$$);
SELECT regress.try($$INSERT INTO pgmosaic.theme (mosaic_id, theme, polygon)
    SELECT id, 'evil', 'POLYGON((0 0,1 0,1 1,0 0))' FROM pgmosaic.mosaic WHERE name = 'victim'$$);
RESET ROLE;
-- A writer holding a read grant has the table privileges, and still changes nothing
SET ROLE regress_peer;
WITH u AS (UPDATE tile SET empty = true RETURNING 1) SELECT count(*) AS tiles_updated FROM u;
WITH d AS (DELETE FROM theme RETURNING 1) SELECT count(*) AS themes_deleted FROM d;
WITH u AS (UPDATE theme_rule SET expression = 'b1 > 0' RETURNING 1) SELECT count(*) AS rules_updated FROM u;
WITH d AS (DELETE FROM tile RETURNING 1) SELECT count(*) AS tiles_deleted FROM d;
WITH u AS (UPDATE item SET status = 'missing' RETURNING 1) SELECT count(*) AS items_updated FROM u;
SELECT regress.try(format($$INSERT INTO pgmosaic.theme_rule VALUES (%s, 'evil', 'b1 > 0')$$, :victim_id));
SELECT regress.try(format($$INSERT INTO pgmosaic.theme (mosaic_id, theme, polygon) VALUES (%s, 'evil', 'SRID=32631;POINT(0 0)')$$, :victim_id));
SELECT regress.try(format('SELECT pgmosaic._item_theme(%s, %s, %L)', :victim_id, :victim_item, 'b1 > 0')) ~ 'not writable' AS theme_refused;
RESET ROLE;
-- ... nor does a writer without a grant (it sees no row to change, and may add none)
SET ROLE regress_mallory;
WITH u AS (UPDATE tile SET empty = true RETURNING 1) SELECT count(*) AS tiles_updated FROM u;
SELECT regress.try(format($$INSERT INTO pgmosaic.tile VALUES (%s, %s, 9, '0', 'SRID=32631;POINT(0 0)', NULL, NULL, true, NULL)$$, :victim_id, :victim_item));
SELECT regress.try(format($$INSERT INTO pgmosaic.theme_rule VALUES (%s, 'evil', 'b1 > 0')$$, :victim_id));
RESET ROLE;
SELECT count(*) FILTER (WHERE empty) AS empty_tiles, count(*) AS tiles,
       (SELECT count(*) FROM theme) > 0 AS themes_kept,
       (SELECT expression FROM theme_rule) AS rule
FROM tile;

-- Attack 3: a reader reads pixels of any file by path: refused. It reads pixels only of the
-- items of mosaics it may see (summary), and an item of another mosaic is refused by id too.
SET ROLE regress_reader;
SELECT regress.try($$SELECT pgmosaic.zonal_stats('/tmp/pgmosaic_regress/b.tif', 1,
    'POLYGON((500200 5000000,500400 5000000,500400 4999900,500200 4999900,500200 5000000))')$$);
SELECT regress.try($$SELECT pgmosaic.compute_theme('/tmp/pgmosaic_regress/b.tif', 'b1 > 0')$$);
SELECT count, min, max, items_read FROM summary('victim',
    ST_MakeEnvelope(500010, 4999910, 500190, 4999990, 32631), exact => true);
-- ... and may read, not write: no theme is computed from its items by it
SELECT regress.try(format('SELECT pgmosaic._item_theme(%s, %s, %L)', :victim_id, :victim_item, 'b1 > 0'));
RESET ROLE;
-- A writer without a grant reads no item of the victim's, by id either
SET ROLE regress_mallory;
SELECT regexp_replace(regress.try(format('SELECT pgmosaic._item_zonal_stats(%s, %s, 1, %L)', :victim_id, :victim_item, 'POLYGON((0 0,1 0,1 1,0 0))')), '\d+', 'N', 'g');
SELECT regexp_replace(regress.try(format('SELECT pgmosaic._item_theme(%s, %s, %L)', :victim_id, :victim_item, 'b1 > 0')), '\d+', 'N', 'g');
RESET ROLE;
-- An area of +-1e300 covers the whole file (it counted 0 pixels through a saturating cast)
SELECT (zonal_stats('/tmp/pgmosaic_regress/a.tif', 1,
        'POLYGON((-1e300 -1e300,1e300 -1e300,1e300 1e300,-1e300 1e300,-1e300 -1e300))')
        ->> 'count')::bigint AS pixels_of_20x10;

-- Attack 4: paths outside the roots say nothing of what is there: a missing and an existing
-- file get the same answer, and a symbolic link leading out is refused without its target
SET ROLE regress_mallory;
SELECT state, detail FROM stat_raster('/tmp/pgmosaic_regress_outside/secret.tif');
SELECT state, detail FROM stat_raster('/tmp/pgmosaic_regress_outside/no_such.tif');
SELECT state, detail FROM stat_raster('/tmp/pgmosaic_regress/../../etc/passwd');
SELECT state, detail FROM stat_raster('/tmp/pgmosaic_regress/escape.tif');
RESET ROLE;

-- Attack 5: a sidecar outside the roots is never opened. a.tif gets an external overview
-- whose file is a symbolic link to one outside the roots: the backend does not see it.
\! cp /tmp/pgmosaic_regress/a.tif /tmp/pgmosaic_regress/work/side.tif && gdaladdo -q -ro /tmp/pgmosaic_regress/work/side.tif 2 && mv /tmp/pgmosaic_regress/work/side.tif.ovr /tmp/pgmosaic_regress_outside/side.tif.ovr && ln -sf /tmp/pgmosaic_regress_outside/side.tif.ovr /tmp/pgmosaic_regress/work/side.tif.ovr && chmod -R a+rX /tmp/pgmosaic_regress/work /tmp/pgmosaic_regress_outside
SELECT inspect_raster('/tmp/pgmosaic_regress/work/side.tif') -> 'overview_count' AS overviews_seen;
\! ln -sf /tmp/pgmosaic_regress/work/side.tif.real.ovr /tmp/pgmosaic_regress/work/side.tif.ovr && mv /tmp/pgmosaic_regress_outside/side.tif.ovr /tmp/pgmosaic_regress/work/side.tif.real.ovr
SELECT inspect_raster('/tmp/pgmosaic_regress/work/side.tif') -> 'overview_count' AS overviews_inside;

-- ... nor a sidecar of a refused driver: a VRT named .ovr (it could read any file it names)
\! cp /tmp/pgmosaic_regress/a.tif /tmp/pgmosaic_regress/work/side2.tif && gdalbuildvrt -q /tmp/pgmosaic_regress/work/side2.tif.ovr /tmp/pgmosaic_regress_outside/secret.tif && chmod -R a+rX /tmp/pgmosaic_regress/work
SELECT inspect_raster('/tmp/pgmosaic_regress/work/side2.tif') -> 'overview_count' AS vrt_overviews_seen;

-- Attack 6: a writer stores SQL in its mosaic's default sort, which every reader's items()
-- would run (as an admin, as a superuser): only a list of item columns is accepted
SET ROLE regress_mallory;
SELECT regress.try($$UPDATE pgmosaic.mosaic SET default_sort = '(SELECT pgmosaic.grant_access(''victim'', ''regress_mallory'', ''write'')) IS NULL' WHERE name = 'mallory'$$);
SELECT regress.try($$UPDATE pgmosaic.mosaic SET default_sort = 'pg_catalog.pg_read_file(''/etc/passwd'')' WHERE name = 'mallory'$$);
SELECT regress.try($$UPDATE pgmosaic.mosaic SET default_sort = 'cloud_cover DESC NULLS LAST, acquired' WHERE name = 'mallory'$$);
-- Attack 7: a writer inserts mosaics with ids of its choosing (the next ids of the sequence,
-- so that others' create_mosaic fails): the id is not the writer's to give
SELECT regress.try($$INSERT INTO pgmosaic.mosaic (id, name, srid) VALUES (1000000, 'squat', 32631)$$);
SELECT regress.try($$INSERT INTO pgmosaic.mosaic (name, srid) VALUES ('own_insert', 32631)$$);
RESET ROLE;

-- Attack 8: versions are what asof= reads show of the past; a writer of the mosaic rewrites
-- them directly (back-dates an item, hides a file it had registered, forges one): refused.
-- They change only as its changes of the items are recorded, by the triggers.
-- The current versions are the items' rows, valid from their `changed`, which the catalog
-- sets: a writer neither back-dates it nor gives it to a new item.
SET ROLE regress_victim;
SELECT regress.try($$UPDATE pgmosaic.item_version SET valid = tstzrange('2000-01-01', NULL)$$);
SELECT regress.try($$UPDATE pgmosaic.item_history SET valid = tstzrange('2000-01-01', NULL)$$);
SELECT regress.try($$DELETE FROM pgmosaic.item_history$$);
SELECT regress.try($$INSERT INTO pgmosaic.item_history SELECT * FROM pgmosaic.item_version$$);
SELECT regress.try(format($$UPDATE pgmosaic.item SET changed = '2000-01-01' WHERE id = %s$$,
                          :victim_item));
SELECT regress.try($$INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform,
                                                 width, height, band_count, data_type, changed)
                     SELECT mosaic_id, '/tmp/pgmosaic_regress/backdated.tif', footprint, srid,
                            geotransform, width, height, band_count, data_type, '2000-01-01'
                     FROM pgmosaic.item LIMIT 1$$);
SELECT regress.try($$UPDATE pgmosaic.asset_version SET path = '/tmp/pgmosaic_regress/b.tif'$$);
SELECT regress.try($$DELETE FROM pgmosaic.asset_version$$);
SELECT regress.try(format($$UPDATE pgmosaic.item SET priority = 3 WHERE id = %s$$, :victim_item));
SELECT count(*) AS versions, count(*) FILTER (WHERE upper_inf(valid)) AS current,
       min(lower(valid)) > '2001-01-01' AS not_backdated
FROM pgmosaic.item_version WHERE id = :victim_item;
RESET ROLE;
-- The versions (a view under the caller's policies) and the history show a mosaic's items to
-- the roles that may read it, and to no other
SET ROLE regress_mallory;
SELECT (SELECT count(*) FROM pgmosaic.item_version WHERE id = :victim_item) AS versions,
       (SELECT count(*) FROM pgmosaic.item_history WHERE id = :victim_item) AS history;
SET ROLE regress_reader;
SELECT (SELECT count(*) FROM pgmosaic.item_version WHERE id = :victim_item) AS versions,
       (SELECT count(*) FROM pgmosaic.item_history WHERE id = :victim_item) AS history;
RESET ROLE;

-- pg_dump by a writer reads the sequences
SET ROLE regress_mallory;
SELECT regress.try($$SELECT last_value FROM pgmosaic.item_id_seq$$);
RESET ROLE;

SELECT drop_mosaic(name) FROM mosaic WHERE name IN ('victim', 'mallory', 'own_insert');
DROP SCHEMA regress_evil CASCADE;
DROP ROLE regress_victim, regress_mallory, regress_reader, regress_peer;
