"""Items on HTTP servers and object storage, read by the byte ranges registration recorded:
nginx and s3rver on loopback (tests/lib/servers.py), requests counted on the server side."""

import http.server
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading

import numpy as np
import pytest
from osgeo import gdal

import sampledata
import storage_servers as servers

pytestmark = pytest.mark.skipif(servers.available() is not None,
                                reason=str(servers.available()))

SIZE = 512  # tile pixels; blocks of 256: 4 blocks a tile, and overviews


def run(*cmd, check=True, env=None):
    r = subprocess.run(list(cmd), capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({r.returncode}): {r.stderr}")
    return r


@pytest.fixture(scope="module")
def tiles(datadir):
    d = os.path.join(datadir, "remote_tiles")
    return sampledata.make_tile_grid(d, 3, 3, SIZE, nodata_every=4)


@pytest.fixture(scope="module")
def nginx(tiles):
    server = servers.Nginx(os.path.dirname(tiles[0]))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(tiles):
    server = servers.S3rver("pgmosaic")
    try:
        with ConfigOptions(server.gdal_options):
            for p in tiles:
                data = open(p, "rb").read()
                f = gdal.VSIFOpenL(f"/vsis3/pgmosaic/{os.path.basename(p)}", "wb")
                assert gdal.VSIFWriteL(data, 1, len(data), f) == len(data)
                assert gdal.VSIFCloseL(f) == 0
        yield server
    finally:
        server.stop()


class ConfigOptions:
    """GDAL configuration options for a block of the test (GDAL 3.6 has no context manager)."""

    def __init__(self, options):
        self.options = options

    def __enter__(self):
        self.saved = {k: gdal.GetConfigOption(k) for k in self.options}
        for k, v in self.options.items():
            gdal.SetConfigOption(k, v)
        gdal.VSICurlClearCache()

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            gdal.SetConfigOption(k, v)


def register_with_ogr2ogr(db, mosaic, paths, tmp_path, env=None, extra=()):
    csv = tmp_path / f"{mosaic}.csv"
    csv.write_text("path,batch\n" + "".join(f"{p},1\n" for p in paths))
    run("ogr2ogr", "-f", "PGMOSAIC", f"PGMOSAIC:{db.conninfo} mosaic={mosaic}", str(csv),
        "-nln", "items", *extra, env=env)


def local_vrt(paths):
    return gdal.BuildVRT("", paths)


def read_all(ds, **kw):
    return ds.ReadRaster(0, 0, ds.RasterXSize, ds.RasterYSize, **kw)


@pytest.fixture(scope="module")
def http_mosaic(db, tiles, nginx, tmp_path_factory):
    urls = [f"/vsicurl/{nginx.url}/{os.path.basename(p)}" for p in tiles]
    nginx.clear_log()
    register_with_ogr2ogr(db, "web", urls, tmp_path_factory.mktemp("web"))
    registration = nginx.requests()
    return urls, registration


def test_registration_records_each_objects_version_and_header(db, http_mosaic, tiles):
    urls, registration = http_mosaic
    rows = db.query("SELECT i.path::text, r.etag, length(r.header), i.file_size "
                    "FROM pgmosaic.item i JOIN pgmosaic.item_remote r "
                    "ON r.mosaic_id = i.mosaic_id AND r.item_id = i.id "
                    "JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = 'web' "
                    "ORDER BY i.id")
    assert [r[0] for r in rows] == urls
    for (path, etag, header, size), local in zip(rows, tiles):
        assert etag.startswith('"') and 0 < header < 20000
        assert size == os.path.getsize(local)
    # Range requests only, never the whole file at once; no HEAD.
    assert all(r[0] == "GET" and r[2] == 206 for r in registration), registration


def test_reads_match_local_files_and_a_vrt_over_the_urls_without_header_requests(
        db, http_mosaic, tiles, nginx):
    urls, _ = http_mosaic
    with ConfigOptions({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{nginx.url}/"}):
        ds = gdal.Open(f"PGMOSAIC:{db.conninfo} mosaic=web")
        nginx.clear_log()
        full = read_all(ds)
        reqs = nginx.requests()
        assert full == read_all(local_vrt(tiles))
        # One request per item (its blocks merged), none for a header (the first bytes).
        files = {r[1] for r in reqs}
        assert len(files) == len(tiles) and len(reqs) <= 2 * len(tiles), reqs
        assert all(r[2] == 206 and not r[4].startswith("bytes=0-") for r in reqs), reqs
        # Reduced scale reads the items' overviews: the same pixels as a VRT over the URLs.
        vrt = gdal.BuildVRT("", urls)
        nginx.clear_log()
        small = read_all(ds, buf_xsize=200, buf_ysize=200)
        assert small == read_all(vrt, buf_xsize=200, buf_ysize=200)
        ds = None


def test_items_that_only_touch_a_window_cost_no_request(db, http_mosaic, tiles, nginx):
    with ConfigOptions({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{nginx.url}/",
                        "GDAL_CACHEMAX": "0"}):
        ds = gdal.Open(f"PGMOSAIC:{db.conninfo} mosaic=web")
        nginx.clear_log()
        # Exactly the middle tile: its four neighbours' footprints touch the window's edges.
        data = ds.ReadRaster(SIZE, SIZE, SIZE, SIZE)
        assert data == local_vrt(tiles).ReadRaster(SIZE, SIZE, SIZE, SIZE)
        assert {r[1] for r in nginx.requests()} == {"/" + os.path.basename(tiles[4])}


def test_sql_door_reads_remote_items(db, http_mosaic, tiles, nginx):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_network_prefixes = %s", (f"/vsicurl/{nginx.url}/",))
            nginx.clear_log()
            cur.execute("SELECT ST_AsGDALRaster(pgmosaic.read('web', ST_MakeEnvelope("
                        "500000, 4994880, 505120, 5000000, 32631)), 'GTiff')")
            blob = bytes(cur.fetchone()[0])
    finally:
        conn.close()
    gdal.FileFromMemBuffer("/vsimem/door.tif", blob)
    door = gdal.Open("/vsimem/door.tif")
    expect = local_vrt(tiles).ReadRaster(0, 0, door.RasterXSize, door.RasterYSize)
    assert door.ReadRaster() == expect
    reqs = nginx.requests()
    assert reqs and all(r[2] == 206 and not r[4].startswith("bytes=0-") for r in reqs), reqs
    gdal.Unlink("/vsimem/door.tif")


def test_vsis3_reads_match_local_files(db, tiles, s3, tmp_path):
    keys = [f"/vsis3/pgmosaic/{os.path.basename(p)}" for p in tiles]
    env = dict(s3.gdal_options)
    register_with_ogr2ogr(db, "s3", keys, tmp_path, env=env)
    assert db.query("SELECT count(*) FROM pgmosaic.item_remote r JOIN pgmosaic.mosaic m "
                    "ON m.id = r.mosaic_id WHERE m.name = 's3'")[0][0] == len(keys)
    before = len(s3.requests())
    with ConfigOptions(dict(env, PGMOSAIC_ALLOWED_NETWORK_PREFIXES="/vsis3/pgmosaic/")):
        ds = gdal.Open(f"PGMOSAIC:{db.conninfo} mosaic=s3")
        assert read_all(ds) == read_all(local_vrt(tiles))
        vrt = gdal.BuildVRT("", keys)
        assert read_all(ds, buf_xsize=300, buf_ysize=300) == \
            read_all(vrt, buf_xsize=300, buf_ysize=300)
        ds = None
    reads = s3.requests()[before:]
    # GETs of block ranges only (the VRT's own requests come after), never a HEAD or a listing.
    assert all(r[0] == "GET" and r[2] == 206 for r in reads[:len(keys)]), reads


@pytest.fixture()
def scratch_server(tiles):
    """nginx over a copy of two tiles, which a test may replace, remove or hide."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgmosaic-www-"))
    os.chmod(d, 0o755)
    for p in tiles[:2]:
        shutil.copy(p, d / os.path.basename(p))
        os.chmod(d / os.path.basename(p), 0o644)
    server = servers.Nginx(str(d))
    try:
        yield server, d
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)


def scratch_mosaic(db, name, server, d, tmp_path):
    urls = [f"/vsicurl/{server.url}/{f}" for f in sorted(os.listdir(d))]
    register_with_ogr2ogr(db, name, urls, tmp_path)
    return urls


def test_replaced_object_is_read_as_it_is_now_and_reported_by_check(db, scratch_server, tiles,
                                                                      tmp_path):
    server, d = scratch_server
    scratch_mosaic(db, "replaced", server, d, tmp_path)
    # Same grid and layout, other pixels: the recorded ranges would decode wrong blocks.
    name = os.path.basename(tiles[0])
    rng = np.random.default_rng(7)
    sampledata.make_cog(str(tmp_path / "new.tif"), sampledata.tile_pixels(rng, 3, SIZE, SIZE, 99),
                        (500000.0, 5000000.0), 10.0, nodata=0)
    os.replace(tmp_path / "new.tif", d / name)
    os.chmod(d / name, 0o644)
    os.utime(d / name, (1e9, 1e9))
    env = {"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{server.url}/"}
    out = str(tmp_path / "out.tif")
    r = run("gdal_translate", f"PGMOSAIC:{db.conninfo} mosaic=replaced", out, env=env)
    assert "changed since it was registered" in r.stderr and name in r.stderr
    expect = local_vrt([str(d / f) for f in sorted(os.listdir(d))])
    assert gdal.Open(out).ReadRaster() == expect.ReadRaster()
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_network_prefixes = %s", (f"/vsicurl/{server.url}/",))
            cur.execute("SELECT path::text, problem FROM pgmosaic.check('replaced')")
            problems = cur.fetchall()
    finally:
        conn.close()
    assert (f"/vsicurl/{server.url}/{name}", "stale") in problems


@pytest.mark.parametrize("failure", ["missing", "forbidden", "down"])
def test_unreadable_objects_fail_naming_the_item(db, scratch_server, tmp_path, failure):
    server, d = scratch_server
    urls = scratch_mosaic(db, f"fail_{failure}", server, d, tmp_path)
    name = sorted(os.listdir(d))[0]
    if failure == "missing":
        os.unlink(d / name)
        expect = "does not exist (HTTP 404)"
    elif failure == "forbidden":
        os.chmod(d / name, 0o600)  # nginx's workers (nobody) may not read it
        expect = "access denied (HTTP 403)"
    else:
        server.stop()
        expect = "cannot fetch bytes"
    env = {"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{server.url}/"}
    r = run("gdal_translate", f"PGMOSAIC:{db.conninfo} mosaic=fail_{failure}",
            str(tmp_path / "out.tif"), check=False, env=env)
    assert r.returncode != 0
    assert expect in r.stderr, r.stderr
    named = urls[:1] if failure != "down" else urls
    assert "item " in r.stderr and any(u in r.stderr for u in named), r.stderr


class TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """Range requests of one file: whole answers until `truncate` is set, then half the bytes
    announced (the connection closed)."""

    path_on_disk = None
    truncate = False

    def do_GET(self):
        data = open(self.path_on_disk, "rb").read()
        a, b = 0, len(data) - 1
        rng = self.headers.get("Range")
        if rng:
            a, b = (int(x) for x in rng.split("=")[1].split("-"))
            b = min(b, len(data) - 1)
        body = data[a:b + 1]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"fixed"')
        if rng:
            self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if type(self).truncate else body)

    def log_message(self, *args):
        pass


def test_truncated_answer_fails_naming_the_item(db, tiles, tmp_path):
    TruncatingHandler.path_on_disk = tiles[0]
    TruncatingHandler.truncate = False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TruncatingHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"/vsicurl/http://127.0.0.1:{httpd.server_address[1]}/t.tif"
        register_with_ogr2ogr(db, "truncated", [url], tmp_path)
        TruncatingHandler.truncate = True
        env = {"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": url}
        r = run("gdal_translate", f"PGMOSAIC:{db.conninfo} mosaic=truncated",
                str(tmp_path / "out.tif"), check=False, env=env)
        assert r.returncode != 0
        assert f"cannot read item" in r.stderr and url in r.stderr, r.stderr
        assert "cannot fetch bytes" in r.stderr, r.stderr
    finally:
        httpd.shutdown()


def test_network_policy_refuses_unlisted_prefixes_before_any_request(db, http_mosaic, nginx,
                                                                     tmp_path):
    nginx.clear_log()
    r = run("gdal_translate", f"PGMOSAIC:{db.conninfo} mosaic=web", str(tmp_path / "o.tif"),
            check=False, env={"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": "/vsicurl/http://example.invalid/"})
    assert r.returncode != 0 and "refused by the client's policy" in r.stderr, r.stderr
    assert nginx.requests() == []


def test_header_only_registration_reads_no_block_at_full_resolution(db, tiles, nginx, tmp_path):
    urls = [f"/vsicurl/{nginx.url}/{os.path.basename(p)}" for p in tiles]
    nginx.clear_log()
    register_with_ogr2ogr(db, "header_only", urls, tmp_path,
                          extra=("-lco", "SCAN=HEADER", "-lco", "STATISTICS=APPROX"))
    got = sum(r[3] for r in nginx.requests())
    assert got < sum(os.path.getsize(p) for p in tiles) / 3  # the header and an overview
    stats = db.query("SELECT bool_and((i.statistics -> 0 ->> 'approximate')::boolean), "
                     "bool_and(ST_Area(i.footprint) > 0) FROM pgmosaic.item i "
                     "JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = 'header_only'")
    assert stats[0] == (True, True)
    rows = db.query("SELECT count(*), count(t.byte_offset), bool_or(t.stats IS NOT NULL) "
                    "FROM pgmosaic.tile t JOIN pgmosaic.mosaic m ON m.id = t.mosaic_id "
                    "WHERE m.name = 'header_only'")[0]
    assert rows[0] > 0 and rows[1] == rows[0] and not rows[2]
    with ConfigOptions({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{nginx.url}/"}):
        ds = gdal.Open(f"PGMOSAIC:{db.conninfo} mosaic=header_only")
        assert read_all(ds) == read_all(local_vrt(tiles))


def test_path_root_options_reach_the_requests(db, tiles, nginx, tmp_path):
    db.query("INSERT INTO pgmosaic.path_root VALUES ('hdr', %s)", (f"/vsicurl/{nginx.url}",))
    db.query("INSERT INTO pgmosaic.path_root_option VALUES "
             "('hdr', 'GDAL_HTTP_HEADERS', 'X-Pgmosaic-Test: from-the-catalog')")
    paths = [f"@hdr/{os.path.basename(p)}" for p in tiles[:3]]
    nginx.clear_log()
    register_with_ogr2ogr(db, "rooted", paths, tmp_path)
    assert nginx.requests() and all(r[5] == "from-the-catalog" for r in nginx.requests())
    with ConfigOptions({"PGMOSAIC_ALLOWED_NETWORK_PREFIXES": f"/vsicurl/{nginx.url}/"}):
        ds = gdal.Open(f"PGMOSAIC:{db.conninfo} mosaic=rooted")
        nginx.clear_log()
        assert read_all(ds) == read_all(local_vrt(tiles[:3]))
        ds = None
    reqs = nginx.requests()
    assert reqs and all(r[5] == "from-the-catalog" for r in reqs), reqs


def test_s3_endpoint_and_addressing_from_a_path_root(db, tiles, s3, tmp_path):
    db.query("INSERT INTO pgmosaic.path_root VALUES ('s3root', '/vsis3/pgmosaic')")
    db.query("INSERT INTO pgmosaic.path_root_option VALUES ('s3root', 'AWS_S3_ENDPOINT', %s), "
             "('s3root', 'AWS_HTTPS', 'NO'), ('s3root', 'AWS_VIRTUAL_HOSTING', 'FALSE')",
             (s3.endpoint,))
    # Credentials from GDAL's usual sources (here the environment), never the catalog.
    creds = {k: s3.gdal_options[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_REGION")}
    allowed = f"/vsis3/pgmosaic/,/vsicurl/http://{s3.endpoint}/"
    paths = [f"@s3root/{os.path.basename(p)}" for p in tiles[:2]]
    register_with_ogr2ogr(db, "s3rooted", paths, tmp_path,
                          env=dict(creds, PGMOSAIC_ALLOWED_NETWORK_PREFIXES=allowed))
    out = str(tmp_path / "out.tif")
    run("gdal_translate", f"PGMOSAIC:{db.conninfo} mosaic=s3rooted", out,
        env=dict(creds, PGMOSAIC_ALLOWED_NETWORK_PREFIXES=allowed))
    assert gdal.Open(out).ReadRaster() == local_vrt(tiles[:2]).ReadRaster()
    # An endpoint the reader's network prefixes do not allow is not used (said at open; nothing
    # is read here, so no request leaves for another server).
    r = run("gdalinfo", f"PGMOSAIC:{db.conninfo} mosaic=s3rooted",
            env=dict(creds, PGMOSAIC_ALLOWED_NETWORK_PREFIXES="/vsis3/pgmosaic/"))
    assert f'path root "s3root" sets AWS_S3_ENDPOINT to {s3.endpoint}' in r.stderr, r.stderr
    assert "left out" in r.stderr
