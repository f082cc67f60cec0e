--------------------------------------------------------------------------------------------
-- Roles (cluster-wide: created once, by the first database that installs pgmosaic)
--------------------------------------------------------------------------------------------

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_reader') THEN
        CREATE ROLE pgmosaic_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_writer') THEN
        CREATE ROLE pgmosaic_writer NOLOGIN IN ROLE pgmosaic_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgmosaic_admin') THEN
        CREATE ROLE pgmosaic_admin NOLOGIN IN ROLE pgmosaic_writer;
    END IF;
END
$roles$;
