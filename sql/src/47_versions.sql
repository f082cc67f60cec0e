--------------------------------------------------------------------------------------------
-- Versions: every change of the primary items' rows and of their assets' is recorded
-- (item_version, asset_version: each row with the time range it was valid, from the start
-- of the transaction that wrote it to the start of the one that changed or removed it; the
-- current items' rows are pgmosaic.item's, the earlier ones item_history's), so that
-- a read with asof= composes the catalog as it stood then: items registered, removed or
-- re-pointed later are ignored.
--
-- The triggers write the versions as the extension's owner (SECURITY DEFINER): writers have no
-- privilege on the version tables, so the history of a mosaic changes only as its items do
-- (a writer could otherwise back-date, hide or forge what asof= reads show). They write only
-- the rows the caller just changed, which it could change under the items' policies.
--------------------------------------------------------------------------------------------

-- A current item's version is its row in pgmosaic.item, valid from its `changed` (the time its
-- transaction began: set by the column's default on insert, here on every update, whatever the
-- statement set). Writers have no privilege on the column (90_security.sql). A row a
-- transaction begun later changed first (and committed) is newer than this one's start: the
-- new version starts where that one did, which is then never valid (as a version written and
-- changed in one transaction), rather than before it (two versions at once, in overlapping
-- ranges, and one lost).
CREATE OR REPLACE FUNCTION pgmosaic._stamp_item_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.changed := GREATEST(now(), OLD.changed);
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS item_changed ON pgmosaic.item;
CREATE TRIGGER item_changed BEFORE UPDATE ON pgmosaic.item
    FOR EACH ROW EXECUTE FUNCTION pgmosaic._stamp_item_change();

-- The rows an update or a delete replaced go to item_history, valid from their `changed` to
-- now: one INSERT per statement, however many items it changes (a statement trigger with a
-- transition table). A row written earlier in this transaction never was valid outside it,
-- nor one a transaction begun later changed first: neither is kept. Inserts write nothing;
-- nor do the items a deleted mosaic takes with it (their history goes with the mosaic).
CREATE OR REPLACE FUNCTION pgmosaic._record_item_version() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO pgmosaic.item_history
    SELECT o.*, tstzrange(o.changed, now()) FROM old_items o
    WHERE o.category = 'primary' AND o.changed < now()
      AND EXISTS (SELECT 1 FROM pgmosaic.mosaic m WHERE m.id = o.mosaic_id);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS item_version ON pgmosaic.item;
DROP TRIGGER IF EXISTS item_version_insert ON pgmosaic.item;
DROP TRIGGER IF EXISTS item_version_update ON pgmosaic.item;
CREATE TRIGGER item_version_update AFTER UPDATE ON pgmosaic.item
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION pgmosaic._record_item_version();
DROP TRIGGER IF EXISTS item_version_delete ON pgmosaic.item;
CREATE TRIGGER item_version_delete AFTER DELETE ON pgmosaic.item
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION pgmosaic._record_item_version();

CREATE OR REPLACE FUNCTION pgmosaic._record_asset_version() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM pgmosaic.asset_version v
        WHERE v.mosaic_id = OLD.mosaic_id AND v.item_id = OLD.item_id AND v.name = OLD.name
          AND upper_inf(v.valid) AND lower(v.valid) = now();
        UPDATE pgmosaic.asset_version v SET valid = tstzrange(lower(v.valid), now())
        WHERE v.mosaic_id = OLD.mosaic_id AND v.item_id = OLD.item_id AND v.name = OLD.name
          AND upper_inf(v.valid);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO pgmosaic.asset_version SELECT NEW.*, tstzrange(now(), NULL);
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS asset_version ON pgmosaic.asset;
CREATE TRIGGER asset_version AFTER INSERT OR UPDATE OR DELETE ON pgmosaic.asset
    FOR EACH ROW EXECUTE FUNCTION pgmosaic._record_asset_version();

