"""Reads through PGMOSAIC: against gdalbuildvrt of the same files in the same order."""

import os
import random
import subprocess
import json

import numpy as np
import pytest
from osgeo import gdal

import sampledata

TILE = 600
OVERLAP = 40
STEP = TILE - OVERLAP


@pytest.fixture(scope="module")
def mosaic(db, datadir):
    """A 3x3 grid of COG tiles (sizes not multiples of the block size, overlaps, nodata
    triangles) plus two high-priority patches registered first. Returns the PGMOSAIC: name and
    a VRT of the same files listed bottom to top."""
    d = os.path.join(datadir, "grid")
    tiles = sampledata.make_tile_grid(d, 3, 3, TILE, overlap=OVERLAP, nodata_every=2,
                                      size_jitter=37, blocksize=256)
    rng = np.random.default_rng(7)
    patches = []
    for k, (col, row) in enumerate([(500, 480), (1100, 900)]):
        data = sampledata.tile_pixels(rng, 3, 300, 333, 100 + k)
        data[:, :40, :40] = 0  # a nodata corner: the tile below shows through
        origin = (500000.0 + col * 10.0, 5000000.0 - row * 10.0)
        patches.append(sampledata.make_cog(os.path.join(d, f"patch{k}.tif"), data, origin, 10.0,
                                           nodata=0))
    # Registered first, but priority 1: drawn above all tiles.
    paths = patches + tiles
    db.register("grid", paths, [d], priorities=[1] * len(patches) + [0] * len(tiles))
    vrt = os.path.join(d, "grid.vrt")
    gdal.BuildVRT(vrt, tiles + patches)  # a VRT draws later sources on top
    return db.mosaic("grid"), vrt


def test_dataset_matches_vrt_header(mosaic):
    name, vrt = mosaic
    m, v = gdal.Open(name), gdal.Open(vrt)
    assert m.GetDriver().ShortName == "PGMOSAIC"
    assert (m.RasterXSize, m.RasterYSize, m.RasterCount) == (v.RasterXSize, v.RasterYSize, 3)
    assert m.GetGeoTransform() == pytest.approx(v.GetGeoTransform())
    assert m.GetSpatialRef().GetAuthorityCode(None) == "32631"
    for b in range(1, 4):
        assert m.GetRasterBand(b).DataType == gdal.GDT_Byte
        assert m.GetRasterBand(b).GetNoDataValue() == 0
    assert [m.GetRasterBand(b).GetColorInterpretation() for b in (1, 2, 3)] == [
        gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand]


def windows(width, height):
    """Whole, edges, corners, windows across tile seams and overlaps, single pixels, random."""
    out = [(0, 0, width, height), (0, 0, 1, 1), (width - 1, height - 1, 1, 1),
           (width - 300, height - 200, 300, 200), (0, height - 77, 513, 77)]
    for seam in (STEP, 2 * STEP, TILE, TILE + STEP):
        out += [(seam - 5, seam - 5, 10, 10), (seam - 100, 50, 200, 300),
                (30, seam - 64, 700, 128), (seam - 1, seam - 1, 2, 2)]
    out += [(500, 480, 333, 300), (520, 500, 60, 60), (1090, 890, 400, 400)]  # patches
    rnd = random.Random(1234)
    for _ in range(60):
        w, h = rnd.randint(1, 900), rnd.randint(1, 900)
        out.append((rnd.randint(0, width - w), rnd.randint(0, height - h), w, h))
    return out


def test_windows_are_byte_identical_to_vrt(mosaic):
    name, vrt = mosaic
    m, v = gdal.Open(name), gdal.Open(vrt)
    for win in windows(v.RasterXSize, v.RasterYSize):
        assert m.ReadRaster(*win) == v.ReadRaster(*win), f"window {win}"


def test_band_reads_and_band_subsets_match_vrt(mosaic):
    name, vrt = mosaic
    m, v = gdal.Open(name), gdal.Open(vrt)
    for win in windows(v.RasterXSize, v.RasterYSize)[:25]:
        assert m.GetRasterBand(2).ReadRaster(*win) == v.GetRasterBand(2).ReadRaster(*win), win
        assert (m.ReadRaster(*win, band_list=[3, 1]) == v.ReadRaster(*win, band_list=[3, 1])), win
    # Through GDAL's block cache: a whole band, block by block.
    assert np.array_equal(m.GetRasterBand(1).ReadAsArray(), v.GetRasterBand(1).ReadAsArray())


def test_buffer_type_conversion_matches_vrt(mosaic):
    name, vrt = mosaic
    m, v = gdal.Open(name), gdal.Open(vrt)
    win = (STEP - 50, STEP - 50, 300, 200)
    assert (m.ReadRaster(*win, buf_type=gdal.GDT_Float32) ==
            v.ReadRaster(*win, buf_type=gdal.GDT_Float32))


