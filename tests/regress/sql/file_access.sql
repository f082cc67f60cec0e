-- Backend file access: only a superuser may enable it or widen the roots; paths are checked
-- after resolving ".." and symbolic links.
\set SHOW_CONTEXT never
CREATE ROLE regress_pgmosaic_user LOGIN;
GRANT pgmosaic_writer TO regress_pgmosaic_user;

-- In a fresh session the module is not loaded yet and the settings are placeholders: values a
-- non-superuser gives them are refused when the module loads.
\c - regress_pgmosaic_user
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/';
SELECT pgmosaic.gdal_version() IS NOT NULL AS module_loaded;
SHOW pgmosaic.enable_file_access;
SHOW pgmosaic.allowed_roots;
SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif');
-- Once loaded, setting them is refused outright.
SELECT regress.try($$SET pgmosaic.enable_file_access = on$$);
SELECT regress.try($$SET pgmosaic.allowed_roots = '/'$$);
\c - postgres
\set SHOW_CONTEXT never
DROP OWNED BY regress_pgmosaic_user;
DROP ROLE regress_pgmosaic_user;

SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = ' /tmp/pgmosaic_regress/sub , /tmp/pgmosaic_regress ';
SELECT key, value FROM jsonb_each(pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif'))
WHERE key NOT IN ('mtime', 'path', 'statistics', 'bands') ORDER BY key;
SELECT value FROM jsonb_array_elements(
    pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif', 'exact') -> 'statistics') LIMIT 1;
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/../pgmosaic_regress_outside/secret.tif')$$);
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/escape.tif')$$);
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/vsicurl/http://127.0.0.1:1/a.tif')$$);
SELECT regress.try($$SELECT pgmosaic.inspect_raster(E'/tmp/pgmosaic_regress/a.tif\\x')$$);
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress/sub';
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif')$$);
-- A prefix of a directory name is not the directory
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_reg';
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.tif')$$);

-- Only the allowed GDAL drivers open files: a VRT could reach any file the server can read
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
-- (GDAL's drivers are PostGIS raster's too: its own setting registers VRT here, pgmosaic's
-- gate decides; the cluster's setting enables the formats pgmosaic reads, VRT not among them)
SET postgis.gdal_enabled_drivers = 'GTiff VRT';
SHOW pgmosaic.allowed_drivers;
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.vrt')$$);
SET pgmosaic.allowed_drivers = 'GTiff, VRT';
SELECT pgmosaic.inspect_raster('/tmp/pgmosaic_regress/a.vrt') ->> 'driver' AS allowed_now;
RESET pgmosaic.allowed_drivers;
RESET postgis.gdal_enabled_drivers;
-- Network references need their own allowance, by prefix
SHOW pgmosaic.allowed_network_prefixes;
SET pgmosaic.allowed_network_prefixes = 'http://127.0.0.1:1/allowed/';
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/vsicurl/http://127.0.0.1:1/other/a.tif')$$);
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/vsicurl/http://127.0.0.1:1/allowed/../other/a.tif')$$);
-- allowed: the request is made (and fails: nothing listens on port 1)
SELECT regress.try($$SELECT pgmosaic.inspect_raster('/vsicurl/http://127.0.0.1:1/allowed/a.tif')$$);
SELECT state, detail FROM pgmosaic.stat_raster('/vsicurl/http://127.0.0.1:1/other/a.tif');
RESET pgmosaic.allowed_network_prefixes;
