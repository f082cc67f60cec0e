"""Items made of several files (assets): one file per band with a QA file, registered as one
item, read through the PGMOSAIC driver and the SQL door against the original raster, a
gdalbuildvrt -separate VRT of the same files, and numpy."""

import json
import os

import numpy as np
import pytest
from osgeo import gdal

import sampledata
from pgraster import Raster

SRID = 32631
X0, Y0 = 500000.0, 5000000.0
RES = 10.0
W, H = 700, 520
NAMES = ["coastal", "blue", "green", "red", "nir", "swir"]


# --- helpers -----------------------------------------------------------------------------------

def run(db, sql, params=None, roots=None):
    """`sql` on a new superuser connection with backend file access under `roots`."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (roots,))
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def add_item(db, mosaic, assets, roots, properties=None):
    return run(db, "SELECT pgmosaic.add_item(%s, %s::jsonb, %s::jsonb)",
               (mosaic, json.dumps(assets), json.dumps(properties or {})), roots)[0][0]


def collection(db, mosaic, bands, roots, resolution=None):
    run(db, "SELECT pgmosaic.create_mosaic(%s, %s, %s)", (mosaic, SRID, resolution), roots)
    run(db, "SELECT pgmosaic.set_bands(%s, %s)", (mosaic, bands), roots)


def six_bands(seed=3):
    """Six bands of UInt16 with a nodata (0) corner and a QA band of bit flags."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    data = np.empty((6, H, W), dtype="uint16")
    for b in range(6):
        data[b] = 1 + (xx * (b + 3) + yy * (7 - b) * 2) % 9000 + rng.integers(0, 300, (H, W))
    data[:, (xx + yy) < 150] = 0
    qa = (rng.integers(0, 4, (H, W)) << 3).astype("uint16")  # bits 3 and 4
    return data, qa[None]


