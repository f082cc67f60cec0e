"""Web map servers reading a mosaic, as GIS people run them (tests/lib/servers.py): MapServer 8
and QGIS Server 3.22 as FastCGI behind nginx, MapCache 1.14 under apache2 with a disk cache
seeded by mapcache_seed and kept true by scripts/cache_listener.py, and a Leaflet page in
headless Chromium. Every server answers the driver's own pixels; the cache drops exactly the
tiles under a catalog change."""

import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

import sampledata
import servers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RES = 10.0
MERCATOR = 20037508.342789244


def need(component):
    if not servers.available(component):
        pytest.skip(f"{component} is not installed ({', '.join(servers.missing(component))}): "
                    "scripts/install-deps.sh installs it")


def decode(png, tmp_path, name="decoded.png"):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(png)
    a = gdal.Open(path).ReadAsArray()
    if a.shape[0] == 3:  # MapCache writes an opaque tile as RGB
        a = np.concatenate([a, np.full((1,) + a.shape[1:], 255, np.uint8)])
    return a


def tile_bounds(z, x, y):
    size = 2 * MERCATOR / (1 << z)
    return (-MERCATOR + x * size, MERCATOR - (y + 1) * size,
            -MERCATOR + (x + 1) * size, MERCATOR - y * size)


def tiles_inside(extent_3857, z):
    """The XYZ tiles of zoom z fully inside an extent of web mercator."""
    x0, y0, x1, y1 = extent_3857
    size = 2 * MERCATOR / (1 << z)
    return [(z, x, y)
            for x in range(math.ceil((x0 + MERCATOR) / size), math.floor((x1 + MERCATOR) / size))
            for y in range(math.ceil((MERCATOR - y1) / size), math.floor((MERCATOR - y0) / size))]


def to_mercator(ds_or_srs, extent):
    src = ds_or_srs.GetSpatialRef() if hasattr(ds_or_srs, "GetSpatialRef") else ds_or_srs
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(3857)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    return ct.TransformBounds(*extent, 21)


@pytest.fixture(scope="module")
def mosaic(db, datadir):
    """6 overlapping RGB COGs with nodata corners, a 'srv' mosaic of them and their VRT."""
    d = os.path.join(datadir, "servers")
    paths = sampledata.make_tile_grid(d, 3, 2, 512, overlap=16, nodata_every=2)
    db.register("srv", paths, [d])
    vrt = os.path.join(d, "srv.vrt")
    gdal.BuildVRT(vrt, paths).FlushCache()
    os.chmod(vrt, 0o644)
    ds = gdal.Open(db.mosaic("srv"))
    gt = ds.GetGeoTransform()
    extent = (gt[0], gt[3] + ds.RasterYSize * gt[5], gt[0] + ds.RasterXSize * gt[1], gt[3])
    return {"dir": d, "paths": paths, "vrt": vrt, "ds": ds, "gt": gt, "extent": extent}


def driver_env():
    return {"GDAL_DRIVER_PATH": os.environ["GDAL_DRIVER_PATH"]} \
        if os.environ.get("GDAL_DRIVER_PATH") else {}


@pytest.fixture(scope="module")
def webdir():
    """Where the servers live: a directory their users (nginx's nobody, apache2's www-data)
    can enter, unlike pytest's tmp_path."""
    d = tempfile.mkdtemp(prefix="pgmosaic-web-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def site(db, mosaic, webdir):
    """MapServer (layers mosaic and vrt) and QGIS Server (layer mosaic) behind nginx, with the
    map page as static files."""
    need("mapserver")
    work = webdir / "site"
    www = work / "www"
    (www / "leaflet").mkdir(parents=True)
    leaflet = os.path.join(REPO, "tests", "web", "node_modules", "leaflet", "dist")
    if os.path.exists(leaflet):
        for f in ("leaflet.js", "leaflet.css"):
            shutil.copy(os.path.join(leaflet, f), www / "leaflet" / f)
    shutil.copy(os.path.join(REPO, "tests", "web", "index.html"), www / "index.html")
    geojson = db.query("SELECT pgmosaic.footprints_geojson('srv')")[0][0]
    (www / "footprints.geojson").write_text(
        geojson if isinstance(geojson, str) else __import__("json").dumps(geojson))
    qgs = None
    if servers.available("qgis_server"):
        qgs = str(work / "site.qgs")
        subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "lib", "qgis_project.py"),
                        qgs, "32631", f"mosaic=/vsipgmosaic/{db.conninfo}/srv"],
                       check=True, capture_output=True, env=dict(os.environ, **driver_env()))
    layers = {"mosaic": f"PGMOSAIC:{db.conninfo} mosaic=srv application_name=srv_mapserver",
              "vrt": mosaic["vrt"]}
    with servers.WebSite(work, layers, 32631, mosaic["extent"], env=driver_env(),
                         qgis_project=qgs, static_root=str(www)) as s:
        yield s


