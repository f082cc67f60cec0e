"""The driver's connection pool: a process that opens datasets again and again reuses one idle
server connection (no new backend, no PostGIS load per open), never hands out a connection the
server has ended, and keeps none when PGMOSAIC_CONNECTION_POOL_SIZE is 0."""

import os
import time

import pytest
from osgeo import gdal

import sampledata


@pytest.fixture(scope="module")
def mosaic(db, datadir):
    d = os.path.join(datadir, "pool")
    db.register("pool", sampledata.make_tile_grid(d, 2, 1, 64), [d])
    return db.mosaic("pool")


def backends(db):
    """Backend pids of pgmosaic connections to the test database."""
    return sorted(r[0] for r in db.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'pgmosaic'",
        (db.name,)))


def settled_backends(db, count):
    """backends(db) once it has `count` entries (an ended backend leaves pg_stat_activity a
    moment after its client closed), or as it is after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        pids = backends(db)
        if len(pids) == count or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def open_read_close(name):
    ds = gdal.OpenEx(name, gdal.OF_RASTER)
    data = ds.ReadRaster(0, 0, ds.RasterXSize, ds.RasterYSize)
    ds = None
    return data


def test_reopening_reuses_one_server_connection(db, mosaic):
    first = open_read_close(mosaic)
    pids = backends(db)
    assert len(pids) == 1, "one idle connection kept after the dataset closed"
    for _ in range(4):
        assert open_read_close(mosaic) == first
        assert backends(db) == pids


def test_two_open_datasets_use_two_connections(db, mosaic):
    a = gdal.OpenEx(mosaic, gdal.OF_RASTER)
    b = gdal.OpenEx(mosaic, gdal.OF_RASTER)
    assert a.ReadRaster(0, 0, 8, 8) == b.ReadRaster(0, 0, 8, 8)
    assert len(backends(db)) == 2
    a = b = None
    assert len(backends(db)) == 2, "both kept idle (the default keeps up to 4)"


def test_connection_ended_by_the_server_is_replaced(db, mosaic):
    first = open_read_close(mosaic)
    ended = backends(db)
    assert ended
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND "
             "application_name = 'pgmosaic'", (db.name,))
    assert open_read_close(mosaic) == first
    now = settled_backends(db, 1)
    assert len(now) == 1 and now[0] not in ended


def test_pool_size_zero_keeps_no_connection(db, mosaic):
    gdal.SetConfigOption("PGMOSAIC_CONNECTION_POOL_SIZE", "0")
    try:
        open_read_close(mosaic)
        assert settled_backends(db, 0) == []
    finally:
        gdal.SetConfigOption("PGMOSAIC_CONNECTION_POOL_SIZE", None)
    open_read_close(mosaic)
    assert len(backends(db)) == 1


def test_settings_a_filter_changes_do_not_reach_the_next_dataset(db, mosaic):
    """where= is SQL: a filter that changes a setting of its session (set_config) leaves it to
    the connection, which the next dataset reuses: settings go back to the session's first."""
    leak = gdal.OpenEx(mosaic, gdal.OF_RASTER, open_options=[
        "WHERE=set_config('pgmosaic_test.x', 'leak', false) IS NOT NULL"])
    first = leak.ReadRaster(0, 0, 8, 8)
    leak = None
    assert len(backends(db)) >= 1
    clean = gdal.OpenEx(mosaic, gdal.OF_RASTER, open_options=[
        "WHERE=current_setting('pgmosaic_test.x', true) IS DISTINCT FROM 'leak'"])
    assert clean.ReadRaster(0, 0, 8, 8) == first, "the setting leaked: the filter hid the items"
