"""Trust of the catalog across versions, dumps and concurrent loaders: a 0.2 database updated to
the current version dumps and restores whole; a writer (not a superuser) can pg_dump what it may
read; two loaders creating the same new mosaic both land."""

import os
import subprocess
import threading

import psycopg2
import pytest

import sampledata

PG_BIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                        check=True).stdout.strip()
WRITER = "regress_pgmosaic_trust_writer"

# Every row of the catalog and its abstractions, as text, in a stable order, without the columns
# 0.3 adds (NEW_COLUMNS: what an upgrade leaves in them).
ROWS = """
SELECT 'mosaic', m.id::text,
       (to_jsonb(m) - ARRAY['band_sources', 'mask', 'virtual_bands'])::text
FROM pgmosaic.mosaic m
UNION ALL SELECT 'item', i.mosaic_id || '/' || i.id, (to_jsonb(i) - 'batch' - 'changed')::text
          FROM pgmosaic.item i
UNION ALL SELECT 'grant', g.mosaic_id || '/' || g.grantee, to_jsonb(g)::text
          FROM pgmosaic.mosaic_grant g
UNION ALL SELECT 'tile', t.item_id || '/' || t.level || '/' || t.key::text,
          (to_jsonb(t) - 'asset')::text
          FROM pgmosaic.tile t
UNION ALL SELECT 'rule', r.theme, to_jsonb(r)::text FROM pgmosaic.theme_rule r
UNION ALL SELECT 'theme', t.id::text, to_jsonb(t)::text FROM pgmosaic.theme t
ORDER BY 1, 2
"""

NEW_COLUMNS = """
SELECT (SELECT count(*) FROM pgmosaic.mosaic
        WHERE band_sources IS NOT NULL OR mask IS NOT NULL OR virtual_bands IS NOT NULL),
       (SELECT count(*) FROM pgmosaic.item WHERE batch IS NOT NULL),
       (SELECT count(*) FROM pgmosaic.tile WHERE asset <> '')
"""


def env_of(cluster, user=None):
    return dict(os.environ, PGHOST=cluster["PGHOST"], PGPORT=cluster["PGPORT"],
                PGUSER=user or cluster["PGUSER"])


@pytest.fixture(scope="module")
def tiles(datadir):
    return sampledata.make_tile_grid(os.path.join(datadir, "trust"), 2, 1, 256, blocksize=128)


