"""The SQL door: pgmosaic.read / value / export / zonal_stats / render_tile, run in the backend,
against what GDAL gives for the same files (the PGMOSAIC driver's ReadRaster, gdalwarp and
gdallocationinfo over a gdalbuildvrt VRT of the same files in the same order, numpy over a
pixel-centre mask), and the security rules of backend reads (file access, grants, row-level
security, the pixel cap, statement_timeout and pg_cancel_backend).

The whole module is skipped while the installed extension has no pgmosaic.read."""

import json
import math
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import numpy as np
import psycopg2
import psycopg2.errors
import pytest
from osgeo import gdal, ogr, osr

import sampledata
from pgraster import Raster

SRID = 32631
RES = 10.0
TILE = 300
OVERLAP = 20
STEP = TILE - OVERLAP
X0, Y0 = 500000.0, 5000000.0
READER = "pgmosaic_door_reader"
ROOT = [None]  # the directory of the module's files (set by the grid fixture)
STRANGER = "pgmosaic_door_stranger"


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def door(db):
    """Skips the module when the installed extension has no pgmosaic.read; PostGIS raster on."""
    n = db.query("SELECT count(*) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace "
                 "WHERE s.nspname = 'pgmosaic' AND p.proname = 'read'")[0][0]
    if n == 0:
        pytest.skip("the installed pgmosaic extension has no pgmosaic.read (SQL door not "
                    "installed yet)")
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    # PostGIS raster deregisters every GDAL driver postgis.gdal_enabled_drivers does not name
    # once it is loaded in a session (read() returns a raster): the formats pgmosaic reads and
    # writes are enabled for the database, as a deployment would.
    db.query(f"ALTER DATABASE {db.name} SET postgis.gdal_enabled_drivers = "
             "'GTiff COG PNG JPEG WEBP'")
    return db


@pytest.fixture(scope="module")
def grid(door, datadir):
    """Mosaic "door": a 3x3 grid of 300-pixel COG tiles (3 bands of Byte, nodata 0, overlaps
    of 20 pixels, nodata triangles in every second tile) in EPSG:32631, registered in the
    VRT's order (later on top). Returns dict(name, dir, paths, vrt, gt, width, height)."""
    d = os.path.join(datadir, "door")
    ROOT[0] = datadir
    paths = sampledata.make_tile_grid(d, 3, 3, TILE, overlap=OVERLAP, nodata_every=2,
                                      blocksize=256, origin=(X0, Y0), res=RES)
    door.register("door", paths, [d])
    vrt = os.path.join(d, "door.vrt")
    gdal.BuildVRT(vrt, paths)
    # gdallocationinfo reads a pixel as CFloat64, and GDAL 3.6's VRT ignores its sources'
    # nodata for that buffer type (a nodata corner of the top tile hides the tile below): it is
    # run on the VRT copied to a GTiff (through Byte reads, which honour nodata).
    flat = os.path.join(d, "door_vrt_copy.tif")
    gdal.Translate(flat, vrt)
    ds = gdal.Open(door.mosaic("door"))
    out = dict(name="door", dir=d, paths=paths, vrt=vrt, flat=flat, gt=ds.GetGeoTransform(),
               width=ds.RasterXSize, height=ds.RasterYSize)
    v = gdal.Open(vrt)
    assert (v.RasterXSize, v.RasterYSize) == (out["width"], out["height"])
    return out


@pytest.fixture(scope="module")
def gray(door, datadir):
    """Mosaic "door16": a 2x2 grid of one-band UInt16 tiles (values 1000..60000, nodata 0)."""
    d = os.path.join(datadir, "door16")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(5)
    paths = []
    for r in range(2):
        for c in range(2):
            yy, xx = np.mgrid[0:TILE, 0:TILE]
            data = (1000 + (xx * 97 + yy * 53 + (r * 2 + c) * 5000) % 59000
                    + rng.integers(0, 100, size=(TILE, TILE))).astype("uint16")[None]
            if r == c == 0:
                data[:, (xx + yy) < 100] = 0
            paths.append(sampledata.make_cog(os.path.join(d, f"g{r}{c}.tif"), data,
                                             (X0 + c * STEP * RES, Y0 - r * STEP * RES), RES,
                                             nodata=0))
    door.register("door16", paths, [d])
    vrt = os.path.join(d, "door16.vrt")
    gdal.BuildVRT(vrt, paths)
    return dict(name="door16", dir=d, paths=paths, vrt=vrt)


