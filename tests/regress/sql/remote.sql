-- Remote storage: the GDAL options of a path root's storage (never secrets), managed by admins,
-- read by everyone who reads the catalog; the records of remote items.
SET client_min_messages = warning;
CREATE ROLE regress_remote_admin IN ROLE pgmosaic_admin;
CREATE ROLE regress_remote_writer IN ROLE pgmosaic_writer;
CREATE ROLE regress_remote_reader IN ROLE pgmosaic_reader;

SET ROLE regress_remote_admin;
INSERT INTO pgmosaic.path_root VALUES ('objstore', '/vsis3/bucket/imagery');
INSERT INTO pgmosaic.path_root_option VALUES
    ('objstore', 'AWS_S3_ENDPOINT', 'minio.example:9000'),
    ('objstore', 'AWS_VIRTUAL_HOSTING', 'FALSE'),
    ('objstore', 'AWS_REQUEST_PAYER', 'requester'),
    ('objstore', 'GDAL_HTTP_HEADERS', E'X-Tenant: north\r\nX-Trace: on');
-- Secrets are never stored: credential keys, headers that carry credentials, control characters.
SELECT regress.try($$INSERT INTO pgmosaic.path_root_option VALUES
    ('objstore', 'AWS_SECRET_ACCESS_KEY', 'x')$$);
SELECT regress.try($$INSERT INTO pgmosaic.path_root_option VALUES
    ('objstore', 'AWS_SESSION_TOKEN', 'x')$$);
SELECT regress.try($$INSERT INTO pgmosaic.path_root_option VALUES
    ('objstore', 'GDAL_HTTP_USERPWD', 'user:secret')$$);
SELECT regress.try($$UPDATE pgmosaic.path_root_option
    SET value = E'X-Tenant: north\r\nAuthorization: Bearer abc' WHERE key = 'GDAL_HTTP_HEADERS'$$);
SELECT regress.try($$UPDATE pgmosaic.path_root_option
    SET value = 'cookie: session=1' WHERE key = 'GDAL_HTTP_HEADERS'$$);
SELECT regress.try($$UPDATE pgmosaic.path_root_option
    SET value = E'eu-west-1\n' WHERE key = 'AWS_REQUEST_PAYER'$$);
SELECT regress.try($$INSERT INTO pgmosaic.path_root_option VALUES
    ('nosuchroot', 'AWS_REGION', 'eu-west-1')$$);
RESET ROLE;

-- Writers and readers see the options and cannot change them.
SET ROLE regress_remote_writer;
SELECT root, key, value FROM pgmosaic.path_root_option ORDER BY 1, 2;
SELECT regress.try($$INSERT INTO pgmosaic.path_root_option VALUES
    ('objstore', 'AWS_REGION', 'eu-west-1')$$);
SELECT regress.try($$DELETE FROM pgmosaic.path_root_option$$);
RESET ROLE;
SET ROLE regress_remote_reader;
SELECT count(*) FROM pgmosaic.path_root_option;
SELECT regress.try($$UPDATE pgmosaic.path_root_option SET value = 'x'$$);
-- The records of remote items are read with their mosaic and written only by its writers.
SELECT regress.try($$INSERT INTO pgmosaic.item_remote VALUES (1, 1, '"e"', '\x00')$$);
RESET ROLE;

-- A renamed root keeps its options; a removed one takes them along.
SET ROLE regress_remote_admin;
UPDATE pgmosaic.path_root SET name = 'objstore2' WHERE name = 'objstore';
SELECT root, count(*) FROM pgmosaic.path_root_option GROUP BY root;
DELETE FROM pgmosaic.path_root WHERE name = 'objstore2';
SELECT count(*) FROM pgmosaic.path_root_option;
RESET ROLE;
DROP ROLE regress_remote_admin, regress_remote_writer, regress_remote_reader;
