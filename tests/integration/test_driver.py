"""The driver's composition features through the real plugin: mixed SRS against gdalwarp,
compositing methods against values computed here, masks and alpha, bands=, missing files,
overview levels, and real clients (gdalwarp, MapServer)."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from osgeo import gdal

import sampledata

RES = 10.0
ORIGIN = (500000.0, 5000000.0)


def cog(d, name, array, col, row, nodata=None, epsg=32631, origin=ORIGIN, res=RES,
        **kwargs):
    """A COG whose corner is mosaic pixel (col, row) of the 10 m grid."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return sampledata.make_cog(os.path.join(d, name), array,
                               (origin[0] + col * res, origin[1] - row * res), res,
                               epsg=epsg, nodata=nodata, **kwargs)


# --- compositing methods --------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(db, datadir):
    """Three overlapping one-band UInt16 items with nodata holes: a (top) .. c (bottom)."""
    d = os.path.join(datadir, "stack")
    rng = np.random.default_rng(3)
    arrays = []
    paths = []
    for k, (col, row) in enumerate([(0, 0), (30, 20), (60, 10)]):
        a = rng.integers(1, 1000, size=(1, 80, 90)).astype("uint16")
        a[0, rng.random((80, 90)) < 0.2] = 0  # holes
        arrays.append((a[0], col, row))
        paths.append(cog(d, f"s{k}.tif", a, col, row, nodata=0))
    # Registered bottom first, so a is on top.
    db.register("stack", list(reversed(paths)), [d])
    ds = gdal.Open(db.mosaic("stack"))
    W, H = ds.RasterXSize, ds.RasterYSize
    layers = []  # top first: values placed on the mosaic grid, NaN where invalid
    for a, col, row in arrays:
        full = np.full((H, W), np.nan)
        full[row:row + a.shape[0], col:col + a.shape[1]] = np.where(a == 0, np.nan, a)
        layers.append(full)
    return db, np.array(layers)


def expected(layers, method):
    valid = ~np.isnan(layers)
    count = valid.sum(axis=0)
    if method == "count":
        return count
    if method in ("first", "last"):
        order = layers if method == "first" else layers[::-1]
        out = np.full(layers.shape[1:], np.nan)
        for layer in order[::-1]:  # paint bottom-up
            out = np.where(np.isnan(layer), out, layer)
    elif method == "min":
        out = np.nanmin(np.where(valid, layers, np.inf), axis=0)
    elif method == "max":
        out = np.nanmax(np.where(valid, layers, -np.inf), axis=0)
    elif method == "sum":
        out = np.nansum(layers, axis=0)
    elif method == "mean":
        out = np.floor(np.nansum(layers, axis=0) / np.maximum(count, 1) + 0.5)
    return np.where(count == 0, 0, out)


@pytest.mark.parametrize("method", ["first", "last", "min", "max", "mean", "sum", "count"])
def test_compositing_method_matches_numpy(stack, method):
    db, layers = stack
    ds = gdal.Open(db.mosaic("stack") + f" method={method}")
    assert ds.GetMetadataItem("COMPOSITING_METHOD") == method
    got = ds.GetRasterBand(1).ReadAsArray().astype("float64")
    assert np.array_equal(got, expected(layers, method))


def test_method_as_open_option_and_types(stack):
    db, layers = stack
    ds = gdal.OpenEx(db.mosaic("stack"), gdal.OF_RASTER, open_options=["METHOD=count"])
    assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
    assert ds.GetRasterBand(1).GetNoDataValue() is None
    assert gdal.Open(db.mosaic("stack") + " method=sum").GetRasterBand(1).DataType == \
        gdal.GDT_Float64


def test_threads_do_not_change_pixels(stack):
    db, _ = stack
    one = gdal.Open(db.mosaic("stack") + " num_threads=1").ReadRaster()
    many = gdal.Open(db.mosaic("stack") + " num_threads=4").ReadRaster()
    assert one == many