@pytest.fixture(scope="module")
def roles(door, grid, cluster):
    """READER (granted "door" read access), STRANGER (no grant); both pgmosaic_reader."""
    admin = psycopg2.connect(door.conninfo.replace(f"dbname={door.name}", "dbname=postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        for r in (READER, STRANGER):
            cur.execute(f"DROP ROLE IF EXISTS {r}")
            cur.execute(f"CREATE ROLE {r} LOGIN IN ROLE pgmosaic_reader")
    door.query("SELECT pgmosaic.grant_access('door', %s)", (READER,))
    yield
    door.query("DELETE FROM pgmosaic.mosaic_grant")
    door.query("DROP POLICY IF EXISTS door_hide ON pgmosaic.item")
    door.query(f"DROP OWNED BY {READER}, {STRANGER}")
    with admin.cursor() as cur:
        for r in (READER, STRANGER):
            cur.execute(f"DROP ROLE IF EXISTS {r}")
    admin.close()


# --- helpers -----------------------------------------------------------------------------------

def run(db, sql, params=None, role=None, files=True, roots=None, settings=None):
    """Runs `sql` on a new connection of the superuser with backend file access on (unless
    files=False) under `roots`, then SET ROLE `role`; returns the rows."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            if files:
                cur.execute("SET pgmosaic.enable_file_access = on")
                cur.execute("SET pgmosaic.allowed_roots = %s", (roots or ROOT[0],))
            for k, v in (settings or {}).items():
                cur.execute(f"SET {k} = %s", (str(v),))
            if role:
                cur.execute(f"SET ROLE {role}")
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def read(db, area_wkt, area_srid=SRID, mosaic="door", **kw):
    """pgmosaic.read(mosaic, area, ...) as a Raster (None for a NULL raster)."""
    role = kw.pop("_role", None)
    args, params = [], [mosaic, area_wkt, area_srid]
    for k, v in kw.items():
        args.append(f"{k} => %s" + ("::jsonb" if k == "options" else ""))
        params.append(v)
    sql = ("SELECT ST_AsBinary(pgmosaic.read(%s, ST_GeomFromText(%s, %s)"
           + "".join(", " + a for a in args) + "))")
    (wkb,), = run(db, sql, params, role=role)
    return None if wkb is None else Raster(wkb)


def envelope(gt, xoff, yoff, w, h):
    """The WKT rectangle of a pixel window of geotransform gt."""
    x0, y1 = gt[0] + xoff * gt[1], gt[3] + yoff * gt[5]
    x1, y0 = gt[0] + (xoff + w) * gt[1], gt[3] + (yoff + h) * gt[5]
    return f"POLYGON(({x0!r} {y0!r},{x1!r} {y0!r},{x1!r} {y1!r},{x0!r} {y1!r},{x0!r} {y0!r}))"


def driver_read(db, grid, xoff, yoff, w, h, bw=None, bh=None, bands=None):
    ds = gdal.Open(db.mosaic(grid["name"]))
    n = len(bands) if bands else ds.RasterCount
    buf = ds.ReadRaster(xoff, yoff, w, h, buf_xsize=bw or w, buf_ysize=bh or h, band_list=bands)
    return np.frombuffer(buf, np.uint8).reshape(n, bh or h, bw or w)


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def transform_xy(x, y, src, dst):
    t = osr.CoordinateTransformation(srs(src), srs(dst))
    return t.TransformPoint(x, y)[:2]


def centre_mask(wkt, gt, w, h):
    """1 where a pixel centre of the grid (gt, w, h) is inside the polygon `wkt` (GDAL's
    rasterization without ALL_TOUCHED burns exactly those)."""
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("z")
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
    lyr.CreateFeature(f)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1])
    return mem.ReadAsArray().astype(bool)


def snapped_window(gt, minx, miny, maxx, maxy):
    """The pixel window of the mosaic grid covering the envelope, snapped outward."""
    xoff = math.floor((minx - gt[0]) / gt[1] + 1e-9)
    x1 = math.ceil((maxx - gt[0]) / gt[1] - 1e-9)
    yoff = math.floor((gt[3] - maxy) / -gt[5] + 1e-9)
    y1 = math.ceil((gt[3] - miny) / -gt[5] - 1e-9)
    return xoff, yoff, x1 - xoff, y1 - yoff


def window_read_any(db, grid, xoff, yoff, w, h):
    """The driver's pixels of a window that may reach past the mosaic (0 there)."""
    out = np.zeros((3, h, w), np.uint8)
    ax0, ay0 = max(0, xoff), max(0, yoff)
    ax1, ay1 = min(grid["width"], xoff + w), min(grid["height"], yoff + h)
    if ax1 > ax0 and ay1 > ay0:
        out[:, ay0 - yoff:ay1 - yoff, ax0 - xoff:ax1 - xoff] = driver_read(
            db, grid, ax0, ay0, ax1 - ax0, ay1 - ay0)
    return out


def check_polygon_read(db, grid, wkt_mosaic_srs, got):
    """`got` (a Raster) is the read of polygon `wkt_mosaic_srs`: the snapped envelope's grid,
    pixels inside equal to the driver's, outside 0 (nodata)."""
    gt = grid["gt"]
    minx, maxx, miny, maxy = ogr.CreateGeometryFromWkt(wkt_mosaic_srs).GetEnvelope()
    xoff, yoff, w, h = snapped_window(gt, minx, miny, maxx, maxy)
    assert (got.width, got.height, got.nbands, got.srid) == (w, h, 3, SRID)
    assert got.gt == pytest.approx((gt[0] + xoff * RES, RES, 0, gt[3] - yoff * RES, 0, -RES))
    mask = centre_mask(wkt_mosaic_srs, got.gt, w, h)
    assert 0 < mask.sum() < w * h
    expected = np.where(mask, window_read_any(db, grid, xoff, yoff, w, h), 0)
    diff = np.argwhere(got.array != expected)
    assert diff.size == 0, (f"{len(diff)} pixels differ, first (band,row,col) {diff[:5].tolist()}"
                            f": got {[int(got.array[tuple(p)]) for p in diff[:5]]}, expected "
                            f"{[int(expected[tuple(p)]) for p in diff[:5]]}")


# --- read(): the mosaic's grid -------------------------------------------------------------------

WINDOWS = [(0, 0, 860, 860), (100, 148, 400, 300), (276, 276, 8, 8), (560, 0, 300, 284),
           (0, 0, 1, 1)]


@pytest.mark.parametrize("win", WINDOWS)
def test_read_equals_the_driver_window_byte_for_byte(door, grid, win):
    gt = grid["gt"]
    got = read(door, envelope(gt, *win))
    assert (got.width, got.height, got.nbands, got.srid) == (win[2], win[3], 3, SRID)
    assert got.gt == pytest.approx((gt[0] + win[0] * RES, RES, 0.0, gt[3] - win[1] * RES, 0.0,
                                    -RES))
    assert got.nodata == [0.0, 0.0, 0.0]
    assert got.array.dtype == np.uint8
    assert got.array.tobytes() == driver_read(door, grid, *win).tobytes(), f"window {win}"


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_read_at_a_coarser_resolution_equals_the_driver_into_a_smaller_buffer(door, grid, factor):
    gt = grid["gt"]
    win = (96, 40, 512, 768)
    got = read(door, envelope(gt, *win), resolution=RES * factor)
    w, h = win[2] // factor, win[3] // factor
    assert (got.width, got.height) == (w, h)
    assert got.gt == pytest.approx((gt[0] + 96 * RES, RES * factor, 0, gt[3] - 40 * RES, 0,
                                    -RES * factor))
    assert got.array.tobytes() == driver_read(door, grid, *win, bw=w, bh=h).tobytes()


def test_read_of_band_subsets(door, grid):
    win = (250, 250, 120, 90)
    got = read(door, envelope(grid["gt"], *win), bands="{3,1}")
    assert got.nbands == 2
    assert got.array.tobytes() == driver_read(door, grid, *win, bands=[3, 1]).tobytes()


def test_read_of_an_area_off_the_grid_snaps_outward(door, grid):
    """Corners inside pixels: the window grows to the pixels holding them; the edge pixels
    whose centres are outside the rectangle are nodata."""
    wkt = (f"POLYGON(({X0 + 1003.0} {Y0 - 3004.0},{X0 + 4996.0} {Y0 - 3004.0},"
           f"{X0 + 4996.0} {Y0 - 1007.0},{X0 + 1003.0} {Y0 - 1007.0},"
           f"{X0 + 1003.0} {Y0 - 3004.0}))")
    got = read(door, wkt)
    assert (got.width, got.height) == (400, 201)
    assert got.gt == pytest.approx((X0 + 1000.0, RES, 0, Y0 - 1000.0, 0, -RES))
    check_polygon_read(door, grid, wkt, got)


def test_read_of_a_non_rectangular_area(door, grid):
    """A concave polygon with a hole: pixels whose centres are outside are nodata (0), the
    others equal the driver's."""
    wkt = (f"POLYGON(({X0 + 503.3} {Y0 - 6001.7},{X0 + 7707.1} {Y0 - 5503.9},"
           f"{X0 + 4002.2} {Y0 - 3998.6},{X0 + 6904.4} {Y0 - 803.3},{X0 + 1201.9} {Y0 - 1502.8},"
           f"{X0 + 503.3} {Y0 - 6001.7}),"
           f"({X0 + 2003.3} {Y0 - 4001.1},{X0 + 3003.7} {Y0 - 4001.1},{X0 + 3003.7} {Y0 - 3001.3},"
           f"{X0 + 2003.3} {Y0 - 3001.3},{X0 + 2003.3} {Y0 - 4001.1}))")
    check_polygon_read(door, grid, wkt, read(door, wkt))


def test_read_of_an_area_reaching_past_the_mosaic(door, grid):
    gt = grid["gt"]
    got = read(door, envelope(gt, 800, -40, 100, 100))
    assert (got.width, got.height) == (100, 100)
    assert got.array.tobytes() == window_read_any(door, grid, 800, -40, 100, 100).tobytes()
    assert not got.array[:, :40].any() and not got.array[:, :, 60:].any()


def test_read_of_an_area_in_another_srid_is_transformed(door, grid):
    """An area in EPSG:4326, output in the mosaic's SRS: the transformed polygon's envelope
    snapped to the mosaic's grid, pixel centres inside it kept."""
    pts = [transform_xy(X0 + dx, Y0 - dy, SRID, 4326)
           for dx, dy in ((1503.0, 5507.0), (6011.0, 6013.0), (5008.0, 1502.0),
                          (1206.0, 2004.0))]
    pts.append(pts[0])
    wkt4326 = "POLYGON((" + ",".join(f"{x!r} {y!r}" for x, y in pts) + "))"
    (wkt,), = door.query("SELECT ST_AsText(ST_Transform(ST_GeomFromText(%s, 4326), %s), 15)",
                         (wkt4326, SRID))
    check_polygon_read(door, grid, wkt, read(door, wkt4326, area_srid=4326))


def test_read_of_an_area_of_srid_0_is_in_the_mosaics_srs(door, grid):
    win = (300, 310, 64, 48)
    a = read(door, envelope(grid["gt"], *win), area_srid=0)
    assert a.srid == SRID
    assert a.array.tobytes() == driver_read(door, grid, *win).tobytes()


# --- read(): another SRS, against gdalwarp -----------------------------------------------------

def mosaic_bounds(srid):
    pts = [transform_xy(X0 + dx, Y0 - dy, SRID, srid)
           for dx in (0, 8600) for dy in (0, 8600)]
    return (min(p[0] for p in pts), min(p[1] for p in pts),
            max(p[0] for p in pts), max(p[1] for p in pts))


def gdalwarp(src, te, tr, t_srs, tmp_path, extra=()):
    out = str(tmp_path / f"warp_{uuid.uuid4().hex}.tif")
    subprocess.run(["gdalwarp", "-q", "-overwrite", "-t_srs", t_srs, "-tr", repr(tr[0]),
                    repr(tr[1]), "-te", *(repr(v) for v in te), "-r", "near", "-et", "0",
                    "-dstnodata", "0", *extra, src, out], check=True)
    ds = gdal.Open(out)
    return ds.ReadAsArray(), ds.GetGeoTransform()


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "across-the-edge"])
def test_read_in_4326_equals_gdalwarp_of_the_vrt(door, grid, tmp_path, inside):
    r = 1.0 / 8192  # about 9.6 m x 13.6 m here; exact in binary
    minx, miny, maxx, maxy = mosaic_bounds(4326)
    if inside:
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        te = (math.floor(cx / r) * r - 200 * r, math.floor(cy / r) * r - 150 * r,
              math.floor(cx / r) * r + 200 * r, math.floor(cy / r) * r + 150 * r)
    else:  # the north-east corner of the mosaic, half outside
        te = (math.floor(maxx / r) * r - 120 * r, math.floor(maxy / r) * r - 100 * r,
              math.floor(maxx / r) * r + 80 * r, math.floor(maxy / r) * r + 60 * r)
    wkt = (f"POLYGON(({te[0]!r} {te[1]!r},{te[2]!r} {te[1]!r},{te[2]!r} {te[3]!r},"
           f"{te[0]!r} {te[3]!r},{te[0]!r} {te[1]!r}))")
    got = read(door, wkt, area_srid=4326, srid=4326, resolution=r)
    expected, egt = gdalwarp(grid["vrt"], te, (r, r), "EPSG:4326", tmp_path)
    assert got.srid == 4326
    assert got.gt == pytest.approx(egt, abs=1e-12)
    assert (got.nbands, got.height, got.width) == expected.shape
    assert got.nodata == [0.0, 0.0, 0.0]
    diff = np.argwhere(got.array != expected)
    assert diff.size == 0, f"{len(diff)} of {expected.size} values differ, first {diff[:5]}"


def test_read_with_max_error_equals_gdalwarp_with_the_same_et(door, grid, tmp_path):
    """options.max_error interpolates the transformation as gdalwarp -et does."""
    r = 1.0 / 8192
    minx, miny, maxx, maxy = mosaic_bounds(4326)
    cx, cy = math.floor((minx + maxx) / 2 / r) * r, math.floor((miny + maxy) / 2 / r) * r
    te = (cx - 200 * r, cy - 150 * r, cx + 200 * r, cy + 150 * r)
    wkt = (f"POLYGON(({te[0]!r} {te[1]!r},{te[2]!r} {te[1]!r},{te[2]!r} {te[3]!r},"
           f"{te[0]!r} {te[3]!r},{te[0]!r} {te[1]!r}))")
    got = read(door, wkt, area_srid=4326, srid=4326, resolution=r,
               options='{"max_error": 0.125}')
    expected, _ = gdalwarp(grid["vrt"], te, (r, r), "EPSG:4326", tmp_path, extra=("-et", "0.125"))
    diff = np.argwhere(got.array != expected)
    assert diff.size == 0, f"{len(diff)} of {expected.size} values differ, first {diff[:5]}"
    with pytest.raises(psycopg2.Error) as e:
        read(door, wkt, area_srid=4326, srid=4326, resolution=r, options='{"max_error": -1}')
    assert "max_error" in str(e.value)


