--------------------------------------------------------------------------------------------
-- STAC import: Items and ItemCollections (a jsonb value, or a file the backend reads) become
-- items made of several files; the STAC asset keys to take are a parameter and name the
-- mosaic's bands. The GDAL driver's items layer takes the same features (ogr2ogr of a STAC
-- ItemCollection GeoJSON, -oo NATIVE_DATA=YES) through _stac_assets and _stac_properties.
--------------------------------------------------------------------------------------------

-- The features of a STAC value: an Item, an ItemCollection (or FeatureCollection), or an array
-- of Items.
CREATE OR REPLACE FUNCTION pgmosaic._stac_features(stac jsonb) RETURNS SETOF jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF jsonb_typeof(stac) = 'array' THEN
        RETURN QUERY SELECT e FROM jsonb_array_elements(stac) e;
    ELSIF stac ->> 'type' = 'FeatureCollection' AND jsonb_typeof(stac -> 'features') = 'array' THEN
        RETURN QUERY SELECT e FROM jsonb_array_elements(stac -> 'features') e;
    ELSIF stac ->> 'type' = 'Feature' THEN
        RETURN NEXT stac;
    ELSE
        RAISE EXCEPTION 'not a STAC Item or ItemCollection (a GeoJSON Feature or '
                        'FeatureCollection)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- An asset's href as a raster reference: absolute paths and URLs as they are (pathref turns
-- https:// and s3:// into /vsicurl/ and /vsis3/), relative ones under `base` (the directory of
-- the STAC file, or of the item's self link).
CREATE OR REPLACE FUNCTION pgmosaic._stac_href(href text, base text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF href ~ '^(/|@|[A-Za-z][A-Za-z0-9+.-]*://)' THEN
        RETURN href;
    END IF;
    IF base IS NULL THEN
        RAISE EXCEPTION 'relative asset href "%" needs a base (the directory it is relative to)',
            href USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN rtrim(base, '/') || '/' || regexp_replace(href, '^(\./)+', '');
END
$$;

-- The assets of a STAC feature to register: {"<key>": {"href": <reference>}} for each of
-- `keys` it has (all its GeoTIFF and JPEG 2000 assets, or those with the data role, without
-- keys). Relative hrefs under `base`, else under the directory of its self link.
CREATE OR REPLACE FUNCTION pgmosaic._stac_assets(feature jsonb, keys text[], base text)
    RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    self text := (SELECT l ->> 'href' FROM jsonb_array_elements(
                      CASE WHEN jsonb_typeof(feature -> 'links') = 'array'
                           THEN feature -> 'links' ELSE '[]' END) l
                  WHERE l ->> 'rel' = 'self' LIMIT 1);
    b text := COALESCE(base, CASE WHEN self ~ '^(/|[A-Za-z][A-Za-z0-9+.-]*://)'
                                  THEN regexp_replace(self, '/[^/]*$', '') END);
BEGIN
    IF jsonb_typeof(feature -> 'assets') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'STAC item "%" has no assets', feature ->> 'id'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (SELECT COALESCE(jsonb_object_agg(a.key, jsonb_build_object(
                'href', pgmosaic._stac_href(a.value ->> 'href', b))), '{}')
            FROM jsonb_each(feature -> 'assets') a
            WHERE jsonb_typeof(a.value -> 'href') = 'string'
              AND CASE WHEN keys IS NOT NULL THEN a.key = ANY (keys)
                       ELSE a.value ->> 'type' ~* '^image/(tiff|jp2)'
                            OR (a.value -> 'roles') ? 'data' END);
END
$$;

-- An item's properties from a STAC feature: its id, acquisition time (datetime, or
-- start_datetime/end_datetime), cloud cover (eo:cloud_cover), and every other property (and
-- the collection) as attributes.
CREATE OR REPLACE FUNCTION pgmosaic._stac_properties(feature jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', feature ->> 'id',
        'acquired', CASE WHEN p ->> 'start_datetime' IS NOT NULL
                         THEN format('[%s,%s]', p ->> 'start_datetime',
                                     COALESCE(p ->> 'end_datetime', p ->> 'start_datetime'))
                         ELSE p ->> 'datetime' END,
        'cloud_cover', p -> 'eo:cloud_cover',
        'attributes', (p - 'datetime' - 'start_datetime' - 'end_datetime' - 'eo:cloud_cover')
                      || jsonb_strip_nulls(jsonb_build_object('collection',
                                                              feature -> 'collection'))))
    FROM (SELECT CASE WHEN jsonb_typeof(feature -> 'properties') = 'object'
                      THEN feature -> 'properties' ELSE '{}' END AS p) x
$$;

