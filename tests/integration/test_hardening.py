"""The driver's connection and open paths under an adversarial review (issue 12): where= and
sort= run read-only and time-limited, the client refuses network and local items its
configuration does not allow before opening any, an open dataset survives the server ending
its connection, and registering a huge sparse raster is refused at once."""

import contextlib
import http.server
import os
import shutil
import subprocess
import threading
import time

import psycopg2
import pytest
from osgeo import gdal

import sampledata


@contextlib.contextmanager
def config(options):
    """GDAL configuration options set for the block (GDAL 3.6 has no gdal.config_options)."""
    old = {k: gdal.GetConfigOption(k) for k in options}
    for k, v in options.items():
        gdal.SetConfigOption(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            gdal.SetConfigOption(k, v)


@pytest.fixture(scope="module")
def tiles(datadir):
    return sampledata.make_tile_grid(os.path.join(datadir, "hard"), 2, 2, 300, blocksize=128)


@pytest.fixture()
def mosaic(db, tiles):
    """A fresh mosaic "hard" of 4 tiles with a victim mosaic next to it."""
    for name in ("hard", "victim"):
        db.query("SELECT pgmosaic.drop_mosaic(%s) FROM pgmosaic.mosaic WHERE name = %s",
                 (name, name))
    db.register("hard", tiles, [os.path.dirname(tiles[0])])
    db.register("victim", tiles[:1], [os.path.dirname(tiles[0])])
    return db.mosaic("hard")


def mosaic_names(db):
    return sorted(r[0] for r in db.query("SELECT name FROM pgmosaic.mosaic"))


def read_all(ds):
    return ds.ReadRaster(0, 0, ds.RasterXSize, ds.RasterYSize)


# --- 5: where= and sort= are read-only and time-limited ------------------------------------

@pytest.mark.parametrize("option", [
    # The review's attack, in the connection string (libpq quoting), and as open options.
    r"where='(select pgmosaic.drop_mosaic(\'victim\')) is null'",
    "WHERE=(select pgmosaic.drop_mosaic('hard')) is null",
    "SORT=(select pgmosaic.drop_mosaic('victim')) is null",
])
def test_where_and_sort_cannot_write(db, mosaic, option):
    name, oo = (mosaic + " " + option, []) if option[0].islower() else (mosaic, [option])
    with pytest.raises(RuntimeError, match="read-only transaction"):
        ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=oo)
        read_all(ds)
    assert mosaic_names(db) == ["hard", "victim"]


def test_a_filter_cannot_make_its_session_writable(db, mosaic):
    """The first evaluation turns the session's default to read-write, a later one drops when
    its transaction is writable: every statement's own transaction is read-only."""
    flip = ("(select set_config('default_transaction_read_only', 'off', false)) = 'off' and "
            "(select case when current_setting('transaction_read_only') = 'off' then "
            "pgmosaic.drop_mosaic('victim') end) is null")
    ds = gdal.OpenEx(mosaic, gdal.OF_RASTER, open_options=["WHERE=" + flip])
    for x in (0, 100, 200, 300):
        ds.ReadRaster(x, 0, 50, 50)
    assert mosaic_names(db) == ["hard", "victim"]


@pytest.mark.parametrize("how", ["oo", "conn", "config"])
@pytest.mark.parametrize("key,value", [
    ("WHERE", "pg_sleep(10) is not null"),
    ("SORT", "pg_sleep(10) is null"),
    # Lifting the timeout from inside the statement does not disarm its timer.
    ("WHERE", "set_config('statement_timeout', '0', false) is not null and "
              "pg_sleep(10) is not null"),
])
def test_a_slow_filter_fails_fast_with_the_timeout_named(mosaic, how, key, value):
    oo = [f"{key}={value}"]
    name = mosaic
    if how == "oo":
        oo.append("STATEMENT_TIMEOUT=1")
    elif how == "conn":
        name += " statement_timeout=1"
    start = time.monotonic()
    with config({"PGMOSAIC_STATEMENT_TIMEOUT": "1"} if how == "config" else {}):
        with pytest.raises(RuntimeError, match="statement timeout of 1 s"):
            ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=oo)
            ds.ReadRaster(0, 0, 64, 64)
    assert time.monotonic() - start < 5


def test_a_bad_statement_timeout_is_refused(mosaic):
    with pytest.raises(RuntimeError, match='invalid statement_timeout "soon"'):
        gdal.OpenEx(mosaic, gdal.OF_RASTER, open_options=["STATEMENT_TIMEOUT=soon"])


def test_statistics_and_layers_read_through_the_read_only_connection(db, mosaic):
    ds = gdal.OpenEx(mosaic, gdal.OF_RASTER | gdal.OF_VECTOR)
    assert ds.GetRasterBand(1).GetMetadataItem("STATISTICS_MAXIMUM") is not None
    assert ds.GetLayerByName("items").GetFeatureCount() == 4
    assert "SUBDATASET_1_NAME" in gdal.Info(f"PGMOSAIC:{db.conninfo}")


