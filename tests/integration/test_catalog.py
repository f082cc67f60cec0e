"""The catalog across tools: pg_dump / pg_restore restore mosaics completely (configuration
tables, sequences, grants, policies), and the driver reads through path roots, before and after
the storage moves."""

import hashlib
import os
import shutil
import subprocess

import numpy as np
import psycopg2
import pytest
from osgeo import gdal

import sampledata

PG_BIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                        check=True).stdout.strip()
READER = "regress_pgmosaic_dump_reader"

# Every row of the catalog, as text, in a stable order (ids included: they must survive).
CATALOG_ROWS = """
SELECT 'mosaic', m.id::text, to_jsonb(m)::text FROM pgmosaic.mosaic m
UNION ALL SELECT 'item', i.mosaic_id || '/' || i.id, to_jsonb(i)::text FROM pgmosaic.item i
UNION ALL SELECT 'path_root', r.name, to_jsonb(r)::text FROM pgmosaic.path_root r
UNION ALL SELECT 'grant', g.mosaic_id || '/' || g.grantee, to_jsonb(g)::text
          FROM pgmosaic.mosaic_grant g
ORDER BY 1, 2
"""


def checksum(name):
    ds = gdal.Open(name)
    data = ds.ReadAsArray()
    return ds.RasterXSize, ds.RasterYSize, hashlib.sha256(data.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def catalog(db, datadir, cluster):
    """Two mosaics: 'roots' registered from a directory under a path root, 'abs' from absolute
    paths; metadata, attributes, an overview item, a grant to a reader role."""
    d = os.path.join(datadir, "catalog")
    tiles = sampledata.make_tile_grid(os.path.join(d, "store1"), 2, 2, 300, blocksize=128)
    rng = np.random.default_rng(3)
    os.makedirs(os.path.join(d, "abs"))
    extra = sampledata.make_cog(os.path.join(d, "abs", "extra.tif"),
                                sampledata.tile_pixels(rng, 3, 200, 200, 9),
                                (500000.0, 5000000.0), 10.0, nodata=0)
    admin = psycopg2.connect(db.conninfo.replace(f"dbname={db.name}", "dbname=postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {READER}")
        cur.execute(f"CREATE ROLE {READER} IN ROLE pgmosaic_reader")
    conn = psycopg2.connect(db.conninfo)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
            cur.execute("INSERT INTO pgmosaic.path_root VALUES ('store', %s)",
                        (os.path.join(d, "store1"),))
            cur.execute("SELECT count(*) FROM pgmosaic.create_mosaic_from_directory("
                        "'roots', '@store', '*.tif')")
            assert cur.fetchone()[0] == len(tiles)
            cur.execute("UPDATE pgmosaic.mosaic SET title = 'Roots', keywords = '{a,b}', "
                        "begin_date = '2020-01-01', end_date = '2020-12-31', "
                        "default_sort = 'cloud_cover' WHERE name = 'roots'")
            cur.execute("UPDATE pgmosaic.item SET cloud_cover = 10, attributes = '{\"k\": 1}', "
                        "acquired = '[2020-05-01,2020-05-02)'")
            cur.execute("SELECT pgmosaic.create_mosaic_from_file('abs', %s)", (extra,))
            cur.execute("SELECT pgmosaic.add_raster('abs', %s, category => 'overview', "
                        "overview_level => 1)", (tiles[0],))
            cur.execute("SELECT pgmosaic.grant_access('roots', %s)", (READER,))
    finally:
        conn.close()
    yield {"dir": d, "tiles": tiles, "extra": extra}
    with admin.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgmosaic_it_restored%'")
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")
    db.query("DELETE FROM pgmosaic.mosaic_grant")
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {READER}")
    admin.close()


def restore_copy(db, cluster, tmp_path, fmt):
    """pg_dump of the test database, restored into a new one; returns the new Database."""
    env = dict(os.environ, PGHOST=cluster["PGHOST"], PGPORT=cluster["PGPORT"],
               PGUSER=cluster["PGUSER"])
    name = f"pgmosaic_it_restored_{fmt}"
    admin = db.__class__(cluster, "postgres")
    admin.query(f"DROP DATABASE IF EXISTS {name}")
    admin.query(f"CREATE DATABASE {name}")
    dump = tmp_path / f"catalog.{fmt}"
    if fmt == "custom":
        subprocess.run([os.path.join(PG_BIN, "pg_dump"), "-Fc", "-f", str(dump), db.name],
                       env=env, check=True)
        subprocess.run([os.path.join(PG_BIN, "pg_restore"), "--exit-on-error", "-d", name,
                        str(dump)], env=env, check=True, capture_output=True)
    else:
        subprocess.run([os.path.join(PG_BIN, "pg_dump"), "-f", str(dump), db.name], env=env,
                       check=True)
        subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", name, "-f", str(dump)], env=env, check=True, capture_output=True)
    return db.__class__(cluster, name)


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_dump_and_restore_keep_every_mosaic(db, catalog, cluster, tmp_path, fmt):
    restored = restore_copy(db, cluster, tmp_path, fmt)
    rows = db.query(CATALOG_ROWS)
    assert len([r for r in rows if r[0] == "item"]) == len(catalog["tiles"]) + 2
    assert len([r for r in rows if r[0] == "grant"]) == 1
    assert restored.query(CATALOG_ROWS) == rows
    assert restored.query("SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic'") == [
        ("0.3",)]
    # The same items, resolved the same way, in the same order.
    q = "SELECT id, path, resolved_path FROM pgmosaic.items('roots')"
    assert restored.query(q) == db.query(q)
    # Registration goes on without reusing ids (the sequences were dumped).
    conn = psycopg2.connect(restored.conninfo)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (catalog["dir"],))
            cur.execute("SELECT pgmosaic.create_mosaic('after_restore', 32631)")
            new_mosaic = cur.fetchone()[0]
            cur.execute("SELECT pgmosaic.add_raster('after_restore', %s)", (catalog["extra"],))
            new_item = cur.fetchone()[0]
    finally:
        conn.close()
    assert new_mosaic > max(r[0] for r in db.query("SELECT id FROM pgmosaic.mosaic"))
    assert new_item > max(r[0] for r in db.query("SELECT id FROM pgmosaic.item"))
    # Row-level security came back with the grants: the reader sees 'roots' only.
    q = (f"SET ROLE {READER}; SELECT name FROM pgmosaic.mosaic ORDER BY name")
    assert restored.query(q) == [("roots",)]
    # And the driver reads the same pixels from both.
    assert checksum(restored.mosaic("roots")) == checksum(db.mosaic("roots"))


def test_moving_the_storage_is_one_update(db, catalog):
    before = checksum(db.mosaic("roots"))
    d = catalog["dir"]
    shutil.move(os.path.join(d, "store1"), os.path.join(d, "store2"))
    try:
        with pytest.raises(RuntimeError):
            checksum(db.mosaic("roots"))
        db.query("UPDATE pgmosaic.path_root SET prefix = %s WHERE name = 'store'",
                 (os.path.join(d, "store2"),))
        assert checksum(db.mosaic("roots")) == before
    finally:
        shutil.move(os.path.join(d, "store2"), os.path.join(d, "store1"))
        db.query("UPDATE pgmosaic.path_root SET prefix = %s WHERE name = 'store'",
                 (os.path.join(d, "store1"),))


def test_overview_items_stay_out_of_the_primary_mosaic(db, catalog):
    rows = db.query("SELECT path FROM pgmosaic.items('abs')")
    assert rows == [(catalog["extra"],)]
    assert db.query("SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                    "ON m.id = i.mosaic_id WHERE m.name = 'abs' AND category = 'overview'") == [
        (1,)]


def test_items_of_a_small_mosaic_next_to_a_large_one_are_found_by_its_index(db):
    """items() keeps generic plans for its static queries (plan_cache_mode): a mosaic's items
    without an area, planned for the average mosaic of a catalog where one has 20,000 items
    and another 2, were a scan of every item of the catalog for the small one. That query is
    planned for the mosaic's id: an index scan of its items."""
    footprint = "ST_MakeEnvelope(600000 + g * 10, 4000000, 600010 + g * 10, 4000010, 32631)"
    db.query("SELECT pgmosaic.create_mosaic('plan_big', 32631), "
             "pgmosaic.create_mosaic('plan_small', 32631)")
    db.query("INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, "
             "height, band_count, data_type) "
             f"SELECT m.id, pgmosaic.pathref(format('/data/%s/%s.tif', m.name, g)), {footprint}, "
             "32631, ARRAY[600000 + g * 10, 1, 0, 4000010, 0, -1], 10, 10, 1, 'Byte' "
             "FROM pgmosaic.mosaic m, generate_series(1, 20000) g "
             "WHERE m.name = 'plan_big' OR (m.name = 'plan_small' AND g <= 2)")
    db.query("ANALYZE pgmosaic.item")
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("LOAD 'auto_explain'")
            for setting in ("auto_explain.log_min_duration = 0",
                            "auto_explain.log_nested_statements = on",
                            "auto_explain.log_level = notice"):
                cur.execute("SET " + setting)
            # The 6th call and later run the plan a function caches (a generic one when it
            # costs no more than the custom ones, or when the function says so).
            for _ in range(8):
                del conn.notices[:]
                cur.execute("SELECT count(*) FROM pgmosaic.items('plan_small')")
                assert cur.fetchone()[0] == 2
            plans = [n for n in conn.notices if "pgmosaic.item" in n and "batch" in n]
    finally:
        conn.close()
        db.query("SELECT pgmosaic.drop_mosaic('plan_big'), pgmosaic.drop_mosaic('plan_small')")
    assert plans, conn.notices
    assert all("Seq Scan on item" not in p for p in plans), plans[-1]