-- Makes `mosaic` ready for STAC items: created in `srid` when it does not exist, its bands
-- declared by `keys` (in order) when it has none. Returns the asset keys to take: `keys`, or
-- the assets the mosaic's bands name.
CREATE OR REPLACE FUNCTION pgmosaic._stac_collection(mosaic text, keys text[], srid integer)
    RETURNS text[]
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = _stac_collection.mosaic;
    IF NOT FOUND THEN
        IF srid IS NULL THEN
            RAISE EXCEPTION 'mosaic "%" does not exist and the STAC items give no proj:epsg to '
                            'create it in: create it first', mosaic
                USING ERRCODE = 'undefined_object';
        END IF;
        PERFORM pgmosaic.create_mosaic(mosaic, srid);
        SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = _stac_collection.mosaic;
    END IF;
    IF m.band_sources IS NULL THEN
        IF cardinality(keys) IS NULL OR cardinality(keys) = 0 THEN
            RAISE EXCEPTION 'mosaic "%" has no bands by asset: give the STAC asset keys to '
                            'take (they name its bands, in order)', m.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM pgmosaic.set_bands(mosaic, keys);
        RETURN keys;
    END IF;
    RETURN COALESCE(keys, ARRAY(SELECT DISTINCT e ->> 'asset'
                                FROM jsonb_array_elements(m.band_sources) e));
END
$$;

-- Imports STAC Items or an ItemCollection: each feature becomes an item made of its assets
-- `assets` (keys; they name the mosaic's bands when it has none yet), inspected by the backend;
-- a mosaic that does not exist is created in the first item's proj:epsg. One row per feature;
-- a bad one fails the call naming it, unless skip_bad.
CREATE OR REPLACE FUNCTION pgmosaic.import_stac(mosaic text, stac jsonb,
                                                assets text[] DEFAULT NULL,
                                                base text DEFAULT NULL,
                                                on_duplicate text DEFAULT 'fail',
                                                skip_bad boolean DEFAULT false)
    RETURNS TABLE (stac_id text, item_id bigint, error_code text, error_message text)
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
#variable_conflict use_variable
DECLARE
    f jsonb;
    keys text[];
    srid integer;
BEGIN
    SELECT COALESCE((x -> 'properties' ->> 'proj:epsg')::integer,
                    (SELECT (a.value ->> 'proj:epsg')::integer
                     FROM jsonb_each(x -> 'assets') a WHERE a.value ? 'proj:epsg' LIMIT 1))
    INTO srid FROM pgmosaic._stac_features(stac) x LIMIT 1;
    keys := pgmosaic._stac_collection(mosaic, assets, srid);
    FOR f IN SELECT x FROM pgmosaic._stac_features(stac) x LOOP
        stac_id := f ->> 'id';
        item_id := NULL;
        error_code := NULL;
        error_message := NULL;
        IF skip_bad THEN
            BEGIN
                item_id := pgmosaic.add_item(mosaic, pgmosaic._stac_assets(f, keys, base),
                                             pgmosaic._stac_properties(f), on_duplicate);
            EXCEPTION WHEN OTHERS THEN
                error_code := SQLSTATE;
                error_message := SQLERRM;
            END;
        ELSE
            BEGIN
                item_id := pgmosaic.add_item(mosaic, pgmosaic._stac_assets(f, keys, base),
                                             pgmosaic._stac_properties(f), on_duplicate);
            EXCEPTION WHEN OTHERS THEN
                RAISE EXCEPTION 'STAC item "%": %', stac_id, SQLERRM USING ERRCODE = SQLSTATE;
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION pgmosaic.import_stac(text, jsonb, text[], text, text, boolean) IS
    'Imports STAC Items or an ItemCollection (jsonb): each feature becomes an item made of its '
    'assets with the keys given (which name the mosaic''s bands when it has none yet; default: '
    'the assets its bands name), inspected by the backend; datetime (or start/end_datetime) '
    'becomes acquired, eo:cloud_cover cloud_cover, the id and other properties attributes; '
    'relative hrefs are under base (or the item''s self link). A mosaic that does not exist is '
    'created in the first item''s proj:epsg. One row per feature; skip_bad reports bad ones.';

CREATE OR REPLACE FUNCTION pgmosaic._read_json_file(path text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgmosaic_read_json_file' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgmosaic._read_json_file(text) IS
    'A JSON file the backend may read (file access settings), for import_stac_file.';

CREATE OR REPLACE FUNCTION pgmosaic.import_stac_file(mosaic text, path text,
                                                     assets text[] DEFAULT NULL,
                                                     on_duplicate text DEFAULT 'fail',
                                                     skip_bad boolean DEFAULT false)
    RETURNS TABLE (stac_id text, item_id bigint, error_code text, error_message text)
    LANGUAGE sql VOLATILE
    SET search_path FROM CURRENT
AS $$
    SELECT * FROM pgmosaic.import_stac(mosaic, pgmosaic._read_json_file(path), assets,
                                       regexp_replace(path, '/[^/]*$', ''), on_duplicate,
                                       skip_bad)
$$;
COMMENT ON FUNCTION pgmosaic.import_stac_file(text, text, text[], text, boolean) IS
    'import_stac of a STAC JSON file the backend reads (relative hrefs under its directory); '
    'reading a file by its path is for admins.';
