-- Upgrade: CREATE EXTENSION pgmosaic VERSION '0.1' (or '0.2') then ALTER EXTENSION pgmosaic
-- UPDATE gives exactly the objects of a fresh install of the current version (functions with
-- their bodies and settings, types, operators, casts, tables, columns, constraints, indexes,
-- policies, privileges, comments, dumped configuration), and keeps the older data.
\set SHOW_CONTEXT never
CREATE DATABASE regress_pgmosaic_upgraded;
CREATE DATABASE regress_pgmosaic_fresh;
CREATE DATABASE regress_pgmosaic_from02;

\c regress_pgmosaic_upgraded
CREATE EXTENSION postgis;
CREATE EXTENSION postgis_raster;
CREATE EXTENSION pgmosaic VERSION '0.1';
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SELECT pgmosaic.create_mosaic('old', 32631);
SELECT pgmosaic.add_raster('old', '/tmp/pgmosaic_regress/a.tif');
INSERT INTO pgmosaic.path_root VALUES ('reg', '/tmp/pgmosaic_regress/');
SELECT pgmosaic.add_raster('old', '@reg//b.tif', priority => 1);
SELECT id, path, resolved_path FROM pgmosaic.items('old');

ALTER EXTENSION pgmosaic UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic';
-- The 0.1 data, in 0.2 form: normalised pathrefs, grid anchor, owner, PUBLIC grants that keep
-- the 0.1 visibility, native pixel sizes
SELECT id, path, pgmosaic.pathref_scheme(path) AS scheme, resolved_path
FROM pgmosaic.items('old');
SELECT name, origin_x, origin_y, owner,
       (SELECT array_agg(g.privilege ORDER BY g.privilege) FROM pgmosaic.mosaic_grant g
        WHERE g.mosaic_id = m.id AND g.grantee::oid = 0) AS public_grants
FROM pgmosaic.mosaic m;
SELECT name, prefix, pg_typeof(prefix) FROM pgmosaic.path_root;
SELECT id, min_pixel_size, status, category FROM pgmosaic.item ORDER BY id;
-- Registration goes on where it stopped
SELECT pgmosaic.add_raster('old', '@reg/sub/c.tif') AS new_id;

-- The objects, one line per object and detail, blanks collapsed: the query is kept in a psql
-- variable so that both databases define the same pg_temp function from it.
SELECT $q$
SELECT regexp_replace(l, '\s+', ' ', 'g') FROM (
WITH ext AS (SELECT e.oid, e.extconfig, e.extcondition FROM pg_extension e
             WHERE e.extname = 'pgmosaic'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
              AND d.deptype = 'e'),
tables AS (SELECT c.oid FROM pg_class c JOIN members m ON m.objid = c.oid
           WHERE m.classid = 'pg_class'::regclass AND c.relkind = 'r')
SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0) || ' | ' || COALESCE(CASE m.classid
    WHEN 'pg_proc'::regclass THEN
        (SELECT concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                          p.provolatile, p.proisstrict, p.proparallel, p.prosecdef, p.prorows,
                          l.lanname, md5(p.prosrc), p.probin, p.proconfig::text, p.proacl::text,
                          obj_description(p.oid, 'pg_proc'))
         FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = m.objid)
    WHEN 'pg_class'::regclass THEN
        (SELECT concat_ws(' | ', c.relkind, c.relacl::text, c.relrowsecurity,
                          c.relforcerowsecurity, obj_description(c.oid, 'pg_class'))
         FROM pg_class c WHERE c.oid = m.objid)
    WHEN 'pg_type'::regclass THEN
        (SELECT concat_ws(' | ', t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput,
                          t.typoutput, t.typreceive, t.typsend, t.typacl::text,
                          obj_description(t.oid, 'pg_type'))
         FROM pg_type t WHERE t.oid = m.objid)
    WHEN 'pg_operator'::regclass THEN
        (SELECT concat_ws(' | ', o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator,
                          o.oprrest, o.oprjoin, o.oprcanhash, o.oprcanmerge)
         FROM pg_operator o WHERE o.oid = m.objid)
    WHEN 'pg_cast'::regclass THEN
        (SELECT concat_ws(' | ', c.castfunc::regprocedure, c.castcontext, c.castmethod)
         FROM pg_cast c WHERE c.oid = m.objid)
    WHEN 'pg_opclass'::regclass THEN
        (SELECT concat_ws(' | ', c.opcdefault, string_agg(DISTINCT a.amopstrategy || ' '
                          || a.amopopr::regoperator, ', '), string_agg(DISTINCT p.amprocnum
                          || ' ' || p.amproc::regprocedure, ', '))
         FROM pg_opclass c
         LEFT JOIN pg_amop a ON a.amopfamily = c.opcfamily
         LEFT JOIN pg_amproc p ON p.amprocfamily = c.opcfamily
         WHERE c.oid = m.objid GROUP BY c.opcdefault)
    END, '')