def utm_window_in_3857(door, r):
    """The mosaic's pixel window (200, 200, 400, 400) as an envelope in its SRS, and that
    envelope's envelope in EPSG:3857 snapped outward to multiples of r (gdalwarp -tap -te)."""
    x0, y0 = X0 + 200 * RES, Y0 - 600 * RES
    x1, y1 = X0 + 600 * RES, Y0 - 200 * RES
    (env,), = door.query("SELECT ST_AsText(ST_Envelope(ST_Transform(ST_MakeEnvelope(%s,%s,%s,%s,"
                         "%s), 3857)), 15)", (x0, y0, x1, y1, SRID))
    minx, maxx, miny, maxy = ogr.CreateGeometryFromWkt(env).GetEnvelope()
    te = (math.floor(minx / r) * r, math.floor(miny / r) * r, math.ceil(maxx / r) * r,
          math.ceil(maxy / r) * r)
    return (x0, y0, x1, y1), te


def assert_gdalwarp_s_inside(door, grid, got, corners, te, r, tmp_path):
    """A read in EPSG:3857 of the area with `corners` (mosaic SRS) has gdalwarp's pixels (-te te,
    -tr r) wherever a pixel centre lies inside the transformed area; returns that mask."""
    expected, _ = gdalwarp(grid["vrt"], te, (r, r), "EPSG:3857", tmp_path)
    # Pixel centres outside the (transformed) area are nodata: compare inside it.
    (area3857,), = door.query("SELECT ST_AsText(ST_Transform(ST_MakeEnvelope(%s,%s,%s,%s,%s), "
                              "3857), 15)", (*corners, SRID))
    mask = centre_mask(area3857, got.gt, got.width, got.height)
    assert got.array.shape == expected.shape
    assert np.array_equal(got.array[:, mask], expected[:, mask])
    return mask


def test_read_in_3857_of_a_utm_area_is_on_a_target_aligned_grid(door, grid, tmp_path):
    """An area in the mosaic's SRS, output in EPSG:3857: the envelope of the area in 3857
    snapped outward to multiples of the pixel size (gdalwarp -tap)."""
    win = (200, 200, 400, 400)
    r = 16.0
    (x0, y0, x1, y1), te = utm_window_in_3857(door, r)
    got = read(door, envelope(grid["gt"], *win), srid=3857, resolution=r)
    assert got.srid == 3857
    assert got.gt == pytest.approx((te[0], r, 0, te[3], 0, -r), abs=1e-6)
    mask = assert_gdalwarp_s_inside(door, grid, got, (x0, y0, x1, y1), te, r, tmp_path)
    assert not got.array[:, ~mask].any()


def test_a_reprojected_count_equals_gdalwarp_of_the_count_on_the_mosaic_grid(
        door, grid, datadir, tmp_path):
    """method count on a mosaic whose nodata is not 0: the counts are composed on the mosaic's
    grid and warped like any band, where nothing covers them 0 (the raster's nodata), never the
    mosaic's nodata value."""
    d = os.path.join(datadir, "door_count")
    os.makedirs(d)
    os.chmod(d, 0o755)
    paths = []
    for i, (dx, value) in enumerate([(0, 7), (320, 9)]):
        path = os.path.join(d, f"c{i}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, 64, 64, 1, gdal.GDT_Byte)
        ds.SetGeoTransform((X0 + dx, RES, 0, Y0 - dx, 0, -RES))
        ds.SetProjection(srs(SRID).ExportToWkt())
        pixels = np.full((64, 64), value, np.uint8)
        pixels[:8, :8] = 200  # a nodata corner
        ds.GetRasterBand(1).WriteArray(pixels)
        ds.GetRasterBand(1).SetNoDataValue(200)
        ds = None
        paths.append(path)
    door.register("door_count", paths, [d])
    count = '{"method": "count"}'
    extent = (X0, Y0 - 960, X0 + 960, Y0)
    native = read(door, "POLYGON((%r %r,%r %r,%r %r,%r %r,%r %r))" % (
        extent[0], extent[1], extent[2], extent[1], extent[2], extent[3], extent[0], extent[3],
        extent[0], extent[1]), mosaic="door_count", options=count)
    assert native.nodata == [0.0]
    assert sorted(np.unique(native.array).tolist()) == [0, 1, 2]
    flat = str(tmp_path / "count.tif")
    ds = gdal.GetDriverByName("GTiff").Create(flat, native.width, native.height, 1,
                                              gdal.GDT_UInt16)
    ds.SetGeoTransform(native.gt)
    ds.SetProjection(srs(SRID).ExportToWkt())
    ds.GetRasterBand(1).WriteArray(native.array[0])
    ds.GetRasterBand(1).SetNoDataValue(0)
    ds = None
    # Across the whole mosaic and past its edges, in EPSG:4326.
    r = 1.0 / 8192
    pts = [transform_xy(x, y, SRID, 4326) for x in extent[::2] for y in extent[1::2]]
    te = (math.floor(min(p[0] for p in pts) / r) * r - 10 * r,
          math.floor(min(p[1] for p in pts) / r) * r - 10 * r,
          math.ceil(max(p[0] for p in pts) / r) * r + 10 * r,
          math.ceil(max(p[1] for p in pts) / r) * r + 10 * r)
    wkt = (f"POLYGON(({te[0]!r} {te[1]!r},{te[2]!r} {te[1]!r},{te[2]!r} {te[3]!r},"
           f"{te[0]!r} {te[3]!r},{te[0]!r} {te[1]!r}))")
    got = read(door, wkt, area_srid=4326, mosaic="door_count", srid=4326, resolution=r,
               options=count)
    expected, egt = gdalwarp(flat, te, (r, r), "EPSG:4326", tmp_path)
    assert got.gt == pytest.approx(egt, abs=1e-12)
    assert got.nodata == [0.0]
    assert got.array[0].shape == expected.shape
    assert sorted(np.unique(got.array).tolist()) == [0, 1, 2]
    diff = np.argwhere(got.array[0] != expected)
    assert diff.size == 0, f"{len(diff)} of {expected.size} values differ, first {diff[:5]}"


def test_a_large_reprojected_read_warps_on_threads_that_block_the_server_s_signals(
        door, grid, tmp_path):
    """An output of a million pixels or more warps a band of rows on each reading thread:
    gdalwarp's pixels; and no thread left in the backend but its own takes the signals the
    server uses (cancel, timeouts, latches, shutdown): GDAL's NUM_THREADS left a pool of
    threads that did."""
    r = 4.0
    (x0, y0, x1, y1), te = utm_window_in_3857(door, r)
    conn = door.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (ROOT[0],))
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            cur.execute("SELECT ST_AsBinary(pgmosaic.read('door', ST_GeomFromText(%s, %s), "
                        "srid => 3857, resolution => %s))",
                        (envelope(grid["gt"], 200, 200, 400, 400), SRID, r))
            got = Raster(cur.fetchone()[0])
            tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            masks = {}
            for t in tasks:
                with open(f"/proc/{pid}/task/{t}/status") as f:
                    masks[t] = int(next(l for l in f if l.startswith("SigBlk:")).split()[1], 16)
    finally:
        conn.close()
    assert got.width * got.height >= 1 << 20
    assert_gdalwarp_s_inside(door, grid, got, (x0, y0, x1, y1), te, r, tmp_path)
    others = [t for t in tasks if t != pid]
    server = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGALRM, signal.SIGTERM, signal.SIGURG]
    for t in others:
        unblocked = [s.name for s in server if not masks[t] & (1 << (s - 1))]
        assert not unblocked, f"thread {t} of the backend takes {unblocked}"


def test_read_in_4326_default_resolution_is_gdals_suggested(door, grid):
    minx, miny, maxx, maxy = mosaic_bounds(4326)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    wkt = f"POLYGON(({cx} {cy},{cx + 0.01} {cy},{cx + 0.01} {cy + 0.01},{cx} {cy + 0.01},{cx} {cy}))"
    got = read(door, wkt, area_srid=4326, srid=4326)
    # GDAL's suggestion for the whole mosaic, or for the mosaic's window under the area: either
    # passes (the spec does not say which).
    whole = gdal.Warp("", grid["vrt"], format="VRT", dstSRS="EPSG:4326").GetGeoTransform()[1]
    (env,), = door.query("SELECT ST_AsText(ST_Envelope(ST_Transform(ST_GeomFromText(%s, 4326), "
                         "%s)), 15)", (wkt, SRID))
    e = ogr.CreateGeometryFromWkt(env).GetEnvelope()
    win = snapped_window(grid["gt"], e[0], e[2], e[1], e[3])
    sub = gdal.Translate("", grid["vrt"], format="VRT", srcWin=list(win))
    part = gdal.Warp("", sub, format="VRT", dstSRS="EPSG:4326").GetGeoTransform()[1]
    assert got.gt[1] == -got.gt[5]
    assert (got.gt[1] == pytest.approx(whole, rel=0.01)
            or got.gt[1] == pytest.approx(part, rel=0.01)), (
        f"pixel size {got.gt[1]!r}; GDAL suggests {whole!r} for the mosaic, {part!r} for the "
        f"area's window")