def split(d, data, qa, res=RES, stem="", origin=(X0, Y0), nodata=0):
    """One COG per band (and one for QA, without nodata); returns {asset: path}."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    out = {}
    for b, name in enumerate(NAMES):
        out[name] = sampledata.make_cog(os.path.join(d, f"{stem}{name}.tif"), data[b:b + 1],
                                        origin, res, nodata=nodata)
    out["qa"] = sampledata.make_cog(os.path.join(d, f"{stem}qa.tif"), qa, origin, res)
    return out


def coarser(path, out, factor=2):
    """The file at 1/factor of its resolution (average), as a COG."""
    ds = gdal.Open(path)
    gdal.Translate(out + ".tmp.tif", ds, width=ds.RasterXSize // factor,
                   height=ds.RasterYSize // factor, resampleAlg="average")
    gdal.Translate(out, out + ".tmp.tif", format="COG")
    os.remove(out + ".tmp.tif")
    os.chmod(out, 0o644)
    return out


@pytest.fixture(scope="module")
def scene(db, datadir):
    """The original six-band raster (mosaic "orig"), and the same split into one file per band
    plus QA, registered as one item (mosaic "split", bands by asset name)."""
    d = os.path.join(datadir, "coll")
    data, qa = six_bands()
    os.makedirs(d)
    os.chmod(d, 0o755)
    orig = sampledata.make_cog(os.path.join(d, "orig.tif"), data, (X0, Y0), RES, nodata=0)
    files = split(os.path.join(d, "split"), data, qa)
    db.register("orig", [orig], [d])
    collection(db, "split", NAMES + ["qa"], d)
    item = add_item(db, "split", files, d, {"id": "scene-1", "cloud_cover": 7})
    return dict(dir=d, orig=orig, files=files, data=data, qa=qa, item=item)


def windows():
    return [(0, 0, W, H), (0, 0, 1, 1), (W - 1, H - 1, 1, 1), (100, 130, 256, 256),
            (255, 255, 2, 2), (10, 400, 690, 120), (333, 17, 111, 503)]


# --- tests -------------------------------------------------------------------------------------

def test_split_item_reads_byte_identical_to_the_original(db, scene):
    m, o = gdal.Open(db.mosaic("split")), gdal.Open(db.mosaic("orig"))
    assert (m.RasterXSize, m.RasterYSize, m.RasterCount) == (W, H, 7)
    assert m.GetGeoTransform() == pytest.approx(o.GetGeoTransform())
    assert [m.GetRasterBand(b).GetDescription() for b in range(1, 8)] == NAMES + ["qa"]
    assert m.GetRasterBand(4).GetColorInterpretation() == gdal.GCI_RedBand
    assert m.GetRasterBand(1).DataType == gdal.GDT_UInt16
    assert m.GetRasterBand(1).GetNoDataValue() == 0
    f = gdal.Open(scene["orig"])
    for win in windows():
        assert m.ReadRaster(*win, band_list=[1, 2, 3, 4, 5, 6]) == f.ReadRaster(*win), win
        assert (m.GetRasterBand(7).ReadAsArray(*win) == scene["qa"][0][
            win[1]:win[1] + win[3], win[0]:win[0] + win[2]]).all(), win


def test_zoomed_out_reads_equal_a_separate_vrt_of_the_same_files(db, scene, tmp_path):
    vrt = str(tmp_path / "sep.vrt")
    gdal.BuildVRT(vrt, [scene["files"][n] for n in NAMES + ["qa"]], separate=True)
    m, v = gdal.Open(db.mosaic("split")), gdal.Open(vrt)
    for win, bw, bh in [((0, 0, W, H), W // 2, H // 2), ((0, 0, W, H), W // 4, H // 4),
                        ((64, 32, 512, 256), 128, 64), ((1, 1, 600, 500), 250, 210)]:
        assert m.ReadRaster(*win, bw, bh) == v.ReadRaster(*win, bw, bh), (win, bw, bh)


def test_bands_by_asset_name(db, scene):
    ds = gdal.Open(db.mosaic("split") + " bands=nir,red,green")
    assert ds.RasterCount == 3
    assert [ds.GetRasterBand(b).GetDescription() for b in (1, 2, 3)] == ["nir", "red", "green"]
    f = gdal.Open(scene["orig"])
    assert ds.ReadRaster(0, 0, W, H) == f.ReadRaster(0, 0, W, H, band_list=[5, 4, 3])
    # Numbers and the b-form as well, mixed with names
    ds2 = gdal.Open(db.mosaic("split") + " bands=b5,4,green")
    assert ds2.ReadRaster(0, 0, W, H) == ds.ReadRaster(0, 0, W, H)
    with pytest.raises(RuntimeError, match=r"or band names \(coastal, blue, green, red, nir, "
                                           r"swir, qa\)"):
        gdal.Open(db.mosaic("split") + " bands=nir,thermal")


def test_sql_door_reads_them_too(db, scene):
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    db.query(f"ALTER DATABASE {db.name} SET postgis.gdal_enabled_drivers = 'GTiff COG PNG'")
    x0, y0 = X0 + 100 * RES, Y0 - 130 * RES
    area = f"POLYGON(({x0} {y0},{x0 + 256 * RES} {y0},{x0 + 256 * RES} {y0 - 200 * RES}," \
           f"{x0} {y0 - 200 * RES},{x0} {y0}))"
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('split', ST_GeomFromText(%s, 32631), "
                      "options => '{\"bands\": \"nir,red,qa\"}'))", (area,), scene["dir"])
    r = Raster(wkb)
    assert r.array.shape == (3, 200, 256)
    expect = np.concatenate([scene["data"][[4, 3], 130:330, 100:356],
                             scene["qa"][:, 130:330, 100:356]])
    assert (r.array == expect).all()
    # By number, as before
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('split', ST_GeomFromText(%s, 32631), "
                      "bands => '{4}'))", (area,), scene["dir"])
    assert (Raster(wkb).array[0] == scene["data"][3, 130:330, 100:356]).all()


@pytest.fixture(scope="module")
def mixed(db, datadir):
    """Mosaic "mixed": red, green, blue at 10 m; nir, swir and qa at 20 m (Sentinel-2 like),
    one item; a second item below it, all at 10 m, shifted 100 pixels east."""
    d = os.path.join(datadir, "mixed")
    data, qa = six_bands(seed=11)
    fine = split(os.path.join(d, "a"), data, qa)
    files = {n: fine[n] for n in ("blue", "green", "red")}
    for n in ("nir", "swir", "qa"):
        files[n] = coarser(fine[n], os.path.join(d, "a", f"{n}_20m.tif"))
    low_data, low_qa = six_bands(seed=12)
    low = split(os.path.join(d, "b"), low_data, low_qa, origin=(X0 + 100 * RES, Y0))
    collection(db, "mixed", ["blue", "green", "red", "nir", "swir", "qa"], d)
    below = add_item(db, "mixed", {n: low[n] for n in ("blue", "green", "red", "nir", "swir",
                                                        "qa")}, d)
    top = add_item(db, "mixed", files, d)
    return dict(dir=d, files=files, low=low, ids=(top, below))


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_an_item_of_two_resolutions_equals_a_vrt_with_per_band_sources(db, mixed, tmp_path,
                                                                        resampling):
    """The top item alone (ids=) against gdalbuildvrt -separate -resolution highest of its
    files: the 20 m bands scaled by the VRT's sources, with the same resampling."""
    order = ["blue", "green", "red", "nir", "swir", "qa"]
    vrt = str(tmp_path / "top.vrt")
    gdal.BuildVRT(vrt, [mixed["files"][n] for n in order], separate=True, resolution="highest",
                  resampleAlg=resampling)
    v = gdal.Open(vrt)
    m = gdal.Open(db.mosaic("mixed") + f" ids={mixed['ids'][0]} resampling={resampling}")
    gt_m, gt_v = m.GetGeoTransform(), v.GetGeoTransform()
    assert gt_v[0] == gt_m[0] and gt_v[3] == gt_m[3] and gt_v[1] == gt_m[1]
    for win in [(0, 0, W, H), (3, 5, 301, 211), (600, 400, 100, 120), (1, 1, 1, 1)]:
        assert m.ReadRaster(*win) == v.ReadRaster(*win), win


def test_mixed_band_counts_show_the_item_below(db, mixed, datadir):
    """A third item with red only on top: its other bands show the items below."""
    d = mixed["dir"]
    data, qa = six_bands(seed=13)
    only = split(os.path.join(d, "c"), data, qa, stem="only_")
    add_item(db, "mixed", {"red": only["red"]}, d)
    m = gdal.Open(db.mosaic("mixed"))
    assert m.RasterXSize == W + 100
    red = m.GetRasterBand(3).ReadAsArray()[:, :W]
    assert (red[data[3] != 0] == data[3][data[3] != 0]).all()
    two = gdal.Open(db.mosaic("mixed") + f" ids={','.join(map(str, mixed['ids']))}")
    for b in (1, 2, 4, 5, 6):
        assert (m.GetRasterBand(b).ReadAsArray() == two.GetRasterBand(b).ReadAsArray()).all(), b
    # The red-only item alone: its missing bands are nodata everywhere
    (rid,), = db.query("SELECT max(id) FROM pgmosaic.item")
    alone = gdal.Open(db.mosaic("mixed") + f" ids={rid} method=count")
    counts = alone.ReadAsArray()
    assert counts[[0, 1, 3, 4, 5]].max() == 0
    assert (counts[2][:, :W] == (data[3] != 0)).all()


