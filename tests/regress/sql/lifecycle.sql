-- Mosaic lifecycle: create, register, order, path roots, drop — values and errors.
CREATE EXTENSION pgmosaic CASCADE;
\set SHOW_CONTEXT never
-- try(sql): 'ok', or the SQLSTATE and message of the error it raised.

-- Creating mosaics
SELECT pgmosaic.create_mosaic('ortho', 32631);
SELECT regress.try($$SELECT pgmosaic.create_mosaic('ortho', 32631)$$);
SELECT regress.try($$SELECT pgmosaic.create_mosaic('x', 999999)$$);
SELECT regress.try($$SELECT pgmosaic.create_mosaic('x', 32631, -1)$$);
SELECT regress.try($$SELECT pgmosaic.create_mosaic('', 32631)$$);

-- Backend file access is off by default, then limited to the allowed roots
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/a.tif')$$);
SET pgmosaic.enable_file_access = on;
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/a.tif')$$);
SET pgmosaic.allowed_roots = '/tmp/pgmosaic_regress';

-- Registering: the first item sets the grid, bands, type and nodata
SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/a.tif');
SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/b.tif', '{"sensor": "x"}', 5);
SELECT name, srid, res_x, res_y, min_x, min_y, max_x, max_y, band_count, data_type, nodata
FROM pgmosaic.mosaic;
SELECT id, path, priority, srid, geotransform, width, height, band_count, data_type, nodata,
       driver, file_size > 0 AS has_size, file_mtime IS NOT NULL AS has_mtime, attributes,
       ST_AsText(footprint) AS footprint, ST_SRID(footprint) AS footprint_srid
FROM pgmosaic.item ORDER BY id;

-- Rasters that do not fit, or cannot be read, are refused with their path named
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/a.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/one_band.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/uint16.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/missing.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/corrupt.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/no_georef.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('ortho', 'relative/a.tif')$$);
SELECT regress.try($$SELECT pgmosaic.add_raster('nope', '/tmp/pgmosaic_regress/a.tif')$$);
SELECT count(*) AS items_after_failures FROM pgmosaic.item;

-- Items in another SRS get a footprint in the mosaic's SRS
SELECT pgmosaic.add_raster('ortho', '/tmp/pgmosaic_regress/wgs84.tif') AS wgs84_id;
SELECT srid, ST_SRID(footprint) AS footprint_srid,
       round(ST_XMin(footprint)) AS xmin, round(ST_YMax(footprint)) AS ymax
FROM pgmosaic.item WHERE path LIKE '%wgs84.tif';

-- Path roots: @name/relative resolves against pgmosaic.path_root
INSERT INTO pgmosaic.path_root VALUES ('reg', '/tmp/pgmosaic_regress/');
SELECT pgmosaic.resolve_path('@reg/sub/c.tif'), pgmosaic.resolve_path('/abs/x.tif');
SELECT regress.try($$SELECT pgmosaic.resolve_path('@nope/x.tif')$$);
SELECT pgmosaic.add_raster('ortho', '@reg/sub/c.tif', priority => 5) AS c_id;

-- Mosaic order: priority first, then the latest registration on top
SELECT id, path, priority, resolved_path FROM pgmosaic.items('ortho');
SELECT id FROM pgmosaic.items('ortho', ST_MakeEnvelope(500000, 4999900, 500100, 5000000, 32631));
SELECT id FROM pgmosaic.items('ortho', ST_MakeEnvelope(500150, 4999850, 500250, 4999950));
SELECT regress.try($$SELECT * FROM pgmosaic.items('nope')$$);

-- The extent grew with every item, on the grid of the first
SELECT min_x, min_y, max_x, max_y FROM pgmosaic.mosaic WHERE name = 'ortho';

-- Dropping
SELECT pgmosaic.drop_mosaic('ortho');
SELECT count(*) AS items_left FROM pgmosaic.item;
SELECT regress.try($$SELECT pgmosaic.drop_mosaic('ortho')$$);

-- A resolution given at creation is kept; the grid is anchored on the first item
SELECT pgmosaic.create_mosaic('coarse', 32631, 20);
SELECT pgmosaic.add_raster('coarse', '/tmp/pgmosaic_regress/b.tif');
SELECT res_x, res_y, min_x, min_y, max_x, max_y FROM pgmosaic.mosaic WHERE name = 'coarse';