# --- export() ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,driver", [("COG", "GTiff"), ("GTiff", "GTiff"), ("PNG", "PNG")])
def test_export_opens_with_gdal_and_equals_read(door, grid, fmt, driver):
    wkt = envelope(grid["gt"], 150, 260, 300, 200)
    ref = read(door, wkt)
    (data,), = run(door, "SELECT pgmosaic.export('door', ST_GeomFromText(%s, %s), %s)",
                   (wkt, SRID, fmt))
    assert data is not None
    name = f"/vsimem/door_export_{uuid.uuid4().hex}"
    gdal.FileFromMemBuffer(name, bytes(data))
    try:
        ds = gdal.Open(name)
        assert ds.GetDriver().ShortName == driver
        if fmt == "COG":
            assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (300, 200, 3)
        if driver == "GTiff":
            assert ds.GetGeoTransform() == pytest.approx(ref.gt)
            assert ds.GetSpatialRef().GetAuthorityCode(None) == str(SRID)
            assert ds.GetRasterBand(1).GetNoDataValue() == 0
        assert ds.ReadRaster() == ref.array.tobytes()
        ds = None
    finally:
        gdal.Unlink(name)


def test_export_in_another_srid_equals_read(door, grid):
    wkt = envelope(grid["gt"], 300, 300, 200, 200)
    ref = read(door, wkt, srid=3857, resolution=20.0)
    (data,), = run(door, "SELECT pgmosaic.export('door', ST_GeomFromText(%s, %s), 'GTiff', "
                   "srid => 3857, resolution => 20.0, bands => '{2}')", (wkt, SRID))
    name = f"/vsimem/door_export_{uuid.uuid4().hex}.tif"
    gdal.FileFromMemBuffer(name, bytes(data))
    try:
        ds = gdal.Open(name)
        assert ds.GetSpatialRef().GetAuthorityCode(None) == "3857"
        assert ds.GetGeoTransform() == pytest.approx(ref.gt)
        assert ds.RasterCount == 1
        assert np.array_equal(ds.ReadAsArray(), ref.array[1])
        ds = None
    finally:
        gdal.Unlink(name)


@pytest.mark.parametrize("fmt,srid", [("GTiff", None), ("COG", None), ("GTiff", 4326)])
def test_estimate_size_agrees_with_uncompressed_export(door, grid, fmt, srid):
    """estimate_size's grid is export's grid, and its bytes are within 10% of what an
    uncompressed export returns (COG counts its overviews)."""
    wkt = envelope(grid["gt"], 100, 100, 700, 600)
    (w, h, nbytes), = run(door, "SELECT width, height, bytes FROM pgmosaic.estimate_size("
                          "'door', ST_GeomFromText(%s, %s), NULL, NULL, srid => %s, "
                          "format => %s)", (wkt, SRID, srid, fmt))
    (data,), = run(door, "SELECT pgmosaic.export('door', ST_GeomFromText(%s, %s), %s, "
                   "srid => %s, options => '{\"creation_options\": \"COMPRESS=NONE\"}')",
                   (wkt, SRID, fmt, srid))
    name = f"/vsimem/door_estimate_{uuid.uuid4().hex}.tif"
    gdal.FileFromMemBuffer(name, bytes(data))
    try:
        ds = gdal.Open(name)
        assert (ds.RasterXSize, ds.RasterYSize) == (w, h)
        ds = None
    finally:
        gdal.Unlink(name)
    assert abs(len(data) - nbytes) <= 0.1 * len(data), (len(data), nbytes)


# --- value() -----------------------------------------------------------------------------------

def points(grid):
    """Pixel centres: inside one tile, in the overlap of 2 and of 4 tiles, in a nodata
    triangle with a tile below, in a nodata triangle with nothing below, and outside."""
    gt = grid["gt"]

    def centre(col, row):
        return gt[0] + (col + 0.5) * gt[1], gt[3] + (row + 0.5) * gt[5]
    return [centre(100, 200), centre(290, 150), centre(290, 565), centre(570, 570),
            centre(STEP + 5, 5 + STEP * 2),  # the overlap of tiles 3, 4, 6 and 7
            centre(2 * STEP + 3, 3),          # tile 2 (r0 c2) nodata corner, tile 1 below
            centre(3, 3),                     # tile 0's nodata corner, nothing below
            centre(859, 859),
            (X0 - 5000.0, Y0 + 5000.0)]       # outside all items


def gdallocationinfo(vrt, x, y, band):
    r = subprocess.run(["gdallocationinfo", "-valonly", "-geoloc", "-b", str(band), vrt,
                        repr(x), repr(y)], capture_output=True, text=True)
    out = r.stdout.strip()
    if not out:
        return None
    v = float(out)
    return None if v == 0 else v  # 0 is the nodata value (the tiles have no other 0)


@pytest.mark.parametrize("band", [1, 3])
def test_value_equals_gdallocationinfo(door, grid, band):
    pts = points(grid)
    got = [run(door, "SELECT pgmosaic.value('door', ST_SetSRID(ST_MakePoint(%s, %s), %s), %s)",
               (x, y, SRID, band))[0][0] for x, y in pts]
    expected = [gdallocationinfo(grid["flat"], x, y, band) for x, y in pts]
    assert expected[-1] is None and expected[-3] is None and expected[5] is not None
    assert got == expected


def test_value_default_band_is_1(door, grid):
    x, y = points(grid)[1]
    (v,), = run(door, "SELECT pgmosaic.value('door', ST_SetSRID(ST_MakePoint(%s, %s), %s))",
                (x, y, SRID))[0],
    assert v == gdallocationinfo(grid["flat"], x, y, 1)


def test_value_array_form(door, grid):
    pts = points(grid)
    arr = "ARRAY[" + ",".join(f"ST_SetSRID(ST_MakePoint({x!r}, {y!r}), {SRID})"
                              for x, y in pts) + "]"
    rows = run(door, f"SELECT n, value FROM pgmosaic.value('door', {arr}, 2) ORDER BY n")
    assert [r[0] for r in rows] == list(range(1, len(pts) + 1))
    assert [r[1] for r in rows] == [gdallocationinfo(grid["flat"], x, y, 2) for x, y in pts]


def test_many_scattered_points_equal_gdallocationinfo(door, grid):
    """400 points scattered over the mosaic in one call (their items looked up by areas of the
    mosaic, each pixel decoded from its block down to its row only) give the values
    gdallocationinfo reads from the flattened VRT."""
    gt = grid["gt"]
    rng = random.Random(3)
    pts = [(gt[0] + rng.uniform(0, grid["width"]) * gt[1],
            gt[3] + rng.uniform(0, grid["height"]) * gt[5]) for _ in range(400)]
    arr = "ARRAY[" + ",".join(f"ST_SetSRID(ST_MakePoint({x!r}, {y!r}), {SRID})"
                              for x, y in pts) + "]"
    got = [r[0] for r in run(door, f"SELECT value FROM pgmosaic.value('door', {arr}, 3) "
                                   "ORDER BY n")]
    r = subprocess.run(["gdallocationinfo", "-valonly", "-geoloc", "-b", "3", grid["flat"]],
                       input="".join(f"{x!r} {y!r}\n" for x, y in pts), capture_output=True,
                       text=True, check=True)
    expected = [None if float(v) == 0 else float(v) for v in r.stdout.split()]
    assert len(expected) == len(pts)
    assert sum(v is None for v in expected) > 0 and sum(v is not None for v in expected) > 300
    assert got == expected


def test_gdal_set_up_survives_postgis_raster_in_the_session(door, datadir):
    """PostGIS raster destroys GDAL's driver manager when its module loads and whenever
    postgis.gdal_enabled_drivers is assigned (GDALDestroyDriverManager): GDAL's configuration
    goes, and the block cache's mutex with it (reading threads then shared the cache without a
    lock: corrupted heaps, crashed backends). pgmosaic loads PostGIS raster before it sets GDAL
    up and sets again what it relies on at every call. Seen here through one setting of it, no
    side-car .aux.xml read by the backend: a sidecar calling the file's only value nodata is
    ignored before and after PostGIS raster loads, and after a superuser assigns its setting."""
    d = os.path.join(datadir, "pam")
    os.makedirs(d)
    os.chmod(d, 0o755)
    path = sampledata.make_cog(os.path.join(d, "seven.tif"),
                               np.full((1, 64, 64), 7, dtype="uint8"), (X0, Y0), RES)
    door.register("pam", [path], [d])
    with open(path + ".aux.xml", "w") as f:
        f.write('<PAMDataset><PAMRasterBand band="1"><NoDataValue>7</NoDataValue>'
                "</PAMRasterBand></PAMDataset>")
    point = f"ST_SetSRID(ST_MakePoint({X0 + 100}, {Y0 - 100}), {SRID})"
    conn = door.connect()  # one session: the steps share its backend
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
            values = []
            for step in ("SELECT 1", "SELECT postgis_raster_lib_version()",
                         "SET postgis.gdal_enabled_drivers = 'GTiff PNG'"):
                cur.execute(step)
                cur.execute(f"SELECT pgmosaic.value('pam', {point})")
                values.append(cur.fetchone()[0])
    finally:
        conn.close()
    assert values == [7, 7, 7]


