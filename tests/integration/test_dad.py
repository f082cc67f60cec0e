"""Mosaic-wide overviews (DAD) built by gdaladdo: pixels, levels built from the level below,
reads that use them, staleness when items change, incremental rebuilds."""

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from osgeo import gdal

import sampledata
from pgraster import Raster


def source_and_root(datadir, name):
    """A directory of source files the server may read, and a managed root it may write."""
    d = os.path.join(datadir, name)
    root = os.path.join(datadir, name + "_root")
    os.makedirs(root)
    os.chmod(root, 0o777)
    os.makedirs(d)
    os.chmod(d, 0o755)
    return d, root


@pytest.fixture(scope="module")
def built(db, datadir):
    """A 2x2 grid of 700-pixel tiles without internal overviews, and a managed root; levels
    1 and 2 built with nearest."""
    d, root = source_and_root(datadir, "dad")
    rng = np.random.default_rng(21)
    paths = []
    for r in range(2):
        for c in range(2):
            data = sampledata.tile_pixels(rng, 3, 700, 700, r * 2 + c)
            paths.append(sampledata.make_cog(os.path.join(d, f"t{r}{c}.tif"), data,
                                             (500000.0 + c * 7000.0, 5000000.0 - r * 7000.0),
                                             10.0, nodata=0, overviews=False))
    db.register("dad", paths, [d])
    db.query("INSERT INTO pgmosaic.path_root VALUES ('dad', %s)", (root,))
    r = subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("dad"), "2", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return db, paths, root


def levels(db):
    return db.query("SELECT level, factor, tiles, stale_tiles FROM "
                    "pgmosaic.overview_levels('dad')")


def test_gdaladdo_registers_levels_of_tiles(built):
    db, _, root = built
    assert levels(db) == [(1, 2, 1, 0), (2, 4, 1, 0)]
    tiles = db.query("SELECT path::text FROM pgmosaic.item WHERE category = 'overview' "
                     "ORDER BY overview_level")
    assert tiles == [("@dad/dad_overviews/L1/r00000_c00000.tif",),
                     ("@dad/dad_overviews/L2/r00000_c00000.tif",)]
    assert os.path.exists(os.path.join(root, "dad_overviews/L1/r00000_c00000.tif"))


def test_level_pixels_match_the_sources_and_the_level_below(built):
    db, paths, _ = built
    ds = gdal.Open(db.mosaic("dad"))
    vrt = gdal.BuildVRT("/vsimem/dad.vrt", paths)
    full = vrt.ReadAsArray()
    ov1 = np.stack([ds.GetRasterBand(b).GetOverview(0).ReadAsArray() for b in (1, 2, 3)])
    # Level 1 by nearest from the sources: the pixel at the centre of each 2x2 block.
    assert np.array_equal(ov1, full[:, 1::2, 1::2])
    # Level 2 from level 1, not from the sources.
    ov2 = np.stack([ds.GetRasterBand(b).GetOverview(1).ReadAsArray() for b in (1, 2, 3)])
    assert np.array_equal(ov2, ov1[:, 1::2, 1::2])
    # gdal_translate -outsize goes through them.
    small = gdal.Translate("/vsimem/dad_small.tif", ds, width=ds.RasterXSize // 2,
                           height=ds.RasterYSize // 2)
    assert np.array_equal(small.ReadAsArray(), ov1)


def test_reads_use_the_tiles_not_the_sources(built, datadir):
    db, paths, _ = built
    hidden = paths[0] + ".hidden"
    os.rename(paths[0], hidden)
    try:
        ds = gdal.Open(db.mosaic("dad"))
        assert ds.GetRasterBand(1).GetOverview(0).ReadAsArray() is not None
        with pytest.raises(RuntimeError, match="cannot open item"):
            ds.ReadRaster(0, 0, 10, 10)  # full resolution needs the source
    finally:
        os.rename(hidden, paths[0])


def test_changed_items_make_only_their_tiles_stale_and_gdaladdo_rebuilds_them(built, datadir):
    db, paths, root = built
    tile1 = os.path.join(root, "dad_overviews/L1/r00000_c00000.tif")
    before = os.stat(tile1).st_mtime_ns
    # A new item on top, in the top-left corner.
    d = os.path.join(datadir, "dad")
    patch = sampledata.make_cog(os.path.join(d, "patch.tif"),
                                np.full((3, 100, 100), 250, dtype="uint8"),
                                (500000.0, 5000000.0), 10.0, nodata=0, overviews=False)
    db.register_into("dad", [patch], [d])
    assert levels(db) == [(1, 2, 1, 1), (2, 4, 1, 1)]
    # Stale tiles are not read: the new item shows through at every level right away.
    ds = gdal.Open(db.mosaic("dad"))
    assert int(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, 10, 10).min()) == 250
    assert int(ds.GetRasterBand(1).GetOverview(1).ReadAsArray(0, 0, 5, 5).min()) == 250
    r = subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("dad"), "2", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert levels(db) == [(1, 2, 1, 0), (2, 4, 1, 0)]
    assert os.stat(tile1).st_mtime_ns != before
    ds = gdal.Open(db.mosaic("dad"))
    assert int(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, 10, 10).min()) == 250
    # Removing and re-pointing items make tiles stale too.
    db.query("SELECT pgmosaic.remove_rasters('dad', ARRAY[%s])", (patch,))
    assert levels(db) == [(1, 2, 1, 1), (2, 4, 1, 1)]
    subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("dad"), "2", "4"], check=True,
                   capture_output=True)
    db.query("SELECT pgmosaic.repair_paths('dad', %s, %s)", (d, d))
    assert levels(db) == [(1, 2, 1, 1), (2, 4, 1, 1)]


