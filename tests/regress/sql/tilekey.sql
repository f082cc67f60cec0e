-- tilekey: text forms, refusals with their SQLSTATE, tree navigation, the btree range of a
-- subtree, WebMercatorQuad and mosaic-grid helpers, coverings.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never

-- Text I/O: quadkeys out; quadkeys and z/x/y in
SELECT v AS input, v::tilekey AS key, tilekey_zxy(v::tilekey) AS zxy, tilekey_zoom(v::tilekey),
       tilekey_x(v::tilekey), tilekey_y(v::tilekey), tilekey_quadkey(v::tilekey) = v::tilekey::text
FROM (VALUES ('213'), ('3/3/5'), (''), ('0/0/0'), ('33333333333333333333333333333'),
             ('29/536870911/0')) AS t (v);
SELECT tilekey(3, 3, 5), tilekey(3, 3, 5)::bigint, tilekey(3, 3, 5)::bigint::tilekey;
SELECT v AS input, regress.try(format('SELECT %L::pgmosaic.tilekey', v)) AS result
FROM (VALUES ('0124'), ('3/8/0'), ('30/0/0'), ('3/-1/0'), ('3/1'), ('abc'),
             ('333333333333333333333333333333')) AS t (v);
SELECT regress.try('SELECT pgmosaic.tilekey(3, 8, 0)') AS out_of_matrix,
       regress.try('SELECT pgmosaic.tilekey(30, 0, 0)') AS too_deep,
       regress.try('SELECT 30::bigint::pgmosaic.tilekey') AS bad_bits,
       regress.try('SELECT pgmosaic.tilekey_parent(''21'', 3)') AS ancestor_below;

-- Navigation
SELECT tilekey_parent('213'), tilekey_parent(''), tilekey_parent('2130', 1);
SELECT array_agg(c) AS children FROM tilekey_children('21') c;
SELECT array_agg(tilekey_zxy(n)) AS around_3_4_4 FROM tilekey_neighbours('3/4/4') n;
SELECT array_agg(tilekey_zxy(n)) AS around_the_corner FROM tilekey_neighbours('3/0/0') n;
SELECT '21'::tilekey @> '2130'::tilekey AS contains, '2130'::tilekey <@ '21'::tilekey AS within,
       '21'::tilekey @> '20'::tilekey AS sibling, '21'::tilekey @> '21'::tilekey AS itself,
       tilekey_contains('', '0123'), tilekey_range_end('21');

-- Keys sort in quadkey order, a tile before its descendants; a subtree is one btree range
CREATE TEMP TABLE tiles AS
SELECT tilekey(z, x, y) AS k
FROM generate_series(0, 6) z, generate_series(0, (1 << z) - 1) x, generate_series(0, (1 << z) - 1) y;
CREATE INDEX ON tiles (k);
ANALYZE tiles;
SELECT count(*) AS tiles, bool_and(q_sorted) AS quadkey_order
FROM (SELECT k::text >= lag(k::text, 1, '') OVER (ORDER BY k) AS q_sorted FROM tiles) t;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM tiles WHERE k >= '21'::tilekey AND k <= tilekey_range_end('21');
SELECT count(*) AS by_range FROM tiles WHERE k >= '21'::tilekey AND k <= tilekey_range_end('21');
-- <@ and @> on an indexed key become that range (planner support), exactly
EXPLAIN (COSTS OFF) SELECT count(*) FROM tiles WHERE k <@ '21'::tilekey;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tiles WHERE '21'::tilekey @> k;
RESET enable_seqscan;
SELECT count(*) AS by_containment FROM tiles WHERE k <@ '21'::tilekey;
SELECT count(*) AS by_containment FROM tiles WHERE '21'::tilekey @> k;
SELECT count(*) AS ancestors_of_2130 FROM tiles WHERE '2130'::tilekey <@ k;
SELECT count(DISTINCT k) AS hashed FROM (SELECT k FROM tiles UNION ALL SELECT k FROM tiles) t;

