"""Mosaic-wide overviews (DAD) built by gdaladdo: pixels, levels built from the level below,
reads that use them, staleness when items change, incremental rebuilds."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from osgeo import gdal

import sampledata


@pytest.fixture(scope="module")
def built(db, datadir):
    """A 2x2 grid of 700-pixel tiles without internal overviews, and a managed root; levels
    1 and 2 built with nearest."""
    d = os.path.join(datadir, "dad")
    root = os.path.join(datadir, "dad_root")
    os.makedirs(root)
    os.chmod(root, 0o777)
    os.makedirs(d)
    os.chmod(d, 0o755)
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


def test_gdaladdo_clean_removes_the_levels(built):
    db, _, root = built
    subprocess.run(["gdaladdo", "-clean", db.mosaic("dad")], check=True, capture_output=True)
    assert levels(db) == []
    assert not os.path.exists(os.path.join(root, "dad_overviews/L1/r00000_c00000.tif"))


def test_gdaladdo_errors_are_clear(built):
    db, _, _ = built
    r = subprocess.run(["gdaladdo", db.mosaic("dad"), "3"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "overview factor 3 is not a power of two" in r.stderr
