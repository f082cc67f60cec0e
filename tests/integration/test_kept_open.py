"""A dataset a server keeps open (MapServer keeps it from one request to the next) answers a
window inside an area it already looked up without querying the items again: the same pixels
as a fresh dataset's read, and every change committed before a read is seen by that read (the
catalog's pgmosaic_dirty notification drops the areas)."""

import os

import numpy as np
import pytest
from osgeo import gdal

import sampledata

# Windows (x, y, w, h) in pixels of the 3x2 grid of 128-pixel tiles overlapping by 16.
WINDOWS = [(0, 0, 64, 64), (100, 20, 80, 90), (200, 150, 120, 70), (5, 120, 340, 110),
           (230, 0, 110, 240), (111, 111, 1, 1)]


@pytest.fixture(scope="module")
def kept(db, datadir):
    d = os.path.join(datadir, "kept")
    paths = sampledata.make_tile_grid(d, 3, 2, 128, overlap=16, nodata_every=2)
    db.register("kept", paths, [d], priorities=[0, 2, 1, 0, 3, 1])
    return db.mosaic("kept"), d


def fresh(name, window):
    """A read through a dataset opened for it, that keeps no areas."""
    gdal.SetConfigOption("PGMOSAIC_ITEM_CACHE_SECONDS", "0")
    try:
        ds = gdal.Open(name)
    finally:
        gdal.SetConfigOption("PGMOSAIC_ITEM_CACHE_SECONDS", None)
    return ds.ReadAsArray(*window)


def last_item_query(db):
    """Per connection of an open dataset (not those idle in the driver's pool), whether its
    last statement was an item lookup."""
    rows = db.query("SELECT query FROM pg_stat_activity WHERE datname = %s AND "
                    "application_name = 'pgmosaic' AND state = 'idle' AND "
                    "query NOT LIKE 'RESET ALL%%'", (db.name,))
    return [("pgmosaic._read_items(" in q) for (q,) in rows]


def test_windows_of_a_kept_dataset_are_a_fresh_dataset_s(db, kept):
    name, _ = kept
    ds = gdal.Open(name)
    first = ds.ReadAsArray(*WINDOWS[0])
    for w in WINDOWS:
        got = ds.ReadAsArray(*w)
        np.testing.assert_array_equal(got, fresh(name, w), err_msg=f"window {w}")
    np.testing.assert_array_equal(ds.ReadAsArray(*WINDOWS[0]), first)
    # The whole mosaic (one cell of the area grid) is looked up at the first read (which opens
    # every item): a later window asks the server nothing but an empty round trip.
    ds = None
    ds2 = gdal.Open(name)
    ds2.ReadAsArray()
    ds2.ReadAsArray(*WINDOWS[2])
    assert last_item_query(db) == [False]


def test_kept_dataset_sees_an_item_added_and_removed_at_once(db, kept, datadir):
    name, d = kept
    w = (90, 40, 150, 100)
    ds = gdal.Open(name)
    before = ds.ReadAsArray(*w)
    # An item on top of the others (priority 10), of other pixel values, over the window.
    top = os.path.join(d, "top.tif")
    sampledata.make_cog(top, np.full((3, 96, 96), 7, dtype=np.uint8),
                        (500000.0 + 100 * 10, 5000000.0 - 50 * 10), 10.0, nodata=0)
    db.register_into("kept", [top], [d], priorities=[10])
    try:
        after = ds.ReadAsArray(*w)
        np.testing.assert_array_equal(after, fresh(name, w))
        assert (after[:, 10:106, 10:106] == 7).all(), "the new item is drawn on top at once"
    finally:
        db.query("SELECT pgmosaic.remove_rasters('kept', ARRAY[%s])", (top,))
    np.testing.assert_array_equal(ds.ReadAsArray(*w), before, "removed: gone at once")


def test_change_of_the_mosaic_order_is_seen_at_once(db, kept):
    name, _ = kept
    w = (100, 0, 60, 128)  # where tiles 0 and 1 overlap
    ds = gdal.Open(name)
    before = ds.ReadAsArray(*w)
    db.query("UPDATE pgmosaic.item SET priority = -priority WHERE mosaic_id = "
             "(SELECT id FROM pgmosaic.mosaic WHERE name = 'kept')")
    try:
        after = ds.ReadAsArray(*w)
        np.testing.assert_array_equal(after, fresh(name, w))
        assert not np.array_equal(after, before), "the overlap shows the other item now"
    finally:
        db.query("UPDATE pgmosaic.item SET priority = -priority WHERE mosaic_id = "
                 "(SELECT id FROM pgmosaic.mosaic WHERE name = 'kept')")
    np.testing.assert_array_equal(ds.ReadAsArray(*w), before)


def test_no_areas_with_a_where_filter_or_when_turned_off(db, kept):
    name, _ = kept
    ds = gdal.Open(name + " where='priority >= 0'")
    ds.ReadAsArray()
    ds.ReadAsArray(*WINDOWS[2])
    assert last_item_query(db) == [True]
    ds = None
    gdal.SetConfigOption("PGMOSAIC_ITEM_CACHE_SECONDS", "0")
    try:
        ds = gdal.Open(name)
    finally:
        gdal.SetConfigOption("PGMOSAIC_ITEM_CACHE_SECONDS", None)
    ds.ReadAsArray()
    ds.ReadAsArray(*WINDOWS[2])
    assert last_item_query(db) == [True]
