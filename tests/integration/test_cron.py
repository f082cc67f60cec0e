"""Maintenance on a schedule with pg_cron (optional: the extension never needs it): a cluster
started here with shared_preload_libraries=pg_cron runs the jobs the README documents (every
minute), and they do their work: a file changed on disk is re-inspected by the scheduled
sync(), which marks the mosaic-wide overview tiles over it stale (reads then show the new
pixels), and the scheduled ANALYZE refreshes the catalog's planner statistics;
cron.job_run_details says both succeeded. Skipped when pg_cron is not installed."""

import os
import subprocess
import tempfile
import time

import numpy as np
import psycopg2
import pytest
from osgeo import gdal

import sampledata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGCLUSTER = os.path.join(REPO, "scripts", "pgcluster.sh")
DB = "pgmosaic_cron"
TILE, RES, X0, Y0 = 256, 10.0, 500000.0, 5000000.0


def pg_cron_installed():
    libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True,
                            text=True).stdout.strip()
    return os.path.exists(os.path.join(libdir, "pg_cron.so"))


pytestmark = pytest.mark.skipif(not pg_cron_installed(),
                                reason="pg_cron is not installed (postgresql-15-cron)")


def wait_for(what, check, timeout=30):
    """check()'s first true value, polled; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server():
    """A cluster with pg_cron preloaded (jobs in database DB, run by background workers), a
    database with pgmosaic and pg_cron, and backend file access set for the database (the
    jobs' sessions read it like any other)."""
    top = tempfile.mkdtemp(prefix="pgmosaic-cron-")
    os.chmod(top, 0o755)
    cdir, data = os.path.join(top, "cluster"), os.path.join(top, "data")
    os.makedirs(data)
    os.chmod(data, 0o755)
    try:
        subprocess.run([PGCLUSTER, "start", cdir, "shared_preload_libraries=pg_cron",
                        f"cron.database_name={DB}", "cron.use_background_workers=on",
                        "max_worker_processes=16"], check=True, capture_output=True)
        with open(os.path.join(cdir, "env")) as f:
            port = next(line.split("=")[1].strip() for line in f if "PGPORT" in line)
        conninfo = f"host=127.0.0.1 port={port} user=postgres dbname={DB}"
        admin = psycopg2.connect(conninfo.replace(f"dbname={DB}", "dbname=postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
        admin.close()
        conn = psycopg2.connect(conninfo)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION pgmosaic CASCADE")
            cur.execute("CREATE EXTENSION pg_cron")
            cur.execute(f"ALTER DATABASE {DB} SET pgmosaic.enable_file_access = on")
            cur.execute(f"ALTER DATABASE {DB} SET pgmosaic.allowed_roots = %s", (data,))
        conn.close()
        yield conninfo, data
    finally:
        subprocess.run([PGCLUSTER, "stop", cdir])
        subprocess.run(["rm", "-rf", top])


def query(conninfo, sql, params=None):
    conn = psycopg2.connect(conninfo)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def overview(name):
    ds = gdal.Open(name)
    try:
        return ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, TILE // 2, TILE // 2)
    finally:
        ds = None


def test_scheduled_sync_and_analyze_run_and_do_their_work(server):
    conninfo, data = server
    src, managed = os.path.join(data, "src"), os.path.join(data, "managed")
    paths = sampledata.make_tile_grid(src, 2, 2, TILE, origin=(X0, Y0), res=RES)
    os.makedirs(managed)
    os.chmod(managed, 0o777)
    query(conninfo, "SELECT pgmosaic.create_mosaic('cr', 32631)")
    for p in paths:
        query(conninfo, "SELECT pgmosaic.add_raster('cr', %s)", (p,))
    query(conninfo, "INSERT INTO pgmosaic.path_root VALUES ('cr', %s)", (managed,))
    name = f"PGMOSAIC:{conninfo} mosaic=cr"
    r = subprocess.run(["gdaladdo", "-r", "nearest", name, "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    levels = "SELECT level, tiles, stale_tiles FROM pgmosaic.overview_levels('cr')"
    assert query(conninfo, levels) == [(1, 1, 0)]
    (mtime,), = query(conninfo, "SELECT file_mtime FROM pgmosaic.item WHERE path = %s",
                      (paths[0],))
    built = overview(name)  # the first tile's quarter of the level-1 overview tile

    # The first tile rewritten in place with other pixels.
    new = sampledata.tile_pixels(np.random.default_rng(99), 3, TILE, TILE, 7)
    sampledata.make_cog(paths[0] + ".new.tif", new, (X0, Y0), RES, nodata=0)
    os.replace(paths[0] + ".new.tif", paths[0])
    later = time.time() + 5
    os.utime(paths[0], (later, later))
    # The jobs as the README schedules them, every minute (Debian 12's pg_cron 1.4 has no
    # schedules in seconds): both run at the next minute.
    query(conninfo, "SELECT cron.schedule('pgmosaic sync cr', '* * * * *', "
                    "$$SELECT count(*) FROM pgmosaic.sync('cr')$$)")
    query(conninfo, "SELECT cron.schedule('pgmosaic analyze', '* * * * *', "
                    "'ANALYZE pgmosaic.item, pgmosaic.tile')")
    try:
        # Noticed by the scheduled sync: re-inspected, and the overview tile over it stale.
        wait_for("the scheduled sync re-inspects the changed file", timeout=90, check=lambda: query(
            conninfo, "SELECT file_mtime <> %s FROM pgmosaic.item WHERE path = %s",
            (mtime, paths[0]))[0][0])
        assert query(conninfo, levels) == [(1, 1, 1)]
        ds = gdal.Open(name)
        assert np.array_equal(ds.ReadAsArray(0, 0, TILE, TILE), new)
        # Zoomed out, the stale tile is left out (the sources' own overviews instead).
        zoomed = ds.GetRasterBand(1).GetOverview(0).ReadAsArray(0, 0, TILE // 2, TILE // 2)
        ds = None
        assert not np.array_equal(zoomed, built)
        r = subprocess.run(["gdaladdo", "-r", "nearest", name, "2"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        assert query(conninfo, levels) == [(1, 1, 0)]
        assert not np.array_equal(overview(name), built)
        # The planner statistics refreshed by the scheduled ANALYZE.
        wait_for("the scheduled ANALYZE", lambda: query(
            conninfo, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                      "WHERE relid = 'pgmosaic.item'::regclass")[0][0])
        runs = "SELECT DISTINCT j.jobname, d.status FROM cron.job_run_details d " \
               "JOIN cron.job j USING (jobid) ORDER BY 1, 2"
        wait_for("both jobs' runs recorded as succeeded", lambda: {
            ("pgmosaic analyze", "succeeded"), ("pgmosaic sync cr", "succeeded")} <= set(
            query(conninfo, runs)))
        assert all(status in ("succeeded", "running") for _, status in query(conninfo, runs)), \
            query(conninfo, "SELECT status, return_message FROM cron.job_run_details")
    finally:
        query(conninfo, "SELECT cron.unschedule(jobname) FROM cron.job")