# --- zonal_stats() -----------------------------------------------------------------------------

def zones():
    return [
        f"POLYGON(({X0 + 503.3} {Y0 - 6001.7},{X0 + 7707.1} {Y0 - 5503.9},"
        f"{X0 + 4002.2} {Y0 - 3998.6},{X0 + 6904.4} {Y0 - 803.3},{X0 + 1201.9} {Y0 - 1502.8},"
        f"{X0 + 503.3} {Y0 - 6001.7}))",
        # across the overlaps of four tiles
        f"POLYGON(({X0 + 2601.1} {Y0 - 3004.4},{X0 + 3102.2} {Y0 - 3004.4},"
        f"{X0 + 3102.2} {Y0 - 2602.6},{X0 + 2601.1} {Y0 - 2602.6},{X0 + 2601.1} {Y0 - 3004.4}))",
        # over tile 0's nodata corner and past the mosaic's edge
        f"POLYGON(({X0 - 1001.3} {Y0 - 1203.3},{X0 + 1402.4} {Y0 - 1203.3},"
        f"{X0 + 1402.4} {Y0 + 501.1},{X0 - 1001.3} {Y0 + 501.1},{X0 - 1001.3} {Y0 - 1203.3}))",
        # a thin sliver along the diagonal
        f"POLYGON(({X0 + 33.3} {Y0 - 8500.7},{X0 + 8500.9} {Y0 - 33.1},{X0 + 8500.9} {Y0 - 63.1},"
        f"{X0 + 63.3} {Y0 - 8500.7},{X0 + 33.3} {Y0 - 8500.7}))",
    ]


def numpy_stats(door, grid, wkt, band):
    ds = gdal.Open(door.mosaic("door"))
    data = ds.GetRasterBand(band).ReadAsArray().astype(np.float64)
    mask = centre_mask(wkt, grid["gt"], grid["width"], grid["height"]) & (data != 0)
    v = data[mask]
    if v.size == 0:
        return (0, None, None, None, None, None)
    return (int(v.size), v.min(), v.max(), v.mean(), v.std(), v.sum())


def assert_stats(got, expected, what):
    assert got[0] == expected[0], f"{what}: count {got[0]} != {expected[0]}"
    for name, g, e in zip(("min", "max", "mean", "stddev", "sum"), got[1:], expected[1:]):
        if e is None:
            assert g is None, f"{what}: {name} {g} != NULL"
        else:
            assert g == pytest.approx(e, rel=1e-9, abs=1e-9), f"{what}: {name} {g} != {e}"


@pytest.mark.parametrize("band", [1, 2])
def test_zonal_stats_equal_numpy_over_the_driver_read(door, grid, band):
    for i, wkt in enumerate(zones()):
        rows = run(door, "SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
                   "'door', ST_GeomFromText(%s, %s), %s)", (wkt, SRID, band))
        assert len(rows) == 1, f"zone {i}: {rows}"
        assert_stats(rows[0], numpy_stats(door, grid, wkt, band), f"zone {i} band {band}")


def test_zonal_stats_of_a_zone_outside_the_mosaic(door, grid):
    wkt = (f"POLYGON(({X0 - 900} {Y0 + 100},{X0 - 100} {Y0 + 100},{X0 - 100} {Y0 + 900},"
           f"{X0 - 900} {Y0 + 900},{X0 - 900} {Y0 + 100}))")
    rows = run(door, "SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
               "'door', ST_GeomFromText(%s, %s))", (wkt, SRID))
    # The spec does not say what the sum of no pixel is: NULL (SQL's sum) or 0 both pass.
    assert len(rows) == 1 and rows[0][:5] == (0, None, None, None, None)
    assert rows[0][5] in (None, 0.0)


def test_zonal_stats_takes_exact(door, grid):
    """zonal_stats(mosaic, zone, band, exact boolean DEFAULT true): exact => true is the
    default's result, for one zone and for an array of zones."""
    z = zones()[1]
    default = run(door, "SELECT * FROM pgmosaic.zonal_stats('door', ST_GeomFromText(%s, %s), 2)",
                  (z, SRID))
    exact = run(door, "SELECT * FROM pgmosaic.zonal_stats('door', ST_GeomFromText(%s, %s), 2, "
                "exact => true)", (z, SRID))
    assert exact == default
    arr = run(door, "SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats('door', "
              "ARRAY[ST_GeomFromText(%s, %s)], 2, exact => true)", (z, SRID))
    assert arr == default
    approx = run(door, "SELECT count FROM pgmosaic.zonal_stats('door', ST_GeomFromText(%s, %s), "
                 "2, exact => false)", (z, SRID))
    assert len(approx) == 1 and approx[0][0] > 0


def test_zonal_stats_array_form(door, grid):
    zs = zones()
    arr = "ARRAY[" + ",".join(f"ST_GeomFromText('{z}', {SRID})" for z in zs) + "]"
    rows = run(door, f"SELECT n, count, min, max, mean, stddev, sum FROM "
                     f"pgmosaic.zonal_stats('door', {arr}, 3) ORDER BY n")
    assert [r[0] for r in rows] == list(range(1, len(zs) + 1))
    for r, wkt in zip(rows, zs):
        assert_stats(r[1:], numpy_stats(door, grid, wkt, 3), f"zone {r[0]}")


@pytest.fixture(scope="module")
def blocks(door, datadir):
    """Mosaic "door_blocks": 2 x 2 COG tiles of 512 pixels in blocks of 128 (one band of
    Byte, nodata 0), overlapping by 64 pixels, a nodata triangle in the first tile: DRAD tiles
    inside items, under other items, and partly valid with and without an item below."""
    d = os.path.join(datadir, "door_blocks")
    ROOT[0] = datadir
    paths = sampledata.make_tile_grid(d, 2, 2, 512, bands=1, overlap=64, nodata_every=4,
                                      blocksize=128, origin=(X0, Y0), res=RES, seed=7)
    door.register("door_blocks", paths, [d])
    return dict(name="door_blocks", dir=d, paths=paths)


def block_zones():
    """A zone covering most of the mosaic with slanted edges, one in the overlap of four
    tiles, one inside the first tile's nodata triangle and past the mosaic's edge."""
    return [
        f"POLYGON(({X0 + 130.5} {Y0 - 9400.2},{X0 + 9500.7} {Y0 - 9100.1},"
        f"{X0 + 9300.3} {Y0 - 170.9},{X0 + 410.6} {Y0 - 90.4},{X0 + 130.5} {Y0 - 9400.2}))",
        f"POLYGON(({X0 + 4000.0} {Y0 - 5600.0},{X0 + 5600.0} {Y0 - 5600.0},"
        f"{X0 + 5600.0} {Y0 - 4000.0},{X0 + 4000.0} {Y0 - 4000.0},{X0 + 4000.0} {Y0 - 5600.0}))",
        f"POLYGON(({X0 - 500.0} {Y0 - 2000.0},{X0 + 2000.0} {Y0 - 2000.0},"
        f"{X0 + 2000.0} {Y0 + 500.0},{X0 - 500.0} {Y0 + 500.0},{X0 - 500.0} {Y0 - 2000.0}))",
    ]


def zonal(door, mosaic, wkt, exact, band=1):
    row, = run(door, "SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
                  "%s, ST_GeomFromText(%s, %s), %s, exact => %s)", (mosaic, wkt, SRID, band, exact))
    return row


@pytest.mark.parametrize("mosaic", ["door_blocks", "door"])
def test_zonal_stats_not_exact_equals_exact(door, grid, blocks, mosaic):
    zs = block_zones() + (zones() if mosaic == "door" else [])
    for i, wkt in enumerate(zs):
        exact, approx = zonal(door, mosaic, wkt, True), zonal(door, mosaic, wkt, False)
        assert approx[0] == exact[0], f"zone {i}: count {approx[0]} != {exact[0]}"
        for name, a, e in zip(("min", "max", "mean", "stddev", "sum"), approx[1:], exact[1:]):
            if e is None:
                assert a is None or (name == "sum" and a == 0), f"zone {i}: {name} {a}"
            else:
                assert a == pytest.approx(e, rel=1e-9, abs=1e-9), f"zone {i}: {name} {a} != {e}"


def test_zonal_stats_not_exact_answers_from_the_tile_statistics(door, blocks):
    """Tampered statistics of one tile inside the zone show in exact => false only: the
    tile was answered from the catalog, not read; exact => true reads every pixel."""
    wkt = block_zones()[0]
    exact = zonal(door, "door_blocks", wkt, True)
    (item, key, stats), = door.query(
        "SELECT t.item_id, t.key::text, t.stats FROM pgmosaic.tile t JOIN pgmosaic.item i ON "
        "i.mosaic_id = t.mosaic_id AND i.id = t.item_id JOIN pgmosaic.mosaic m ON m.id = "
        "t.mosaic_id WHERE m.name = 'door_blocks' AND t.level = 0 AND "
        "i.path LIKE '%%tile_r001_c001.tif' AND ST_Contains(ST_GeomFromText(%s, %s), t.bounds) "
        "AND (t.stats -> 0 ->> 3)::bigint = 128 * 128 ORDER BY t.key DESC LIMIT 1", (wkt, SRID))
    try:
        door.query("UPDATE pgmosaic.tile SET stats = jsonb_set(stats, '{0,2}', to_jsonb("
                   "(stats -> 0 ->> 2)::float8 + 1000)) WHERE item_id = %s AND key::text = %s "
                   "AND level = 0", (item, key))
        assert zonal(door, "door_blocks", wkt, True) == exact
        approx = zonal(door, "door_blocks", wkt, False)
        assert approx[0] == exact[0]
        assert approx[5] == pytest.approx(exact[5] + 1000)
    finally:
        door.query("UPDATE pgmosaic.tile SET stats = %s::jsonb WHERE item_id = %s AND "
                   "key::text = %s AND level = 0", (json.dumps(stats), item, key))
    assert zonal(door, "door_blocks", wkt, False)[5] == pytest.approx(exact[5])