def test_zoomed_out_read_has_the_right_shape_and_content(mosaic):
    name, vrt = mosaic
    m, v = gdal.Open(name), gdal.Open(vrt)
    a = m.ReadAsArray(buf_xsize=256, buf_ysize=256)
    b = v.ReadAsArray(buf_xsize=256, buf_ysize=256)
    assert a.shape == (3, 256, 256)
    # Both sample the same sources with nearest neighbour, possibly from other overview levels:
    # the same coverage (nodata where nothing is) and close statistics.
    assert np.array_equal(a == 0, b == 0) or np.mean((a == 0) != (b == 0)) < 0.01
    assert abs(float(a.mean()) - float(b.mean())) < 2.0


def test_gdalinfo_opens_the_mosaic(mosaic):
    name, _ = mosaic
    out = subprocess.run(["gdalinfo", "-json", name], check=True, capture_output=True, text=True)
    info = json.loads(out.stdout)
    assert info["driverShortName"] == "PGMOSAIC"
    assert len(info["bands"]) == 3
    assert info["bands"][0]["noDataValue"] == 0
    assert "32631" in info["coordinateSystem"]["wkt"]


def test_gdal_translate_copies_the_mosaic_like_the_vrt(mosaic, tmp_path):
    name, vrt = mosaic
    out_m, out_v = str(tmp_path / "m.tif"), str(tmp_path / "v.tif")
    subprocess.run(["gdal_translate", "-q", name, out_m], check=True)
    subprocess.run(["gdal_translate", "-q", vrt, out_v], check=True)
    m, v = gdal.Open(out_m), gdal.Open(out_v)
    for b in range(1, 4):
        assert m.GetRasterBand(b).Checksum() == v.GetRasterBand(b).Checksum()
    assert np.array_equal(m.ReadAsArray(), v.ReadAsArray())


def test_gdal_translate_writes_a_png_quicklook(mosaic, tmp_path):
    name, _ = mosaic
    png = str(tmp_path / "q.png")
    subprocess.run(["gdal_translate", "-q", "-of", "PNG", "-outsize", "400", "0", name, png],
                   check=True)
    q = gdal.Open(png)
    assert q.RasterXSize == 400 and q.RasterCount == 3
    assert q.ReadAsArray().max() > 0


def test_rasterio_reads_the_mosaic(mosaic):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window
    name, vrt = mosaic
    with rasterio.open(name) as m, rasterio.open(vrt) as v:
        assert m.driver == "PGMOSAIC"
        assert m.shape == v.shape and m.count == 3 and m.crs.to_epsg() == 32631
        win = Window(STEP - 100, STEP - 100, 400, 300)
        assert np.array_equal(m.read(window=win), v.read(window=win))


def test_open_option_names_the_mosaic(db, mosaic):
    ds = gdal.OpenEx(f"PGMOSAIC:{db.conninfo}", gdal.OF_RASTER, open_options=["MOSAIC=grid"])
    assert ds.RasterCount == 3


def test_without_mosaic_lists_subdatasets(db, mosaic):
    ds = gdal.Open(f"PGMOSAIC:{db.conninfo}")
    subs = ds.GetSubDatasets()
    names = [s[0] for s in subs]
    assert f"PGMOSAIC:mosaic=grid {db.conninfo}" in names
    assert any("Mosaic grid (EPSG:32631, 3 bands of Byte)" == s[1] for s in subs)
    assert gdal.Open(names[names.index(f"PGMOSAIC:mosaic=grid {db.conninfo}")]).RasterCount == 3


def test_gdal2tiles_reads_the_path_form(db, mosaic, tmp_path):
    """gdal2tiles.py wants a name that exists as a file: /vsipgmosaic/<conninfo>/<mosaic> does,
    and tiles like the VRT of the same files at the zoom nearest the mosaic's resolution (at
    zooms far out each reads its own overviews: averages of the sources' overviews differ from
    the VRT's by rounding)."""
    name, vrt = mosaic
    out = {}
    for key, src in (("pgm", f"/vsipgmosaic/{db.conninfo}/grid"), ("vrt", vrt)):
        out[key] = tmp_path / key
        r = subprocess.run(["gdal2tiles.py", "-q", "-z", "13", "--processes=2", src,
                            str(out[key])], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    pngs = sorted(p.relative_to(out["vrt"]) for p in out["vrt"].rglob("*.png"))
    assert len(pngs) >= 2
    assert sorted(p.relative_to(out["pgm"]) for p in out["pgm"].rglob("*.png")) == pngs
    for p in pngs:
        a = gdal.Open(str(out["pgm"] / p)).ReadRaster()
        assert a == gdal.Open(str(out["vrt"] / p)).ReadRaster(), str(p)