def test_theme_rules_apply_to_the_composed_item(db, scene):
    """A theme rule over bands of different files: computed over the item's composed bands."""
    run(db, "SELECT pgmosaic.add_theme_rule('split', 'bright', 'b4 > 5000 and nir > 4000')",
        None, scene["dir"])
    (pixels,), = db.query("SELECT sum(pixels) FROM pgmosaic.theme_polygons('split', 'bright')")
    d = scene["data"]
    valid = (d[3] != 0) & (d[4] != 0)
    assert pixels == int(((d[3] > 5000) & (d[4] > 4000) & valid).sum())


# --- masks -------------------------------------------------------------------------------------

MW, MH = 300, 200


@pytest.fixture(scope="module")
def masked(db, datadir):
    """Mosaic "masked": three dates of red, nir (nodata 0), a Landsat-like QA_PIXEL (bits 1, 3,
    4: dilated cloud, cloud, shadow), a Sentinel-2-like SCL (classes 0..11) and a cloud mask
    file (0/1), one item per date, the last registered on top."""
    d = os.path.join(datadir, "collection_masked")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(21)
    dates = []
    collection(db, "masked", ["red", "nir", "qa", "scl", "cloud"], d)
    for t in range(3):
        red = rng.integers(1, 3000, (MH, MW)).astype("uint16")
        nir = rng.integers(1, 3000, (MH, MW)).astype("uint16")
        red[rng.random((MH, MW)) < 0.05] = 0
        qa = (rng.integers(0, 32, (MH, MW)) & 0b11010).astype("uint16")
        qa[rng.random((MH, MW)) < 0.5] = 0
        scl = rng.integers(0, 12, (MH, MW)).astype("uint8")
        cloud = (rng.random((MH, MW)) < 0.3).astype("uint8")
        files = {}
        for name, arr, nd in [("red", red, 0), ("nir", nir, 0), ("qa", qa, None),
                              ("scl", scl, None), ("cloud", cloud, None)]:
            files[name] = sampledata.make_cog(os.path.join(d, f"{name}_{t}.tif"), arr[None],
                                              (X0, Y0), RES, nodata=nd)
        add_item(db, "masked", files, d, {"id": f"date{t}"})
        dates.append(dict(red=red, nir=nir, qa=qa, scl=scl, cloud=cloud))
    return dict(dir=d, dates=dates)


def first_unmasked(dates, band, hidden):
    """numpy: per pixel the top date's value where it is valid and not hidden, else 0."""
    out = np.zeros((MH, MW), dtype="uint16")
    done = np.zeros((MH, MW), dtype=bool)
    for t in reversed(range(len(dates))):  # the last registered on top
        v = dates[t][band]
        ok = (v != 0) & ~hidden(dates[t]) & ~done
        out[ok] = v[ok]
        done |= ok
    return out


MASKS = [
    ("bit(qa, 1) or bit(qa, 3) or bit(qa, 4)",
     lambda d: ((d["qa"] >> 1) & 1 | (d["qa"] >> 3) & 1 | (d["qa"] >> 4) & 1).astype(bool)),
    ("qa & 26 != 0", lambda d: (d["qa"] & 26) != 0),
    ("scl in (3, 8, 9, 10)", lambda d: np.isin(d["scl"], [3, 8, 9, 10])),
    ("cloud > 0", lambda d: d["cloud"] > 0),
]


@pytest.mark.parametrize("mask,hidden", MASKS, ids=["qa-bits", "qa-and", "scl", "mask-file"])
def test_masks_against_numpy(db, masked, mask, hidden):
    ds = gdal.OpenEx(db.mosaic("masked"), gdal.OF_RASTER,
                     open_options=[f"MASK={mask}", "BANDS=red,nir"])
    got = ds.ReadAsArray()
    for k, band in enumerate(["red", "nir"]):
        assert (got[k] == first_unmasked(masked["dates"], band, hidden)).all(), band
    # Without the mask, the top date's pixels hide the others
    plain = gdal.Open(db.mosaic("masked") + " bands=red").ReadAsArray()
    assert (plain == first_unmasked(masked["dates"], "red", lambda d: np.zeros_like(
        d["red"], dtype=bool))).all()


def test_stored_mask_in_the_driver_and_the_sql_door(db, masked):
    mask, hidden = MASKS[0]
    run(db, "SELECT pgmosaic.set_mask('masked', %s)", (mask,), masked["dir"])
    expect = first_unmasked(masked["dates"], "nir", hidden)
    assert (gdal.Open(db.mosaic("masked") + " bands=nir").ReadAsArray() == expect).all()
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    area = (f"POLYGON(({X0} {Y0},{X0 + MW * RES} {Y0},{X0 + MW * RES} {Y0 - MH * RES},"
            f"{X0} {Y0 - MH * RES},{X0} {Y0}))")
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('masked', ST_GeomFromText(%s, 32631), "
                      "bands => '{2}'))", (area,), masked["dir"])
    assert (Raster(wkb).array[0] == expect).all()
    # mask=none reads as if there were none; a bad mask is refused naming it
    unmasked = gdal.Open(db.mosaic("masked") + " bands=nir mask=none").ReadAsArray()
    assert (unmasked == first_unmasked(masked["dates"], "nir", lambda d: np.zeros_like(
        d["nir"], dtype=bool))).all()
    with pytest.raises(Exception, match='unknown name "swir"'):
        run(db, "SELECT pgmosaic.set_mask('masked', 'swir > 0')", None, masked["dir"])
    run(db, "SELECT pgmosaic.set_mask('masked', NULL)", None, masked["dir"])


