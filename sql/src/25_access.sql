--------------------------------------------------------------------------------------------
-- Access control helpers (used by the row-level security policies)
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.is_admin() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$ SELECT pg_catalog.pg_has_role('pgmosaic_admin', 'USAGE') $$;
COMMENT ON FUNCTION pgmosaic.is_admin() IS
    'Whether the current role has the privileges of pgmosaic_admin (all mosaics).';

CREATE OR REPLACE FUNCTION pgmosaic.is_owner(mosaic_id integer) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path FROM CURRENT
AS $$
    -- Operators qualified: a schema on the search_path (public, if writable) could otherwise
    -- offer a closer match than pg_catalog's.
    SELECT EXISTS (SELECT 1 FROM pgmosaic.mosaic m
                   WHERE m.id OPERATOR(pg_catalog.=) is_owner.mosaic_id
                     AND pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'USAGE'))
$$;
COMMENT ON FUNCTION pgmosaic.is_owner(integer) IS
    'Whether the current role has the privileges of the owner of a mosaic.';

--------------------------------------------------------------------------------------------
-- Per-mosaic access
--------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgmosaic.grant_access(mosaic text, grantee text,
                                                 privilege text DEFAULT 'read')
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    role_id oid;
BEGIN
    IF privilege IS NULL OR privilege NOT IN ('read', 'write') THEN
        RAISE EXCEPTION 'unknown privilege "%": use read or write', privilege
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lower(grantee) = 'public' THEN
        role_id := 0;
    ELSE
        SELECT r.oid INTO role_id FROM pg_catalog.pg_roles r WHERE r.rolname = grantee;
        IF role_id IS NULL THEN
            RAISE EXCEPTION 'role "%" does not exist', grantee USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    IF NOT (pgmosaic.is_admin() OR pgmosaic.is_owner(m.id)) THEN
        RAISE EXCEPTION 'permission denied to grant access to mosaic "%": only its owner or a '
                        'pgmosaic_admin may', m.name USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO pgmosaic.mosaic_grant (mosaic_id, grantee, privilege)
    VALUES (m.id, role_id::regrole, privilege)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION pgmosaic.grant_access(text, text, text) IS
    'Lets a role (or public) read, or read and write, a mosaic''s items. Only the mosaic''s owner '
    'or a pgmosaic_admin may.';

CREATE OR REPLACE FUNCTION pgmosaic.revoke_access(mosaic text, grantee text,
                                                  privilege text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
AS $$
DECLARE
    m pgmosaic.mosaic := pgmosaic._mosaic(mosaic);
    role_id oid;
BEGIN
    IF lower(grantee) = 'public' THEN
        role_id := 0;
    ELSE
        SELECT r.oid INTO role_id FROM pg_catalog.pg_roles r WHERE r.rolname = grantee;
        IF role_id IS NULL THEN
            RAISE EXCEPTION 'role "%" does not exist', grantee USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    IF NOT (pgmosaic.is_admin() OR pgmosaic.is_owner(m.id)) THEN
        RAISE EXCEPTION 'permission denied to revoke access to mosaic "%": only its owner or a '
                        'pgmosaic_admin may', m.name USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM pgmosaic.mosaic_grant g
    WHERE g.mosaic_id = m.id AND g.grantee = role_id::regrole
      AND (revoke_access.privilege IS NULL OR g.privilege = revoke_access.privilege);
END
$$;
COMMENT ON FUNCTION pgmosaic.revoke_access(text, text, text) IS
    'Takes back a role''s (or public''s) read and/or write access to a mosaic.';

--------------------------------------------------------------------------------------------
