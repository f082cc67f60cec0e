"""Bad input gets a clear error naming the problem; nothing crashes."""

import os
import shutil
import socket
import subprocess

import pytest
from osgeo import gdal

import sampledata


def open_error(name, **kwargs):
    with pytest.raises(RuntimeError) as e:
        gdal.OpenEx(name, gdal.OF_RASTER, **kwargs)
    return str(e.value)


def test_malformed_connection_string():
    assert "malformed PGMOSAIC connection string: unterminated quoted value for \"dbname\"" in \
        open_error("PGMOSAIC:dbname='gis mosaic=x")
    assert "missing \"=\" after \"dbname\"" in open_error("PGMOSAIC:dbname mosaic=x")


def test_unreachable_database_hides_the_password():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    msg = open_error(f"PGMOSAIC:host=127.0.0.1 port={port} dbname=x password=s3cret mosaic=m")
    assert "cannot connect to the database" in msg
    assert "s3cret" not in msg


def test_unknown_mosaic(db):
    assert 'unknown mosaic "nope"' in open_error(db.mosaic("nope"))


def test_database_without_the_extension(db, cluster):
    db.query("DROP DATABASE IF EXISTS pgmosaic_it_plain")
    db.query("CREATE DATABASE pgmosaic_it_plain")
    try:
        plain = db.conninfo.replace(f"dbname={db.name}", "dbname=pgmosaic_it_plain")
        assert "the database has no pgmosaic extension" in open_error(
            f"PGMOSAIC:{plain} mosaic=m")
    finally:
        db.query("DROP DATABASE pgmosaic_it_plain WITH (FORCE)")


def test_unsupported_option_is_named(db):
    assert 'invalid method "mode": expected first, last, min, max, mean, sum, count, median, ' \
        in open_error(db.mosaic("m") + " method=mode")


def test_pixels_are_read_only(db, datadir):
    d = os.path.join(datadir, "readonly")
    db.register("readonly", sampledata.make_tile_grid(d, 1, 1, 64), [d])
    # Update access exists for gdaladdo; writing pixels is refused.
    ds = gdal.OpenEx(db.mosaic("readonly"), gdal.OF_RASTER | gdal.OF_UPDATE)
    with pytest.raises(RuntimeError, match="the dataset is read-only"):
        ds.WriteRaster(0, 0, 1, 1, b"\0\0\0")
        ds.FlushCache()


def test_empty_mosaic_says_so(db):
    db.query("SELECT pgmosaic.create_mosaic('empty', 32631)")
    assert 'mosaic "empty" has no items yet' in open_error(db.mosaic("empty"))


def test_missing_file_at_read_time_names_item_and_path(db, datadir):
    d = os.path.join(datadir, "vanishing")
    paths = sampledata.make_tile_grid(d, 2, 1, 300)
    ids = db.register("vanishing", paths, [d])
    ds = gdal.Open(db.mosaic("vanishing"))
    assert ds.ReadRaster(0, 0, 10, 10) is not None
    os.remove(paths[1])
    ds = gdal.Open(db.mosaic("vanishing"))
    with pytest.raises(RuntimeError,
                       match=rf"cannot open item {ids[1]} \({paths[1]}\)"):
        ds.ReadRaster(290, 0, 20, 20)
    # The part the missing file does not touch still reads.
    assert ds.ReadRaster(0, 0, 10, 10) is not None


def test_gdalinfo_reports_errors_without_crashing(db):
    r = subprocess.run(["gdalinfo", db.mosaic("nope")], capture_output=True, text=True)
    assert r.returncode != 0
    assert 'unknown mosaic "nope"' in r.stderr


def test_ogrinfo_on_an_unknown_mosaic_fails(db):
    # ogrinfo retries a failed open in update mode: that open must fail too, or it lists
    # nothing and exits 0.
    r = subprocess.run(["ogrinfo", "-so", db.mosaic("nope")], capture_output=True, text=True)
    assert r.returncode != 0
    assert 'unknown mosaic "nope"' in r.stderr
    r = subprocess.run(["ogr2ogr", "-update", db.mosaic("nope"), db.mosaic("nope")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and '"ogr2ogr -f PGMOSAIC" instead of -update' in r.stderr
    assert db.query("SELECT count(*) FROM pgmosaic.mosaic WHERE name = 'nope'")[0][0] == 0
