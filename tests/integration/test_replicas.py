"""Read replicas: a primary and a hot standby made from it by pg_basebackup -R (streaming
replication), both started here on loopback (scripts/pgcluster.sh) and stopped at the end.
The driver and the SQL door read the same pixels through the standby as through the primary;
libpq multi-host strings with target_session_attrs=prefer-standby / read-only send the
catalog reads to the standby (seen in its pg_stat_activity); writes (gdaladdo, ogr2ogr,
gdal_translate -of PGMOSAIC) go to the primary when the string names both, and fail naming
the problem when it names only the standby; the standby shows a new item once it has
replayed the primary's WAL."""

import hashlib
import math
import os
import subprocess
import tempfile
import time
import uuid

import numpy as np
import psycopg2
import pytest
from osgeo import gdal, osr

import sampledata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGCLUSTER = os.path.join(REPO, "scripts", "pgcluster.sh")
DB = "pgmosaic_replicas"
X0, Y0, RES, TILE = 500000.0, 5000000.0, 10.0, 256
AREA = f"ST_MakeEnvelope({X0}, {Y0 - 2 * TILE * RES}, {X0 + 2 * TILE * RES}, {Y0}, 32631)"
WIDE = f"ST_MakeEnvelope({X0}, {Y0 - 2 * TILE * RES}, {X0 + 4 * TILE * RES}, {Y0}, 32631)"


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().removeprefix("export ").partition("=")
            env[k] = v
    return env