def getmap_path(route, layer, crs, bbox, size=256):
    return (f"{route}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layer}&STYLES="
            f"&CRS={crs}&BBOX={','.join(repr(v) for v in bbox)}&WIDTH={size}&HEIGHT={size}"
            f"&FORMAT=image/png&TRANSPARENT=TRUE")


def native_window(mosaic, col, row, size=256):
    gt = mosaic["gt"]
    x0, y1 = gt[0] + col * RES, gt[3] - row * RES
    return (x0, y1 - size * RES, x0 + size * RES, y1)


def assert_equals_driver_read(got, mosaic, col, row, size=256):
    want = mosaic["ds"].ReadAsArray(col, row, size, size)
    assert got.shape == (4, size, size)
    valid = want.any(axis=0)  # nodata is 0 in every band
    assert 0 < valid.sum() < size * size  # the window holds a nodata corner
    assert np.array_equal(got[3], np.where(valid, 255, 0)), "alpha differs from the driver's mask"
    assert np.array_equal(got[:3] * valid, want), "pixels differ from the driver's read"


# --- each server answers the driver's pixels -------------------------------------------------

def test_mapserver_wms_and_xyz_tiles_are_the_driver_s_pixels(site, mosaic, tmp_path):
    # A WMS GetMap on the mosaic's grid at its resolution: the driver's window, pixel for pixel
    # (a nodata corner of the first item included: transparent).
    status, ctype, body = site.get(getmap_path("/wms", "mosaic", "EPSG:32631",
                                               native_window(mosaic, 0, 0)))
    assert status == 200 and ctype == "image/png", body[:300]
    assert_equals_driver_read(decode(body, tmp_path), mosaic, 0, 0)
    # The XYZ tile URL (MapServer's tile mode, web mercator) answers painted tiles, the pixels
    # MapServer gives for a VRT of the same files. (Tile mode places its extent a little
    # differently from a GetMap of the tile's bounds: the two differ along edges.)
    ds = mosaic["ds"]
    z, x, y = tiles_inside(to_mercator(ds, mosaic["extent"]), 14)[0]
    status, ctype, tile = site.get(site.tile_path("mosaic", z, x, y))
    assert status == 200 and ctype == "image/png", tile[:300]
    a = decode(tile, tmp_path, "tile.png")
    assert (a[3] == 255).mean() > 0.5 and len(np.unique(a[0])) > 16
    b = decode(site.get(site.tile_path("vrt", z, x, y))[2], tmp_path, "vrt.png")
    assert np.array_equal(a, b)
    # So does a web mercator GetMap (what MapCache asks for).
    bbox = tile_bounds(z, x, y)
    a = decode(site.get(getmap_path("/wms", "mosaic", "EPSG:3857", bbox))[2], tmp_path, "c.png")
    b = decode(site.get(getmap_path("/wms", "vrt", "EPSG:3857", bbox))[2], tmp_path, "d.png")
    assert np.array_equal(a, b)