# --- mixed SRS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed(db, datadir):
    """Tiles in UTM 31N (the mosaic SRS) and one in UTM 32N across the zone border, on top."""
    d = os.path.join(datadir, "mixed")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(11)
    # 6 deg E is the zone border: x = 735000 in 31N near 45 N is just east of it.
    west = [cog(d, f"w{k}.tif", sampledata.tile_pixels(rng, 3, 400, 400, k), k * 400, 0,
                nodata=0, origin=(731000.0, 5000000.0)) for k in range(2)]
    east = sampledata.tile_pixels(rng, 3, 300, 300, 9)
    east[:, :30, :] = 0
    # In UTM 32N, with a 7 m pixel so the grid differs in SRS, size and phase.
    east_path = sampledata.make_cog(os.path.join(d, "east32n.tif"), east,
                                    (262000.0, 4999000.0), 7.0, epsg=32632, nodata=0)
    paths = west + [east_path]
    db.register("mixed", paths, [d])
    return db.mosaic("mixed"), paths


def east_columns(name, paths):
    """The mosaic columns the 32N tile covers, from its corners reprojected to 31N."""
    from osgeo import osr
    src = gdal.Open(paths[-1])
    g = src.GetGeoTransform()
    s, t = osr.SpatialReference(), osr.SpatialReference()
    s.ImportFromEPSG(32632)
    t.ImportFromEPSG(32631)
    for sr in (s, t):
        sr.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(s, t)
    xs = [ct.TransformPoint(g[0] + c * g[1], g[3] + r * g[5])[0]
          for c in (0, src.RasterXSize) for r in (0, src.RasterYSize)]
    mg = gdal.Open(name).GetGeoTransform()
    return int((min(xs) - mg[0]) // mg[1]), int((max(xs) - mg[0]) // mg[1]) + 1


def test_mixed_srs_nearest_equals_gdalwarp(mixed, tmp_path):
    name, paths = mixed
    ds = gdal.Open(name)
    gt = ds.GetGeoTransform()
    te = [gt[0], gt[3] + ds.RasterYSize * gt[5], gt[0] + ds.RasterXSize * gt[1], gt[3]]
    ref = str(tmp_path / "ref.tif")
    # Later files are drawn on top, as the mosaic's later registrations; exact transforms.
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32631", "-tr", "10", "10",
                    "-te", *map(str, te), "-r", "near", "-et", "0", "-dstnodata", "0",
                    *paths, ref], check=True)
    want = gdal.Open(ref).ReadAsArray()
    got = ds.ReadAsArray()
    assert got.shape == want.shape
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} pixels differ"
    # The 32N item really landed on top: its columns differ from the 31N tiles alone.
    west = str(tmp_path / "west.tif")
    subprocess.run(["gdalwarp", "-q", "-tr", "10", "10", "-te", *map(str, te), "-r", "near",
                    "-dstnodata", "0", *paths[:-1], west], check=True)
    c0, c1 = east_columns(name, paths)
    diff = got[:, :, c0:c1] != gdal.Open(west).ReadAsArray()[:, :, c0:c1]
    assert np.count_nonzero(diff) > 0.3 * diff.size


def test_mixed_srs_other_resampling_is_used(mixed):
    name, paths = mixed
    near = gdal.Open(name).ReadAsArray()
    bil = gdal.Open(name + " resampling=bilinear")
    assert bil.GetMetadataItem("RESAMPLING") == "bilinear"
    b = bil.ReadAsArray()
    # The on-grid tiles read the same; the warped 32N tile differs with another kernel.
    c0, c1 = east_columns(name, paths)
    differs = np.nonzero((b != near).any(axis=(0, 1)))[0]
    assert len(differs) > 100
    assert differs.min() >= c0 - 1 and differs.max() <= c1


def test_gdalwarp_of_the_mosaic_to_another_srs(mixed, tmp_path):
    name, paths = mixed
    out = str(tmp_path / "wgs84.tif")
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:4326", name, out], check=True)
    o = gdal.Open(out)
    assert o.GetSpatialRef().GetAuthorityCode(None) == "4326"
    assert o.ReadAsArray().max() > 0


# --- masks, alpha, coverage -----------------------------------------------------------------

