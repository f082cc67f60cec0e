-- The abstractions of a mosaic: its files' internal tiles with their byte ranges (DRAD),
-- per-area summaries from tile statistics and pixels, and thematic rules and polygons (DAD).
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SELECT create_mosaic('abs', 32631) > 0 AS created;
SELECT add_raster('abs', '/tmp/pgmosaic_regress/a.tif') > 0 AS a,
       add_raster('abs', '/tmp/pgmosaic_regress/b.tif') > 0 AS b;

-- tiles(): the tiles an area needs, in mosaic order (b above a), with their byte ranges
SELECT t.path ~ '/b\.tif$' AS from_b, t.level, tilekey_zxy(t.key) AS key,
       ST_AsText(t.bounds) AS bounds, t.byte_offset > 0 AS has_offset, t.byte_length > 0 AS has_length,
       t.empty
FROM tiles('abs', ST_MakeEnvelope(500150, 4999950, 500250, 4999960, 32631)) t;
SELECT count(*) AS tiles_of_an_empty_area
FROM tiles('abs', ST_MakeEnvelope(0, 0, 1, 1, 32631));
SELECT regress.try($$SELECT * FROM pgmosaic.tiles('nope', ST_MakeEnvelope(0, 0, 1, 1, 32631))$$);

-- summary(): count, min, max, mean over an area, per item; exact reads every pixel
SELECT count, min, max, mean, items_read
FROM summary('abs', ST_MakeEnvelope(500000, 4999900, 500400, 5000000, 32631));
SELECT count, min, max, mean, items_read
FROM summary('abs', ST_MakeEnvelope(500100, 4999900, 500300, 5000000, 32631), exact => true);
SELECT regress.try($$SELECT * FROM pgmosaic.summary('abs', ST_MakeEnvelope(0, 0, 1, 1, 32631), band => 4)$$);

-- Themes: a rule applied to the items; the polygons where it holds and their area
SELECT add_theme_rule('abs', 'six', 'b1 = 6') AS items_processed;
SELECT count(*) AS polygons, round(sum(area)) AS area, sum(pixels) AS pixels
FROM theme_polygons('abs', 'six');
SELECT round(theme_area('abs', 'six')) AS area,
       round(theme_area('abs', 'six', ST_MakeEnvelope(500200, 4999900, 500300, 5000000, 32631))) AS half;
SELECT regress.try($$SELECT pgmosaic.add_theme_rule('abs', 'bad', 'b9 > 1')$$);
SELECT regress.try($$SELECT pgmosaic.add_theme_rule('abs', 'bad', 'b1 >')$$);
-- Items registered later get the rule's polygons
SELECT add_raster('abs', '/tmp/pgmosaic_regress/wide.tif') > 0 AS wide;
SELECT count(*) AS polygons, round(sum(area)) AS area FROM theme_polygons('abs', 'six');
SELECT drop_mosaic('abs');