def test_sync_makes_the_tiles_over_a_file_changed_in_place_stale(built, datadir):
    """A source rewritten in place (same path, other pixels): sync() re-inspects it and marks
    the overview tiles over it stale, so that zoomed-out reads show its new pixels."""
    db, paths, root = built
    subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("dad"), "2", "4"], check=True,
                   capture_output=True)
    assert levels(db) == [(1, 2, 1, 0), (2, 4, 1, 0)]
    new = np.full((3, 700, 700), 77, dtype="uint8")
    sampledata.make_cog(paths[3] + ".new.tif", new, (507000.0, 4993000.0), 10.0, nodata=0,
                        overviews=False)
    os.replace(paths[3] + ".new.tif", paths[3])
    later = time.time() + 5
    os.utime(paths[3], (later, later))
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s",
                        (os.path.join(datadir, "dad") + "," + root,))
            cur.execute("SELECT path::text, action FROM pgmosaic.sync('dad')")
            assert cur.fetchall() == [(paths[3], "update")]
    finally:
        conn.close()
    assert levels(db) == [(1, 2, 1, 1), (2, 4, 1, 1)]
    ds = gdal.Open(db.mosaic("dad"))
    assert int(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(350, 350, 350, 350).max()) == 77
    ds = None


def test_gdaladdo_clean_removes_the_levels(built):
    db, _, root = built
    subprocess.run(["gdaladdo", "-clean", db.mosaic("dad")], check=True, capture_output=True)
    assert levels(db) == []
    assert not os.path.exists(os.path.join(root, "dad_overviews/L1/r00000_c00000.tif"))