def test_zonal_stats_not_exact_fails_naming_a_changed_item(door, blocks):
    """The recorded statistics are used only while the file is the one registered."""
    wkt = block_zones()[0]
    path = blocks["paths"][3]
    st = os.stat(path)
    try:
        os.utime(path, (st.st_atime, st.st_mtime + 100))
        with pytest.raises(psycopg2.Error) as e:
            zonal(door, "door_blocks", wkt, False)
        assert "changed since it was registered" in str(e.value)
        assert os.path.basename(path) in str(e.value)
    finally:
        os.utime(path, (st.st_atime, st.st_mtime))


def test_zonal_stats_not_exact_from_tiles_alone_keeps_the_rules_of_reads(door, blocks, roles):
    """A zone answered wholly from tile statistics (one block of the first tile, which no other
    tile reaches) reads no pixel, yet needs file access under the allowed roots, and shows
    nothing to a role without a grant on the mosaic."""
    x0, y0 = X0 + 128 * RES, Y0 - 256 * RES
    wkt = (f"POLYGON(({x0} {y0},{x0 + 128 * RES} {y0},{x0 + 128 * RES} {y0 + 128 * RES},"
           f"{x0} {y0 + 128 * RES},{x0} {y0}))")
    exact = zonal(door, "door_blocks", wkt, True)
    assert exact[0] > 0
    assert zonal(door, "door_blocks", wkt, False) == pytest.approx(exact)
    sql = ("SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats('door_blocks', "
           "ST_GeomFromText(%s, %s), 1, exact => false)")
    with pytest.raises(psycopg2.Error, match=r"pgmosaic\.allowed_roots"):
        run(door, sql, (wkt, SRID), roots="/nonexistent-door-root")
    with pytest.raises(psycopg2.Error, match=r"pgmosaic\.enable_file_access"):
        run(door, sql, (wkt, SRID), files=False)
    assert reveals_nothing(door, None, sql, (wkt, SRID), READER)


def test_zonal_stats_not_exact_without_sums_of_squares_has_no_stddev(door, blocks):
    """Tiles recorded before 0.3 have [min, max, sum, count]: no stddev from them."""
    wkt = block_zones()[0]
    exact = zonal(door, "door_blocks", wkt, True)
    door.query("CREATE TABLE door_blocks_stats AS SELECT t.mosaic_id, t.item_id, t.key, "
               "t.stats FROM pgmosaic.tile t JOIN pgmosaic.mosaic m ON m.id = t.mosaic_id "
               "WHERE m.name = 'door_blocks' AND t.level = 0")
    door.query("UPDATE pgmosaic.tile t SET stats = (SELECT jsonb_agg(e - 4) FROM "
               "jsonb_array_elements(t.stats) e) FROM pgmosaic.mosaic m WHERE m.id = t.mosaic_id "
               "AND m.name = 'door_blocks' AND t.level = 0 AND t.stats IS NOT NULL")
    try:
        approx = zonal(door, "door_blocks", wkt, False)
    finally:
        door.query("UPDATE pgmosaic.tile t SET stats = NULL FROM pgmosaic.mosaic m WHERE "
                   "m.id = t.mosaic_id AND m.name = 'door_blocks'")
    # Still the exact count and sum; stddev unknown where any tile answered.
    assert approx[0] == exact[0] and approx[5] == pytest.approx(exact[5])
    assert approx[4] is None and exact[4] is not None
    # (Without statistics no tile answers: exact => false reads everything.)
    try:
        assert zonal(door, "door_blocks", wkt, False) == pytest.approx(exact)
    finally:
        door.query("UPDATE pgmosaic.tile t SET stats = b.stats FROM door_blocks_stats b WHERE "
                   "(t.mosaic_id, t.item_id, t.key::text, t.level) = (b.mosaic_id, b.item_id, "
                   "b.key::text, 0)")
        door.query("DROP TABLE door_blocks_stats")
    assert zonal(door, "door_blocks", wkt, False) == pytest.approx(exact)



# Many points and zones are read on the reading threads, the backend answering their catalog
# lookups (common/read/catalog_relay.h).
MANY_POINTS = ("ARRAY(SELECT ST_Point(%s + (i %% 89) * 107.3, %s - (i / 89) * 103.9, 32631) "
               "FROM generate_series(0, 89 * 89 - 1) i)")
MANY_ZONES = ("ARRAY(SELECT ST_MakeEnvelope(%s + (i %% 23) * 401.7, %s - (i / 23) * 397.3 - 350, "
              "%s + (i %% 23) * 401.7 + 350, %s - (i / 23) * 397.3, 32631) "
              "FROM generate_series(0, 23 * 23 - 1) i)")


def test_many_points_and_zones_equal_one_at_a_time(door, blocks):
    """7,921 points and 529 zones in one call each (read on several threads) answer what the
    same points and zones answer one call each, in the order given."""
    pts = run(door, "SELECT value FROM pgmosaic.value('door_blocks', " + MANY_POINTS + ") "
                    "ORDER BY n", (X0, Y0))
    assert len(pts) == 89 * 89
    assert sum(v is not None for (v,) in pts) > 5000
    zs = run(door, "SELECT n, count, sum FROM pgmosaic.zonal_stats('door_blocks', "
                   + MANY_ZONES + ") ORDER BY n", (X0, Y0, X0, Y0))
    assert [r[0] for r in zs] == list(range(1, 23 * 23 + 1))
    conn = door.connect()  # one session for the calls one at a time
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (ROOT[0],))
            for k in range(0, 89 * 89, 97):
                x, y = X0 + (k % 89) * 107.3, Y0 - (k // 89) * 103.9
                cur.execute("SELECT pgmosaic.value('door_blocks', ST_Point(%s, %s, 32631))",
                            (x, y))
                assert pts[k][0] == cur.fetchone()[0], k
            for k in range(0, 23 * 23, 37):
                x, y = X0 + (k % 23) * 401.7, Y0 - (k // 23) * 397.3
                cur.execute("SELECT count, sum FROM pgmosaic.zonal_stats('door_blocks', "
                            "ST_MakeEnvelope(%s, %s, %s, %s, 32631))", (x, y - 350, x + 350, y))
                assert zs[k][1:] == cur.fetchone(), k
    finally:
        conn.close()


def test_many_points_and_zones_fail_naming_a_changed_item(door, blocks):
    """An error on a reading thread fails the call naming the item, as one read would; the
    same calls answer again once the file is the registered one."""
    path = blocks["paths"][3]
    st = os.stat(path)
    before = run(door, "SELECT count(value), sum(value) FROM pgmosaic.value('door_blocks', "
                       + MANY_POINTS + ")", (X0, Y0))
    try:
        os.utime(path, (st.st_atime, st.st_mtime + 100))
        for sql, params in (
                ("SELECT count(value) FROM pgmosaic.value('door_blocks', " + MANY_POINTS + ")",
                 (X0, Y0)),
                ("SELECT count(*) FROM pgmosaic.zonal_stats('door_blocks', " + MANY_ZONES + ")",
                 (X0, Y0, X0, Y0))):
            with pytest.raises(psycopg2.Error) as e:
                run(door, sql, params)
            assert "changed since it was registered" in str(e.value), str(e.value)
            assert os.path.basename(path) in str(e.value)
    finally:
        os.utime(path, (st.st_atime, st.st_mtime))
    assert run(door, "SELECT count(value), sum(value) FROM pgmosaic.value('door_blocks', "
                     + MANY_POINTS + ")", (X0, Y0)) == before


def constant_tiff(path, value):
    """A 64 x 64 uncompressed tiled GeoTIFF of one Byte band (nodata 0) holding `value`: the
    same size in bytes whatever the value."""
    ds = gdal.GetDriverByName("GTiff").Create(path, 64, 64, 1, gdal.GDT_Byte,
                                              ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
    ds.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
    ds.SetProjection(srs(SRID).ExportToWkt())
    ds.GetRasterBand(1).SetNoDataValue(0)
    ds.GetRasterBand(1).Fill(value)
    ds = None
    return path


def test_a_file_kept_open_between_statements_is_the_file_at_its_path(door, datadir):
    """A session keeps the files it read open for its next statements, and takes one again only
    when the file at its path is the very one opened: a file rewritten in place or replaced by
    another, with the size and modification time recorded at registration (so that a fresh
    open reads it without complaint), is read as it is now, never from the file kept open."""
    d = os.path.join(datadir, "door_kept")
    os.makedirs(d)
    os.chmod(d, 0o755)
    path = constant_tiff(os.path.join(d, "k.tif"), 10)
    door.register("door_kept", [path], [d])
    st = os.stat(path)
    centre = (X0 + 32 * RES + 5, Y0 - 32 * RES - 5)
    zone = "ST_MakeEnvelope(%s, %s, %s, %s, 32631)" % (X0, Y0 - 640, X0 + 640, Y0)
    conn = door.connect()  # one session: its backend keeps the file open between statements
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (datadir,))
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]

            def answers():
                cur.execute("SELECT pgmosaic.value('door_kept', ST_Point(%s, %s, 32631))",
                            centre)
                value = cur.fetchone()[0]
                cur.execute(f"SELECT count, mean FROM pgmosaic.zonal_stats('door_kept', {zone})")
                count, mean = cur.fetchone()
                cur.execute(f"SELECT ST_Value(pgmosaic.read('door_kept', {zone}), 1, 1, 1)")
                return value, count, mean, cur.fetchone()[0]

            def held_open():
                fds = f"/proc/{pid}/fd"
                return sum(1 for f in os.listdir(fds)
                           if os.path.realpath(os.path.join(fds, f)) == os.path.realpath(path))

            assert answers() == (10, 4096, 10, 10)
            if os.access(f"/proc/{pid}/fd", os.R_OK):
                assert held_open() == 1  # kept: GDAL's handle only
            # Rewritten in place with other pixels, its modification time set back: the same
            # inode, size and mtime; only its change time tells.
            with open(constant_tiff(os.path.join(d, "k20.tif"), 20), "rb") as f:
                twenty = f.read()
            assert len(twenty) == st.st_size
            with open(path, "r+b") as f:
                f.write(twenty)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert answers() == (20, 4096, 20, 20)
            # Replaced by another file of the same size and modification time.
            other = constant_tiff(os.path.join(d, "k30.tif"), 30)
            os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(other, path)
            assert answers() == (30, 4096, 30, 30)
            # A file changed from its record still fails naming it, kept open or not.
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            with pytest.raises(psycopg2.Error, match="changed since it was registered"):
                answers()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert answers() == (30, 4096, 30, 30)
            # A mask sidecar (.msk) appears beside the unchanged file: a fresh open takes it
            # (every pixel masked), so the file kept open is not taken.
            gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "NO")
            try:
                ds = gdal.Translate(os.path.join(d, "m.tif"), path)
                ds.CreateMaskBand(gdal.GMF_PER_DATASET)
                ds.GetRasterBand(1).GetMaskBand().Fill(0)
                ds = None
            finally:
                gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
            os.replace(os.path.join(d, "m.tif.msk"), path + ".msk")
            assert answers()[:2] == (None, 0)
            os.remove(path + ".msk")
            assert answers() == (30, 4096, 30, 30)
            # Outside the allowed roots now: refused as a fresh open is.
            cur.execute("SET pgmosaic.allowed_roots = %s", (os.path.join(datadir, "elsewhere"),))
            with pytest.raises(psycopg2.Error, match="allowed"):
                answers()
    finally:
        conn.close()