def test_internal_mask_and_coverage_mask(db, datadir):
    d = os.path.join(datadir, "masked")
    low = np.full((3, 50, 50), 40, dtype="uint8")
    bottom = cog(d, "bottom.tif", low, 0, 0)
    # The top item has no nodata but an internal mask hiding its left half.
    mem = gdal.GetDriverByName("MEM").Create("", 50, 50, 3, gdal.GDT_Byte)
    mem.SetGeoTransform((ORIGIN[0] + 20 * RES, RES, 0, ORIGIN[1], 0, -RES))
    mem.SetProjection(gdal.Open(bottom).GetProjection())
    for b in range(1, 4):
        mem.GetRasterBand(b).Fill(200)
    mem.CreateMaskBand(gdal.GMF_PER_DATASET)
    mask = np.zeros((50, 50), dtype="uint8")
    mask[:, 25:] = 255
    mem.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    top = os.path.join(d, "top.tif")
    gdal.GetDriverByName("GTiff").CreateCopy(top, mem)
    os.chmod(top, 0o644)
    db.register("masked", [bottom, top], [d])
    ds = gdal.Open(db.mosaic("masked"))
    a = ds.GetRasterBand(1).ReadAsArray()
    assert (ds.RasterXSize, ds.RasterYSize) == (70, 50)
    assert (a[:, :45] == 40).all()         # the masked half of top shows bottom
    assert (a[:, 45:] == 200).all()
    # No nodata in this mosaic: a coverage mask says where no item is.
    band = ds.GetRasterBand(1)
    assert band.GetNoDataValue() is None
    assert band.GetMaskFlags() == gdal.GMF_PER_DATASET
    m = band.GetMaskBand().ReadAsArray()
    assert (m[:, :70] == 255).all()
    assert ds.GetRasterBand(1).GetOverviewCount() == 0  # too small for overview levels


def test_alpha_band_lets_lower_items_show_through(db, datadir):
    d = os.path.join(datadir, "alpha")
    low = np.full((4, 40, 40), 60, dtype="uint8")
    low[3] = 255
    high = np.full((4, 40, 40), 220, dtype="uint8")
    high[3] = 255
    high[3, :20, :] = 0  # transparent upper half
    paths = []
    for name, arr in (("low.tif", low), ("high.tif", high)):
        mem = gdal.GetDriverByName("MEM").Create("", 40, 40, 4, gdal.GDT_Byte)
        mem.SetGeoTransform((ORIGIN[0], RES, 0, ORIGIN[1], 0, -RES))
        mem.SetProjection(gdal.Open(os.path.join(datadir, "masked", "bottom.tif"))
                          .GetProjection())
        for b in range(4):
            mem.GetRasterBand(b + 1).WriteArray(arr[b])
        mem.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        p = os.path.join(d, name)
        gdal.GetDriverByName("GTiff").CreateCopy(p, mem, options=["ALPHA=YES"])
        os.chmod(p, 0o644)
        paths.append(p)
    db.register("alpha", paths, [d])
    a = gdal.Open(db.mosaic("alpha")).ReadAsArray()
    assert (a[0, :20] == 60).all() and (a[0, 20:] == 220).all()
    assert (a[3] == 255).all()  # the transparent part did not punch through the alpha


# --- bands= -----------------------------------------------------------------------------

def test_band_selection_and_order(stack, mixed):
    name, paths = mixed
    full = gdal.Open(name).ReadAsArray()
    ds = gdal.Open(name + " bands=3,2,1")
    assert ds.RasterCount == 3
    assert np.array_equal(ds.ReadAsArray(), full[::-1])
    one = gdal.OpenEx(name, gdal.OF_RASTER, open_options=["BANDS=2"])
    assert one.RasterCount == 1
    assert one.GetRasterBand(1).GetColorInterpretation() == gdal.GCI_GrayIndex
    assert np.array_equal(one.ReadAsArray(), full[1])
    with pytest.raises(RuntimeError, match=r'invalid bands "4,1": expected a comma-separated'):
        gdal.Open(name + " bands=4,1")


# --- missing files ----------------------------------------------------------------------

def test_missing_file_fails_by_default_and_is_skipped_when_asked(db, datadir):
    d = os.path.join(datadir, "missing")
    rng = np.random.default_rng(5)
    below = cog(d, "below.tif", np.full((1, 30, 30), 7, dtype="uint8"), 0, 0, nodata=0)
    above = cog(d, "above.tif", rng.integers(1, 255, (1, 30, 30)).astype("uint8"), 0, 0,
                nodata=0)
    ids = db.register("missing", [below, above], [d])
    os.remove(above)
    with pytest.raises(RuntimeError, match=rf"cannot open item {ids[1]} \({above}\)"):
        gdal.Open(db.mosaic("missing")).ReadRaster()
    messages = []
    gdal.PushErrorHandler(lambda cls, num, msg: messages.append((cls, msg)))
    try:
        ds = gdal.Open(db.mosaic("missing") + " missing=skip")
        a = ds.ReadAsArray()
        ds.ReadAsArray(0, 0, 10, 10)
    finally:
        gdal.PopErrorHandler()
    assert (a == 7).all()
    # One warning for the item, however many reads touch it.
    assert [m for c, m in messages if c == gdal.CE_Warning] == [
        f"PGMOSAIC: skipping item {ids[1]}: cannot open item {ids[1]} ({above}): "
        f"raster file not found: {above}"]