# --- compositing methods -----------------------------------------------------------------------

CW, CH = 260, 180


@pytest.fixture(scope="module")
def cloudy(db, datadir):
    """Mosaic "cloudy": five dates of red, nir (UInt16, nodata 0) and qa (bit 3: cloud), with
    random clouds and nodata, each date an item acquired a day apart; mask bit(qa, 3).
    Returns the stack as float arrays with NaN where a date has no valid pixel."""
    d = os.path.join(datadir, "cloudy")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(5)
    collection(db, "cloudy", ["red", "nir", "qa"], d)
    run(db, "SELECT pgmosaic.set_mask('cloudy', 'bit(qa, 3)')", None, d)
    stack = {"red": [], "nir": []}
    for t in range(5):
        red = rng.integers(1, 4000, (CH, CW)).astype("uint16")
        nir = rng.integers(1, 6000, (CH, CW)).astype("uint16")
        red[rng.random((CH, CW)) < 0.03] = 0
        cloud = rng.random((CH, CW)) < 0.35
        qa = np.where(cloud, 8 | 2, 0).astype("uint16")
        files = {}
        for name, arr, nd in [("red", red, 0), ("nir", nir, 0), ("qa", qa, None)]:
            files[name] = sampledata.make_cog(os.path.join(d, f"{name}_{t}.tif"), arr[None],
                                              (X0, Y0), RES, nodata=nd)
        add_item(db, "cloudy", files, d,
                 {"acquired": f"2021-06-{t + 1:02d}T10:00:00Z", "cloud_cover": [30, 5, 50, 10,
                                                                                 20][t]})
        valid = ~cloud & (red != 0) & (nir != 0)
        # An item is valid in a band where that band has a value and qa is clear.
        stack["red"].append(np.where(~cloud & (red != 0), red, np.nan))
        stack["nir"].append(np.where(~cloud & (nir != 0), nir, np.nan))
    return dict(dir=d, red=np.array(stack["red"]), nir=np.array(stack["nir"]))


def read_method(db, method, bands="red,nir"):
    ds = gdal.OpenEx(db.mosaic("cloudy"), gdal.OF_RASTER,
                     open_options=[f"METHOD={method}", f"BANDS={bands}"])
    return ds, ds.ReadAsArray().astype("float64")


@pytest.mark.parametrize("method,fn", [
    ("median", lambda s: np.nanmedian(s, axis=0)),
    ("percentile:90", lambda s: np.nanpercentile(s, 90, axis=0)),
    ("percentile:12.5", lambda s: np.nanpercentile(s, 12.5, axis=0)),
    ("stdev", lambda s: np.nanstd(s, axis=0)),
    ("mean", lambda s: np.floor(np.nanmean(s, axis=0) + 0.5)),  # GDAL rounds to UInt16
    ("count", lambda s: np.sum(~np.isnan(s), axis=0)),
])
def test_stack_methods_against_numpy(db, cloudy, method, fn):
    ds, got = read_method(db, method)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning) if method != "count" else \
            _nothing():
        expect = np.array([fn(cloudy["red"]), fn(cloudy["nir"])])
    expect = np.where(np.isnan(expect), 0, expect)
    if method in ("median", "stdev") or method.startswith("percentile"):
        assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
        np.testing.assert_allclose(got, expect.astype("float32"), rtol=1e-6, atol=1e-3)
    else:
        assert (got == expect).all()
    assert ds.GetMetadataItem("COMPOSITING_METHOD") == method


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_quality_mosaics_against_numpy(db, cloudy):
    red, nir = cloudy["red"], cloudy["nir"]
    # Greenest pixel: the date of highest NDVI, both bands from it
    _, got = read_method(db, "quality:(nir - red) / (nir + red)")
    ndvi = (nir - red) / (nir + red)
    best = np.nanargmax(np.where(np.isnan(ndvi), -np.inf, ndvi), axis=0)
    anyv = ~np.all(np.isnan(ndvi), axis=0)
    for k, s in enumerate([red, nir]):
        pick = np.take_along_axis(s, best[None], axis=0)[0]
        assert (got[k][anyv] == pick[anyv]).all()
        assert (got[k][~anyv] == 0).all()
    # Most recent clear: the latest date valid in red (its nir from the same date)
    _, got = read_method(db, "quality:acquired", bands="red")
    valid = ~np.isnan(red)
    latest = 4 - np.argmax(valid[::-1], axis=0)
    pick = np.take_along_axis(red, latest[None], axis=0)[0]
    any_red = valid.any(axis=0)
    assert (got[any_red] == pick[any_red]).all()
    # Least cloudy scene first: cloud cover 5 (date 1), then 10 (date 3), 20, 30, 50
    _, got = read_method(db, "quality:-cloud_cover", bands="red")
    order = [1, 3, 4, 0, 2]
    expect = np.zeros(red.shape[1:])
    done = np.zeros(red.shape[1:], dtype=bool)
    for t in order:
        ok = valid[t] & ~done
        expect[ok] = red[t][ok]
        done |= ok
    assert (got == expect).all()


