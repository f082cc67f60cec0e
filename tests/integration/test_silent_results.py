"""Silent wrong results of the adversarial review (issue 12): a file changed after registration,
a mosaic size beyond what GDAL represents, mosaic percentiles, reduced-scale sampling. Real files,
the real plugin, against gdalbuildvrt VRTs and numpy."""

import os
import random
import re
import shutil

import numpy as np
import pytest
from osgeo import gdal

import sampledata

gdal.UseExceptions()


def write_tif(path, array, origin, res=10.0, nodata=0, options=("TILED=YES",), epsg=32631):
    """An uncompressed GeoTIFF (bands, rows, cols) with its corner at `origin`."""
    bands, rows, cols = array.shape
    mem = gdal.GetDriverByName("MEM").Create("", cols, rows, bands,
                                             sampledata.gdal_array_type(array.dtype))
    mem.SetGeoTransform((origin[0], res, 0, origin[1], 0, -res))
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    mem.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        if nodata is not None:
            mem.GetRasterBand(b + 1).SetNoDataValue(nodata)
        mem.GetRasterBand(b + 1).WriteArray(array[b])
    gdal.GetDriverByName("GTiff").CreateCopy(path, mem, options=list(options))
    os.chmod(path, 0o644)
    return path


def read_error(name, *args, **kw):
    with pytest.raises(RuntimeError) as e:
        gdal.Open(name).ReadAsArray(*args, **kw)
    return str(e.value)


# --- 7: a file changed after registration ----------------------------------------------------

@pytest.fixture
def changing(db, datadir, request):
    """Two tiled uncompressed 512x512 Byte items side by side; the left one has an empty
    (all-nodata) 256x256 block at (1, 1). Returns the mosaic name, paths, ids, the VRT."""
    tag = re.sub(r"\W", "_", request.node.name)[-40:]
    d = os.path.join(datadir, "chg_" + tag)
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(3)
    left = rng.integers(1, 255, (1, 512, 512)).astype(np.uint8)
    left[:, 256:, 256:] = 0
    right = rng.integers(1, 255, (1, 512, 512)).astype(np.uint8)
    paths = [write_tif(os.path.join(d, "left.tif"), left, (500000.0, 5000000.0)),
             write_tif(os.path.join(d, "right.tif"), right, (505120.0, 5000000.0))]
    mosaic = "chg_" + tag
    ids = db.register(mosaic, paths, [d])
    vrt = os.path.join(d, "ref.vrt")
    gdal.BuildVRT(vrt, paths)
    return db.mosaic(mosaic), paths, ids, vrt


def later_mtime(path):
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))


def test_unchanged_files_read_like_the_vrt(changing):
    name, _, _, vrt = changing
    assert np.array_equal(gdal.Open(name).ReadAsArray(), gdal.Open(vrt).ReadAsArray())


def test_in_place_update_of_an_empty_block_fails_naming_the_item(changing):
    name, paths, ids, _ = changing
    size = os.path.getsize(paths[0])
    ds = gdal.Open(paths[0], gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.full((256, 256), 77, np.uint8), 256, 256)
    ds = None
    later_mtime(paths[0])
    assert os.path.getsize(paths[0]) == size  # same size, same block offsets
    msg = read_error(name, 256, 256, 256, 256)
    assert f"item {ids[0]} ({paths[0]}) changed since it was registered" in msg
    assert "modified at" in msg


def test_in_place_update_is_skipped_with_missing_skip(changing):
    name, paths, ids, vrt = changing
    ds = gdal.Open(paths[0], gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.full((256, 256), 77, np.uint8), 256, 256)
    ds = None
    later_mtime(paths[0])
    messages = []
    gdal.PushErrorHandler(lambda cls, no, msg: messages.append((cls, msg)))
    try:
        a = gdal.Open(name + " missing=skip").ReadAsArray()
    finally:
        gdal.PopErrorHandler()
    warnings = [m for c, m in messages if c == gdal.CE_Warning]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"PGMOSAIC: skipping item {ids[0]}: item {ids[0]} "
                                  f"({paths[0]}) changed since it was registered")
    assert not a[:, :512].any()  # the changed item is left out (nodata), not read
    ref = gdal.Open(vrt).ReadAsArray()
    assert np.array_equal(a[:, 512:], ref[:, 512:])