-- The items of a mosaic as the catalog stood at `asof`, as items() gives them now (see
-- _read_items()).
CREATE OR REPLACE FUNCTION pgmosaic.items(mosaic text, area geometry, filter text,
                                          time_range tstzrange, sort text, ids bigint[],
                                          asof timestamptz)
    RETURNS TABLE (id bigint, path pgmosaic.pathref, resolved_path text, priority integer,
                   srid integer, geotransform double precision[], width integer, height integer,
                   footprint geometry, acquired tstzrange, cloud_cover double precision,
                   status text, attributes jsonb, statistics jsonb)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN QUERY
        SELECT r.id, r.path, r.resolved_path, r.priority, r.srid, r.geotransform, r.width,
               r.height, r.footprint, r.acquired, r.cloud_cover, r.status, r.attributes,
               r.statistics
        FROM pgmosaic._read_items(mosaic, area, filter, time_range, sort, ids, asof) r;
END
$$;
COMMENT ON FUNCTION pgmosaic.items(text, geometry, text, tstzrange, text, bigint[], timestamptz) IS
    'items() as the catalog stood at asof (the versions of the items'' rows valid then; NULL: '
    'now).';

-- A mosaic's extent grown by its items valid at `asof` (snapped outward to its grid), for a
-- read of the catalog as it stood then: {min_x, min_y, max_x, max_y}.
CREATE OR REPLACE FUNCTION pgmosaic._extent_asof(mosaic_id integer, asof timestamptz)
    RETURNS double precision[]
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT ARRAY[LEAST(m.min_x, m.origin_x + floor((ST_XMin(e) - m.origin_x) / m.res_x + 1e-6) * m.res_x),
                 LEAST(m.min_y, m.origin_y + floor((ST_YMin(e) - m.origin_y) / m.res_y + 1e-6) * m.res_y),
                 GREATEST(m.max_x, m.origin_x + ceil((ST_XMax(e) - m.origin_x) / m.res_x - 1e-6) * m.res_x),
                 GREATEST(m.max_y, m.origin_y + ceil((ST_YMax(e) - m.origin_y) / m.res_y - 1e-6) * m.res_y)]
    FROM pgmosaic.mosaic m
    CROSS JOIN LATERAL (SELECT ST_Extent(v.footprint)::geometry AS e
                        FROM pgmosaic.item_version v
                        WHERE v.mosaic_id = m.id AND v.category = 'primary'
                          AND v.batch IS NULL AND v.valid @> asof) x
    WHERE m.id = _extent_asof.mosaic_id AND x.e IS NOT NULL
$$;

-- Publication: items registered with the property "publish_batch" are in the catalog but no
-- read shows them until their batch is published, all at once (or discarded).
CREATE OR REPLACE FUNCTION pgmosaic.publish(mosaic text, batch text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    n bigint;
BEGIN
    PERFORM 1 FROM pgmosaic.mosaic mo WHERE mo.id = m.id FOR UPDATE;
    PERFORM pgmosaic._stale_overviews(m.id, (
        SELECT pgmosaic._union_footprints(array_agg(i.footprint))
        FROM pgmosaic.item i
        WHERE pgmosaic._has_overviews(m.id) AND i.mosaic_id = m.id
          AND i.batch = publish.batch));
    UPDATE pgmosaic.item i SET batch = NULL WHERE i.mosaic_id = m.id AND i.batch = publish.batch;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION pgmosaic.publish(text, text) IS
    'Publishes the items registered in a batch (the property "publish_batch" of register_raster, '
    'register_item, add_item, or the load option PUBLISH=AT_END): reads show them all from '
    'this transaction on. Returns how many.';

CREATE OR REPLACE FUNCTION pgmosaic.discard(mosaic text, batch text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    n bigint;
BEGIN
    PERFORM 1 FROM pgmosaic.mosaic mo WHERE mo.id = m.id FOR UPDATE;
    DELETE FROM pgmosaic.item i WHERE i.mosaic_id = m.id AND i.batch = discard.batch;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pgmosaic._refresh_extent(m.id);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION pgmosaic.discard(text, text) IS
    'Removes the items of a batch not published (e.g. of a load that failed). Returns how many.';