def test_methods_in_the_sql_door(db, cloudy):
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    area = (f"POLYGON(({X0} {Y0},{X0 + CW * RES} {Y0},{X0 + CW * RES} {Y0 - CH * RES},"
            f"{X0} {Y0 - CH * RES},{X0} {Y0}))")
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('cloudy', ST_GeomFromText(%s, 32631), "
                      "method => 'median', options => '{\"bands\": \"red\"}'))", (area,),
                  cloudy["dir"])
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expect = np.nanmedian(cloudy["red"], axis=0)
    np.testing.assert_allclose(Raster(wkb).array[0], np.where(np.isnan(expect), 0, expect))


# --- virtual bands -----------------------------------------------------------------------------

def test_virtual_bands_against_numpy(db, scene):
    d = scene["data"].astype("float64")
    ds = gdal.Open(db.mosaic("split") + " bands='b4,b3,b2,ndvi:(b5-b4)/(b5+b4),"
                                        "ndwi:Int16:(green - nir) * 1000 / (green + nir)'")
    assert ds.RasterCount == 5
    assert [ds.GetRasterBand(b).DataType for b in range(1, 6)] == [gdal.GDT_UInt16] * 3 + [
        gdal.GDT_Float32, gdal.GDT_Int16]
    assert ds.GetRasterBand(4).GetDescription() == "ndvi"
    valid = (d[3] != 0) & (d[4] != 0)
    with np.errstate(all="ignore"):
        ndvi = np.where(valid, (d[4] - d[3]) / (d[4] + d[3]), 0)
        ndwi = np.where((d[2] != 0) & (d[4] != 0), (d[2] - d[4]) * 1000 / (d[2] + d[4]), 0)
    got = ds.GetRasterBand(4).ReadAsArray()
    np.testing.assert_allclose(got, ndvi.astype("float32"), rtol=1e-6)
    # Int16: GDAL rounds to nearest
    rounded = np.where(ndwi < 0, np.ceil(ndwi - 0.5), np.floor(ndwi + 0.5))  # half away from 0
    assert (ds.GetRasterBand(5).ReadAsArray() == rounded.astype("int16")).all()
    assert (ds.GetRasterBand(1).ReadAsArray() == scene["data"][3]).all()
    # A zoomed-out read computes from the zoomed-out composed bands
    small = ds.GetRasterBand(4).ReadAsArray(buf_xsize=W // 4, buf_ysize=H // 4)
    r = ds.GetRasterBand(1).ReadAsArray(buf_xsize=W // 4, buf_ysize=H // 4).astype("float64")
    plain = gdal.Open(db.mosaic("split"))  # held: a band does not keep its dataset alive
    n = plain.GetRasterBand(5).ReadAsArray(buf_xsize=W // 4, buf_ysize=H // 4).astype("float64")
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(small, np.where((r != 0) & (n != 0), (n - r) / (n + r), 0)
                                   .astype("float32"), rtol=1e-6)


def test_stored_virtual_bands(db, scene):
    run(db, "SELECT pgmosaic.set_virtual_bands('split', ARRAY['ndvi:(nir-red)/(nir+red)'])",
        None, scene["dir"])
    ds = gdal.Open(db.mosaic("split"))
    assert ds.RasterCount == 8
    assert ds.GetRasterBand(8).GetDescription() == "ndvi"
    only = gdal.Open(db.mosaic("split") + " bands=ndvi,red")
    assert only.RasterCount == 2
    assert (only.GetRasterBand(1).ReadAsArray() == ds.GetRasterBand(8).ReadAsArray()).all()
    with pytest.raises(Exception, match='the name "red" is taken'):
        run(db, "SELECT pgmosaic.set_virtual_bands('split', ARRAY['red:nir*2'])", None,
            scene["dir"])
    run(db, "SELECT pgmosaic.set_virtual_bands('split', NULL)", None, scene["dir"])
    assert gdal.Open(db.mosaic("split")).RasterCount == 7


# --- STAC import -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stac(db, datadir):
    """A hand-made STAC ItemCollection of two items (red, nir and qa GeoTIFFs with relative
    hrefs, a thumbnail), written to collection.json."""
    d = os.path.join(datadir, "stac")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(9)
    features, pixels = [], []
    for k, x0 in enumerate([X0, X0 + 100 * RES]):
        arrays = {n: rng.integers(1, 5000, (80, 120)).astype("uint16")
                  for n in ("red", "nir", "qa")}
        for n, a in arrays.items():
            sampledata.make_cog(os.path.join(d, f"s{k}_{n}.tif"), a[None], (x0, Y0), RES,
                                nodata=0)
        with open(os.path.join(d, f"s{k}_thumb.png"), "wb") as f:
            f.write(b"\x89PNG not really")
        pixels.append(arrays)
        features.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"scene-{k}",
            "collection": "test-collection",
            "geometry": {"type": "Polygon", "coordinates": [[[3, 45], [3.1, 45], [3.1, 45.1],
                                                             [3, 45.1], [3, 45]]]},
            "bbox": [3, 45, 3.1, 45.1],
            "properties": {"datetime": f"2021-07-0{k + 1}T10:30:00Z", "eo:cloud_cover": 10 * k + 5,
                           "proj:epsg": 32631, "platform": "testsat"},
            "assets": {
                "red": {"href": f"./s{k}_red.tif", "type": "image/tiff; application=geotiff"},
                "nir": {"href": f"s{k}_nir.tif", "type": "image/tiff; application=geotiff"},
                "qa": {"href": f"./s{k}_qa.tif", "type": "image/tiff; application=geotiff"},
                "thumbnail": {"href": f"./s{k}_thumb.png", "type": "image/png",
                              "roles": ["thumbnail"]}},
            "links": [{"rel": "self", "href": os.path.join(d, f"scene-{k}.json")}]})
    path = os.path.join(d, "collection.json")
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f)
    os.chmod(path, 0o644)
    return dict(dir=d, path=path, features=features, pixels=pixels)