# --- 6: the client's source policy ------------------------------------------------------------

class CountingServer:
    def __init__(self):
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_error(404)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def loopback_item(db, mosaic):
    """The mosaic's second item re-pointed at a loopback HTTP server that counts requests."""
    server = CountingServer()
    url = f"/vsicurl/http://127.0.0.1:{server.port}/x.tif"
    item = db.query("SELECT i.id FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = "
                    "i.mosaic_id WHERE m.name = 'hard' ORDER BY i.id LIMIT 1")[0][0]
    db.query("UPDATE pgmosaic.item SET path = %s WHERE id = %s", (url, item))
    try:
        yield server, url, item
    finally:
        server.close()


def test_a_network_item_is_refused_before_any_request(mosaic, loopback_item):
    server, url, item = loopback_item
    ds = gdal.Open(mosaic)
    with pytest.raises(RuntimeError) as e:
        read_all(ds)
    msg = str(e.value)
    assert f"item {item} ({url})" in msg and "PGMOSAIC_ALLOWED_NETWORK_PREFIXES" in msg
    # missing=skip skips missing files, never refused ones.
    with pytest.raises(RuntimeError, match="refused by the client's policy"):
        read_all(gdal.Open(mosaic + " missing=skip"))
    assert server.requests == 0


def test_a_network_item_outside_the_allowed_prefixes_is_refused(mosaic, loopback_item):
    server, url, item = loopback_item
    other = f"/vsicurl/http://127.0.0.1:{server.port}/allowed/"
    with config({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": "/vsis3/bucket/," + other}):
        with pytest.raises(RuntimeError, match="is outside PGMOSAIC_ALLOWED_NETWORK_PREFIXES"):
            read_all(gdal.Open(mosaic))
    assert server.requests == 0
    # Allowed, the read does reach the server (the test above would see it).
    allowed = f"/vsicurl/http://127.0.0.1:{server.port}/"
    with config({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": allowed,
                              "GDAL_HTTP_MAX_RETRY": "0"}):
        with pytest.raises(RuntimeError):
            read_all(gdal.Open(mosaic))
    assert server.requests > 0


def test_a_vrt_sidecar_of_an_item_is_never_opened_by_the_client(db, tiles, datadir):
    """A .msk beside an item that is a VRT naming a URL: the client opens items with the allowed
    drivers and tells GDAL of no such sidecar, so no request leaves (GDAL alone would send one)."""
    server = CountingServer()
    try:
        d = os.path.join(datadir, "sidecar")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        tif = os.path.join(d, "a.tif")
        shutil.copy(tiles[0], tif)
        os.chmod(tif, 0o644)
        db.query("SELECT pgmosaic.drop_mosaic('side') FROM pgmosaic.mosaic WHERE name = 'side'")
        db.register("side", [tif], [d])
        expected = read_all(gdal.Open(db.mosaic("side")))
        src = gdal.Open(tif)
        with open(tif + ".msk", "w") as f:
            # The mask flags GDAL looks for in a .msk: one mask for the dataset's bands.
            flags = "".join(f'<MDI key="INTERNAL_MASK_FLAGS_{b}">2</MDI>'
                            for b in range(1, src.RasterCount + 1))
            f.write(f'<VRTDataset rasterXSize="{src.RasterXSize}" rasterYSize="{src.RasterYSize}">'
                    f'<Metadata>{flags}</Metadata><VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename>'
                    f'/vsicurl/http://127.0.0.1:{server.port}/mask.tif</SourceFilename>'
                    '<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')
        src = None
        assert read_all(gdal.Open(db.mosaic("side"))) == expected
        assert server.requests == 0
        # The attack is real: GDAL on its own opens the sidecar and asks the server.
        with config({"GDAL_HTTP_MAX_RETRY": "0"}):
            gdal.PushErrorHandler("CPLQuietErrorHandler")
            try:
                direct = gdal.Open(tif)
                direct.GetRasterBand(1).GetMaskBand().Checksum()
            except RuntimeError:
                pass
            finally:
                gdal.PopErrorHandler()
                direct = None
        assert server.requests > 0
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(datadir, "sidecar", "a.tif.msk"))


def test_local_items_outside_the_allowed_roots_are_refused(mosaic, tiles, tmp_path):
    expected = read_all(gdal.Open(mosaic))
    with config({"PGMOSAIC_ALLOWED_ROOTS": str(tmp_path)}):
        with pytest.raises(RuntimeError, match=r"refused by the client's policy: path .* is "
                                               r"outside PGMOSAIC_ALLOWED_ROOTS"):
            read_all(gdal.Open(mosaic))
    # A root that is a symbolic link to the tiles' directory allows them.
    link = tmp_path / "link"
    link.symlink_to(os.path.dirname(tiles[0]))
    with config({"PGMOSAIC_ALLOWED_ROOTS": f"{tmp_path}/none, {link}"}):
        assert read_all(gdal.Open(mosaic)) == expected


# --- 13: reconnecting -------------------------------------------------------------------------

def backends(db):
    return [r[0] for r in db.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'pgmosaic'",
        (db.name,))]