def test_qgis_server_getmap_is_the_driver_s_pixels(site, mosaic, tmp_path):
    need("qgis_server")
    status, ctype, body = site.get(getmap_path("/qgis", "mosaic", "EPSG:32631",
                                               native_window(mosaic, 0, 0)), timeout=120)
    assert status == 200 and ctype.startswith("image/png"), body[:500]
    assert_equals_driver_read(decode(body, tmp_path), mosaic, 0, 0)
    # Another window, across items and a seam.
    status, _, body = site.get(getmap_path("/qgis", "mosaic", "EPSG:32631",
                                           native_window(mosaic, 400, 400)))
    got = decode(body, tmp_path, "b.png")
    assert np.array_equal(got[:3], mosaic["ds"].ReadAsArray(400, 400, 256, 256))


def test_fastcgi_process_keeps_its_connections_under_load(db, site, mosaic):
    """The driver's connection pool lives as long as the FastCGI process: 2 mapserv processes
    answer 160 requests, 8 at a time, on the connections they opened for the first ones."""
    def backends():
        return {r[0] for r in db.query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'srv_mapserver'")}

    windows = [native_window(mosaic, c, r) for c in range(0, 1200, 150)
               for r in range(0, 700, 140)]
    paths = [getmap_path("/wms", "mosaic", "EPSG:32631", w) for w in windows]
    for p in paths[:8]:
        assert site.get(p)[0] == 200
    before = backends()
    assert 1 <= len(before) <= 2 * 2  # a connection or two per process
    seen, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            seen.append(backends())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda p: site.get(p)[0], (paths * 4)[:160]))
    finally:
        stop.set()
        sampler.join()
    assert statuses == [200] * 160
    assert len(seen) > 3
    assert all(s <= before for s in seen), f"new backends under load: {seen}"
    assert backends() == before


def test_mapcache_tiles_are_the_driver_s_pixels(site, mosaic, webdir, tmp_path):
    """MapCache on a grid of the mosaic's own pixels (EPSG:32631, its origin, its resolution
    at the finest level): a cached tile is the driver's window; on GoogleMapsCompatible, the
    tile MapServer renders."""
    need("mapcache")
    gt = mosaic["gt"]
    grid = servers.grid_xml("native", 32631, (gt[0], gt[3]), [RES * 8, RES * 4, RES * 2, RES])
    work = webdir / "mapcache-native"
    with servers.MapCacheSite(work, site.url("/wms"), "mosaic",
                              grids=("native", "GoogleMapsCompatible"), grid_defs=[grid]) as mc:
        status, ctype, body = mc.get(mc.tile_path(3, 0, 0, grid="native"))
        assert status == 200 and ctype == "image/png", body[:500]
        assert_equals_driver_read(decode(body, tmp_path), mosaic, 0, 0)
        status, _, body = mc.get(mc.tile_path(3, 2, 1, grid="native"))
        assert np.array_equal(decode(body, tmp_path, "b.png")[:3],
                              mosaic["ds"].ReadAsArray(512, 256, 256, 256))
        z, x, y = tiles_inside(to_mercator(mosaic["ds"], mosaic["extent"]), 14)[1]
        cached = decode(mc.get(mc.tile_path(z, x, y))[2], tmp_path, "c.png")
        assert mc.tile_file(z, x, y) is not None  # it went into the cache
        again = mc.get(mc.tile_path(z, x, y))[2]
        assert np.array_equal(decode(again, tmp_path, "d.png"), cached)
        direct = site.get(getmap_path("/wms", "mosaic", "EPSG:3857", tile_bounds(z, x, y)))[2]
        assert np.array_equal(cached, decode(direct, tmp_path, "e.png"))


# --- the cache the catalog keeps true --------------------------------------------------------