def replace(db, item_id, path, array, origin, dtype=None, res=10.0):
    """Rewrites `path` with other content, then records its new size and mtime in the catalog
    (as a stat-only update would), so that only the header checks can tell."""
    write_tif(path, array.astype(dtype) if dtype else array, origin, res=res)
    st = os.stat(path)
    db.query("UPDATE pgmosaic.item SET file_size = %s, file_mtime = to_timestamp(%s) "
             "WHERE id = %s", (st.st_size, int(st.st_mtime), item_id))


@pytest.mark.parametrize("change,expected", [
    ("type", "band 1 is UInt16, recorded Byte"),
    ("shift", "its geotransform is (500100,"),
    ("larger", "it is 600 x 512 pixels, recorded 512 x 512"),
    ("bands", "it has 2 bands, recorded 1"),
])
def test_replaced_file_fails_naming_the_item(db, changing, change, expected):
    name, paths, ids, _ = changing
    rng = np.random.default_rng(5)
    data = rng.integers(1, 255, (1, 512, 512)).astype(np.uint8)
    if change == "type":
        replace(db, ids[0], paths[0], data * 200, (500000.0, 5000000.0), dtype=np.uint16)
    elif change == "shift":
        replace(db, ids[0], paths[0], data, (500100.0, 5000000.0))
    elif change == "larger":
        replace(db, ids[0], paths[0], rng.integers(1, 255, (1, 512, 600)).astype(np.uint8),
                (500000.0, 5000000.0))
    else:
        replace(db, ids[0], paths[0], rng.integers(1, 255, (2, 512, 512)).astype(np.uint8),
                (500000.0, 5000000.0))
    msg = read_error(name)
    assert f"item {ids[0]} ({paths[0]}) changed since it was registered" in msg
    assert expected in msg
    # The other item still reads.
    assert gdal.Open(name).ReadAsArray(600, 0, 100, 100).all()


def test_file_of_another_size_fails_before_it_is_opened(changing):
    name, paths, ids, _ = changing
    with open(paths[1], "ab") as f:
        f.write(b"\0" * 100)
    msg = read_error(name, 600, 0, 10, 10)
    assert f"item {ids[1]} ({paths[1]}) changed since it was registered" in msg
    assert "bytes, recorded" in msg


# --- 9: a mosaic size GDAL cannot represent ---------------------------------------------------

def test_mosaic_wider_than_int_max_is_refused_naming_it(db, changing):
    name, _, _, _ = changing
    mosaic = name.rsplit("mosaic=", 1)[1]
    db.query("UPDATE pgmosaic.mosaic SET max_x = min_x + res_x * 4294967396 WHERE name = %s",
             (mosaic,))
    with pytest.raises(RuntimeError) as e:
        gdal.Open(name)
    msg = str(e.value)
    assert f'mosaic "{mosaic}" has an invalid grid' in msg
    assert "4294967396 pixels) is not between 1 and 2147483647" in msg
    db.query("UPDATE pgmosaic.mosaic SET max_x = min_x + res_x * 2147483648 WHERE name = %s",
             (mosaic,))
    with pytest.raises(RuntimeError, match="2147483648 pixels"):
        gdal.Open(name)
    # INT_MAX itself is representable: it opens with that width (and its overviews round up
    # without wrapping).
    db.query("UPDATE pgmosaic.mosaic SET max_x = min_x + res_x * 2147483647 WHERE name = %s",
             (mosaic,))
    ds = gdal.Open(name)
    assert ds.RasterXSize == 2147483647
    band = ds.GetRasterBand(1)
    assert all(band.GetOverview(i).XSize > 0 for i in range(band.GetOverviewCount()))


# --- 11: statistics of the mosaic ------------------------------------------------------------