def test_statement_timeout_stops_many_zones_quickly(door, grid):
    """Zones read on the reading threads stop between reads when the statement times out."""
    t0 = time.monotonic()
    with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
        run(door, "SELECT count(*) FROM pgmosaic.zonal_stats('door', ARRAY(SELECT "
                  "ST_MakeEnvelope(%s, %s - 8000, %s + 8000, %s, 32631) FROM "
                  "generate_series(1, 5000)))", (X0, Y0, X0, Y0),
            settings={"statement_timeout": "300ms"})
    assert time.monotonic() - t0 < 3.0


# --- render_tile() -----------------------------------------------------------------------------

WORLD = 20037508.342789244


def tile_bounds(z, x, y):
    size = 2 * WORLD / 2 ** z
    return (-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size)


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def expected_tile(vrt, z, x, y, scale):
    """gdalwarp of the VRT to the tile's bounds at 256x256, nearest, gdalwarp's default error
    threshold (0.125 pixel), with an alpha band, then gdal_translate -ot Byte -scale (when
    given); (bands, alpha)."""
    warped = gdal.Warp("", vrt, format="MEM", dstSRS="EPSG:3857", outputBounds=tile_bounds(z, x, y),
                       width=256, height=256, resampleAlg="near", errorThreshold=0.125,
                       dstAlpha=True)
    n = warped.RasterCount - 1
    alpha = np.where(warped.GetRasterBand(n + 1).ReadAsArray() > 0, 255, 0).astype(np.uint8)
    if scale is not None:
        warped = gdal.Translate("", warped, format="MEM", outputType=gdal.GDT_Byte,
                                bandList=list(range(1, n + 1)),
                                scaleParams=[[lo, hi, 0, 255] for lo, hi in scale])
    bands = np.stack([warped.GetRasterBand(b).ReadAsArray() for b in range(1, n + 1)])
    return bands, alpha


def render_file(door, mosaic, z, x, y, fmt="PNG", options=None):
    """The tile as GDAL reads it: (driver, bands as an array (bands, rows, columns))."""
    (data,), = run(door, "SELECT pgmosaic.render_tile(%s, %s, %s, %s, %s, %s::jsonb)",
                   (mosaic, z, x, y, fmt, options or "{}"))
    assert data is not None
    name = f"/vsimem/door_tile_{uuid.uuid4().hex}"
    gdal.FileFromMemBuffer(name, bytes(data))
    try:
        ds = gdal.Open(name)
        return ds.GetDriver().ShortName, ds.ReadAsArray().reshape(ds.RasterCount, 256, 256)
    finally:
        gdal.Unlink(name)


def render(door, mosaic, z, x, y, fmt="PNG", options=None):
    """The tile with its alpha band: an opaque PNG tile comes without one (RGB or gray)."""
    drv, got = render_file(door, mosaic, z, x, y, fmt, options)
    if drv == "PNG" and got.shape[0] in (1, 3):
        got = np.concatenate([got, np.full((1, 256, 256), 255, np.uint8)])
    return drv, got


def mosaic_tiles(z):
    """The tile over the mosaic's centre and one over its north edge."""
    out = []
    for dx, dy in ((4300.0, 4300.0), (2005.0, 5.0)):
        lon, lat = transform_xy(X0 + dx, Y0 - dy, SRID, 4326)
        out.append(tile_of(lon, lat, z))
    return out


def compare_tile(got, bands, alpha, what):
    n = bands.shape[0]
    assert got.shape == (n + 1, 256, 256), what
    assert np.array_equal(got[n], alpha), (f"{what}: alpha differs in "
                                           f"{int((got[n] != alpha).sum())} pixels")
    valid = alpha > 0
    assert valid.any(), what
    bad = np.argwhere((got[:n] != bands) & valid)
    assert bad.size == 0, (
        f"{what}: {len(bad)} values differ where alpha > 0, max |diff| "
        f"{int(np.abs(got[:n].astype(int) - bands)[:, valid].max())}; first (band,row,col) "
        f"{bad[:4].tolist()}: got {[int(got[tuple(p)]) for p in bad[:4]]}, expected "
        f"{[int(bands[tuple(p)]) for p in bad[:4]]}")


@pytest.mark.parametrize("z", [13, 14, 15])
def test_render_tile_of_a_byte_mosaic_is_not_stretched(door, grid, z):
    for x, y in mosaic_tiles(z):
        drv, got = render(door, "door", z, x, y)
        assert drv == "PNG"
        bands, alpha = expected_tile(grid["vrt"], z, x, y, None)
        compare_tile(got, bands, alpha, f"tile {z}/{x}/{y}")


def test_render_tile_png_drops_the_alpha_of_an_opaque_tile(door, grid):
    """A tile wholly inside the data is an RGB PNG (a gray one for one band); a tile over the
    mosaic's edge keeps its alpha; the pixels are those of the RGBA form either way (above)."""
    (inside, edge) = mosaic_tiles(14)
    bands, alpha = expected_tile(grid["vrt"], 14, *inside, None)
    assert alpha.all()
    drv, got = render_file(door, "door", 14, *inside)
    assert (drv, got.shape[0]) == ("PNG", 3)
    assert np.array_equal(got, bands)
    _, gray = render_file(door, "door", 14, *inside, options='{"bands": "2"}')
    assert gray.shape[0] == 1 and np.array_equal(gray[0], bands[1])
    bands, alpha = expected_tile(grid["vrt"], 14, *edge, None)
    assert not alpha.all()
    _, got = render_file(door, "door", 14, *edge)
    assert got.shape[0] == 4


def test_render_tile_with_min_max_options_per_band(door, grid):
    z = 14
    x, y = mosaic_tiles(z)[0]
    lo, hi = [10, 20, 30], [200, 180, 240]
    _, got = render(door, "door", z, x, y,
                    options='{"min": [10, 20, 30], "max": [200, 180, 240]}')
    bands, alpha = expected_tile(grid["vrt"], z, x, y, list(zip(lo, hi)))
    compare_tile(got, bands, alpha, "scaled per band")


def test_render_tile_with_one_min_max_for_all_bands(door, grid):
    z = 14
    x, y = mosaic_tiles(z)[0]
    _, got = render(door, "door", z, x, y, options='{"min": 50, "max": 150}')
    bands, alpha = expected_tile(grid["vrt"], z, x, y, [(50, 150)] * 3)
    compare_tile(got, bands, alpha, "scaled, one min/max")


def test_render_tile_of_a_uint16_mosaic_stretches_from_the_catalog_statistics(door, gray):
    ds = gdal.Open(door.mosaic("door16"))
    band = ds.GetRasterBand(1)
    lo = float(band.GetMetadataItem("STATISTICS_MINIMUM"))
    hi = float(band.GetMetadataItem("STATISTICS_MAXIMUM"))
    for x, y in mosaic_tiles(14):
        drv, got = render(door, "door16", 14, x, y)
        bands, alpha = expected_tile(gray["vrt"], 14, x, y, [(lo, hi)])
        assert bands.shape[0] == 1
        compare_tile(got, bands, alpha, f"gray tile 14/{x}/{y} (stretch {lo}..{hi})")


