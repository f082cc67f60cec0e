CREATE OR REPLACE FUNCTION pgmosaic.inspect_raster(path text, statistics text DEFAULT 'none')
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_inspect_raster_v2'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.inspect_raster(text, text) IS
    'Opens a raster file in the backend and returns its header as JSON; statistics: none, cheap '
    '(approximate, only when an overview or the raster is small) or approximate. Needs '
    'pgmosaic.enable_file_access, a path under pgmosaic.allowed_roots (or a network path under '
    'pgmosaic.allowed_network_prefixes) and a driver in pgmosaic.allowed_drivers.';

CREATE OR REPLACE FUNCTION pgmosaic.try_inspect_raster(path text, statistics text DEFAULT 'none')
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_try_inspect_raster'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.try_inspect_raster(text, text) IS
    'inspect_raster that returns {"error": ..., "sqlstate": ...} for a file it cannot inspect '
    'instead of raising (it still raises when backend file access is disabled).';

CREATE OR REPLACE FUNCTION pgmosaic.stat_raster(path text, OUT state text, OUT size bigint,
                                                OUT mtime timestamptz, OUT detail text)
    AS 'MODULE_PATHNAME', 'pgmosaic_stat_raster'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.stat_raster(text) IS
    'The state of a raster file for the backend: present (with size and mtime), missing or denied '
    '(with the reason).';

CREATE OR REPLACE FUNCTION pgmosaic.list_rasters(directory text, pattern text DEFAULT '*.tif',
                                                 recursive boolean DEFAULT true)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'pgmosaic_list_rasters'
    LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.list_rasters(text, text, boolean) IS
    'The files below a local directory (under pgmosaic.allowed_roots) whose name matches a glob '
    'pattern, case-insensitively, as sorted paths relative to the directory.';

CREATE OR REPLACE FUNCTION pgmosaic.gdal_version() RETURNS text
    AS 'MODULE_PATHNAME', 'pgmosaic_gdal_version'
    LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgmosaic.gdal_version() IS 'The GDAL release the backend module runs on.';