def check_stac_mosaic(db, name, stac, bands):
    rows = db.query("SELECT i.attributes ->> 'id', lower(i.acquired)::text, i.cloud_cover, "
                    "i.attributes ->> 'platform', i.attributes ->> 'collection', "
                    "(SELECT array_agg(a.name ORDER BY a.name) FROM pgmosaic.asset a "
                    " WHERE a.mosaic_id = i.mosaic_id AND a.item_id = i.id) "
                    "FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id "
                    "WHERE m.name = %s ORDER BY i.id", (name,))
    assert [r[0] for r in rows] == ["scene-0", "scene-1"]
    assert [r[1][:19] for r in rows] == ["2021-07-01 10:30:00", "2021-07-02 10:30:00"]
    assert [r[2] for r in rows] == [5, 15]
    assert rows[0][3:5] == ("testsat", "test-collection")
    assert rows[0][5] == sorted(bands)
    ds = gdal.Open(db.mosaic(name))
    assert [ds.GetRasterBand(b).GetDescription() for b in range(1, ds.RasterCount + 1)] == bands
    assert ds.RasterXSize == 220  # two scenes 100 pixels apart, the later one on top
    for b, n in enumerate(bands):
        got = ds.GetRasterBand(b + 1).ReadAsArray()
        assert (got[:, 100:220] == stac["pixels"][1][n]).all()
        assert (got[:, :100] == stac["pixels"][0][n][:, :100]).all()


def test_stac_import_from_jsonb(db, stac):
    collection_json = json.dumps({"type": "FeatureCollection", "features": stac["features"]})
    rows = run(db, "SELECT * FROM pgmosaic.import_stac('stac1', %s::jsonb, ARRAY['red', 'nir'], "
                   "base => %s)", (collection_json, stac["dir"]), stac["dir"])
    assert [(r[0], r[2]) for r in rows] == [("scene-0", None), ("scene-1", None)]
    check_stac_mosaic(db, "stac1", stac, ["red", "nir"])
    # Again: refused naming the item, or skipped
    with pytest.raises(Exception, match='STAC item "scene-0": raster .* is already registered'):
        run(db, "SELECT * FROM pgmosaic.import_stac('stac1', %s::jsonb, base => %s)",
            (collection_json, stac["dir"]), stac["dir"])
    rows = run(db, "SELECT stac_id, item_id FROM pgmosaic.import_stac('stac1', %s::jsonb, "
                   "base => %s, on_duplicate => 'skip')", (collection_json, stac["dir"]),
               stac["dir"])
    assert rows == [("scene-0", None), ("scene-1", None)]
    # Relative hrefs need a base, or a self link
    unlinked = dict(stac["features"][0], links=[])
    with pytest.raises(Exception, match='relative asset href "./s0_red.tif" needs a base'):
        run(db, "SELECT * FROM pgmosaic.import_stac('stac1b', %s::jsonb, ARRAY['red'])",
            (json.dumps(unlinked),), stac["dir"])


def test_stac_import_from_a_file(db, stac):
    rows = run(db, "SELECT stac_id, error_code FROM pgmosaic.import_stac_file('stac2', %s, "
                   "ARRAY['nir', 'red'])", (stac["path"],), stac["dir"])
    assert rows == [("scene-0", None), ("scene-1", None)]
    check_stac_mosaic(db, "stac2", stac, ["nir", "red"])
    # Outside the allowed roots: refused before reading
    with pytest.raises(Exception, match="outside|not allowed|allowed_roots"):
        run(db, "SELECT * FROM pgmosaic.import_stac_file('stac2b', %s)", (stac["path"],),
            "/tmp/elsewhere")