@pytest.mark.parametrize("fmt,driver", [("JPEG", "JPEG"), ("WEBP", "WEBP")])
def test_render_tile_other_formats(door, grid, fmt, driver):
    x, y = mosaic_tiles(14)[0]
    drv, got = render(door, "door", 14, x, y, fmt=fmt)
    assert drv == driver
    assert got.shape[1:] == (256, 256)


def test_render_tile_far_from_the_mosaic_is_transparent(door, grid):
    _, got = render(door, "door", 14, 0, 0)
    assert got.shape == (4, 256, 256)
    assert not got[3].any()


# --- security ----------------------------------------------------------------------------------

def small_area(grid):
    return envelope(grid["gt"], 200, 200, 20, 20)  # inside tile 0 only, all valid


CALLS = {
    "read": "SELECT pgmosaic.read('door', ST_GeomFromText(%s, 32631)) IS NULL",
    "export": "SELECT length(pgmosaic.export('door', ST_GeomFromText(%s, 32631), 'GTiff'))",
    "value": "SELECT pgmosaic.value('door', ST_Centroid(ST_GeomFromText(%s, 32631)))",
    "zonal_stats": "SELECT count FROM pgmosaic.zonal_stats('door', ST_GeomFromText(%s, 32631))",
    "render_tile": "SELECT length(pgmosaic.render_tile('door', %s, %s, %s))",
}


def call_params(what, grid):
    return (14, *mosaic_tiles(14)[0]) if what == "render_tile" else (small_area(grid),)


@pytest.mark.parametrize("what", sorted(CALLS))
def test_without_file_access_the_error_names_the_setting(door, grid, what):
    with pytest.raises(psycopg2.Error, match=r"pgmosaic\.enable_file_access"):
        run(door, CALLS[what], call_params(what, grid), files=False)


@pytest.mark.parametrize("what", ["read", "value", "zonal_stats"])
def test_files_outside_the_allowed_roots_are_refused_naming_the_setting(door, grid, what):
    with pytest.raises(psycopg2.Error, match=r"pgmosaic\.allowed_roots"):
        run(door, CALLS[what], call_params(what, grid), roots="/nonexistent-door-root")


def reveals_nothing(door, grid, sql, params, role):
    """An error, or a result carrying no pixel of the mosaic."""
    try:
        rows = run(door, sql, params, role=role)
    except psycopg2.Error:
        return True
    return rows in ([], [(None,)], [(True,)], [(0,)], [(0, None, None, None, None, None)])


@pytest.mark.parametrize("what", sorted(CALLS))
def test_a_role_without_a_grant_gets_nothing(door, grid, roles, what):
    assert run(door, CALLS[what].replace(" IS NULL", " IS NOT NULL"),
               call_params(what, grid), role=READER)[0][0] not in (None, False, 0)
    if what == "render_tile":  # an error or a fully transparent tile
        try:
            (data,), = run(door, "SELECT pgmosaic.render_tile('door', %s, %s, %s)",
                           call_params(what, grid), role=STRANGER)
        except psycopg2.Error:
            return
        if data is not None:
            gdal.FileFromMemBuffer("/vsimem/door_stranger.png", bytes(data))
            a = gdal.Open("/vsimem/door_stranger.png").ReadAsArray()
            gdal.Unlink("/vsimem/door_stranger.png")
            assert not a[-1].any(), "a role without a grant sees pixels of the mosaic"
        return
    assert reveals_nothing(door, grid, CALLS[what], call_params(what, grid), STRANGER)


def test_a_granted_role_reads_like_the_superuser(door, grid, roles):
    win = (250, 250, 100, 100)
    (wkb,), = run(door, "SELECT ST_AsBinary(pgmosaic.read('door', ST_GeomFromText(%s, 32631)))",
                  (envelope(grid["gt"], *win),), role=READER)
    assert Raster(wkb).array.tobytes() == driver_read(door, grid, *win).tobytes()


def test_row_level_security_decides_the_items_a_role_composes(door, grid, roles):
    """A restrictive policy hides the top tile of the grid's centre from READER: its reads,
    values and statistics are those of the other tiles (a VRT without it)."""
    hidden = grid["paths"][4]
    door.query("DROP POLICY IF EXISTS door_hide ON pgmosaic.item")
    door.query(f"CREATE POLICY door_hide ON pgmosaic.item AS RESTRICTIVE FOR SELECT TO {READER} "
               f"USING (path::text <> {psycopg2.extensions.adapt(hidden).getquoted().decode()})")
    try:
        visible = [p for p in grid["paths"] if p != hidden]
        vrt = gdal.BuildVRT("/vsimem/door_visible.vrt", visible)
        # the window of the hidden tile and around it, on the VRT's grid (same as the mosaic's)
        win = (STEP - 30, STEP - 30, TILE + 60, TILE + 60)
        expected = vrt.ReadRaster(*win)
        assert expected != driver_read(door, grid, *win).tobytes()
        (wkb,), = run(door, "SELECT ST_AsBinary(pgmosaic.read('door', ST_GeomFromText(%s, "
                      "32631)))", (envelope(grid["gt"], *win),), role=READER)
        assert Raster(wkb).array.tobytes() == expected
        # the centre of the hidden tile: only it covers the point, so no value
        cx, cy = grid["gt"][0] + (STEP + 150) * RES, grid["gt"][3] - (STEP + 150) * RES
        (v,), = run(door, "SELECT pgmosaic.value('door', ST_SetSRID(ST_MakePoint(%s, %s), "
                    "32631))", (cx, cy), role=READER)[0],
        assert v is None
        (v,), = run(door, "SELECT pgmosaic.value('door', ST_SetSRID(ST_MakePoint(%s, %s), "
                    "32631))", (cx, cy))[0],
        assert v is not None
        zone = envelope(grid["gt"], *win)
        (c,), = run(door, "SELECT count FROM pgmosaic.zonal_stats('door', "
                    "ST_GeomFromText(%s, 32631))", (zone,), role=READER)
        arr = np.frombuffer(vrt.GetRasterBand(1).ReadRaster(*win), np.uint8)
        assert c == int((arr != 0).sum())
    finally:
        door.query("DROP POLICY IF EXISTS door_hide ON pgmosaic.item")
        vrt = None
        gdal.Unlink("/vsimem/door_visible.vrt")


def test_the_pixel_cap_refuses_big_reads_naming_the_setting_and_the_size(door, grid):
    cap = {"pgmosaic.max_read_pixels": 10000}
    small = envelope(grid["gt"], 0, 0, 50, 50)        # 7,500 values: under the cap
    big = envelope(grid["gt"], 0, 0, 200, 100)        # 60,000 values
    (ok,), = run(door, "SELECT pgmosaic.read('door', ST_GeomFromText(%s, 32631)) IS NOT NULL",
                 (small,), settings=cap)[0],
    assert ok
    for sql in ("SELECT pgmosaic.read('door', ST_GeomFromText(%s, 32631))",
                "SELECT pgmosaic.export('door', ST_GeomFromText(%s, 32631), 'GTiff')"):
        with pytest.raises(psycopg2.Error) as e:
            run(door, sql, (big,), settings=cap)
        msg = str(e.value)
        assert "pgmosaic.max_read_pixels" in msg, msg
        flat = msg.replace(",", "").replace(" ", "").replace("_", "").replace("*", "x")
        assert "60000" in flat or "200x100x3" in flat, msg
    # A coarser resolution asks fewer pixels: 100 x 50 x 3 = 15,000 > 10,000; band 1: 5,000.
    (ok,), = run(door, "SELECT pgmosaic.read('door', ST_GeomFromText(%s, 32631), "
                 "resolution => 20, bands => '{1}') IS NOT NULL", (big,), settings=cap)[0],
    assert ok


BIG_READ = ("SELECT pgmosaic.read('door', ST_GeomFromText(%s, 32631), resolution => 1.0) "
            "IS NULL")


def test_statement_timeout_stops_a_big_read_quickly(door, grid):
    whole = envelope(grid["gt"], 0, 0, grid["width"], grid["height"])  # 8600 x 8600 x 3 at 1 m
    t0 = time.monotonic()
    with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
        run(door, BIG_READ, (whole,), settings={"pgmosaic.max_read_pixels": 1000000000,
                                                "statement_timeout": "200ms"})
    assert time.monotonic() - t0 < 2.0


def test_pg_cancel_backend_stops_a_big_read(door, grid):
    whole = envelope(grid["gt"], 0, 0, grid["width"], grid["height"])
    conn = door.connect()
    with conn.cursor() as cur:
        cur.execute("SET pgmosaic.enable_file_access = on")
        cur.execute("SET pgmosaic.allowed_roots = %s", (ROOT[0],))
        cur.execute("SET pgmosaic.max_read_pixels = 1000000000")
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    outcome = {}

    def work():
        t0 = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(BIG_READ, (whole,))
                outcome["result"] = cur.fetchall()
        except psycopg2.Error as e:
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=work)
    t.start()
    time.sleep(0.3)
    (ok,), = door.query("SELECT pg_cancel_backend(%s)", (pid,))
    t.join(30)
    conn.close()
    assert ok
    assert isinstance(outcome.get("error"), psycopg2.errors.QueryCanceled), outcome
    assert outcome["seconds"] < 0.3 + 2.0, outcome
