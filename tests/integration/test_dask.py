"""Distributed work with Dask (python/pgmosaic_dask): a LocalCluster of two worker processes on
loopback builds a mosaic's overviews, computes zonal statistics and registers files, each
equal to the single-process path (gdaladdo on the PGMOSAIC dataset, one zonal_stats call,
ogr2ogr), also when a worker is killed in the middle of a task."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

import sampledata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYDIR = os.path.join(REPO, "python")
sys.path.insert(0, PYDIR)

distributed = pytest.importorskip("distributed")
import pgmosaic_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # Worker processes import this checkout's module (and inherit GDAL_DRIVER_PATH).
    os.environ["PYTHONPATH"] = PYDIR + os.pathsep + os.environ.get("PYTHONPATH", "")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def files(datadir):
    """A 3x3 grid of 1000-pixel RGB COGs (nodata 0, a nodata corner in some): a 3000x3000
    mosaic whose level 1 has 2x2 overview tiles of 1024 and level 2 one."""
    return sampledata.make_tile_grid(os.path.join(datadir, "dask_src"), 3, 3, 1000,
                                     nodata_every=4, seed=17)


def managed_mosaic(db, datadir, name, files):
    db.register(name, files, [os.path.dirname(files[0])])
    root = os.path.join(datadir, name + "_root")
    os.makedirs(root)
    os.chmod(root, 0o777)
    db.query("INSERT INTO pgmosaic.path_root VALUES (%s, %s)", (name, root))
    return root


def levels_digest(db, name, count):
    """Each overview level's pixels through the driver (mosaic-wide tiles), with the GDAL
    checksums of its bands."""
    ds = gdal.Open(db.mosaic(name))
    out = []
    for i in range(count):
        bands = [ds.GetRasterBand(b).GetOverview(i) for b in (1, 2, 3)]
        arr = np.stack([b.ReadAsArray() for b in bands])
        out.append(([b.Checksum() for b in bands], hashlib.sha1(arr.tobytes()).hexdigest()))
    return out


def overview_rows(db, name):
    return db.query("SELECT overview_level, regexp_replace(path::text, '^@[^/]+/[^/]+', ''), "
                    "status, width, height, file_size > 0 FROM pgmosaic.item i "
                    "JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = %s "
                    "AND category = 'overview' ORDER BY 1, 2", (name,))


@pytest.fixture(scope="module")
def single(db, datadir, files):
    """The single-process reference: gdaladdo -r average on the PGMOSAIC dataset."""
    managed_mosaic(db, datadir, "single", files)
    r = subprocess.run(["gdaladdo", "-r", "average", db.mosaic("single"), "2", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return levels_digest(db, "single", 2), overview_rows(db, "single")


def test_overviews_on_two_workers_equal_gdaladdo(db, datadir, files, client, single):
    managed_mosaic(db, datadir, "dist", files)
    assert pgmosaic_dask.plan_overviews(db.conninfo, "dist", [2, 4]) == {
        1: [(0, 0), (1, 0), (0, 1), (1, 1)], 2: [(0, 0)]}
    results = pgmosaic_dask.build_overviews(client, db.conninfo, "dist", [2, 4], "average")
    assert len(results) == 5 and sum(r["tiles"] for r in results) == 5
    # Both workers took tasks.
    assert len(pgmosaic_dask.balance(results)) == 2
    assert overview_rows(db, "dist") == single[1]
    assert levels_digest(db, "dist", 2) == single[0]
    # Nothing left to do: a second run plans nothing.
    assert pgmosaic_dask.plan_overviews(db.conninfo, "dist", [2, 4]) == {1: [], 2: []}


def test_overviews_with_a_worker_killed_mid_task_equal_gdaladdo(db, datadir, files, client,
                                                                 single, tmp_path):
    managed_mosaic(db, datadir, "killed", files)
    marker = str(tmp_path / "killed")
    results = pgmosaic_dask.build_overviews(client, db.conninfo, "killed", [2, 4], "average",
                                            hook=pgmosaic_dask.KillOnce(marker, delay=0.05))
    assert os.path.exists(marker)  # a worker died in a task; Dask ran that task again
    killed_pid = int(open(marker).read().split()[0])
    assert killed_pid not in {r["pid"] for r in results}
    assert sum(r["tiles"] for r in results) == 5
    assert overview_rows(db, "killed") == single[1]
    assert levels_digest(db, "killed", 2) == single[0]


def test_stale_tiles_only_are_rebuilt_by_tasks(db, datadir, files, client, single):
    """After an item changes, the plan holds exactly the stale tiles, and building them makes
    the levels equal gdaladdo's incremental rebuild."""
    d = os.path.dirname(files[0])
    patch = sampledata.make_cog(os.path.join(d, "patch.tif"),
                                np.full((3, 100, 100), 250, dtype="uint8"),
                                (525000.0, 4975000.0), 10.0, nodata=0, overviews=False)
    for name in ("single", "dist"):
        db.register_into(name, [patch], [d])
    stale = pgmosaic_dask.plan_overviews(db.conninfo, "dist", [2, 4])
    assert stale == {1: [(1, 1)], 2: [(0, 0)]}
    subprocess.run(["gdaladdo", "-r", "average", db.mosaic("single"), "2", "4"], check=True,
                   capture_output=True)
    results = pgmosaic_dask.build_overviews(client, db.conninfo, "dist", [2, 4], "average",
                                            tiles_per_task=2)
    assert sum(r["tiles"] for r in results) == 2
    assert overview_rows(db, "dist") == overview_rows(db, "single")
    assert levels_digest(db, "dist", 2) == levels_digest(db, "single", 2)