def test_cache_listener_drops_exactly_the_tiles_under_a_new_item(db, site, mosaic, webdir,
                                                                 tmp_path):
    need("mapcache")
    ds = mosaic["ds"]
    merc = to_mercator(ds, mosaic["extent"])
    zooms = (13, 15)
    work = webdir / "mapcache-listener"
    state = str(work / "listener.state")
    with servers.MapCacheSite(work, site.url("/wms"), "mosaic") as mc:
        listener = [sys.executable, os.path.join(REPO, "scripts", "cache_listener.py"),
                    "--conninfo", db.conninfo, "--mosaic", "srv", "--config", mc.config,
                    "--tileset", "mosaic", "--zooms", f"{zooms[0]},{zooms[1]}",
                    "--state", state, "--seed-command", " ".join(mc.seed_command()[:-2])]
        # The listener's starting point first, then the seed: a change made while seeding
        # would be dropped too.
        subprocess.run(listener + ["--init"], check=True, capture_output=True)
        mc.seed(zooms, extent=merc)
        seeded = [t for z in range(zooms[0], zooms[1] + 1) for t in tiles_inside(merc, z)]
        assert len(seeded) > 100
        files = {t: mc.tile_file(*t) for t in seeded}
        assert all(files.values())
        stamps = {t: os.stat(f).st_mtime_ns for t, f in files.items()}

        proc = subprocess.Popen(listener + ["--exit-after", "120", "--poll", "30"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert "listening" in proc.stdout.readline()
            # A new item on top, 700 m x 500 m in the middle of the mosaic, of other pixels.
            d = os.path.join(mosaic["dir"], "new")
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
            x0 = mosaic["gt"][0] + 600 * RES
            y1 = mosaic["gt"][3] - 350 * RES
            new = sampledata.make_cog(os.path.join(d, "new.tif"),
                                      np.full((3, 50, 70), 7, np.uint8), (x0, y1), RES,
                                      nodata=0)
            db.register_into("srv", [new], [mosaic["dir"]], priorities=[10])
            line = proc.stdout.readline()
            assert "dropped tiles" in line, line + proc.stdout.read()
        finally:
            proc.terminate()
            proc.wait(10)

        footprint = ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0} {y1},{x0 + 700} {y1},{x0 + 700} {y1 - 500},{x0} {y1 - 500},"
            f"{x0} {y1}))")
        src = osr.SpatialReference()
        src.ImportFromEPSG(32631)
        footprint.AssignSpatialReference(src)
        dst = osr.SpatialReference()
        dst.ImportFromEPSG(3857)
        src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        footprint.Transform(osr.CoordinateTransformation(src, dst))

        def box(t):
            b = tile_bounds(*t)
            return ogr.CreateGeometryFromWkt(
                f"POLYGON(({b[0]} {b[1]},{b[2]} {b[1]},{b[2]} {b[3]},{b[0]} {b[3]},"
                f"{b[0]} {b[1]}))")

        under = {t for t in seeded if box(t).Intersects(footprint)}
        dropped = {t for t in seeded if mc.tile_file(*t) is None}
        assert under and dropped == under, (sorted(under), sorted(dropped))
        kept = [t for t in seeded if t not in under]
        # Tiles outside are served from the cache, as they were (not rendered again) ...
        for t in kept[:40]:
            status, _, body = mc.get(mc.tile_path(*t))
            assert status == 200
            with open(files[t], "rb") as f:
                assert body == f.read()
            assert os.stat(files[t]).st_mtime_ns == stamps[t]
        # ... tiles inside show the new item, and no tile served is stale: every one is what
        # MapServer renders from the catalog now.
        for t in sorted(under) + kept[::7]:
            cached = decode(mc.get(mc.tile_path(*t))[2], tmp_path, "c.png")
            fresh = site.get(getmap_path("/wms", "mosaic", "EPSG:3857", tile_bounds(*t)))[2]
            fresh = decode(fresh, tmp_path, "f.png")
            assert np.array_equal(cached, fresh), t
        z, x, y = max(under)  # the finest zoom: most of the tile under the item
        cached = decode(mc.get(mc.tile_path(z, x, y))[2], tmp_path, "g.png")
        assert (cached[0] == 7).any()


# --- a map page in a real browser ------------------------------------------------------------

