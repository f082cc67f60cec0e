-- Finding and exporting: items() with filter, time range, sort and ids; search across mosaics
-- (metadata first, then space); download size estimates; footprints, boundary, file lists.
SET search_path = pgmosaic, public;
\set SHOW_CONTEXT never
SET pgmosaic.enable_file_access = on;
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';
SET timezone = 'UTC';

-- Three scenes of one place: different dates and cloud cover
SELECT create_mosaic('scenes', 32631) > 0 AS created;
SELECT add_raster('scenes', '/tmp/pgmosaic_regress/a.tif', '{"sensor": "s2a", "orbit": 51}', 0,
                  '[2021-06-01 10:00+00,2021-06-01 10:01+00)', 30) > 0,
       add_raster('scenes', '/tmp/pgmosaic_regress/dir/x1.tif', '{"sensor": "s2b", "orbit": 8}', 0,
                  '[2021-07-15 10:00+00,2021-07-15 10:01+00)', 5) > 0,
       add_raster('scenes', '/tmp/pgmosaic_regress/cog.tif', '{"sensor": "s2a", "orbit": 51}', 0,
                  '[2021-08-20 10:00+00,2021-08-20 10:01+00)', 60) > 0;
CREATE TEMP VIEW scene_names AS
SELECT regexp_replace(i.path::text, '.*/', '') AS file, i.id FROM item i
JOIN mosaic m ON m.id = i.mosaic_id WHERE m.name = 'scenes';

-- Mosaic order by default: the latest registration on top
SELECT s.file FROM items('scenes') i JOIN scene_names s USING (id);
-- The least cloudy first; mosaic order breaks ties
SELECT s.file, i.cloud_cover FROM items('scenes', sort => 'cloud_cover') i JOIN scene_names s USING (id);
SELECT s.file FROM items('scenes', sort => 'attributes->>''sensor'' DESC') i JOIN scene_names s USING (id);
-- Filters over columns and attributes, a time range, ids, an area — together
SELECT s.file FROM items('scenes', filter => 'cloud_cover < 50') i JOIN scene_names s USING (id);
SELECT s.file FROM items('scenes', filter => '(attributes->>''orbit'')::int = 51') i
JOIN scene_names s USING (id);
SELECT s.file FROM items('scenes', time_range => '[2021-07-01,2021-09-01)') i
JOIN scene_names s USING (id);
SELECT s.file FROM items('scenes', ST_MakeEnvelope(500000, 4999900, 500010, 4999910, 32631),
                         filter => 'cloud_cover < 50', time_range => '[2021-01-01,2022-01-01)',
                         sort => 'acquired DESC') i