def wait_for_server(db, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.query("SELECT 1")
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("pool", ["0", "4"])
def test_a_read_after_pg_terminate_backend_reconnects(db, mosaic, pool):
    with config({"PGMOSAIC_CONNECTION_POOL_SIZE": pool}):
        ds = gdal.Open(mosaic)
        assert ds.ReadRaster(0, 0, 100, 100)
        pids = backends(db)
        assert pids
        db.query("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
        deadline = time.monotonic() + 5
        while set(pids) & set(backends(db)) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Another window: the item lookup goes to the server (on a new connection).
        got = ds.ReadRaster(150, 150, 300, 300)
        assert set(backends(db)).isdisjoint(pids)
        assert got == gdal.Open(mosaic).ReadRaster(150, 150, 300, 300)
        ds = None


def test_a_connection_lost_during_a_lookup_is_retried_once(db, mosaic):
    """The filter ends its own backend unless its session has the database's new default: the
    dataset's session (opened before) dies in the middle of the lookup, the new one reads."""
    kill = ("current_setting('pgmosaic_test.alive', true) = 'yes' or "
            "pg_terminate_backend(pg_backend_pid())")
    expected = gdal.Open(mosaic).ReadRaster(150, 150, 300, 300)
    with config({"PGMOSAIC_CONNECTION_POOL_SIZE": "0"}):
        ds = gdal.OpenEx(mosaic, gdal.OF_RASTER, open_options=["WHERE=" + kill])
        db.query(f"ALTER DATABASE {db.name} SET pgmosaic_test.alive = 'yes'")
        try:
            assert ds.ReadRaster(150, 150, 300, 300) == expected
        finally:
            db.query(f"ALTER DATABASE {db.name} RESET pgmosaic_test.alive")
        ds = None


def test_a_read_after_the_mosaic_was_recreated_fails_naming_it(db, mosaic, tiles):
    ds = gdal.Open(mosaic)
    assert ds.ReadRaster(0, 0, 100, 100)
    pids = backends(db)
    db.query("SELECT pgmosaic.drop_mosaic('hard')")
    db.register("hard", tiles, [os.path.dirname(tiles[0])])
    db.query("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
    time.sleep(0.2)
    with pytest.raises(RuntimeError, match='mosaic "hard" was dropped and created again'):
        ds.ReadRaster(150, 150, 300, 300)


def test_a_read_after_a_server_restart_reconnects(db, mosaic):
    ds = gdal.Open(mosaic)
    before = ds.ReadRaster(0, 0, 100, 100)
    datadir = db.query("SHOW data_directory")[0][0]
    ctl = os.path.join(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                      check=True).stdout.strip(), "pg_ctl")
    cmd = [ctl, "-D", datadir, "-m", "fast", "-w", "-t", "60", "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    try:
        # The server starts without this interpreter's GDAL and sanitizer settings (a backend
        # would load the test's plugin, an ASan one in the sanitizer run, into its GDAL).
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "GDAL_DRIVER_PATH")
               and not k.startswith(("ASAN_", "UBSAN_"))}
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       cwd="/tmp", timeout=120, env=env)
    finally:
        wait_for_server(db)
    got = ds.ReadRaster(150, 150, 300, 300)
    assert got == gdal.Open(mosaic).ReadRaster(150, 150, 300, 300)
    assert ds.ReadRaster(0, 0, 100, 100) == before


# --- 14: a huge sparse raster is refused at once ---------------------------------------------

def test_a_huge_sparse_tiff_is_refused_within_seconds(db, mosaic, tmp_path):
    huge = str(tmp_path / "huge.tif")
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(huge, 1000000, 1000000, 1, gdal.GDT_Byte,
                    ["SPARSE_OK=YES", "TILED=YES", "BIGTIFF=YES"])
    ds.SetGeoTransform([500000, 0.1, 0, 5000000, 0, -0.1])
    ds.SetProjection("EPSG:32631")
    ds = None
    csv = tmp_path / "files.csv"
    csv.write_text(f"path,note\n{huge},x\n")
    start = time.monotonic()
    r = subprocess.run(["ogr2ogr", "-update", db.mosaic("hard"), str(csv), "-nln", "items",
                        "-doo", "FOOTPRINT=EXTENT", "-doo", "STATISTICS=NONE"],
                       capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 10
    assert r.returncode != 0
    assert (f"raster {huge} has 15264649 blocks at full resolution" in r.stderr
            and "more than the limit of 1000000" in r.stderr and "MAX_BLOCKS" in r.stderr), \
        r.stderr
    assert db.query("SELECT count(*) FROM pgmosaic.item WHERE path::text = %s", (huge,))[0][0] == 0