def test_mosaic_statistics_are_exact_merges_and_no_fake_percentiles(db, datadir, tmp_path):
    """A DEM of 2x2 Int16 tiles with very different value ranges."""
    d = os.path.join(datadir, "dem")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(11)
    paths = []
    for k, (lo, hi) in enumerate([(0, 300), (200, 900), (800, 1700), (1500, 2100)]):
        a = rng.integers(lo, hi, (1, 200, 200)).astype(np.int16)
        origin = (500000.0 + (k % 2) * 2000.0, 5000000.0 - (k // 2) * 2000.0)
        paths.append(write_tif(os.path.join(d, f"dem{k}.tif"), a, origin, nodata=-9999))
    db.register("dem", paths, [d])
    vrt = os.path.join(d, "dem.vrt")
    gdal.BuildVRT(vrt, paths)
    v = gdal.Open(vrt).ReadAsArray().astype(np.float64).ravel()
    ds = gdal.Open(db.mosaic("dem"))
    band = ds.GetRasterBand(1)
    md = band.GetMetadata()
    assert float(md["STATISTICS_MINIMUM"]) == v.min()
    assert float(md["STATISTICS_MAXIMUM"]) == v.max()
    assert float(md["STATISTICS_MEAN"]) == pytest.approx(v.mean(), rel=1e-9)
    assert float(md["STATISTICS_STDDEV"]) == pytest.approx(v.std(), rel=1e-9)  # pooled
    # Percentiles of the mosaic are not merges of the items': none under GDAL's names ...
    assert not [k for k in md if "PERCENTILE" in k]
    # ... but the range the items' give, which holds the mosaic's own.
    pg = band.GetMetadata("PGMOSAIC")
    for p in (2, 98):
        true = np.percentile(v, p, method="inverted_cdf")
        lo, hi = float(pg[f"ITEM_PERCENTILE_{p}_MIN"]), float(pg[f"ITEM_PERCENTILE_{p}_MAX"])
        assert lo <= true <= hi, (p, lo, true, hi)
    # gdal_translate of the whole mosaic copies no percentile.
    out = str(tmp_path / "dem.tif")
    gdal.Translate(out, ds)
    copied = gdal.Open(out)
    assert not [k for k in copied.GetRasterBand(1).GetMetadata() if "PERCENTILE" in k]


# --- 12: reads at reduced scale --------------------------------------------------------------

@pytest.mark.parametrize("overviews", [False, True])
def test_scaled_windows_equal_the_vrt(db, datadir, overviews):
    """A 3x3 grid of 400x400 tiles (with and without internal overviews): random windows at
    scales 1/1.1 to 1/7 through the plugin are identical to the same reads of a VRT."""
    d = os.path.join(datadir, f"scaled{int(overviews)}")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(21)
    paths = []
    for j in range(3):
        for i in range(3):
            a = rng.integers(1, 250, (1, 400, 400)).astype(np.uint8)
            paths.append(sampledata.make_cog(os.path.join(d, f"t{i}{j}.tif"), a,
                                             (500000 + i * 4000.0, 5000000 - j * 4000.0), 10.0,
                                             overviews=overviews))
    mosaic = f"scaled{int(overviews)}"
    db.register(mosaic, paths, [d])
    vrt = os.path.join(d, "ref.vrt")
    gdal.BuildVRT(vrt, paths)
    m, v = gdal.Open(db.mosaic(mosaic)), gdal.Open(vrt)
    rnd = random.Random(5)
    for _ in range(150):
        scale = rnd.uniform(1.1, 7)
        w, h = rnd.randint(50, 1200), rnd.randint(50, 1200)
        x, y = rnd.randint(0, 1200 - w), rnd.randint(0, 1200 - h)
        bw, bh = max(1, round(w / scale)), max(1, round(h / scale))
        a = m.ReadAsArray(x, y, w, h, buf_xsize=bw, buf_ysize=bh)
        b = v.ReadAsArray(x, y, w, h, buf_xsize=bw, buf_ysize=bh)
        assert np.array_equal(a, b), (x, y, w, h, bw, bh, float(np.mean(a != b)))
    # The 1/3.3 overview-free zoom of the report, whole mosaic.
    a = m.ReadAsArray(buf_xsize=364, buf_ysize=364)
    assert np.array_equal(a, v.ReadAsArray(buf_xsize=364, buf_ysize=364))
