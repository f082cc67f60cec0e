--------------------------------------------------------------------------------------------
-- Items made of several files (assets, as STAC items are: Landsat's one file per band and its
-- QA_PIXEL file, Sentinel-2's 10 m and 20 m bands). A mosaic names its bands by asset
-- (set_bands); each item says which file gives each asset; a band whose asset an item lacks
-- is nodata for that item. An asset's file is registered as a file of one item is: header,
-- footprint, statistics and DRAD tiles, recorded per asset; the item's row holds the file facts
-- of its reference asset (the finest, then the first in band order), its footprint the union
-- of its assets', its statistics per mosaic band.
--------------------------------------------------------------------------------------------

-- The union of two GDAL data types: the smallest type that holds the values of both.
CREATE OR REPLACE FUNCTION pgmosaic._type_union(a text, b text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
DECLARE
    ints constant text[] := ARRAY['Byte', 'Int8', 'UInt16', 'Int16', 'UInt32', 'Int32'];
    bits_a integer;
    bits_b integer;
    signed boolean;
    bits integer;
BEGIN
    IF a IS NULL OR a = b THEN
        RETURN COALESCE(b, a);
    ELSIF b IS NULL THEN
        RETURN a;
    ELSIF 'Float64' IN (a, b) THEN
        RETURN 'Float64';
    ELSIF 'Float32' IN (a, b) THEN
        RETURN CASE WHEN (CASE WHEN a = 'Float32' THEN b ELSE a END) IN ('UInt32', 'Int32')
                    THEN 'Float64' ELSE 'Float32' END;
    ELSIF NOT (a = ANY (ints) AND b = ANY (ints)) THEN
        RETURN 'Float64';
    END IF;
    bits_a := CASE WHEN a IN ('Byte', 'Int8') THEN 8 WHEN a IN ('UInt16', 'Int16') THEN 16
                   ELSE 32 END;
    bits_b := CASE WHEN b IN ('Byte', 'Int8') THEN 8 WHEN b IN ('UInt16', 'Int16') THEN 16
                   ELSE 32 END;
    signed := a IN ('Int8', 'Int16', 'Int32') OR b IN ('Int8', 'Int16', 'Int32');
    bits := GREATEST(bits_a, bits_b);
    -- A signed type holds an unsigned one of fewer bits only.
    IF signed AND ((a IN ('Byte', 'UInt16', 'UInt32') AND bits_a >= bits)
                   OR (b IN ('Byte', 'UInt16', 'UInt32') AND bits_b >= bits)) THEN
        bits := bits * 2;
    END IF;
    RETURN CASE WHEN bits > 32 THEN 'Float64'
                WHEN signed THEN 'Int' || bits
                WHEN bits = 8 THEN 'Byte'
                ELSE 'UInt' || bits END;
END
$$;

-- Declares the bands of a mosaic of items made of several files, in order, each as
--   asset            band 1 of each item's asset of that name, the band named after it
--   asset[n]         band n of that asset, named asset_n
--   name=asset[n]    the same, named name
-- (e.g. ARRAY['blue', 'green', 'red', 'nir', 'qa'] for one file per band). Only while the
-- mosaic has no item.
CREATE OR REPLACE FUNCTION pgmosaic.set_bands(mosaic text, bands text[]) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
    spec text;
    parts text[];
    name text;
    sources jsonb := '[]';
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = set_bands.mosaic FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pgmosaic._mosaic(mosaic); -- unknown (42704)
        RAISE EXCEPTION 'permission denied to change mosaic "%": no write access', mosaic
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM pgmosaic.item i WHERE i.mosaic_id = m.id) THEN
        RAISE EXCEPTION 'mosaic "%" has items: its bands are set before the first one', m.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF cardinality(bands) IS NULL OR cardinality(bands) = 0 THEN
        RAISE EXCEPTION 'mosaic "%" needs at least one band', m.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH spec IN ARRAY bands LOOP
        parts := regexp_match(spec, '^\s*(?:([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*)?'
                                    '([A-Za-z_][A-Za-z0-9_-]*)\s*(?:\[\s*([0-9]+)\s*\])?\s*$');
        IF parts IS NULL OR parts[3]::integer = 0 THEN
            RAISE EXCEPTION 'invalid band "%" of mosaic "%": expected asset, asset[n] or '
                            'name=asset[n] (names of letters, digits, _ and -)', spec, m.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        name := COALESCE(parts[1], parts[2] || COALESCE('_' || parts[3], ''));
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(sources) e
                   WHERE lower(e ->> 'name') = lower(name)) THEN
            RAISE EXCEPTION 'band name "%" of mosaic "%" is given twice', name, m.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        sources := sources || jsonb_build_array(jsonb_build_object(
            'name', name, 'asset', parts[2], 'band', COALESCE(parts[3]::integer, 1)));
    END LOOP;
    UPDATE pgmosaic.mosaic mo
    SET band_sources = sources, band_count = jsonb_array_length(sources),
        band_descriptions = ARRAY(SELECT e ->> 'name' FROM jsonb_array_elements(sources) e),
        color_interp = ARRAY(SELECT pgmosaic._color_of_name(e ->> 'name')
                             FROM jsonb_array_elements(sources) e)
    WHERE mo.id = m.id;
    RETURN sources;