def zones(n, seed=5):
    """n polygons over and around the mosaic (500000..530000, 4970000..5000000): boxes and
    triangles, some crossing item edges, some outside."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x, y = rng.uniform(499000, 531000), rng.uniform(4969000, 5001000)
        w, h = rng.uniform(50, 3000, size=2)
        if i % 3:
            wkt = (f"POLYGON(({x} {y},{x + w} {y},{x + w} {y + h},{x} {y + h},{x} {y}))")
        else:
            wkt = f"POLYGON(({x} {y},{x + w} {y},{x} {y + h},{x} {y}))"
        out.append((1000 + i, "SRID=32631;" + wkt))
    return out


FILES_ON = {"pgmosaic.enable_file_access": "on"}


def single_zonal(db, files, zs, exact=True):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET pgmosaic.enable_file_access = on")
            cur.execute("SET pgmosaic.allowed_roots = %s", (os.path.dirname(files[0]),))
            cur.execute("SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
                        "'single', %s::text[]::geometry[], 2, %s) ORDER BY n",
                        ([g for _, g in zs], exact))
            return [(k,) + tuple(r) for (k, _), r in zip(zs, cur.fetchall())]
    finally:
        conn.close()


@pytest.mark.parametrize("exact", [True, False])
def test_zonal_stats_in_batches_equal_one_sql_call(db, files, client, single, exact):
    zs = zones(60)
    expected = single_zonal(db, files, zs, exact)
    assert sum(1 for r in expected if r[1]) > 30  # most zones meet pixels
    settings = dict(FILES_ON, **{"pgmosaic.allowed_roots": os.path.dirname(files[0])})
    rows, results = pgmosaic_dask.zonal_stats(client, db.conninfo, "single", zs, band=2,
                                              exact=exact, batch_size=7, settings=settings)
    assert len(results) == 9
    assert rows == expected


def test_zonal_stats_into_a_table_with_a_worker_killed(db, files, client, single, tmp_path):
    zs = zones(40, seed=9)
    expected = single_zonal(db, files, zs)
    settings = dict(FILES_ON, **{"pgmosaic.allowed_roots": os.path.dirname(files[0])})
    marker = str(tmp_path / "killed")
    rows, _ = pgmosaic_dask.zonal_stats(client, db.conninfo, "single", zs, band=2,
                                        batch_size=5, settings=settings, into="public.zs_out",
                                        hook=pgmosaic_dask.KillOnce(marker, delay=0.0))
    assert os.path.exists(marker)
    assert rows == expected
    stored = db.query("SELECT zone, count, min, max, mean, stddev, sum FROM zs_out ORDER BY zone")
    assert [tuple(r) for r in stored] == expected


ITEM = ("to_jsonb(i) - 'id' - 'mosaic_id' - 'registered' - 'changed' - 'footprint' || "
        "jsonb_build_object('footprint', ST_AsText(i.footprint))")


def catalog(db, name):
    """Every item (all columns but id and registration time) and its DRAD tiles, by path (the
    boundaries are compared apart: a union made in another order has its vertices in another
    order)."""
    items = db.query(f"SELECT i.path::text, {ITEM} FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                     "ON m.id = i.mosaic_id WHERE m.name = %s ORDER BY 1", (name,))
    tiles = db.query("SELECT i.path::text, t.level, t.key::text, ST_AsText(t.bounds), "
                     "t.byte_offset, t.byte_length, t.empty, t.stats FROM pgmosaic.tile t "
                     "JOIN pgmosaic.item i ON i.mosaic_id = t.mosaic_id AND i.id = t.item_id "
                     "JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id WHERE m.name = %s "
                     "ORDER BY 1, 2, 3", (name,))
    return items, tiles


@pytest.fixture(scope="module")
def many_files(datadir):
    """24 small COGs side by side (no overlaps: mosaic order cannot matter)."""
    return sampledata.make_tile_grid(os.path.join(datadir, "dask_reg"), 6, 4, 300,
                                     nodata_every=3, seed=3)


@pytest.fixture(scope="module")
def ogr2ogr_reference(db, many_files, tmp_path_factory):
    index = str(tmp_path_factory.mktemp("reg") / "index.gpkg")
    subprocess.run(["gdaltindex", "-f", "GPKG", index] + many_files, check=True,
                   capture_output=True)
    subprocess.run(["ogr2ogr", "-update", f"PGMOSAIC:{db.conninfo}", index, "-nln",
                    "reg_single.items"], check=True, capture_output=True)
    return catalog(db, "reg_single")


@pytest.mark.parametrize("kill", [False, True])
def test_registration_in_batches_equals_ogr2ogr(db, many_files, client, ogr2ogr_reference,
                                                tmp_path, kill):
    name = "reg_killed" if kill else "reg_dist"
    marker = str(tmp_path / "killed")
    hook = pgmosaic_dask.KillOnce(marker, delay=0.05) if kill else None
    results = pgmosaic_dask.register_files(client, db.conninfo, name, many_files, batch_size=5,
                                           hook=hook)
    assert sum(r["files"] for r in results) == len(many_files)
    assert os.path.exists(marker) == kill
    assert catalog(db, name) == ogr2ogr_reference
    assert db.query("SELECT ST_Equals(a.boundary, b.boundary), a.srid = b.srid, "
                    "ST_NPoints(a.boundary) > 4 FROM pgmosaic.mosaic a, pgmosaic.mosaic b "
                    "WHERE a.name = %s AND b.name = 'reg_single'", (name,)) == [(True,) * 3]
    # Run again: nothing is added twice.
    pgmosaic_dask.register_files(client, db.conninfo, name, many_files, batch_size=5)
    assert catalog(db, name) == ogr2ogr_reference