def run(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({r.returncode}): {r.stderr}")
    return r


class Server:
    def __init__(self, env):
        self.port = int(env["PGPORT"])
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={DB}"

    def query(self, sql, params=None, files=False):
        conn = psycopg2.connect(self.conninfo)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                if files:
                    cur.execute("SET pgmosaic.enable_file_access = on")
                    cur.execute("SET pgmosaic.allowed_roots = %s", (files,))
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()


@pytest.fixture(scope="module")
def pair():
    """(primary, standby, data dir): mosaic "rep" (a 2x2 grid of COG tiles) registered on the
    primary before the standby was copied from it; a managed root for overview tiles."""
    top = tempfile.mkdtemp(prefix="pgmosaic-replicas-")
    os.chmod(top, 0o755)
    pdir, sdir, data = (os.path.join(top, n) for n in ("primary", "standby", "data"))
    started = []
    try:
        run(PGCLUSTER, "start", pdir)
        started.append(pdir)
        primary = Server(read_env(os.path.join(pdir, "env")))
        admin = psycopg2.connect(primary.conninfo.replace(f"dbname={DB}", "dbname=postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
        admin.close()
        primary.query("CREATE EXTENSION pgmosaic CASCADE")
        primary.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
        primary.query(f"ALTER DATABASE {DB} SET postgis.gdal_enabled_drivers = "
                      "'GTiff COG PNG JPEG WEBP'")
        src = os.path.join(data, "src")
        managed = os.path.join(data, "managed")
        paths = sampledata.make_tile_grid(src, 2, 2, TILE, nodata_every=2,
                                          origin=(X0, Y0), res=RES)
        os.makedirs(managed)
        os.chmod(managed, 0o777)
        primary.query("SELECT pgmosaic.create_mosaic('rep', 32631)")
        for p in paths:
            primary.query("SELECT pgmosaic.add_raster('rep', %s)", (p,), files=data)
        primary.query("INSERT INTO pgmosaic.path_root VALUES ('rep', %s)", (managed,))
        run(PGCLUSTER, "standby", pdir, sdir)
        started.append(sdir)
        standby = Server(read_env(os.path.join(sdir, "env")))
        yield primary, standby, data
    finally:
        for d in reversed(started):
            subprocess.run([PGCLUSTER, "stop", d])
        subprocess.run(["rm", "-rf", top])


def both(primary, standby, first="standby", **extra):
    """A libpq string naming both servers (the standby first unless told)."""
    a, b = (standby, primary) if first == "standby" else (primary, standby)
    s = f"host=127.0.0.1,127.0.0.1 port={a.port},{b.port} user=postgres dbname={DB}"
    return s + "".join(f" {k}={v}" for k, v in extra.items())


def caught_up(primary, standby, timeout=30):
    """Waits until the standby has replayed everything the primary has written (its replay
    LSN reaches the primary's current WAL position), not for a guessed time."""
    (target,), = primary.query("SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + timeout
    while True:
        (done,), = standby.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
        if done:
            return
        assert time.monotonic() < deadline, f"the standby did not replay up to {target}"
        time.sleep(0.02)


def checksums(name):
    ds = gdal.OpenEx(name, gdal.OF_RASTER)
    try:
        return [ds.GetRasterBand(b).Checksum() for b in range(1, ds.RasterCount + 1)], \
            hashlib.md5(ds.ReadRaster()).hexdigest()
    finally:
        ds = None


def xyz_tile(z):
    """The XYZ tile (x, y) of zoom z over the middle of the mosaic."""
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32631)
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon, lat, _ = osr.CoordinateTransformation(src, dst).TransformPoint(X0 + TILE * RES,
                                                                      Y0 - TILE * RES)
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def sessions(server, app):
    return server.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (app,))[0][0]


def test_the_standby_is_a_hot_standby_with_the_primarys_catalog(pair):
    primary, standby, _ = pair
    assert standby.query("SELECT pg_is_in_recovery()") == [(True,)]
    assert primary.query("SELECT pg_is_in_recovery()") == [(False,)]
    assert standby.query("SELECT status FROM pg_stat_wal_receiver") == [("streaming",)]
    q = "SELECT id, path::text, file_mtime FROM pgmosaic.item ORDER BY id"
    assert standby.query(q) == primary.query(q) and len(primary.query(q)) == 4


def test_the_driver_reads_the_primarys_pixels_through_the_standby(pair):
    primary, standby, data = pair
    on_primary = checksums(f"PGMOSAIC:{primary.conninfo} mosaic=rep")
    assert checksums(f"PGMOSAIC:{standby.conninfo} mosaic=rep") == on_primary
    vrt = os.path.join(data, "rep.vrt")
    gdal.BuildVRT(vrt, sorted(os.path.join(data, "src", f) for f in
                              os.listdir(os.path.join(data, "src"))))
    assert checksums(vrt)[0] == on_primary[0]


@pytest.mark.parametrize("attrs", ["prefer-standby", "read-only"])
def test_multi_host_strings_send_catalog_reads_to_the_standby(pair, attrs):
    primary, standby, _ = pair
    app = f"rep_{attrs.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    # The primary first: libpq skips it because the string asks for a standby (read-only
    # sessions: a hot standby is one).
    name = f"PGMOSAIC:{both(primary, standby, first='primary', target_session_attrs=attrs, application_name=app)} mosaic=rep"
    ds = gdal.OpenEx(name, gdal.OF_RASTER)
    try:
        data = ds.ReadRaster()
        assert sessions(standby, app) >= 1
        assert sessions(primary, app) == 0
    finally:
        ds = None
    assert hashlib.md5(data).hexdigest() == checksums(
        f"PGMOSAIC:{primary.conninfo} mosaic=rep")[1]
    v = gdal.OpenEx(name, gdal.OF_VECTOR)
    try:
        assert v.GetLayerByName("items").GetFeatureCount() == 4
        assert sessions(standby, app) >= 1 and sessions(primary, app) == 0
    finally:
        v = None


def test_the_sql_door_reads_in_the_standbys_backend(pair):
    """read(), value(), zonal_stats() (exact and from tile statistics), export(), render_tile(),
    summary(), items(), check() and a dry-run sync() need no write: same answers on both."""
    primary, standby, data = pair
    queries = [
        f"SELECT md5(ST_AsBinary(pgmosaic.read('rep', {AREA})))",
        f"SELECT md5(ST_AsBinary(pgmosaic.read('rep', {AREA}, resolution => 40)))",
        f"SELECT md5(pgmosaic.export('rep', {AREA}, 'GTiff'))",
        "SELECT pgmosaic.value('rep', ST_Point(500100, 4999900, 32631), 2)",
        f"SELECT * FROM pgmosaic.zonal_stats('rep', {AREA}, 1)",
        f"SELECT * FROM pgmosaic.zonal_stats('rep', {AREA}, 1, exact => false)",
        "SELECT md5(pgmosaic.render_tile('rep', 14, %d, %d))" % xyz_tile(14),
        f"SELECT * FROM pgmosaic.summary('rep', {AREA}, 1) ORDER BY 1, 2",
        f"SELECT id, path::text FROM pgmosaic.items('rep', {AREA})",
        "SELECT * FROM pgmosaic.check('rep', deep => true)",
        "SELECT * FROM pgmosaic.sync('rep', dry_run => true)",
        "SELECT * FROM pgmosaic.overview_levels('rep')",
    ]
    for q in queries:
        want = primary.query(q, files=data)
        assert standby.query(q, files=data) == want, q
    assert primary.query(queries[0], files=data)[0][0] is not None


def test_sql_writes_on_the_standby_fail_naming_the_read_only_transaction(pair):
    _, standby, data = pair
    for q in ["SELECT * FROM pgmosaic.sync('rep')",
              "SELECT pgmosaic.create_mosaic('nope', 32631)"]:
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction,
                           match="read-only transaction"):
            standby.query(q, files=data)


def new_tile(data, name, col):
    """A COG just east of the grid (column `col`), for loads."""
    d = os.path.join(data, "more")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    arr = sampledata.tile_pixels(np.random.default_rng(col), 3, TILE, TILE, col)
    return sampledata.make_cog(os.path.join(d, name), arr, (X0 + col * TILE * RES, Y0), RES,
                               nodata=0)


def wrote_only(primary, standby, what):
    """`what` reached the primary; the standby, in recovery, took no write of its own."""
    assert primary.query(what)[0][0]
    assert standby.query("SELECT pg_is_in_recovery()") == [(True,)]


def test_writes_with_both_named_go_to_the_primary_and_replay_on_the_standby(pair, tmp_path):
    primary, standby, data = pair
    conn = both(primary, standby, target_session_attrs="prefer-standby")
    (before,), = primary.query("SELECT to_char(now() AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    # ogr2ogr: a gdaltindex of a new tile loaded into "rep".
    t1 = new_tile(data, "east2.tif", 2)
    index = str(tmp_path / "index.gpkg")
    run("gdaltindex", index, t1)
    run("ogr2ogr", "-update", f"PGMOSAIC:{conn} mosaic=rep", index, "-nln", "items")
    # gdal_translate -of PGMOSAIC: a COG written under the managed root and registered.
    t2 = new_tile(data, "east3.tif", 3)
    run("gdal_translate", "-q", "-of", "PGMOSAIC", t2, f"PGMOSAIC:{conn} mosaic=rep")
    # gdaladdo: the mosaic-wide overview tiles.
    run("gdaladdo", "-r", "nearest", f"PGMOSAIC:{conn} mosaic=rep", "2", "4")
    wrote_only(primary, standby,
               "SELECT count(*) = 6 FROM pgmosaic.item WHERE category = 'primary'")
    levels = primary.query("SELECT level, tiles, stale_tiles FROM pgmosaic.overview_levels('rep')")
    assert [l[0] for l in levels] == [1, 2] and all(l[2] == 0 for l in levels)
    caught_up(primary, standby)
    q = "SELECT id, path::text, status FROM pgmosaic.item ORDER BY id"
    assert standby.query(q) == primary.query(q)
    assert standby.query("SELECT level, tiles, stale_tiles FROM "
                         "pgmosaic.overview_levels('rep')") == levels
    # Reads through the standby show the new items, and its overview tiles at zoomed-out
    # reads, with the primary's pixels.
    via_standby = f"PGMOSAIC:{both(primary, standby, target_session_attrs='read-only')} mosaic=rep"
    assert checksums(via_standby) == checksums(f"PGMOSAIC:{primary.conninfo} mosaic=rep")
    # The catalog as it stood before the loads (versions are written by the primary's
    # triggers; an asof read on the standby writes nothing): in the SQL door and the driver.
    q = (f"SELECT md5(ST_AsBinary(pgmosaic.read('rep', {WIDE}, "
         f"options => jsonb_build_object('asof', %s::text))))")
    past = primary.query(q, (before,), files=data)
    assert standby.query(q, (before,), files=data) == past
    assert past != primary.query(f"SELECT md5(ST_AsBinary(pgmosaic.read('rep', {WIDE})))",
                                 files=data)
    assert checksums(f"{via_standby} asof={before}") == checksums(
        f"PGMOSAIC:{primary.conninfo} mosaic=rep asof={before}")
    ds = gdal.Open(via_standby)
    assert ds.RasterXSize == 4 * TILE
    ov = [ds.GetRasterBand(1).GetOverview(0).Checksum()]
    ds = None
    ds = gdal.Open(f"PGMOSAIC:{primary.conninfo} mosaic=rep")
    assert ov == [ds.GetRasterBand(1).GetOverview(0).Checksum()]
    ds = None


@pytest.mark.parametrize("tool", ["gdaladdo", "ogr2ogr", "gdal_translate"])
def test_writes_with_only_the_standby_named_fail_saying_so(pair, tool, tmp_path):
    primary, standby, data = pair
    name = f"PGMOSAIC:{standby.conninfo} mosaic=rep"
    before = primary.query("SELECT count(*) FROM pgmosaic.item")
    if tool == "gdaladdo":
        cmd = ["gdaladdo", "-r", "nearest", name, "2"]
    elif tool == "ogr2ogr":
        index = str(tmp_path / "index.gpkg")
        run("gdaltindex", index, new_tile(data, "east5.tif", 5))
        cmd = ["ogr2ogr", "-update", name, index, "-nln", "items"]
    else:
        cmd = ["gdal_translate", "-q", "-of", "PGMOSAIC", new_tile(data, "east6.tif", 6), name]
    r = run(*cmd, check=False)
    assert r.returncode != 0, r.stdout
    assert "no server it names accepts writes" in r.stderr, r.stderr
    assert f"port={standby.port}" in r.stderr and "primary" in r.stderr
    assert primary.query("SELECT count(*) FROM pgmosaic.item") == before


def test_a_build_from_a_dataset_read_through_the_standby_is_refused(pair):
    """gdal.Open (read-only) through a string preferring the standby: the build would read the
    levels it has just written through a server that may not have replayed them."""
    primary, standby, _ = pair
    ds = gdal.Open(f"PGMOSAIC:{both(primary, standby, target_session_attrs='prefer-standby')} "
                   "mosaic=rep")
    with pytest.raises(RuntimeError, match="reads from a hot standby: open it for update"):
        ds.BuildOverviews("NEAREST", [2])
    ds = None