def test_stac_itemcollection_through_ogr2ogr(db, stac):
    import subprocess
    out = subprocess.run(["ogr2ogr", "-f", "PGMOSAIC", db.mosaic("stac3"), stac["path"],
                          "-oo", "NATIVE_DATA=YES", "-nln", "items", "-lco", "ASSETS=red,nir"],
                         capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    check_stac_mosaic(db, "stac3", stac, ["red", "nir"])


# --- versions ----------------------------------------------------------------------------------

def test_asof_before_and_after_a_removal_and_a_repointing(db, datadir):
    d = os.path.join(datadir, "versions")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(17)
    arrays = [rng.integers(1, 200, (60, 80)).astype("uint8") for _ in range(4)]
    paths = [sampledata.make_cog(os.path.join(d, f"v{k}.tif"), arrays[k][None], (X0, Y0), RES,
                                 nodata=0) for k in range(3)]
    arrays[0][:, :40] = 0  # the top item lets the one below show on the left
    paths[0] = sampledata.make_cog(os.path.join(d, "v0.tif"), arrays[0][None], (X0, Y0), RES,
                                   nodata=0)
    os.makedirs(os.path.join(d, "moved"))
    os.chmod(os.path.join(d, "moved"), 0o755)
    replacement = sampledata.make_cog(os.path.join(d, "moved", "v0.tif"), arrays[3][None],
                                      (X0, Y0), RES, nodata=0)
    db.register("versions", [paths[2], paths[1], paths[0]], [d])  # v0 on top
    (t0,), = db.query("SELECT now()")[0:1]

    def read(asof=None):
        name = db.mosaic("versions") + (f" asof='{asof.isoformat()}'" if asof else "")
        return gdal.Open(name).ReadAsArray()

    def composite(layers):
        out = np.zeros((60, 80), dtype="uint8")
        for a in reversed(layers):  # bottom first
            out = np.where(a != 0, a, out)
        return out

    before = read()
    assert (before == composite([arrays[0], arrays[1], arrays[2]])).all()
    # Removal of v1, then re-pointing of v0 to another file
    run(db, "SELECT pgmosaic.remove_rasters('versions', ARRAY[%s])", (paths[1],), d)
    (t1,), = db.query("SELECT now()")[0:1]
    # v0 re-pointed to a new file, which sync re-inspects (the old one stays where it was)
    run(db, "SELECT pgmosaic.repair_paths('versions', %s, %s)",
        (paths[0], replacement), d)
    assert [r[2] for r in run(db, "SELECT * FROM pgmosaic.sync('versions')", None, d)] == [
        "update"]
    now = read()
    assert (now == composite([arrays[3], arrays[2]])).all()
    assert (read(t0) == before).all()
    assert (read(t1) == composite([arrays[0], arrays[2]])).all()
    # Before the mosaic had items: nothing; the SQL door reads as of a time too
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    area = (f"POLYGON(({X0} {Y0},{X0 + 80 * RES} {Y0},{X0 + 80 * RES} {Y0 - 60 * RES},"
            f"{X0} {Y0 - 60 * RES},{X0} {Y0}))")
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('versions', ST_GeomFromText(%s, 32631), "
                      "options => jsonb_build_object('asof', %s::text)))",
                  (area, t1.isoformat()), d)
    assert (Raster(wkb).array[0] == composite([arrays[0], arrays[2]])).all()
    # items() as of a time
    rows = db.query("SELECT path::text FROM pgmosaic.items('versions', NULL, NULL, NULL, NULL, "
                    "NULL, %s)", (t0,))
    assert [r[0] for r in rows] == [paths[0], paths[1], paths[2]]
    with pytest.raises(RuntimeError, match='invalid asof "yesterday"'):
        gdal.Open(db.mosaic("versions") + " asof=yesterday")
    # Versions are kept per row: one for each state of each item
    (n,), = db.query("SELECT count(*) FROM pgmosaic.item_version v JOIN pgmosaic.mosaic m "
                     "ON m.id = v.mosaic_id WHERE m.name = 'versions'")
    assert n >= 4


def test_versions_of_an_item_changed_by_a_transaction_begun_later_never_overlap(db):
    """Versions start when their transaction began: a transaction begun before another that
    changed an item and committed, changing or removing that item after it, gave its version
    a start before the other's (which was lost) and left the item twice in reads as of the
    time in between. Its version now starts where the one it replaces started."""
    info = {"srid": 32631, "geotransform": [X0, RES, 0, Y0, 0, -RES], "width": 10,
            "height": 10, "band_count": 1, "data_type": "Byte",
            "footprint": f"POLYGON(({X0} {Y0},{X0 + 10 * RES} {Y0},{X0 + 10 * RES} "
                         f"{Y0 - 10 * RES},{X0} {Y0 - 10 * RES},{X0} {Y0}))"}
    (item,), = db.query("SELECT pgmosaic.register_raster('race', '/data/race/a.tif', %s)",
                        (json.dumps(info),))

    def versions():
        rows = db.query("SELECT lower(valid), upper(valid), priority FROM "
                        "pgmosaic.item_version WHERE id = %s ORDER BY lower(valid)", (item,))
        # One version at any time: each ends where the next begins.
        for (_, end, _), (start, _, _) in zip(rows, rows[1:]):
            assert end == start, rows
        for start, _, _ in rows:
            (n,), = db.query("SELECT count(*) FROM pgmosaic.items('race', NULL, NULL, NULL, "
                             "NULL, NULL, %s) WHERE id = %s", (start, item))
            assert n == 1, (start, rows)
        return rows

    early, late = db.connect(), db.connect()
    early.autocommit = late.autocommit = False
    try:
        with early.cursor() as a, late.cursor() as b:
            for change in ("UPDATE pgmosaic.item SET priority = 7 WHERE id = %s",
                           "DELETE FROM pgmosaic.item WHERE id = %s"):
                a.execute("SELECT now()")  # its transaction began
                b.execute("UPDATE pgmosaic.item SET priority = priority + 1 WHERE id = %s",
                          (item,))
                late.commit()
                a.execute(change, (item,))
                early.commit()
                rows = versions()
                if change.startswith("UPDATE"):
                    assert rows[-1][1:] == (None, 7), rows
                else:
                    assert rows[-1][1] is not None, rows  # removed: none current
    finally:
        early.close()
        late.close()


def test_asof_never_takes_the_blocks_a_later_file_left_empty(db, datadir):
    """The DRAD's empty blocks are the current file's: an asof= read of the file an item had
    before it was re-pointed skipped that file's blocks where the new file is empty (same
    layout, so the recorded offsets and sizes matched) and showed nodata there."""
    d = os.path.join(datadir, "versions_drad")
    os.makedirs(d)
    os.chmod(d, 0o755)
    rng = np.random.default_rng(23)
    old = rng.integers(1, 200, (64, 64)).astype("uint8")
    new = rng.integers(1, 200, (64, 64)).astype("uint8")
    new[:16, :16] = 0  # one block of nodata only: recorded empty

    def write(path, array):
        mem = gdal.GetDriverByName("MEM").Create("", 64, 64, 1, gdal.GDT_Byte)
        mem.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
        mem.SetProjection("EPSG:32631")
        mem.GetRasterBand(1).SetNoDataValue(0)
        mem.GetRasterBand(1).WriteArray(array)
        gdal.GetDriverByName("GTiff").CreateCopy(
            path, mem, options=["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=NONE"])
        os.chmod(path, 0o644)
        return path

    first = write(os.path.join(d, "first.tif"), old)
    # The new file: the old one with new pixels written in place (an update by GDAL keeps the
    # blocks where they are; a new uncompressed file may put a nodata block last)
    second = os.path.join(d, "second.tif")
    with open(first, "rb") as f:
        data = bytearray(f.read())
    layout = gdal.Open(first)
    band = layout.GetRasterBand(1)
    for row in range(4):
        for col in range(4):
            offset = int(band.GetMetadataItem(f"BLOCK_OFFSET_{col}_{row}", "TIFF"))
            data[offset:offset + 256] = new[row * 16:row * 16 + 16, col * 16:col * 16 + 16].tobytes()
    with open(second, "wb") as f:
        f.write(data)
    os.chmod(second, 0o644)
    st = os.stat(first)
    os.utime(second, (st.st_atime + 100, st.st_mtime + 100))
    db.register("versions_drad", [first], [d])
    (t0,), = db.query("SELECT now()")[0:1]
    # Re-pointed to the new file, registered again over the same item: its DRAD is the new one
    run(db, "SELECT pgmosaic.repair_paths('versions_drad', %s, %s)", (first, second), d)
    run(db, "SELECT pgmosaic.register_raster('versions_drad', %s, pgmosaic.inspect_raster(%s), "
            "'{}', 'update')", (second, second), d)
    (empty,), = db.query("SELECT count(*) FROM pgmosaic.tile t JOIN pgmosaic.mosaic m "
                         "ON m.id = t.mosaic_id WHERE m.name = 'versions_drad' AND t.empty")
    assert empty >= 1
    assert (gdal.Open(db.mosaic("versions_drad")).ReadAsArray() == new).all()
    asof = gdal.Open(db.mosaic("versions_drad") + f" asof='{t0.isoformat()}'").ReadAsArray()
    assert (asof == old).all(), f"{int((asof != old).sum())} pixels differ"
    db.query("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    area = (f"POLYGON(({X0} {Y0},{X0 + 64 * RES} {Y0},{X0 + 64 * RES} {Y0 - 64 * RES},"
            f"{X0} {Y0 - 64 * RES},{X0} {Y0}))")
    (wkb,), = run(db, "SELECT ST_AsBinary(pgmosaic.read('versions_drad', "
                      "ST_GeomFromText(%s, 32631), options => jsonb_build_object('asof', %s::text)))",
                  (area, t0.isoformat()), d)
    assert (Raster(wkb).array[0] == old).all()


def test_a_batch_is_published_at_once(db, scene):
    """Items registered in a batch show in no read until it is published; a load with
    PUBLISH=AT_END publishes all its batches at the end, or discards them when it fails."""
    import subprocess
    d = scene["dir"]
    run(db, "SELECT pgmosaic.create_mosaic('pub', 32631)", None, d)
    run(db, "SELECT pgmosaic.set_bands('pub', ARRAY['red', 'nir'])", None, d)
    files = scene["files"]
    run(db, "SELECT pgmosaic.add_item('pub', %s::jsonb, '{\"publish_batch\": \"b1\"}')",
        (json.dumps({"red": files["red"], "nir": files["nir"]}),), d)
    assert db.query("SELECT count(*) FROM pgmosaic.items('pub')")[0][0] == 0
    assert db.query("SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                    "ON m.id = i.mosaic_id WHERE m.name = 'pub'")[0][0] == 1
    (n,), = run(db, "SELECT pgmosaic.publish('pub', 'b1')", None, d)[0:1]
    assert n == 1
    assert db.query("SELECT count(*) FROM pgmosaic.items('pub')")[0][0] == 1
    # ogr2ogr in batches of one file, the third unreadable: with PUBLISH=AT_END nothing stays
    one = [sampledata.make_cog(os.path.join(d, f"pub{k}.tif"), scene["data"][:3, :50, :50],
                               (X0 + k * 500 * RES, Y0), RES, nodata=0) for k in range(2)]
    bad = os.path.join(d, "pub_bad.tif")
    with open(bad, "w") as f:
        f.write("not a raster")
    os.chmod(bad, 0o644)
    csv = os.path.join(d, "pub.csv")
    with open(csv, "w") as f:
        f.write("location,note\n" + "\n".join(p + ",x" for p in one + [bad]) + "\n")
    for publish, left in [("AT_END", 0), ("IMMEDIATE", 2)]:
        out = subprocess.run(["ogr2ogr", "-f", "PGMOSAIC", db.mosaic(f"pub_{publish.lower()}"),
                              csv, "-nln", "items", "-lco", "BATCH_SIZE=1", "-lco",
                              f"PUBLISH={publish}"], capture_output=True, text=True)
        assert out.returncode != 0 and "pub_bad.tif" in out.stderr, out.stderr
        (count,), = db.query("SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                             "ON m.id = i.mosaic_id WHERE m.name = %s", (f"pub_{publish.lower()}",))
        assert count == left, publish
    # and with every file readable, all of them at the end
    with open(csv, "w") as f:
        f.write("location,note\n" + "\n".join(p + ",x" for p in one) + "\n")
    out = subprocess.run(["ogr2ogr", "-f", "PGMOSAIC", db.mosaic("pub_ok"), csv, "-nln", "items",
                          "-lco", "BATCH_SIZE=1", "-lco", "PUBLISH=AT_END"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert db.query("SELECT count(*) FROM pgmosaic.items('pub_ok')")[0][0] == 2
    assert db.query("SELECT count(*) FROM pgmosaic.item WHERE batch IS NOT NULL")[0][0] == 0