def test_map_page_in_headless_chromium_paints_the_tiles(site, mosaic, tmp_path):
    need("chromium")
    if not os.path.exists(os.path.join(REPO, "tests", "web", "node_modules", "leaflet")):
        pytest.skip("Leaflet is not installed in tests/web: scripts/install-deps.sh installs it")
    z = 14
    inside = tiles_inside(to_mercator(mosaic["ds"], mosaic["extent"]), z)
    xs, ys = {t[1] for t in inside}, {t[2] for t in inside}
    x, y = min(xs), min(ys)
    assert (z, x + 1, y + 1) in inside
    want = np.zeros((4, 512, 512), np.uint8)
    for dx in range(2):
        for dy in range(2):
            tile = site.get(site.tile_path("mosaic", z, x + dx, y + dy))[2]
            want[:, dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256] = decode(tile, tmp_path)
    painted = np.where(want[3:4] == 0, 255, want[:3])  # on the page's white
    page = f"/index.html?z={z}&x={x}&y={y}&tiles=/tiles/mosaic/{{z}}/{{x}}/{{y}}.png"
    shot = servers.chromium_screenshot(site.url(page), str(tmp_path / "shot.png"), tmp_path)
    got = gdal.Open(shot).ReadAsArray()[:3, :512, :512]
    assert len(np.unique(got[0])) > 16, "the page shows no tiles"
    assert np.array_equal(got, painted), "the screenshot is not the tiles MapServer serves"
    # With the items' footprints drawn over them (magenta lines).
    shot = servers.chromium_screenshot(site.url(page + "&footprints=footprints.geojson"),
                                       str(tmp_path / "shot2.png"), tmp_path)
    got = gdal.Open(shot).ReadAsArray()[:3, :512, :512]
    magenta = (got[0] > 230) & (got[1] < 30) & (got[2] > 230)
    assert magenta.sum() > 200
    assert (got != painted).any(axis=0).sum() < 0.1 * 512 * 512


# --- a stretch from the catalog --------------------------------------------------------------

def test_mapserver_stretches_16_bit_imagery_from_the_catalog_statistics(db, datadir, webdir,
                                                                        tmp_path):
    """Int16 items of different ranges: one stretch for every tile, from the statistics the
    driver publishes (STATISTICS_MINIMUM/MAXIMUM, merged from the catalog), written into the
    mapfile as PROCESSING "SCALE=min,max": neighbouring items match, no per-tile stretch."""
    need("mapserver")
    d = os.path.join(datadir, "servers_int16")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    yy, xx = np.mgrid[0:300, 0:300]
    low = sampledata.make_cog(os.path.join(d, "low.tif"), (100 + xx + yy)[None].astype(np.int16),
                              (500000.0, 5000000.0), RES, nodata=-9999)
    high = sampledata.make_cog(os.path.join(d, "high.tif"),
                               (2000 + 3 * xx + yy)[None].astype(np.int16),
                               (503000.0, 5000000.0), RES, nodata=-9999)
    db.register("dem16", [low, high], [d])
    ds = gdal.Open(db.mosaic("dem16"))
    band = ds.GetRasterBand(1)
    lo = float(band.GetMetadataItem("STATISTICS_MINIMUM"))
    hi = float(band.GetMetadataItem("STATISTICS_MAXIMUM"))
    assert (lo, hi) == (100, 2000 + 3 * 299 + 299)  # both items, no pixel scanned
    extent = (500000.0, 4997000.0, 506000.0, 5000000.0)
    with servers.WebSite(webdir / "stretch", {"dem": db.mosaic("dem16")}, 32631, extent,
                         env=driver_env(), processing={"dem": [f"SCALE={lo:g},{hi:g}"]}) as s:
        # A window across the seam of the two items, on the mosaic's grid.
        bbox = (502000.0, 4997440.0, 502000.0 + 2560, 5000000.0)
        status, _, body = s.get(getmap_path("/wms", "dem", "EPSG:32631", bbox))
        assert status == 200, body[:300]
        got = decode(body, tmp_path)
    values = ds.ReadAsArray(200, 0, 256, 256).astype(float)
    want = np.clip((values - lo) * 255.0 / (hi - lo), 0, 255)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], got[2])  # grey
    assert np.abs(got[0] - want).max() <= 1.0
    # Left of the seam the low item, right of it the high one: one scale for both.
    assert got[0][:, :50].max() < 45 and got[0][:, -50:].min() > 120