def test_a_02_database_updated_dumps_and_restores_whole(db, cluster, tiles, datadir, tmp_path):
    admin = db.__class__(cluster, "postgres")
    for name in ("pgmosaic_it_from02", "pgmosaic_it_from02_restored"):
        admin.query(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.query(f"CREATE DATABASE {name}")
    old = db.__class__(cluster, "pgmosaic_it_from02")
    old.query("CREATE EXTENSION postgis")
    old.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    old.query("CREATE EXTENSION pgmosaic VERSION '0.2'")
    conn = psycopg2.connect(old.conninfo)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (datadir,))
            cur.execute("SELECT pgmosaic.create_mosaic('m', 32631)")
            cur.execute("SELECT pgmosaic.add_theme_rule('m', 'bright', 'b1 > 100')")
            for p in tiles:
                cur.execute("SELECT pgmosaic.add_raster('m', %s)", (p,))
            cur.execute("SELECT pgmosaic.grant_access('m', 'pgmosaic_reader')")
    finally:
        conn.close()
    before = old.query(ROWS)
    old.query("ALTER EXTENSION pgmosaic UPDATE")
    assert old.query("SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic'") == [
        ("0.3",)]
    assert old.query(ROWS) == before
    assert old.query(NEW_COLUMNS) == [(0, 0, 0)]
    kinds = {r[0] for r in before}
    assert kinds == {"mosaic", "item", "grant", "tile", "rule", "theme"}
    dump = tmp_path / "from02.dump"
    subprocess.run([os.path.join(PG_BIN, "pg_dump"), "-Fc", "-f", str(dump), old.name],
                   env=env_of(cluster), check=True)
    subprocess.run([os.path.join(PG_BIN, "pg_restore"), "--exit-on-error", "-d",
                    "pgmosaic_it_from02_restored", str(dump)], env=env_of(cluster), check=True,
                   capture_output=True)
    restored = db.__class__(cluster, "pgmosaic_it_from02_restored")
    assert restored.query(ROWS) == before
    assert restored.query("SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic'") == [
        ("0.3",)]
    for name in ("pgmosaic_it_from02", "pgmosaic_it_from02_restored"):
        admin.query(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def writer(db):
    db.query(f"DROP ROLE IF EXISTS {WRITER}")
    db.query(f"CREATE ROLE {WRITER} LOGIN IN ROLE pgmosaic_writer")
    yield WRITER
    db.query("SELECT pgmosaic.drop_mosaic(name) FROM pgmosaic.mosaic "
             "WHERE owner::text = %s", (WRITER,))
    db.query(f"DROP OWNED BY {WRITER}")
    db.query(f"DROP ROLE IF EXISTS {WRITER}")


def test_a_writer_dumps_what_it_may_read(db, cluster, writer, tiles, datadir, tmp_path):
    conn = psycopg2.connect(db.conninfo.replace(f"user={cluster['PGUSER']}", f"user={writer}"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pgmosaic.create_mosaic('writers', 32631)")
    finally:
        conn.close()
    out = tmp_path / "writer.sql"
    run = subprocess.run([os.path.join(PG_BIN, "pg_dump"), "--enable-row-security",
                          "--schema=pgmosaic", "-f", str(out), db.name],
                         env=env_of(cluster, writer), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "writers" in text
    assert "item_id_seq" in text


def test_two_loaders_creating_the_same_mosaic_both_land(db, cluster, tiles, datadir):
    """The second loader's insert of the new mosaic waits for the first to commit, then loads
    into it instead of failing with its whole batch."""
    def connect():
        conn = psycopg2.connect(db.conninfo)
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (datadir,))
        return conn

    register = ("SELECT pgmosaic.register_raster('raced', %s, "
                "pgmosaic.inspect_raster(%s, 'none'))")
    first, second = connect(), connect()
    result = {}
    try:
        with first.cursor() as cur:
            cur.execute(register, (tiles[0], tiles[0]))

        def load_second():
            try:
                with second.cursor() as cur:
                    cur.execute(register, (tiles[1], tiles[1]))
                    result["id"] = cur.fetchone()[0]
                second.commit()
            except Exception as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=load_second)
        t.start()
        t.join(1.0)
        assert t.is_alive(), "the second loader should wait for the first"
        first.commit()
        t.join(30)
        assert not t.is_alive()
        assert "error" not in result, result.get("error")
    finally:
        first.close()
        second.close()
    rows = db.query("SELECT count(*), count(DISTINCT i.mosaic_id) FROM pgmosaic.item i "
                    "JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = 'raced'")
    assert rows == [(2, 1)]
    db.query("SELECT pgmosaic.drop_mosaic('raced')")


def test_gdaladdo_racing_a_loader_leaves_no_wrong_tile_marked_ok(db, datadir):
    """A loader's item under a tile commits while gdaladdo composes that tile without it:
    the tile is registered stale (never read), and the next gdaladdo makes every level equal
    a sequential build."""
    import numpy as np
    from osgeo import gdal

    d = os.path.join(datadir, "race")
    root = os.path.join(datadir, "race_managed")
    os.makedirs(d)
    os.makedirs(root)
    os.chmod(root, 0o777)
    rng = np.random.default_rng(8)
    base = sampledata.make_cog(os.path.join(d, "base.tif"),
                               sampledata.tile_pixels(rng, 3, 800, 800, 1),
                               (500000.0, 5000000.0), 10.0, nodata=0, overviews=False)
    patch = sampledata.make_cog(os.path.join(d, "patch.tif"),
                                np.full((3, 200, 200), 250, dtype="uint8"),
                                (500000.0, 5000000.0), 10.0, nodata=0, overviews=False)
    db.register("race", [base], [d])
    db.query("INSERT INTO pgmosaic.path_root VALUES ('race', %s)", (root,))
    loader = psycopg2.connect(db.conninfo)
    try:
        with loader.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
            cur.execute("SELECT pgmosaic.add_raster('race', %s, priority => 1)", (patch,))
        # The loader holds its transaction open: gdaladdo composes without the patch, then
        # waits for the mosaic's lock to register the tile.
        build = subprocess.Popen(["gdaladdo", "-r", "nearest", db.mosaic("race"), "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            build.wait(timeout=3)
            raise AssertionError("gdaladdo should wait for the loader: " + build.stderr.read())
        except subprocess.TimeoutExpired:
            pass
        loader.commit()
        _, err = build.communicate(timeout=60)
        assert build.returncode == 0, err
    finally:
        loader.close()
    status = db.query("SELECT status FROM pgmosaic.item WHERE category = 'overview' "
                      "AND overview_level = 1")
    assert status == [("stale",)]
    # Stale tiles are never read: the patch shows at level 1 right away.
    ds = gdal.Open(db.mosaic("race"))
    assert int(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, 50, 50).min()) == 250
    r = subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("race"), "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT status FROM pgmosaic.item WHERE category = 'overview'") == [
        ("ok",)]
    vrt = gdal.BuildVRT("/vsimem/race.vrt", [base, patch])
    full = vrt.ReadAsArray()
    ds = gdal.Open(db.mosaic("race"))
    ov = np.stack([ds.GetRasterBand(b).GetOverview(0).ReadAsArray() for b in (1, 2, 3)])
    assert np.array_equal(ov, full[:, 1::2, 1::2])
    db.query("SELECT pgmosaic.drop_mosaic('race')")
    db.query("DELETE FROM pgmosaic.path_root WHERE name = 'race'")


def test_a_long_inspection_in_the_backend_stops_at_statement_timeout(db, datadir):
    """The scan of every block of a large sparse GeoTIFF (343,000 blocks; the inspection takes
    several seconds) honours cancel and statement_timeout. (Formatting the record of such a
    tile index, after the scan, does not stop yet: the timeout falls in the scan here.)"""
    import time

    d = os.path.join(datadir, "cancel")
    os.makedirs(d)
    path = os.path.join(d, "sparse.tif")
    subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", "150000", "150000",
                    "-bands", "1", "-ot", "Byte", "-co", "SPARSE_OK=YES", "-co", "TILED=YES",
                    "-a_srs", "EPSG:32631", "-a_ullr", "500000", "5000000", "2000000",
                    "3500000", path], check=True)
    os.chmod(path, 0o644)
    conn = psycopg2.connect(db.conninfo)
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
            cur.execute("SET statement_timeout = '300ms'")
            t0 = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
                cur.execute("SELECT pgmosaic.inspect_raster(%s)", (path,))
            assert time.monotonic() - t0 < 1.5
        conn.rollback()
        with conn.cursor() as cur:  # the backend is usable afterwards
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_loaders_readers_and_gdaladdo_together_leave_only_right_tiles_ok(db, datadir):
    """Two SQL loaders, a reader through the driver and repeated gdaladdo runs at once, on a
    mosaic of 4x4 items whose level 1 has 2x2 tiles: every tile marked ok then equals the
    sequential result, and one more gdaladdo makes the whole level equal it."""
    import numpy as np
    from osgeo import gdal

    d = os.path.join(datadir, "fault")
    root = os.path.join(datadir, "fault_managed")
    os.makedirs(d)
    os.makedirs(root)
    os.chmod(root, 0o777)
    paths = []
    for r in range(4):
        for c in range(4):
            value = 10 + r * 4 + c
            paths.append(sampledata.make_cog(
                os.path.join(d, f"i{r}{c}.tif"), np.full((1, 1024, 1024), value, dtype="uint8"),
                (500000.0 + c * 10240.0, 5000000.0 - r * 10240.0), 10.0, nodata=0,
                overviews=False))
    db.register("fault", paths[:4], [d])
    db.query("INSERT INTO pgmosaic.path_root VALUES ('fault', %s)", (root,))
    errors = []

    def load(batch):
        conn = psycopg2.connect(db.conninfo)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET pgmosaic.enable_file_access = on")
                cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
                for p in batch:
                    cur.execute("SELECT pgmosaic.add_raster('fault', %s)", (p,))
        except Exception as e:
            errors.append(e)
        finally:
            conn.close()

    def build():
        for _ in range(3):
            r = subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("fault"), "2"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(r.stderr)

    def read(stop):
        try:
            while not stop.is_set():
                ds = gdal.Open(db.mosaic("fault"))
                ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, 256, 256)
        except Exception as e:
            errors.append(e)

    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(paths[4:10],)),
               threading.Thread(target=load, args=(paths[10:],)),
               threading.Thread(target=build), threading.Thread(target=read, args=(stop,))]
    for t in threads:
        t.start()
    for t in threads[:3]:
        t.join(300)
    stop.set()
    threads[3].join(60)
    assert not errors, errors
    expected = gdal.BuildVRT("/vsimem/fault.vrt", paths).ReadAsArray()[1::2, 1::2]

    def wrong_ok_tiles():
        wrong = []
        for path, in db.query("SELECT pgmosaic.resolve(path) FROM pgmosaic.item "
                              "WHERE category = 'overview' AND status = 'ok'"):
            tile = gdal.Open(path)
            gt = tile.GetGeoTransform()
            x0, y0 = round((gt[0] - 500000.0) / 20.0), round((5000000.0 - gt[3]) / 20.0)
            got = tile.GetRasterBand(1).ReadAsArray()
            want = expected[y0:y0 + got.shape[0], x0:x0 + got.shape[1]]
            if got.shape != want.shape or not np.array_equal(got, want):
                wrong.append(path)
        return wrong

    assert wrong_ok_tiles() == []
    r = subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("fault"), "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT status, count(*) FROM pgmosaic.item WHERE category = 'overview' "
                    "GROUP BY status") == [("ok", 4)]
    assert wrong_ok_tiles() == []
    ds = gdal.Open(db.mosaic("fault"))
    assert np.array_equal(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(), expected)
    db.query("SELECT pgmosaic.drop_mosaic('fault')")
    db.query("DELETE FROM pgmosaic.path_root WHERE name = 'fault'")