def test_overview_tiles_are_zstd_and_masked_only_where_needed(db, datadir):
    """Without nodata, a fully covered overview tile has no mask (reads take it as opaque); a
    partly covered one has its coverage as an internal mask. COMPRESS_OVERVIEW chooses the
    codec, ZSTD by default."""
    d, root = source_and_root(datadir, "ovrmask")
    rng = np.random.default_rng(5)
    # Two 600-pixel tiles side by side, one more under the first: level 1 (factor 2) is one
    # 600x600 tile, a quarter of it uncovered.
    paths = [sampledata.make_cog(os.path.join(d, f"m{i}.tif"),
                                 sampledata.tile_pixels(rng, 1, 600, 600, i),
                                 (500000.0 + x * 6000.0, 5000000.0 - y * 6000.0), 10.0,
                                 overviews=False)
             for i, (x, y) in enumerate([(0, 0), (1, 0), (0, 1)])]
    db.register("ovrmask", paths, [d])
    db.query("INSERT INTO pgmosaic.path_root VALUES ('ovrmask', %s)", (root,))
    tile = os.path.join(root, "ovrmask_overviews")

    def build(*config):
        subprocess.run(["gdaladdo", "-clean", db.mosaic("ovrmask")], check=True)
        subprocess.run(["gdaladdo", *config, "-r", "nearest", db.mosaic("ovrmask"), "2", "4"],
                       check=True, capture_output=True)

    build()
    partial = gdal.Open(os.path.join(tile, "L1/r00000_c00000.tif"))
    assert partial.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "ZSTD"
    assert partial.GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET
    mask = partial.GetRasterBand(1).GetMaskBand().ReadAsArray()
    assert (mask[:300, :] == 255).all() and (mask[300:, :300] == 255).all()
    assert (mask[300:, 300:] == 0).all()
    partial = None

    # One item alone: every overview pixel is valid, and the tile has no mask.
    db.query("SELECT pgmosaic.remove_rasters('ovrmask', %s)", (paths[1:],))
    build("--config", "COMPRESS_OVERVIEW", "DEFLATE")
    full = gdal.Open(os.path.join(tile, "L1/r00000_c00000.tif"))
    assert full.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "DEFLATE"
    assert full.GetRasterBand(1).GetMaskFlags() == gdal.GMF_ALL_VALID
    source = gdal.Open(paths[0]).ReadAsArray()  # nearest by 2 takes pixel centres 1, 3, ...
    assert np.array_equal(full.ReadAsArray(), source[1::2, 1::2])
    ds = gdal.Open(db.mosaic("ovrmask"))
    assert np.array_equal(ds.GetRasterBand(1).GetOverview(0).ReadAsArray(), source[1::2, 1::2])