JOIN scene_names s USING (id);
SELECT count(*) AS by_ids FROM items('scenes', ids => ARRAY(SELECT id FROM scene_names WHERE file <> 'cog.tif'));
-- A mosaic's default sort applies when none is given
UPDATE mosaic SET default_sort = 'cloud_cover DESC' WHERE name = 'scenes';
SELECT s.file FROM items('scenes') i JOIN scene_names s USING (id);
UPDATE mosaic SET default_sort = NULL WHERE name = 'scenes';
SELECT regress.try($$UPDATE pgmosaic.mosaic SET default_sort = 'id; DROP TABLE x' WHERE name = 'scenes'$$);
SELECT regress.try($$SELECT * FROM pgmosaic.items('scenes', filter => 'no_such_column > 1')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.items('scenes', sort => 'cloud_cover -- x')$$);
-- The window lookup the driver makes uses a GiST index (either of the two on footprint)
CREATE FUNCTION pg_temp.scans(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ 'Scan' THEN
            RETURN NEXT regexp_replace(line, 'item_(window|footprint)_idx', 'a GiST index');
        END IF;
    END LOOP;
END $$;
SET enable_seqscan = off;
SELECT pg_temp.scans($$SELECT i.id FROM pgmosaic.item i
    WHERE i.mosaic_id = 1 AND i.category = 'primary'
      AND i.footprint OPERATOR(pgmosaic.&&) ST_MakeEnvelope(500000, 4999900, 500010, 4999910, 32631)
      AND ST_Intersects(i.footprint, ST_MakeEnvelope(500000, 4999900, 500010, 4999910, 32631))$$);
RESET enable_seqscan;

-- Search across mosaics the GeoStor way: metadata first, then the area
UPDATE mosaic SET title = 'Sentinel-2 scenes', abstract = 'Summer 2021 acquisitions',
       keywords = '{imagery,Sentinel-2}', place_keywords = '{Occitanie}',
       begin_date = '2021-06-01', end_date = '2021-08-31'
WHERE name = 'scenes';
SELECT create_mosaic_from_file('dem', '/tmp/pgmosaic_regress/wide.tif') > 0 AS created;
UPDATE mosaic SET title = 'Elevation', keywords = '{elevation}', place_keywords = '{Occitanie}',
       begin_date = '2015-01-01', end_date = '2015-12-31'
WHERE name = 'dem';
SELECT mosaic, title, item_count, items_in_area FROM search(keywords => '{IMAGERY}');
SELECT mosaic FROM search(place_keywords => '{occitanie}') ORDER BY 1;
SELECT mosaic FROM search(period => '[2021-07-01,2021-07-31]');
SELECT mosaic FROM search(text_query => 'summer acquisitions');
SELECT mosaic, items_in_area
FROM search(place_keywords => '{Occitanie}',
            area => ST_Transform(ST_MakeEnvelope(500050, 4999950, 500060, 4999960, 32631), 4326));
SELECT mosaic, items_in_area
FROM search(area => ST_MakeEnvelope(500450, 4999950, 500460, 4999960, 32631));
SELECT count(*) AS nothing FROM search(keywords => '{bathymetry}');

-- Estimating a download before making it
-- (source bytes: the files covering the area, prorated; their sizes depend on the GDAL release)
SELECT width, height, band_count, data_type, bytes, item_count,
       source_bytes BETWEEN 0.4 * (SELECT sum(file_size) FROM item WHERE id IN (SELECT id FROM scene_names))
                        AND 0.6 * (SELECT sum(file_size) FROM item WHERE id IN (SELECT id FROM scene_names))
           AS half_the_files
FROM estimate_size('scenes', ST_MakeEnvelope(500000, 4999900, 500100, 5000000, 32631));
SELECT width, height, band_count, data_type, bytes, item_count,
       source_bytes = (SELECT sum(file_size) FROM item WHERE id IN (SELECT id FROM scene_names))
           AS all_the_files
FROM estimate_size('scenes', ST_MakeEnvelope(499000, 4999000, 501000, 5001000, 32631),
                   resolution => 20, bands => '{1}');
SELECT * FROM estimate_size('dem', ST_MakeEnvelope(0, 0, 10, 10, 32631));
SELECT regress.try($$SELECT * FROM pgmosaic.estimate_size('scenes', ST_MakeEnvelope(0, 0, 1, 1, 32631), bands => '{4}')$$);
SELECT regress.try($$SELECT * FROM pgmosaic.estimate_size('scenes', ST_MakeEnvelope(0, 0, 1, 1, 32631), resolution => 0)$$);

-- Export: footprints (also as GeoJSON), the boundary, the file list (all, or broken only)
SELECT regexp_replace(path::text, '.*/', '') AS file, category, status, ST_AsText(footprint)
FROM footprints('scenes');
SELECT jsonb_array_length(g -> 'features') AS features, g -> 'features' -> 0 -> 'geometry' ->> 'type' AS geometry,
       g -> 'features' -> 0 -> 'properties' ->> 'cloud_cover' AS cloud_cover
FROM footprints_geojson('scenes') g;
SELECT ST_AsText(boundary('scenes'));
SELECT regexp_replace(resolved_path, '.*/', '') AS file, status FROM file_list('scenes');
UPDATE item SET status = 'missing' WHERE id = (SELECT id FROM scene_names WHERE file = 'x1.tif');
SELECT regexp_replace(resolved_path, '.*/', '') AS file, status FROM file_list('scenes', broken_only => true);

SELECT drop_mosaic('scenes'), drop_mosaic('dem');
