--------------------------------------------------------------------------------------------
-- Internal helpers
--------------------------------------------------------------------------------------------

-- The mosaic of a name; raises 42704 naming it when there is none (or none the role may see).
CREATE OR REPLACE FUNCTION pgmosaic._mosaic(name text) RETURNS pgmosaic.mosaic
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = _mosaic.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown mosaic "%"', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN m;
END
$$;

-- An area in the mosaic's SRID: SRID 0 is taken as the mosaic's, others are transformed.
-- PL/pgSQL, not SQL: an SQL function with SET is not inlined, and is parsed and planned again
-- on every call from PL/pgSQL (a third of a catalog lookup's server time).
CREATE OR REPLACE FUNCTION pgmosaic._in_srid(area geometry, srid integer) RETURNS geometry
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN CASE WHEN area IS NULL THEN NULL
                WHEN ST_SRID(area) = 0 THEN ST_SetSRID(area, srid)
                WHEN ST_SRID(area) = srid THEN area
                ELSE ST_Transform(area, srid) END;
END
$$;

-- Refuses an SQL fragment (filter, sort) with a statement separator or a comment. items() runs
-- as the caller, so a fragment can never do more than the caller may; this only keeps
-- fragments to one expression.
CREATE OR REPLACE FUNCTION pgmosaic._check_fragment(kind text, fragment text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF fragment ~ '(;|--|/\*|\*/)' THEN
        RAISE EXCEPTION 'invalid % "%": semicolons and comments are not allowed', kind, fragment
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- The path GDAL opens for a reference, or NULL when its root is unknown.
CREATE OR REPLACE FUNCTION pgmosaic._resolve_or_null(ref pgmosaic.pathref) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN pgmosaic.pathref_root(ref) IS NULL THEN ref::text
                ELSE (SELECT pgmosaic.pathref_under_root(ref, r.prefix)::text
                      FROM pgmosaic.path_root r
                      WHERE r.name = pgmosaic.pathref_root(ref)) END
$$;

-- Bytes per sample of a GDAL data type.
CREATE OR REPLACE FUNCTION pgmosaic._data_type_bytes(data_type text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT CASE data_type
        WHEN 'Byte' THEN 1 WHEN 'Int8' THEN 1
        WHEN 'UInt16' THEN 2 WHEN 'Int16' THEN 2
        WHEN 'UInt32' THEN 4 WHEN 'Int32' THEN 4 WHEN 'Float32' THEN 4 WHEN 'CInt16' THEN 4
        WHEN 'UInt64' THEN 8 WHEN 'Int64' THEN 8 WHEN 'Float64' THEN 8
        WHEN 'CInt32' THEN 8 WHEN 'CFloat32' THEN 8
        WHEN 'CFloat64' THEN 16 END
$$;

--------------------------------------------------------------------------------------------
-- Catalog functions
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.resolve(ref pgmosaic.pathref) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    root_name text := pgmosaic.pathref_root(ref);
    root_prefix pgmosaic.pathref;
BEGIN
    IF root_name IS NULL THEN
        RETURN ref::text;
    END IF;
    SELECT r.prefix INTO root_prefix FROM pgmosaic.path_root r WHERE r.name = root_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown path root "%" in path "%"', root_name, ref
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add it with INSERT INTO pgmosaic.path_root (name, prefix) VALUES (...).';
    END IF;
    RETURN pgmosaic.pathref_under_root(ref, root_prefix)::text;
END
$$;
COMMENT ON FUNCTION pgmosaic.resolve(pgmosaic.pathref) IS
    'The path GDAL opens for a raster reference: @root/rel becomes the root''s prefix/rel.';

CREATE OR REPLACE FUNCTION pgmosaic.resolve_path(path text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$ SELECT pgmosaic.resolve(pgmosaic.pathref(path)) $$;
COMMENT ON FUNCTION pgmosaic.resolve_path(text) IS
    'The path GDAL opens for an item path: @root/rel becomes the root''s prefix/rel.';