# --- overview levels --------------------------------------------------------------------

def test_overview_levels_read_the_sources_overviews(db, datadir):
    d = os.path.join(datadir, "ovr")
    rng = np.random.default_rng(8)
    data = rng.integers(1, 255, (1, 1024, 1024)).astype("uint8")
    src = cog(d, "big.tif", data, 0, 0, nodata=0)
    db.register("ovr", [src], [d])
    ds = gdal.Open(db.mosaic("ovr"))
    band = ds.GetRasterBand(1)
    assert band.GetOverviewCount() == 2  # 512 and 256
    assert [(band.GetOverview(i).XSize, band.GetOverview(i).YSize) for i in range(2)] == \
        [(512, 512), (256, 256)]
    sds = gdal.Open(src)  # kept open: GDAL 3.6's bindings close it under a band of a temporary
    s = sds.GetRasterBand(1)
    # The COG's own overviews are not a nearest subsample of full resolution; equality with
    # them proves a zoomed-out read decodes the overview, not the full-resolution pixels.
    for i in range(2):
        mine = band.GetOverview(i).ReadAsArray()
        theirs = s.GetOverview(i).ReadAsArray()
        assert np.array_equal(mine, theirs)
        assert not np.array_equal(mine, data[0, ::2 ** (i + 1), ::2 ** (i + 1)])
    assert ds.GetRasterBand(1).GetOverview(0).GetDataset().GetGeoTransform()[1] == 2 * RES
    # gdal_translate -outsize goes through the same path.
    small = gdal.Translate("/vsimem/ovr_small.tif", ds, width=256, height=256)
    assert np.array_equal(small.ReadAsArray(), s.GetOverview(1).ReadAsArray())
    gdal.Unlink("/vsimem/ovr_small.tif")


# --- MapServer --------------------------------------------------------------------------

MAPSERV = "/usr/lib/cgi-bin/mapserv"


