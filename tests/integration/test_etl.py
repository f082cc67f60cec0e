"""Loading mosaics with the tools GIS people script: gdaltindex + ogr2ogr, a CSV file list,
gdal_translate -of PGMOSAIC; with true footprints and statistics."""

import math
import os
import subprocess

import numpy as np
import pytest
from osgeo import gdal, osr

import sampledata


def run(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({r.returncode}): {r.stderr}")
    return r


def conn(db, mosaic=None):
    return f"PGMOSAIC:{db.conninfo}" + (f" mosaic={mosaic}" if mosaic else "")


@pytest.fixture(scope="module")
def tiles(datadir):
    d = os.path.join(datadir, "etl_tiles")
    return sampledata.make_tile_grid(d, 3, 2, 300, overlap=20, nodata_every=2)


def test_gdaltindex_then_ogr2ogr_registers_every_file(db, tiles, tmp_path):
    index = str(tmp_path / "index.gpkg")
    run("gdaltindex", index, *tiles)
    # -f PGMOSAIC creates the mosaic "etl"; -update opens mosaics that exist (below).
    run("ogr2ogr", "-f", "PGMOSAIC", conn(db, "etl"), index, "-nln", "items", "-progress")
    rows = db.query("SELECT path::text, ST_SRID(footprint), statistics IS NOT NULL, is_cog "
                    "FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id "
                    "WHERE m.name = 'etl' ORDER BY i.id")
    assert [r[0] for r in rows] == tiles
    assert all(r[1] == 32631 and r[2] and r[3] for r in rows)
    # The loaded mosaic reads like a VRT of the index's files in the same order.
    vrt = gdal.BuildVRT("/vsimem/etl.vrt", tiles)
    assert gdal.Open(conn(db, "etl")).ReadRaster() == vrt.ReadRaster()
    # The tile with a nodata corner has a footprint smaller than its extent.
    cut = db.query("SELECT ST_Area(footprint) / (300.0 * 300 * 100) FROM pgmosaic.item "
                   "WHERE path = %s", (tiles[0],))[0][0]
    assert 0.85 < cut < 0.95  # a 150-pixel triangle (12.5%) is cut off, less the margin


def test_items_layer_reads_back(db, tiles):
    ds = gdal.OpenEx(conn(db, "etl"), gdal.OF_VECTOR)
    layer = ds.GetLayerByName("items")
    assert layer.GetFeatureCount() == len(tiles)
    f = layer.GetNextFeature()
    assert f.GetGeometryRef().GetGeometryName() == "MULTIPOLYGON"
    assert f["path"] == tiles[0]
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32631"
    layer.SetSpatialFilterRect(500000, 4997500, 500100, 4997600)
    assert layer.GetFeatureCount() == 1
    b = ds.GetLayerByName("boundary").GetNextFeature()
    assert b["item_count"] == len(tiles)


def test_layers_count_fast_so_ogr2ogr_shows_progress(db, tiles, tmp_path):
    ds = gdal.OpenEx(conn(db, "etl"), gdal.OF_VECTOR)
    items = ds.GetLayerByName("items")
    # A spatial filter is counted by the server, with the same answer as the features read.
    minx, maxx, miny, maxy = items.GetExtent()
    items.SetSpatialFilterRect(minx, miny, minx + (maxx - minx) / 4, maxy)
    assert items.TestCapability("FastFeatureCount")
    read = sum(1 for _ in items)
    assert 0 < read < len(tiles) and items.GetFeatureCount() == read
    items.SetSpatialFilter(None)
    for name in ("items", "boundary", "themes"):
        assert ds.GetLayerByName(name).TestCapability("FastFeatureCount"), name
    assert ds.GetLayerByName("boundary").GetFeatureCount() == 1
    assert ds.GetLayerByName("themes").GetFeatureCount() == len(list(ds.GetLayerByName("themes")))
    out = str(tmp_path / "copy.gpkg")
    r = run("ogr2ogr", "-progress", out, conn(db, "etl"))
    assert "Progress turned off" not in r.stderr and "100 - done" in r.stdout
    assert gdal.OpenEx(out).GetLayerByName("items").GetFeatureCount() == len(tiles)


def test_loading_the_same_index_twice_does_not_duplicate(db, tiles, tmp_path):
    index = str(tmp_path / "again.gpkg")
    run("gdaltindex", index, *tiles)
    run("ogr2ogr", "-update", conn(db, "etl"), index, "-nln", "items")
    assert db.query("SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                    "ON m.id = i.mosaic_id WHERE m.name = 'etl'")[0][0] == len(tiles)
    r = run("ogr2ogr", "-update", conn(db, "etl"), index, "-nln", "items",
            "-doo", "ON_DUPLICATE=FAIL", check=False)
    assert r.returncode != 0 and "already registered" in r.stderr


def test_csv_file_list_sets_columns_and_attributes(db, tiles, tmp_path):
    csv = tmp_path / "files.csv"
    csv.write_text("path,acquired,cloud_cover,sensor\n" +
                   "".join(f"{p},2024-05-0{i + 1}T10:00:00Z,{i * 10},S2\n"
                           for i, p in enumerate(tiles[:3])))
    run("ogr2ogr", "-update", conn(db), str(csv), "-nln", "csvload.items",
        "-oo", "AUTODETECT_TYPE=YES")
    rows = db.query("SELECT i.path, i.cloud_cover, lower(i.acquired) AT TIME ZONE 'UTC', "
                    "i.attributes FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                    "ON m.id = i.mosaic_id WHERE m.name = 'csvload' ORDER BY i.id")
    assert [r[0] for r in rows] == tiles[:3]
    assert [r[1] for r in rows] == [0, 10, 20]
    assert rows[1][2].isoformat() == "2024-05-02T10:00:00"
    assert rows[0][3] == {"sensor": "S2"}


def test_corrupt_file_fails_the_batch_or_is_skipped(db, tiles, tmp_path, datadir):
    bad = os.path.join(datadir, "etl_tiles", "corrupt.tif")
    with open(bad, "w") as f:
        f.write("not a raster")
    csv = tmp_path / "bad.csv"
    # (GDAL 3.6's CSV driver needs two columns to recognise a file list.)
    csv.write_text("path,batch\n" + tiles[0] + ",1\n" + bad + ",1\n" + tiles[1] + ",1\n")
    r = run("ogr2ogr", "-update", conn(db), str(csv), "-nln", "badload.items", check=False)
    assert r.returncode != 0
    assert f"cannot register {bad}" in r.stderr
    count = "SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = " \
            "i.mosaic_id WHERE m.name = 'badload'"
    assert db.query(count)[0][0] == 0  # the batch registered nothing
    r = run("ogr2ogr", "-update", conn(db), str(csv), "-nln", "badload.items",
            "-doo", "SKIP_BAD=YES")
    assert f"skipped {bad}" in r.stderr
    assert db.query(count)[0][0] == 2


def test_a_failing_batch_leaves_earlier_batches_whole(db, tiles, tmp_path, datadir):
    bad = os.path.join(datadir, "etl_tiles", "corrupt.tif")
    csv = tmp_path / "batches.csv"
    # Batches of 2: [t0, t1] registers, [t2, bad] fails whole, t3.. never comes.
    csv.write_text("path,batch\n" + "".join(f"{p},1\n" for p in
                                            [tiles[0], tiles[1], tiles[2], bad, tiles[3]]))
    r = run("ogr2ogr", "-update", conn(db), str(csv), "-nln", "batches.items",
            "-doo", "BATCH_SIZE=2", check=False)
    assert r.returncode != 0
    rows = db.query("SELECT i.path FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                    "ON m.id = i.mosaic_id WHERE m.name = 'batches' ORDER BY i.id")
    assert [r[0] for r in rows] == tiles[:2]


def make_scan(path, rotated):
    """A 400x300 'scan' whose valid data is framed by a nodata collar, optionally on a rotated
    geotransform. Returns the number of valid pixels and the pixel area."""
    w, h = 400, 300
    a = np.zeros((1, h, w), dtype="uint8")
    a[0, 30:270, 40:360] = 100
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
    if rotated:
        t = math.radians(20)
        mem.SetGeoTransform((600000, 2 * math.cos(t), 2 * math.sin(t),
                             5100000, 2 * math.sin(t), -2 * math.cos(t)))
    else:
        mem.SetGeoTransform((600000, 2, 0, 5100000, 0, -2))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).SetNoDataValue(0)
    mem.GetRasterBand(1).WriteArray(a[0])
    gdal.GetDriverByName("GTiff").CreateCopy(path, mem)
    os.chmod(path, 0o644)
    return int((a > 0).sum()), 4.0


@pytest.mark.parametrize("rotated", [False, True])
def test_footprint_hugs_the_valid_data(db, datadir, tmp_path, rotated):
    d = os.path.join(datadir, "scans")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    path = os.path.join(d, f"scan_{int(rotated)}.tif")
    valid, pixel_area = make_scan(path, rotated)
    csv = tmp_path / "scan.csv"
    csv.write_text(f"path,kind\n{path},scan\n")
    run("ogr2ogr", "-update", conn(db), str(csv), "-nln", f"scans{int(rotated)}.items")
    area, extent_area = db.query(
        "SELECT ST_Area(footprint), ST_Area(ST_Envelope(footprint)) FROM pgmosaic.item "
        "WHERE path = %s", (path,))[0]
    # Within 3% of the valid-pixel area (the frame is 400*300: 60% more than the data).
    assert abs(area / (valid * pixel_area) - 1) < 0.03
    # Every valid pixel centre is inside.
    ds = gdal.Open(path)
    g = ds.GetGeoTransform()
    pts = [(g[0] + (x + .5) * g[1] + (y + .5) * g[2], g[3] + (x + .5) * g[4] + (y + .5) * g[5])
           for x, y in [(40, 30), (359, 30), (40, 269), (359, 269), (200, 150)]]
    for x, y in pts:
        assert db.query("SELECT ST_Contains(footprint, ST_SetSRID(ST_Point(%s, %s), 32631)) "
                        "FROM pgmosaic.item WHERE path = %s", (x, y, path))[0][0]


def test_statistics_are_recorded(db, tiles):
    stats = db.query("SELECT statistics FROM pgmosaic.item WHERE path = %s", (tiles[1],))[0][0]
    assert len(stats) == 3
    ds = gdal.Open(tiles[1])  # keep the dataset alive while its band is used
    exact_min, exact_max, exact_mean, _ = ds.GetRasterBand(1).ComputeStatistics(False)
    assert abs(stats[0]["mean"] - exact_mean) < 3
    assert stats[0]["p2"] <= stats[0]["p98"] <= exact_max


def test_gdal_translate_writes_a_cog_under_the_managed_root_and_registers_it(
        db, datadir, tmp_path):
    root = os.path.join(datadir, "managed")
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    db.query("INSERT INTO pgmosaic.path_root VALUES ('uploads', %s)", (root,))
    src = str(tmp_path / "upload.tif")
    data = sampledata.tile_pixels(np.random.default_rng(1), 3, 200, 250, 5)
    sampledata.make_cog(src, data, (700000.0, 5100000.0), 10.0, overviews=False)
    run("gdal_translate", "-q", "-of", "PGMOSAIC", src, conn(db, "uploads"))
    written = os.path.join(root, "upload.tif")
    assert os.path.exists(written)
    assert gdal.Open(written).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    assert db.query("SELECT path FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = "
                    "i.mosaic_id WHERE m.name = 'uploads'") == [("@uploads/upload.tif",)]
    assert np.array_equal(gdal.Open(conn(db, "uploads")).ReadAsArray(), data)
    # The same name again is refused, and nothing is half-loaded.
    r = run("gdal_translate", "-q", "-of", "PGMOSAIC", src, conn(db, "uploads"), check=False)
    assert r.returncode != 0 and "exists already" in r.stderr