def test_gdaladdo_errors_are_clear(built):
    db, _, _ = built
    r = subprocess.run(["gdaladdo", db.mosaic("dad"), "3"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "overview factor 3 is not a power of two" in r.stderr


def test_an_interrupted_build_leaves_no_partial_tile(built):
    """Stopped through the progress callback while a tile is being written: the tile is neither
    registered nor left behind; the next build completes the levels."""
    db, _, root = built
    subprocess.run(["gdaladdo", "-clean", db.mosaic("dad")], check=True, capture_output=True)
    ds = gdal.Open(db.mosaic("dad"))
    calls = []

    def stop(complete, message, data):
        calls.append(complete)
        return 0  # stop after the first tile

    with pytest.raises(RuntimeError, match="interrupted"):
        ds.BuildOverviews("NEAREST", [2, 4], callback=stop)
    ds = None
    assert calls == [0.5]
    assert levels(db) == []
    left = [f for _, _, files in os.walk(root) for f in files if f.endswith(".partial.tif")]
    assert left == []
    subprocess.run(["gdaladdo", "-r", "nearest", db.mosaic("dad"), "2", "4"], check=True,
                   capture_output=True)
    assert [(lv, tiles, stale) for lv, _, tiles, stale in levels(db)] == [(1, 1, 0), (2, 1, 0)]


# --- DRAD tiles, summary, themes ------------------------------------------------------------

@pytest.fixture(scope="module")
def scene(db, datadir):
    """One 1024x1024 RGB COG in 256-pixel tiles: a bright 'cloud' disc, a nodata block (tile
    row 3, column 0 entirely), random ground elsewhere."""
    d = os.path.join(datadir, "drad")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(4)
    a = rng.integers(20, 180, (3, 1024, 1024)).astype("uint8")
    yy, xx = np.mgrid[0:1024, 0:1024]
    cloud = (xx - 600) ** 2 + (yy - 300) ** 2 < 150 ** 2
    a[:, cloud] = 230
    a[:, 768:, 0:256] = 0
    path = sampledata.make_cog(os.path.join(d, "scene.tif"), a, (600000.0, 5100000.0), 2.0,
                               nodata=0)
    db.register("drad", [path], [d])
    return db, path, a, cloud


def envelope(x0, y0, w, h):
    """A polygon over pixels [x0, x0 + w) x [y0, y0 + h) of the scene (2 m pixels)."""
    return (f"SRID=32631;POLYGON(({600000 + 2 * x0} {5100000 - 2 * y0},"
            f"{600000 + 2 * (x0 + w)} {5100000 - 2 * y0},{600000 + 2 * (x0 + w)} "
            f"{5100000 - 2 * (y0 + h)},{600000 + 2 * x0} {5100000 - 2 * (y0 + h)},"
            f"{600000 + 2 * x0} {5100000 - 2 * y0}))")


def test_tiles_answer_a_range_query_with_byte_ranges(scene):
    db, path, _, _ = scene
    rows = db.query("SELECT path, level, pgmosaic.tilekey_zxy(key), byte_offset, byte_length, "
                    "empty "
                    "FROM pgmosaic.tiles('drad', %s::geometry, 0)", (envelope(300, 200, 256, 256),))
    # 256x256 at (300, 200): tiles (1, 0), (2, 0), (1, 1), (2, 1) of the 4x4 grid.
    assert sorted(r[2] for r in rows) == sorted(["2/1/0", "2/2/0", "2/1/1", "2/2/1"])
    assert all(r[0] == path and r[1] == 0 and r[3] > 0 and r[4] > 0 and not r[5] for r in rows)
    # Across the nodata block: tile (0, 3) is empty, its neighbours are not.
    rows = db.query("SELECT pgmosaic.tilekey_zxy(key), empty "
                    "FROM pgmosaic.tiles('drad', %s::geometry, 0)", (envelope(10, 700, 300, 100),))
    assert sorted(rows) == [("2/0/2", False), ("2/0/3", True), ("2/1/2", False),
                            ("2/1/3", False)]
    # The file's overview levels are there too; a tile's key holds the keys under it.
    assert db.query("SELECT count(*) FROM pgmosaic.tile WHERE level > 0")[0][0] > 0
    assert db.query("SELECT count(*), bool_and(p.key OPERATOR(pgmosaic.@>) c.key) "
                    "FROM pgmosaic.tile c JOIN pgmosaic.tile p ON p.item_id = c.item_id "
                    "AND p.level = c.level + 1 "
                    "AND p.key OPERATOR(pgmosaic.=) pgmosaic.tilekey_parent(c.key) "
                    "WHERE c.level = 0") == [(16, True)]


def test_tiles_come_in_mosaic_order_with_resolved_paths(scene, datadir):
    """Two overlapping items, the upper one by a path root: the upper item's tiles first, its
    path resolved; the mosaic's default_sort, when set, orders the items instead."""
    db, path, a, _ = scene
    d = os.path.join(datadir, "drad")
    upper = sampledata.make_cog(os.path.join(d, "upper.tif"), a[:, :512, :512],
                                (600000.0, 5100000.0), 2.0, nodata=0)
    db.query("INSERT INTO pgmosaic.path_root VALUES ('dradroot', %s)", (d,))
    lower_id, upper_id = db.register("drad_order", [path, "@dradroot/upper.tif"], [d],
                                     priorities=[0, 5])
    area = envelope(300, 100, 100, 100)  # tile (1, 0) of both (zoom 1 of the 2x2 upper one)

    def tiles():
        return db.query("SELECT item_id, path, pgmosaic.tilekey_zxy(key) "
                        "FROM pgmosaic.tiles('drad_order', %s::geometry, 0)", (area,))

    assert tiles() == [(upper_id, upper, "1/1/0"), (lower_id, path, "2/1/0")]
    db.query("UPDATE pgmosaic.mosaic SET default_sort = 'priority' WHERE name = 'drad_order'")
    assert tiles() == [(lower_id, path, "2/1/0"), (upper_id, upper, "1/1/0")]


def test_summary_reads_pixels_only_along_the_edge(scene, datadir):
    db, _, a, _ = scene
    area = envelope(100, 100, 600, 500)  # whole tiles inside, partial ones around
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SET pgmosaic.enable_file_access = on")
        cur.execute("SET pgmosaic.allowed_roots = %s", (os.path.join(datadir, "drad"),))
        cur.execute("SELECT * FROM pgmosaic.summary('drad', %s::geometry, 2)", (area,))
        fast = cur.fetchone()
        cur.execute("SELECT * FROM pgmosaic.summary('drad', %s::geometry, 2, true)", (area,))
        exact = cur.fetchone()
    conn.close()
    band = a[1, 100:600, 100:700].astype("float64")
    valid = band[band != 0]
    assert fast[:3] == exact[:3] == (valid.size, valid.min(), valid.max())
    assert abs(fast[3] - valid.mean()) < 1e-9 and abs(exact[3] - valid.mean()) < 1e-9
    assert fast[4] > 0 and exact[4] == 0  # tiles used


def test_theme_rule_polygons_and_area(scene, datadir, tmp_path):
    db, path, a, cloud = scene
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SET pgmosaic.enable_file_access = on")
        cur.execute("SET pgmosaic.allowed_roots = %s", (os.path.join(datadir, "drad"),))
        cur.execute("SELECT pgmosaic.add_theme_rule('drad', 'cloud', 'b1 > 200 and b2 > 200')")
        assert cur.fetchone()[0] == 1
    conn.close()
    area = db.query("SELECT pgmosaic.theme_area('drad', 'cloud')")[0][0]
    assert area == cloud.sum() * 4.0  # 2 m pixels
    polys = db.query("SELECT count(*), sum(pixels) FROM pgmosaic.theme_polygons('drad', 'cloud')")
    assert (polys[0][0], int(polys[0][1])) == (1, int(cloud.sum()))
    # A raster loaded later through ogr2ogr gets the rule's polygons, computed client-side.
    d = os.path.join(datadir, "drad")
    other = sampledata.make_cog(os.path.join(d, "later.tif"), np.where(cloud, 230, 50).astype(
        "uint8")[None].repeat(3, 0), (602048.0, 5100000.0), 2.0, nodata=0)
    csv = tmp_path / "later.csv"
    csv.write_text(f"path,kind\n{other},later\n")
    subprocess.run(["ogr2ogr", "-update", f"PGMOSAIC:{db.conninfo} mosaic=drad", str(csv),
                    "-nln", "items"], check=True, capture_output=True)
    assert db.query("SELECT pgmosaic.theme_area('drad', 'cloud')")[0][0] == 2 * area
    with pytest.raises(Exception, match="invalid expression"):
        db.query("SELECT pgmosaic.add_theme_rule('drad', 'bad', 'b1 >', false)")
    with pytest.raises(Exception, match="uses b7 but mosaic"):
        db.query("SELECT pgmosaic.add_theme_rule('drad', 'bad', 'b7 > 1', false)")


def test_themes_layer_loads_and_lists_polygons_with_ogr2ogr(scene, tmp_path):
    db, _, _, _ = scene
    # A cloud mask delivered with a product, in WGS 84: ogr2ogr loads it into the themes layer.
    geojson = tmp_path / "clouds.geojson"
    geojson.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                       '"properties": {"theme": "delivered_cloud", "class": "thick", '
                       '"source": "L2A"}, "geometry": {"type": "Polygon", "coordinates": '
                       '[[[4.29, 46.02], [4.30, 46.02], [4.30, 46.03], [4.29, 46.03], '
                       '[4.29, 46.02]]]}}]}')
    r = subprocess.run(["ogr2ogr", "-update", f"PGMOSAIC:{db.conninfo} mosaic=drad",
                        str(geojson), "-nln", "themes"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = db.query("SELECT class, attributes, ST_SRID(polygon), round(area) "
                    "FROM pgmosaic.theme WHERE theme = 'delivered_cloud'")
    assert rows[0][:3] == ("thick", {"source": "L2A"}, 32631)
    assert 700000 < rows[0][3] < 1000000  # about 780 m x 1110 m
    assert db.query("SELECT round(pgmosaic.theme_area('drad', 'delivered_cloud'))") == \
        [(rows[0][3],)]
    # Listed back, with the rule-derived themes.
    ds = gdal.OpenEx(f"PGMOSAIC:{db.conninfo} mosaic=drad", gdal.OF_VECTOR)
    layer = ds.GetLayerByName("themes")
    themes = sorted({f["theme"] for f in layer})
    assert themes == ["cloud", "delivered_cloud"]
    r = subprocess.run(["ogr2ogr", "-update", f"PGMOSAIC:{db.conninfo} mosaic=drad",
                        str(geojson), "-nln", "boundary"], capture_output=True, text=True)
    assert r.returncode != 0 and 'polygons through "themes"' in r.stderr


def test_reads_fill_empty_blocks_without_reading_them(db, datadir):
    """A block the DRAD records as empty (no valid pixel) is filled with nodata, never read:
    with its bytes in the file destroyed, the mosaic still reads the right pixels, while GDAL
    (and the driver told to decode through GDAL) fail on them. Once the file no longer has the
    block's bytes where the DRAD recorded them, the block is read."""
    d = os.path.join(datadir, "skipempty")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(8)
    a = rng.integers(1, 255, (3, 512, 512)).astype("uint8")
    a[:, 0:256, 256:512] = 0  # block (column 1, row 0): nodata only
    path = sampledata.make_cog(os.path.join(d, "s.tif"), a, (700000.0, 5100000.0), 2.0,
                               nodata=0, overviews=False)
    db.register("skipempty", [path], [d])
    rows = db.query("SELECT pgmosaic.tilekey_zxy(key), byte_offset, byte_length FROM "
                    "pgmosaic.tiles('skipempty', ST_MakeEnvelope(700000, 5098976, 701024, "
                    "5100000, 32631), 0) WHERE empty")
    assert len(rows) == 1 and rows[0][0].endswith("/1/0"), rows
    _, offset, length = rows[0]

    def read(direct="YES"):
        gdal.SetConfigOption("PGMOSAIC_DIRECT_DECODE", direct)
        try:
            gdal.SetCacheMax(0)
            gdal.SetCacheMax(256 << 20)
            ds = gdal.Open(db.mosaic("skipempty"))
            return ds.ReadAsArray()
        finally:
            gdal.SetConfigOption("PGMOSAIC_DIRECT_DECODE", None)

    assert np.array_equal(read(), a)
    # The bytes destroyed behind the catalog's back, size and mtime kept (a file that changed
    # visibly fails the read naming the item: test_silent_results.py).
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * length)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(RuntimeError):
        gdal.Open(path).ReadAsArray()
    assert np.array_equal(read(), a)
    with pytest.raises(RuntimeError):
        read("NO")
    # The SQL door finds the empty block too (its own query of the DRAD, from the backend).
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
            cur.execute("SELECT ST_AsBinary(pgmosaic.read('skipempty', ST_MakeEnvelope(700000, "
                        "5098976, 701024, 5100000, 32631)))")
            got = Raster(bytes(cur.fetchone()[0]))
    finally:
        conn.close()
    assert np.array_equal(got.array, a)

    # The file rewritten with pixels in that block, not registered again: the DRAD is out of
    # date, the block's bytes are no longer where it says, and the read decodes them.
    b = a.copy()
    b[:, 0:256, 256:512] = 99
    os.remove(path)
    sampledata.make_cog(path, b, (700000.0, 5100000.0), 2.0, nodata=0, overviews=False)
    with pytest.raises(RuntimeError, match=r"s\.tif\) changed since it was registered"):
        read()
    # Even with the catalog's size and mtime made to match (a stat-only update), the block's
    # recorded bytes are not where the header says: it is decoded, not filled.
    st = os.stat(path)
    db.query("UPDATE pgmosaic.item SET file_size = %s, file_mtime = to_timestamp(%s) "
             "WHERE path::text = %s", (st.st_size, int(st.st_mtime), path))
    assert np.array_equal(read(), b)
