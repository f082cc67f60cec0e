-- pathref: normalisation, refusals with their SQLSTATE, order, resolution against path_root.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never

-- Normalised forms
SELECT v AS input, v::pathref AS normalised, pathref_scheme(v::pathref) AS scheme,
       pathref_root(v::pathref) AS root, pathref_relative(v::pathref) AS relative
FROM (VALUES ('/data//imagery/./a.tif'), ('/data/dir/'), ('@nas1/2020//a.tif'),
             ('https://Data.Example.COM/cogs/A.tif?v=2'), ('/vsicurl/http://h:8080/a.tif'),
             ('s3://bucket/key/a.tif'), ('gs://bucket/a.tif'), ('/vsiaz/container/a.tif'),
             ('/vsis3/bucket/'), ('/')) AS t (v);

-- Refusals name the value and the reason, with SQLSTATE 22P02 (invalid text representation)
SELECT v AS input, regress.try(format('SELECT %L::pgmosaic.pathref', v)) AS result
FROM (VALUES (''), ('relative/a.tif'), ('a.tif'), ('/data/../etc/passwd'), ('@nas1/../x.tif'),
             ('@nas1'), ('@bad name/a.tif'), ('https://h/a/%2e%2E/b.tif'),
             ('https://user:secret@h/a.tif'), ('ftp://h/a.tif'), ('file:///data/a.tif'),
             ('/vsizip//data/a.zip/a.tif'), ('/vsimem/a.tif'), ('//vsis3/b/a.tif'),
             ('s3://b//a.tif'), (E'/data/a\tb.tif'), ('C:\data\a.tif')) AS t (v);
-- NUL never reaches the type: PostgreSQL text cannot hold it
SELECT regress.try($$SELECT E'/data/a\000b.tif'::pgmosaic.pathref$$);
-- The cast from text is checked the same way (an assignment cast: columns accept text)
SELECT regress.try($$SELECT pgmosaic.pathref('x/y.tif')$$);
CREATE TEMP TABLE refs (r pgmosaic.pathref PRIMARY KEY);
INSERT INTO refs VALUES ('/b.tif'), ('@a/x.tif'), ('/a.tif'), ('/vsis3/b/k.tif'),
                        ('https://h/z.tif');
SELECT regress.try($$INSERT INTO refs VALUES ('/a//./a.tif')$$) AS same_file_twice;
SELECT regress.try($$INSERT INTO refs VALUES ('../a.tif')$$) AS relative;

-- Equality and order are those of the normalised text, byte by byte
SELECT r FROM refs ORDER BY r;
SELECT '/a//a.tif'::pathref = '/a/a.tif'::pathref AS eq,
       '/a/a.tif'::pathref < '/a/b.tif'::pathref AS lt,
       '/a/a.tif'::pathref <> '/a/b.tif'::pathref AS ne,
       '/a/b.tif'::pathref >= '/a/a.tif'::pathref AS ge;
SELECT count(DISTINCT r) AS distinct_refs FROM (VALUES ('/a.tif'::pathref), ('//a.tif'),
                                                       ('/./a.tif')) AS t (r);
-- Text operations go through the implicit cast to text
SELECT r FROM refs WHERE r LIKE '%.tif' AND r::text ~ '^/vsi' ORDER BY r;
SELECT length('/vsis3/b/k.tif'::pathref) AS length, '/a.tif'::pathref || '.ovr' AS ovr;
-- Binary output is the normalised text
SELECT pathref_send('@a//x.tif') = convert_to('@a/x.tif', 'UTF8') AS send_is_text;

-- Resolution against path_root: moving storage is one UPDATE of one row
INSERT INTO path_root VALUES ('nas1', '/mnt/nas1/imagery/'), ('cloud', 's3://bucket/prefix');
SELECT name, prefix FROM path_root WHERE name IN ('nas1', 'cloud') ORDER BY name;
SELECT resolve('@nas1/2020/a.tif'), resolve('@cloud/a/b.tif'), resolve('/abs/x.tif'),
       resolve_path('@nas1/b.tif');
UPDATE path_root SET prefix = '/mnt/nas2' WHERE name = 'nas1';
SELECT resolve('@nas1/2020/a.tif');
SELECT regress.try($$SELECT pgmosaic.resolve('@nope/x.tif')$$);
SELECT pgmosaic.pathref_under_root('@a/x/y.tif', '/root'), pathref_is_under('/a/b/c', '/a/b'),
       pathref_is_under('/a/bc', '/a/b');
-- A root's prefix is itself a valid reference, and never another root
SELECT regress.try($$INSERT INTO pgmosaic.path_root VALUES ('bad', 'relative/dir')$$);
SELECT regress.try($$INSERT INTO pgmosaic.path_root VALUES ('bad', '@nas1/dir')$$);
SELECT regress.try($$INSERT INTO pgmosaic.path_root VALUES ('bad name', '/x')$$);
DELETE FROM path_root WHERE name IN ('nas1', 'cloud');