END
$$;
COMMENT ON FUNCTION pgmosaic.set_bands(text, text[]) IS
    'Declares the bands of a mosaic whose items are made of several files, by asset: asset '
    '(band 1 of it), asset[n] (band n, named asset_n) or name=asset[n]; returns the band '
    'sources. Only before the first item.';

-- The colour interpretation GDAL gives a band of this name (red, green, blue, alpha).
CREATE OR REPLACE FUNCTION pgmosaic._color_of_name(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path FROM CURRENT
    RETURN CASE lower(name) WHEN 'red' THEN 'Red' WHEN 'green' THEN 'Green'
                            WHEN 'blue' THEN 'Blue' WHEN 'alpha' THEN 'Alpha'
                            ELSE 'Undefined' END;

-- Stores the DRAD tiles of one file of an item (an asset's, or '' for the item's own) from its
-- inspection (info -> tiles), replacing those recorded before.
CREATE OR REPLACE FUNCTION pgmosaic._store_tiles(mosaic_id integer, item_id bigint, asset text,
                                                 info jsonb)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    msrid integer := (SELECT mo.srid FROM pgmosaic.mosaic mo WHERE mo.id = _store_tiles.mosaic_id);
    isrid integer := (info ->> 'srid')::integer;
BEGIN
    DELETE FROM pgmosaic.tile t
    WHERE t.mosaic_id = _store_tiles.mosaic_id AND t.item_id = _store_tiles.item_id
      AND t.asset = _store_tiles.asset;
    IF jsonb_typeof(info -> 'tiles') = 'array' THEN
        INSERT INTO pgmosaic.tile (mosaic_id, item_id, level, key, bounds, byte_offset,
                                   byte_length, empty, stats, asset)
        SELECT _store_tiles.mosaic_id, _store_tiles.item_id, (e ->> 0)::integer,
               pgmosaic.tilekey((e ->> 3)::integer, (e ->> 1)::integer, (e ->> 2)::integer),
               CASE WHEN isrid = msrid
                    THEN ST_MakeEnvelope((e ->> 4)::float8, (e ->> 5)::float8,
                                         (e ->> 6)::float8, (e ->> 7)::float8, msrid)
                    ELSE ST_Transform(ST_MakeEnvelope((e ->> 4)::float8, (e ->> 5)::float8,
                                                      (e ->> 6)::float8, (e ->> 7)::float8,
                                                      isrid), msrid) END,
               NULLIF((e ->> 8)::bigint, 0), NULLIF((e ->> 9)::bigint, 0), (e ->> 10)::boolean,
               CASE WHEN jsonb_array_length(e -> 11) > 0 THEN e -> 11 END, _store_tiles.asset
        FROM jsonb_array_elements(info -> 'tiles') e;
    END IF;
END
$$;

-- The theme polygons of an item made of several files, computed over its composed bands
-- (backend file access) and stored in the mosaic's SRS.
CREATE OR REPLACE FUNCTION pgmosaic._store_item_themes(mosaic_id integer, item_id bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    msrid integer := (SELECT mo.srid FROM pgmosaic.mosaic mo
                      WHERE mo.id = _store_item_themes.mosaic_id);
    r record;
BEGIN
    DELETE FROM pgmosaic.theme t
    WHERE t.mosaic_id = _store_item_themes.mosaic_id AND t.item_id = _store_item_themes.item_id;
    FOR r IN SELECT tr.theme, tr.expression FROM pgmosaic.theme_rule tr
             WHERE tr.mosaic_id = _store_item_themes.mosaic_id LOOP
        INSERT INTO pgmosaic.theme (mosaic_id, theme, class, item_id, polygon, area, pixels)
        SELECT _store_item_themes.mosaic_id, r.theme, r.theme, _store_item_themes.item_id,
               ST_GeomFromText(p ->> 'wkt', msrid), (p ->> 'area')::double precision,
               (p ->> 'pixels')::bigint
        FROM jsonb_array_elements(pgmosaic._item_theme(_store_item_themes.mosaic_id,
                                                       _store_item_themes.item_id,
                                                       r.expression)) p;
    END LOOP;
END
$$;

-- Registers an item made of several files inspected elsewhere: assets is a JSON object
-- {"<asset>": {"href": <path>, "bands": [<band of the file>, ...], "info": <inspect_raster
-- JSON>}, ...} (bands optional: every band), properties as register_raster's; on_duplicate
-- (fail, skip, update) for an item whose reference file is already registered. Returns the
-- item id (NULL when skipped).
CREATE OR REPLACE FUNCTION pgmosaic.register_item(mosaic text, assets jsonb,
                                                  properties jsonb DEFAULT '{}',
                                                  on_duplicate text DEFAULT 'fail')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
    a record;
    s record;
    asset jsonb;
    binfo jsonb;
    props pgmosaic.item;
    label text;
    ref_name text;
    ref_size double precision;
    it pgmosaic.item;
    item_type text;
    bands_info jsonb := '[]';
    stats jsonb := '[]';
    has_stats boolean := false;
    info jsonb;
    new_id bigint;
    fp geometry;
    new_fp geometry;
BEGIN
    IF on_duplicate IS NULL OR on_duplicate NOT IN ('fail', 'skip', 'update') THEN
        RAISE EXCEPTION 'invalid on_duplicate "%": use fail, skip or update', on_duplicate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF assets IS NULL OR jsonb_typeof(assets) <> 'object' OR assets = '{}' THEN
        RAISE EXCEPTION 'an item needs assets: a JSON object {"<asset>": {"href": <path>, ...}}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    label := COALESCE(properties ->> 'id',
                      (SELECT string_agg(COALESCE(e.value ->> 'href', e.key), ', ' ORDER BY e.key)
                       FROM jsonb_each(assets) e));
    FOR a IN SELECT e.key, e.value FROM jsonb_each(assets) e LOOP
        IF jsonb_typeof(a.value) <> 'object'
           OR jsonb_typeof(a.value -> 'href') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'item "%": asset "%" is not {"href": <path>, ...}', label, a.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF a.key !~ '^[A-Za-z_][A-Za-z0-9_-]*$' THEN
            RAISE EXCEPTION 'item "%": invalid asset name "%" (letters, digits, _ and -)',
                label, a.key USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF a.value ? 'bands' AND (jsonb_typeof(a.value -> 'bands') <> 'array'
                                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(a.value -> 'bands') b
                                             WHERE jsonb_typeof(b) <> 'number'
                                                OR (b #>> '{}') !~ '^[1-9][0-9]*$')) THEN
            RAISE EXCEPTION 'item "%": bands of asset "%" must be an array of band numbers',
                label, a.key USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF jsonb_typeof(a.value -> 'info') IS DISTINCT FROM 'object' OR NOT (a.value -> 'info') ?& ARRAY['srid',
                'geotransform', 'width', 'height', 'band_count', 'data_type', 'footprint'] THEN
            RAISE EXCEPTION 'item "%": asset "%" (%) has no inspection (info: the JSON of '
                            'inspect_raster)', label, a.key, a.value ->> 'href'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM pgmosaic.pathref(a.value ->> 'href');
    END LOOP;
    props := pgmosaic._item_props(label, properties - 'id');
    IF properties ? 'id' THEN
        props.attributes := props.attributes || jsonb_build_object('id', properties -> 'id');
    END IF;
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = register_item.mosaic;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown mosaic "%" (create it with create_mosaic and declare its bands '
                        'with set_bands)', mosaic USING ERRCODE = 'undefined_object';
    END IF;
    IF m.band_sources IS NULL THEN
        RAISE EXCEPTION 'mosaic "%" has no bands by asset: declare them first, e.g. '
                        'SELECT pgmosaic.set_bands(''%'', ARRAY[''red'', ''green'', ''blue''])',
                        m.name, m.name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF props.category <> 'primary' THEN
        RAISE EXCEPTION 'item "%": an item of several files is a primary item', label
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR a IN SELECT e.key FROM jsonb_each(assets) e LOOP
        IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.band_sources) b
                       WHERE b ->> 'asset' = a.key) THEN
            RAISE EXCEPTION 'item "%": asset "%" gives none of the bands of mosaic "%" (its '
                            'assets: %)', label, a.key, m.name,
                            (SELECT string_agg(DISTINCT b ->> 'asset', ', ')
                             FROM jsonb_array_elements(m.band_sources) b)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    -- Per mosaic band: the band of its asset, or nothing (nodata for this item).
    FOR s IN SELECT b.e ->> 'name' AS name, b.e ->> 'asset' AS asset,
                    (b.e ->> 'band')::integer AS band
             FROM jsonb_array_elements(m.band_sources) WITH ORDINALITY b(e, n) ORDER BY b.n LOOP
        asset := assets -> s.asset;
        IF asset IS NULL OR s.band > (asset -> 'info' ->> 'band_count')::integer
           OR (asset ? 'bands' AND NOT (asset -> 'bands') @> to_jsonb(s.band)) THEN
            bands_info := bands_info || jsonb_build_array(jsonb_build_object(
                'data_type', NULL, 'nodata', NULL, 'description', s.name,
                'color_interp', pgmosaic._color_of_name(s.name), 'asset', NULL));
            stats := stats || '[{"count": 0}]'::jsonb;
            CONTINUE;
        END IF;
        binfo := asset -> 'info' -> 'bands' -> (s.band - 1);
        item_type := pgmosaic._type_union(item_type, binfo ->> 'data_type');
        bands_info := bands_info || jsonb_build_array(binfo || jsonb_build_object(
            'description', s.name, 'color_interp', pgmosaic._color_of_name(s.name),
            'asset', s.asset, 'band', s.band));
        IF jsonb_typeof(asset -> 'info' -> 'statistics' -> (s.band - 1)) = 'object' THEN
            stats := stats || jsonb_build_array(asset -> 'info' -> 'statistics' -> (s.band - 1));
            has_stats := true;
        ELSE
            stats := stats || '[{"count": 0}]'::jsonb;
        END IF;
    END LOOP;
    IF item_type IS NULL THEN
        RAISE EXCEPTION 'item "%" gives none of the bands of mosaic "%"', label, m.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF m.data_type IS NOT NULL AND pgmosaic._type_union(m.data_type, item_type) <> m.data_type THEN
        RAISE EXCEPTION 'item "%" has bands of type % but mosaic "%" is of type %', label,
            item_type, m.name, m.data_type USING ERRCODE = 'data_exception';
    END IF;
    -- The reference asset: the finest in the mosaic's SRS, then the first in band order. Its
    -- file facts are the item's (and the first item's its grid).
    FOR s IN SELECT DISTINCT ON (b.e ->> 'asset') b.e ->> 'asset' AS asset, b.n
             FROM jsonb_array_elements(m.band_sources) WITH ORDINALITY b(e, n)
             WHERE assets ? (b.e ->> 'asset') ORDER BY b.e ->> 'asset', b.n LOOP
        it := pgmosaic._item_from_info(assets -> s.asset -> 'info', m.srid);
        IF ref_name IS NULL OR it.min_pixel_size < ref_size * (1 - 1e-9)
           OR (it.min_pixel_size <= ref_size * (1 + 1e-9)
               AND s.n < (SELECT min(b.n) FROM jsonb_array_elements(m.band_sources)
                                                WITH ORDINALITY b(e, n)
                          WHERE b.e ->> 'asset' = ref_name)) THEN
            ref_name := s.asset;
            ref_size := it.min_pixel_size;
        END IF;
    END LOOP;
    info := (assets -> ref_name -> 'info') - 'tiles' - 'themes' || jsonb_build_object(
        'band_count', jsonb_array_length(m.band_sources),
        'data_type', COALESCE(m.data_type, item_type),
        'bands', bands_info,
        'statistics', CASE WHEN has_stats THEN stats END,
        -- Themes are computed over the composed item once its assets are stored.
        'themes', (SELECT COALESCE(jsonb_object_agg(tr.theme, '[]'::jsonb), '{}')
                   FROM pgmosaic.theme_rule tr WHERE tr.mosaic_id = m.id));
    new_id := pgmosaic._store_item(m.id, pgmosaic.pathref(assets -> ref_name ->> 'href'), info,
                                   props, on_duplicate, false);
    IF new_id IS NULL THEN
        RETURN NULL; -- skipped
    END IF;

    -- Its assets, their tiles, and its footprint: the union of theirs.
    SELECT i.footprint INTO fp FROM pgmosaic.item i WHERE i.mosaic_id = m.id AND i.id = new_id;
    DELETE FROM pgmosaic.asset x WHERE x.mosaic_id = m.id AND x.item_id = new_id;
    DELETE FROM pgmosaic.tile t WHERE t.mosaic_id = m.id AND t.item_id = new_id;
    FOR a IN SELECT e.key, e.value FROM jsonb_each(assets) e ORDER BY e.key LOOP
        it := pgmosaic._item_from_info(a.value -> 'info', m.srid);
        INSERT INTO pgmosaic.asset (mosaic_id, item_id, name, path, bands, footprint, srid,
                                    geotransform, width, height, band_count, data_type, nodata,
                                    driver, file_size, file_mtime, min_pixel_size, band_info,
                                    statistics, is_cog, block_width, block_height,
                                    overview_count, status)
        VALUES (m.id, new_id, a.key, pgmosaic.pathref(a.value ->> 'href'),
                CASE WHEN a.value ? 'bands' THEN ARRAY(SELECT (b #>> '{}')::integer
                                                       FROM jsonb_array_elements(a.value -> 'bands') b)
                END,
                it.footprint, it.srid, it.geotransform, it.width, it.height, it.band_count,
                it.data_type, it.nodata, it.driver, it.file_size, it.file_mtime,
                it.min_pixel_size, it.bands, it.statistics, it.is_cog, it.block_width,
                it.block_height, it.overview_count, 'ok');
        PERFORM pgmosaic._store_tiles(m.id, new_id, a.key, a.value -> 'info');
        new_fp := CASE WHEN new_fp IS NULL THEN it.footprint
                       ELSE ST_Union(new_fp, it.footprint) END;
    END LOOP;
    UPDATE pgmosaic.item i SET footprint = new_fp,
        min_pixel_size = (SELECT min(x.min_pixel_size) FROM pgmosaic.asset x
                          WHERE x.mosaic_id = m.id AND x.item_id = new_id)
    WHERE i.mosaic_id = m.id AND i.id = new_id;
    IF NOT ST_Equals(fp, new_fp) THEN
        PERFORM pgmosaic._stale_overviews(m.id, new_fp);
    END IF;
    PERFORM pgmosaic._grow_extent(m.id, ARRAY[new_id]);
    IF EXISTS (SELECT 1 FROM pgmosaic.theme_rule tr WHERE tr.mosaic_id = m.id) THEN
        PERFORM pgmosaic._store_item_themes(m.id, new_id);
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION pgmosaic.register_item(text, jsonb, jsonb, text) IS
    'Registers an item made of several files inspected elsewhere: assets {"<asset>": {"href": '
    '<path>, "bands": [n, ...], "info": <inspect_raster JSON>}} (the mosaic''s bands name the '
    'assets, see set_bands; a band whose asset the item lacks is nodata for it), properties '
    'as register_raster''s (and "id", which names the item in errors); on_duplicate fail, skip '
    'or update. Returns the item id.';

-- Registers an item made of several files the backend inspects: assets {"<asset>": {"href":
-- <path>, "bands": [...]}} or {"<asset>": "<path>"}.
CREATE OR REPLACE FUNCTION pgmosaic.add_item(mosaic text, assets jsonb,
                                             properties jsonb DEFAULT '{}',
                                             on_duplicate text DEFAULT 'fail')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    a record;
    v jsonb;
    inspected jsonb := '{}';
BEGIN
    IF assets IS NULL OR jsonb_typeof(assets) <> 'object' OR assets = '{}' THEN
        RAISE EXCEPTION 'an item needs assets: a JSON object {"<asset>": {"href": <path>}}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pgmosaic._mosaic(mosaic);
    FOR a IN SELECT e.key, e.value FROM jsonb_each(assets) e ORDER BY e.key LOOP
        v := CASE WHEN jsonb_typeof(a.value) = 'string' THEN jsonb_build_object('href', a.value)
                  ELSE a.value END;
        IF jsonb_typeof(v) <> 'object' OR jsonb_typeof(v -> 'href') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'asset "%" is not {"href": <path>, ...} or a path', a.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        inspected := inspected || jsonb_build_object(a.key, v || jsonb_build_object(
            'info', pgmosaic.inspect_raster(pgmosaic.resolve(pgmosaic.pathref(v ->> 'href')),
                                            'cheap')));
    END LOOP;
    RETURN pgmosaic.register_item(mosaic, inspected, properties, on_duplicate);
END
$$;
COMMENT ON FUNCTION pgmosaic.add_item(text, jsonb, jsonb, text) IS
    'Registers an item made of several files (assets {"<asset>": {"href": <path>, "bands": '
    '[n, ...]}} or {"<asset>": "<path>"}), the backend inspecting each file as add_raster '
    'does; properties and on_duplicate as register_item''s. Returns the item id.';

-- Sets (or with NULL removes) a mosaic's mask: a band expression over its bands (by number, or
-- by name for items of several files), true where an item's pixels are transparent.
CREATE OR REPLACE FUNCTION pgmosaic.set_mask(mosaic text, mask text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
    bands integer;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = set_mask.mosaic FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pgmosaic._mosaic(mosaic); -- unknown (42704)
        RAISE EXCEPTION 'permission denied to change mosaic "%": no write access', mosaic
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NULLIF(mask, '') IS NOT NULL THEN
        bands := CASE WHEN m.band_sources IS NULL THEN pgmosaic.check_expression(mask)
                      ELSE pgmosaic.check_expression(mask,
                               ARRAY(SELECT e ->> 'name'
                                     FROM jsonb_array_elements(m.band_sources) e)) END;
        IF m.band_count IS NOT NULL AND bands > m.band_count THEN
            RAISE EXCEPTION 'mask "%" uses b% but mosaic "%" has % bands', mask, bands, m.name,
                m.band_count USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    UPDATE pgmosaic.mosaic mo SET mask = NULLIF(set_mask.mask, '') WHERE mo.id = m.id;
    -- Overview tiles composed without (or with another) mask no longer show the mosaic.
    UPDATE pgmosaic.item i SET status = 'stale'
    WHERE i.mosaic_id = m.id AND i.category = 'overview' AND i.status = 'ok'
      AND m.mask IS DISTINCT FROM NULLIF(set_mask.mask, '');
END
$$;
COMMENT ON FUNCTION pgmosaic.set_mask(text, text) IS
    'Sets a mosaic''s mask: a band expression true where an item''s pixels are transparent, '
    'as nodata is (bit(qa, 3) or bit(qa, 4); scl in (3, 8, 9, 10); cloudmask > 0); NULL '
    'removes it. Reads take it unless they give mask= (none: no mask).';

-- Sets (or with NULL removes) a mosaic's virtual bands: bands readers expose after its own,
-- each name:expression or name:type:expression over the composed bands (Float32 unless a type
-- is given), e.g. ARRAY['ndvi:(nir-red)/(nir+red)', 'ndwi:Int16:(green-nir)*1000/(green+nir)'].
CREATE OR REPLACE FUNCTION pgmosaic.set_virtual_bands(mosaic text, bands text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic;
    spec text;
    parts text[];
    names text[];
    seen text[] := '{}';
    used integer;
BEGIN
    SELECT * INTO m FROM pgmosaic.mosaic mo WHERE mo.name = set_virtual_bands.mosaic FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pgmosaic._mosaic(mosaic); -- unknown (42704)
        RAISE EXCEPTION 'permission denied to change mosaic "%": no write access', mosaic
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    names := ARRAY(SELECT e ->> 'name' FROM jsonb_array_elements(m.band_sources) e);
    FOREACH spec IN ARRAY COALESCE(bands, '{}') LOOP
        parts := regexp_match(spec, '^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?:(Byte|Int8|UInt16|'
                                    'Int16|UInt32|Int32|Float32|Float64)\s*:)?(.+)$');
        IF parts IS NULL THEN
            RAISE EXCEPTION 'invalid virtual band "%" of mosaic "%": expected name:expression or '
                            'name:type:expression', spec, m.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF lower(parts[1]) = ANY (SELECT lower(n) FROM unnest(names || seen) n)
           OR parts[1] ~* '^b[0-9]+$' THEN
            RAISE EXCEPTION 'virtual band "%" of mosaic "%": the name "%" is taken', spec,
                m.name, parts[1] USING ERRCODE = 'invalid_parameter_value';
        END IF;
        seen := seen || parts[1];
        used := CASE WHEN m.band_sources IS NULL THEN pgmosaic.check_expression(parts[3])
                     ELSE pgmosaic.check_expression(parts[3], names) END;
        IF m.band_count IS NOT NULL AND used > m.band_count THEN
            RAISE EXCEPTION 'virtual band "%" uses b% but mosaic "%" has % bands', spec, used,
                m.name, m.band_count USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    UPDATE pgmosaic.mosaic mo SET virtual_bands = NULLIF(bands, '{}') WHERE mo.id = m.id;
END
$$;
COMMENT ON FUNCTION pgmosaic.set_virtual_bands(text, text[]) IS
    'Sets a mosaic''s virtual bands, exposed by readers after its own bands: name:expression '
    'or name:type:expression over the composed bands (Float32 unless a type is given); NULL '
    'removes them.';