-- WebMercatorQuad (XYZ): Paris is tile 12/2074/1409
SELECT tilekey_zxy(tilekey_at(ST_SetSRID(ST_MakePoint(2.3522, 48.8566), 4326), 12)) AS paris;
SELECT ST_AsText(tilekey_envelope('1/0/0')) AS north_west_quarter;
SELECT regress.try($$SELECT pgmosaic.tilekey_at(ST_MakePoint(3e7, 0), 3)$$) AS outside;
-- A covering at zoom 12 holds exactly the tiles whose interior meets the polygon's interior
CREATE TEMP TABLE area AS
SELECT ST_Transform(ST_GeomFromText('POLYGON((2.25 48.80, 2.42 48.82, 2.47 48.90, 2.33 48.93, '
                                    '2.22 48.87, 2.25 48.80))', 4326), 3857) AS g;
CREATE TEMP TABLE cover AS SELECT tilekey_cover(g, 12) AS k FROM area;
SELECT count(*) AS tiles, bool_and(ST_Area(ST_Intersection(tilekey_envelope(k), g)) > 0) AS all_meet
FROM cover, area;
SELECT count(*) AS missed
FROM area, LATERAL (SELECT tilekey(12, x, y) AS k
                    FROM generate_series(2060, 2090) x, generate_series(1395, 1425) y) t
WHERE ST_Area(ST_Intersection(tilekey_envelope(t.k), g)) > 1e-6
  AND t.k NOT IN (SELECT k FROM cover);
-- compact: complete quadrants merged, the same area
SELECT count(*) AS compact_tiles, array_agg(DISTINCT tilekey_zoom(k) ORDER BY tilekey_zoom(k)) AS zooms,
       round(sum(ST_Area(tilekey_envelope(k)))) = (SELECT round(sum(ST_Area(tilekey_envelope(k))))
                                                   FROM cover) AS same_area
FROM area, tilekey_cover(g, 12, compact => true) k;
SELECT regress.try($$SELECT count(*) FROM pgmosaic.tilekey_cover(
    ST_MakeEnvelope(-2e7, -2e7, 2e7, 2e7, 3857), 20)$$) AS too_many;
SELECT count(*) AS whole_world_compact
FROM tilekey_cover(ST_MakeEnvelope(-2.1e7, -2.1e7, 2.1e7, 2.1e7, 3857), 20, true);
SELECT regress.try($$SELECT pgmosaic.tilekey_cover(ST_MakePoint(0, 0), 30)$$) AS too_deep;
SELECT array_agg(tilekey_zxy(k)) AS line_tiles
FROM tilekey_cover(ST_MakeLine(ST_MakePoint(-1, 1), ST_MakePoint(1, 1)), 1) k;

-- The mosaic's own quadtree: at zoom 20 a tile is tile_size (256) pixels of the mosaic grid
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SELECT create_mosaic('tiles', 32631);
SELECT regress.try($$SELECT * FROM pgmosaic.mosaic_tile_matrix('tiles')$$) AS no_grid_yet;
SELECT add_raster('tiles', '/tmp/pgmosaic_regress/a.tif');
SELECT * FROM mosaic_tile_matrix('tiles');
SELECT tilekey_zxy(mosaic_tilekey_at('tiles', ST_MakePoint(500005, 4999995), 20)) AS first_pixel,
       tilekey_zxy(mosaic_tilekey_at('tiles', ST_MakePoint(502565, 4999995), 20)) AS next_tile,
       tilekey_zxy(mosaic_tilekey_at('tiles', ST_MakePoint(499995, 5000005), 20)) AS up_left;
SELECT ST_AsText(mosaic_tile_envelope('tiles', mosaic_tilekey_at('tiles', ST_MakePoint(500005, 4999995), 20)))
    AS native_tile,
       ST_AsText(mosaic_tile_envelope('tiles', mosaic_tilekey_at('tiles', ST_MakePoint(500005, 4999995), 19)))
    AS zoom_19_tile;
SELECT array_agg(tilekey_zxy(k)) AS covering
FROM mosaic_tilekey_cover('tiles', ST_MakeEnvelope(497000, 4999000, 503000, 5001000), 20) k;
SELECT regress.try($$SELECT pgmosaic.mosaic_tilekey_at('nope', ST_MakePoint(0, 0), 3)$$) AS unknown;
SELECT drop_mosaic('tiles');