@pytest.mark.skipif(not os.path.exists(MAPSERV), reason="cgi-mapserver is not installed")
def test_mapserver_wms_getmap(mixed, tmp_path):
    name, _ = mixed
    ds = gdal.Open(name)
    gt = ds.GetGeoTransform()
    mapfile = tmp_path / "pgmosaic.map"
    mapfile.write_text(f"""MAP
  NAME "pgmosaic"
  EXTENT {gt[0]} {gt[3] + ds.RasterYSize * gt[5]} {gt[0] + ds.RasterXSize * gt[1]} {gt[3]}
  SIZE 256 256
  PROJECTION "init=epsg:32631" END
  WEB METADATA "wms_title" "pgmosaic" "wms_srs" "EPSG:32631" "wms_enable_request" "*" END END
  LAYER
    NAME "mosaic"
    TYPE RASTER
    STATUS ON
    DATA "{name}"
    PROJECTION "init=epsg:32631" END
    PROCESSING "RESAMPLE=NEAREST"
  END
END
""")
    conf = tmp_path / "mapserver.conf"
    conf.write_text(f"""CONFIG
  ENV
    MS_MAP_PATTERN "^{tmp_path}/"
    GDAL_DRIVER_PATH "{os.environ.get('GDAL_DRIVER_PATH', '')}"
  END
END
""")
    # A 256x256 map at the mosaic's own resolution, on its grid: pixels are the mosaic's.
    x0, y1 = gt[0] + 100 * RES, gt[3] - 50 * RES
    bbox = f"{x0},{y1 - 256 * RES},{x0 + 256 * RES},{y1}"
    query = (f"map={mapfile}&SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=mosaic&STYLES="
             f"&CRS=EPSG:32631&BBOX={bbox}&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    env = dict(os.environ, MAPSERVER_CONFIG_FILE=str(conf))
    out = subprocess.run([MAPSERV, "-nh", f"QUERY_STRING={query}"], capture_output=True,
                         env=env, check=True).stdout
    assert out.startswith(b"\x89PNG"), out[:300]
    png = tmp_path / "getmap.png"
    png.write_bytes(out)
    got = gdal.Open(str(png)).ReadAsArray()
    want = ds.ReadAsArray(100, 50, 256, 256)
    assert got.shape == (3, 256, 256)
    assert np.array_equal(got, want)


# --- prefetch (zoom and pan) --------------------------------------------------------------

def test_prefetch_serves_a_panning_client_from_memory(db, datadir):
    import time
    d = os.path.join(datadir, "pan")
    tiles = sampledata.make_tile_grid(d, 3, 3, 700, overlap=10, nodata_every=2)
    db.register("pan", tiles, [d])
    plain = gdal.Open(db.mosaic("pan"))
    ds = gdal.Open(db.mosaic("pan") + " prefetch=neighbors")
    assert ds.GetMetadataItem("PREFETCH") == "neighbors"
    first = ds.ReadRaster(512, 512, 512, 512)
    assert first == plain.ReadRaster(512, 512, 512, 512)
    counter = lambda name: int(ds.GetMetadataItem(name, "PGMOSAIC"))
    assert counter("PREFETCH_MISSES") == 1  # tile (1, 1) composed for the read
    # The worker composes the 8 tiles around it; then a pan into them is served from memory.
    deadline = time.time() + 30
    while counter("PREFETCHED") < 8 and time.time() < deadline:
        time.sleep(0.1)
    assert counter("PREFETCHED") >= 8
    hits, misses = counter("PREFETCH_HITS"), counter("PREFETCH_MISSES")
    panned = ds.ReadRaster(1100, 1000, 300, 200)  # in tiles (2, 1) and (2, 2)
    assert counter("PREFETCH_MISSES") == misses
    assert counter("PREFETCH_HITS") > hits
    assert panned == plain.ReadRaster(1100, 1000, 300, 200)
    # A zoomed-out read on the 1:2 grid goes through the tiles of that level, same pixels.
    assert ds.ReadRaster(0, 0, 1024, 1024, 512, 512) == plain.ReadRaster(0, 0, 1024, 1024, 512, 512)
    with pytest.raises(RuntimeError, match='invalid prefetch "all"'):
        gdal.Open(db.mosaic("pan") + " prefetch=all")


# --- which items and in what order: where=, time=, sort=, ids= -----------------------------

@pytest.fixture(scope="module")
def scenes(db, datadir):
    """Three one-band scenes over the same 40x20 area with their own value, acquisition date
    and cloud cover; plus a fourth, on the right half only, registered last."""
    d = os.path.join(datadir, "scenes")
    specs = [("a", 10, "2020-01-15", 80), ("b", 20, "2020-05-01", 5), ("c", 30, "2020-09-10", 40)]
    paths = []
    for name, value, _, _ in specs:
        a = np.full((1, 20, 40), value, dtype="uint8")
        mem = gdal.GetDriverByName("MEM").Create("", 40, 20, 1, gdal.GDT_Byte)
        paths.append(cog(d, f"{name}.tif", a, 0, 0, nodata=0))
    paths.append(cog(d, "right.tif", np.full((1, 20, 20), 40, dtype="uint8"), 20, 0, nodata=0))
    ids = db.register("scenes", paths, [d])
    for (name, _, date, cloud), item in zip(specs, ids):
        db.query("UPDATE pgmosaic.item SET acquired = tstzrange(%s, %s, '[]'), cloud_cover = %s "
                 "WHERE id = %s", (date, date, cloud, item))
    return db, ids


def pixel(ds, x=5, y=5):
    return int(ds.ReadAsArray(x, y, 1, 1)[0, 0])


def test_where_time_sort_and_ids_choose_the_items(scenes):
    db, ids = scenes
    m = db.mosaic("scenes")
    assert pixel(gdal.Open(m)) == 30                           # mosaic order: last registered
    assert pixel(gdal.Open(m + " where='cloud_cover < 50'")) == 30
    assert pixel(gdal.Open(m + " where='cloud_cover < 20'")) == 20
    assert pixel(gdal.Open(m + " time=2020-01-01/2020-06-30")) == 20
    assert pixel(gdal.Open(m + " time=/2020-02-01")) == 10
    assert pixel(gdal.Open(m + " sort=oldest")) == 10
    assert pixel(gdal.Open(m + " sort=newest")) == 30
    assert pixel(gdal.Open(m + " sort=closest:2020-04-20")) == 20
    assert pixel(gdal.Open(m + " sort='cloud_cover desc'")) == 10
    assert pixel(gdal.Open(m + f" ids={ids[0]},{ids[1]}")) == 20
    ds = gdal.OpenEx(m, gdal.OF_RASTER, open_options=[f"IDS={ids[0]}"])
    assert pixel(ds) == 10
    # The right-only scene has no date: newest puts it last, so the left scenes win there too.
    assert pixel(gdal.Open(m + " sort=newest"), 30) == 30


def test_sort_center_puts_the_item_nearest_the_window_centre_on_top(scenes):
    db, _ = scenes
    ds = gdal.Open(db.mosaic("scenes") + " sort=center")
    # A window on the right half: the right-only scene's centre is nearest.
    assert int(ds.ReadAsArray(25, 5, 10, 10).max()) == 40
    # A window on the left half: the full scenes' centres (20, 10) are nearer than (30, 10).
    assert int(ds.ReadAsArray(2, 2, 10, 10).max()) in (10, 20, 30)
    assert int(ds.ReadAsArray(2, 2, 10, 10).min()) != 40


def test_arcgis_orders_north_west_viewpoint_and_attribute_distance(scenes):
    db, ids = scenes
    m = db.mosaic("scenes")
    # At (25, 5) all four overlap; mosaic order puts the right-only scene (registered last) on top.
    assert pixel(gdal.Open(m), 25) == 40
    # North-west: the full scenes' centres are nearer the mosaic's top-left corner; among them
    # the mosaic order (the last registered, c) breaks the tie.
    assert pixel(gdal.Open(m + " sort=northwest"), 25) == 30
    # A viewpoint near the right edge: the right-only scene's centre is nearest.
    gt = gdal.Open(m).GetGeoTransform()
    x, y = gt[0] + 38 * gt[1], gt[3] + 10 * gt[5]
    assert pixel(gdal.Open(m + f" sort=viewpoint:{x},{y}"), 25) == 40
    x0 = gt[0] + 1 * gt[1]
    assert pixel(gdal.Open(m + f" sort=viewpoint:{x0},{y}"), 25) == 30
    # By attribute distance: a column, or a numeric attribute (closest to nadir); items without
    # it (or with a value that is not a number) go last.
    assert pixel(gdal.Open(m + " sort=closest:cloud_cover=0"), 25) == 20
    assert pixel(gdal.Open(m + " sort=closest:cloud_cover=45"), 25) == 30
    before = db.query("SELECT id, attributes::text FROM pgmosaic.item WHERE id = ANY(%s)",
                      (ids,))
    try:
        for item, nadir in zip(ids, ['"3.5"', '12', '"n/a"']):
            db.query("UPDATE pgmosaic.item SET attributes = jsonb_build_object('view:off_nadir', "
                     "%s::jsonb) WHERE id = %s", (nadir, item))
        assert pixel(gdal.Open(m + " sort=closest:view:off_nadir=0"), 25) == 10
        assert pixel(gdal.Open(m + " sort=closest:view:off_nadir=11"), 25) == 20
    finally:
        for item, attributes in before:
            db.query("UPDATE pgmosaic.item SET attributes = %s::jsonb WHERE id = %s",
                     (attributes, item))
    for bad, problem in [("viewpoint:1", "2 comma-separated numbers"),
                         ("closest:cloud_cover=x", "expected a number"),
                         ("closest:a'b=1", "closest:<column or attribute>=<number>")]:
        with pytest.raises(RuntimeError, match=problem):
            gdal.OpenEx(m, gdal.OF_RASTER, open_options=[f"SORT={bad}"])


def test_an_item_is_drawn_only_up_to_its_max_pixel_size(scenes):
    db, ids = scenes
    m = db.mosaic("scenes")
    res = gdal.Open(m).GetGeoTransform()[1]
    db.query("UPDATE pgmosaic.item SET max_pixel_size = %s WHERE id = %s", (1.5 * res, ids[3]))
    try:
        ds = gdal.Open(m)
        # At full resolution the right-only scene (registered last) is on top ...
        assert int(ds.ReadAsArray(20, 0, 20, 20)[4, 4]) == 40
        # ... at half resolution (pixels of 2 x res) it is left out: the scenes under it show.
        half = ds.ReadAsArray(20, 0, 20, 20, buf_xsize=10, buf_ysize=10)
        assert set(np.unique(half).tolist()) == {30}
        assert int(ds.ReadAsArray(20, 0, 20, 20, buf_xsize=15, buf_ysize=15)[3, 3]) == 40
    finally:
        db.query("UPDATE pgmosaic.item SET max_pixel_size = NULL WHERE id = %s", (ids[3],))


def test_bad_query_options_fail_at_open_with_their_problem(scenes):
    db, _ = scenes
    m = db.mosaic("scenes")
    with pytest.raises(RuntimeError, match="filter"):
        gdal.Open(m + " where='true; drop table x'")
    with pytest.raises(RuntimeError, match="no_such_column"):
        gdal.Open(m + " where='no_such_column > 1'")
    with pytest.raises(RuntimeError, match='invalid time "2020"'):
        gdal.Open(m + " time=2020")
    with pytest.raises(RuntimeError, match='invalid ids "1;2"'):
        gdal.Open(m + " ids='1;2'")


def test_statistics_metadata_come_from_the_catalog(stack):
    db, layers = stack
    ds = gdal.Open(db.mosaic("stack"))
    band = ds.GetRasterBand(1)
    values = layers[~np.isnan(layers)]
    assert float(band.GetMetadataItem("STATISTICS_MINIMUM")) == values.min()
    assert float(band.GetMetadataItem("STATISTICS_MAXIMUM")) == values.max()
    # Pooled over items (overlaps counted once per item).
    assert abs(float(band.GetMetadataItem("STATISTICS_MEAN")) - values.mean()) < 1e-6
    assert abs(float(band.GetMetadataItem("STATISTICS_STDDEV")) - values.std()) < 1e-6
    assert band.GetMetadataItem("STATISTICS_APPROXIMATE") == "YES"
    # GetStatistics answers from them without reading pixels.
    assert band.GetStatistics(True, False)[0] == values.min()


def test_band_descriptions_and_colour_interpretation_come_from_the_catalog(db, datadir):
    d = os.path.join(datadir, "described")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    mem = gdal.GetDriverByName("MEM").Create("", 10, 10, 4, gdal.GDT_UInt16)
    mem.SetGeoTransform((ORIGIN[0], RES, 0, ORIGIN[1], 0, -RES))
    mem.SetProjection(gdal.Open(os.path.join(datadir, "masked", "bottom.tif")).GetProjection()
                      if os.path.exists(os.path.join(datadir, "masked", "bottom.tif")) else
                      'EPSG:32631')
    for b, (desc, ci) in enumerate([("blue", gdal.GCI_BlueBand), ("green", gdal.GCI_GreenBand),
                                     ("red", gdal.GCI_RedBand), ("nir", gdal.GCI_Undefined)]):
        mem.GetRasterBand(b + 1).SetDescription(desc)
        mem.GetRasterBand(b + 1).SetColorInterpretation(ci)
        mem.GetRasterBand(b + 1).Fill(100 * (b + 1))
    path = os.path.join(d, "bgrn.tif")
    gdal.GetDriverByName("GTiff").CreateCopy(path, mem)
    os.chmod(path, 0o644)
    db.register("described", [path], [d])
    ds = gdal.Open(db.mosaic("described"))
    assert [ds.GetRasterBand(b).GetDescription() for b in range(1, 5)] == \
        ["blue", "green", "red", "nir"]
    assert ds.GetRasterBand(3).GetColorInterpretation() == gdal.GCI_RedBand
    fc = gdal.Open(db.mosaic("described") + " bands=4,3,2")  # a false-colour composite
    assert [fc.GetRasterBand(b).GetDescription() for b in range(1, 4)] == ["nir", "red", "green"]
    assert fc.GetRasterBand(1).GetColorInterpretation() == gdal.GCI_RedBand
    assert int(fc.ReadAsArray(0, 0, 1, 1)[0, 0, 0]) == 400