FROM members m
UNION ALL
SELECT format('column %s.%s | %s | %s | %s | %s | %s | %s', a.attrelid::regclass, a.attname,
              a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attacl, col_description(a.attrelid, a.attnum))
FROM tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
UNION ALL
SELECT format('constraint %s.%s | %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
FROM tables t JOIN pg_constraint c ON c.conrelid = t.oid
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid))
FROM tables t JOIN pg_index i ON i.indrelid = t.oid
UNION ALL
SELECT format('policy %s.%s | %s | %s | %s | %s', p.polrelid::regclass, p.polname, p.polcmd,
              p.polroles::regrole[], pg_get_expr(p.polqual, p.polrelid),
              pg_get_expr(p.polwithcheck, p.polrelid))
FROM tables t JOIN pg_policy p ON p.polrelid = t.oid
UNION ALL
SELECT format('config %s | %s', c::regclass, cond)
FROM ext, unnest(ext.extconfig, ext.extcondition) AS u (c, cond)
) AS lines (l)
$q$ AS objects_query \gset
CREATE FUNCTION pg_temp.pgmosaic_objects() RETURNS SETOF text LANGUAGE sql AS :'objects_query';
SELECT string_agg(line, E'\n' ORDER BY line) AS upgraded_objects
FROM pg_temp.pgmosaic_objects() AS line \gset

-- From 0.2, with a grant and a theme rule: the policies and privileges of 0.2 are replaced.
\c regress_pgmosaic_from02
CREATE EXTENSION postgis;
CREATE EXTENSION postgis_raster;
CREATE EXTENSION pgmosaic VERSION '0.2';
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SELECT pgmosaic.create_mosaic('m02', 32631);
SELECT pgmosaic.add_raster('m02', '/tmp/pgmosaic_regress/a.tif');
SELECT pgmosaic.add_theme_rule('m02', 'bright', 'b1 > 4');
SELECT pgmosaic.grant_access('m02', 'pgmosaic_reader', 'read');
ALTER EXTENSION pgmosaic UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic';
SELECT (SELECT count(*) FROM pgmosaic.item) AS items, (SELECT count(*) FROM pgmosaic.tile) AS tiles,
       (SELECT count(*) FROM pgmosaic.theme) AS themes,
       (SELECT count(*) FROM pgmosaic.mosaic_grant) AS grants;
CREATE FUNCTION pg_temp.pgmosaic_objects() RETURNS SETOF text LANGUAGE sql AS :'objects_query';
SELECT string_agg(line, E'\n' ORDER BY line) AS from02_objects
FROM pg_temp.pgmosaic_objects() AS line \gset

\c regress_pgmosaic_fresh
CREATE EXTENSION pgmosaic CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic';
CREATE FUNCTION pg_temp.pgmosaic_objects() RETURNS SETOF text LANGUAGE sql AS :'objects_query';
SELECT count(*) > 250 AS many_objects FROM pg_temp.pgmosaic_objects();
-- The differences: none
SELECT 'only after the upgrade: ' || l AS difference
FROM (SELECT unnest(string_to_array(:'upgraded_objects', E'\n'))
      EXCEPT SELECT pg_temp.pgmosaic_objects()) AS d (l)
UNION ALL
SELECT 'only in a fresh install: ' || l
FROM (SELECT pg_temp.pgmosaic_objects()
      EXCEPT SELECT unnest(string_to_array(:'upgraded_objects', E'\n'))) AS d (l);
SELECT 'only after the update from 0.2: ' || l AS difference
FROM (SELECT unnest(string_to_array(:'from02_objects', E'\n'))
      EXCEPT SELECT pg_temp.pgmosaic_objects()) AS d (l)
UNION ALL
SELECT 'only in a fresh install: ' || l
FROM (SELECT pg_temp.pgmosaic_objects()
      EXCEPT SELECT unnest(string_to_array(:'from02_objects', E'\n'))) AS d (l);

\c pgmosaic_regress
DROP DATABASE regress_pgmosaic_upgraded;
DROP DATABASE regress_pgmosaic_fresh;
DROP DATABASE regress_pgmosaic_from02;
