#!/usr/bin/python3
"""Distributed work benchmark: pgmosaic's jobs as Dask tasks (python/pgmosaic_dask) on a
LocalCluster of 1, 2 and 4 worker processes on loopback, against the single-process path.

On the read benchmark's tile grid (bench_read.make_tiles, same parameters and --keep
directories: 400 COGs of 1024x1024x3 by default), registered once by add_raster:
  (1) overview build, gdaladdo -r average 2 4 8 (tiles of 1024, ZSTD unless --compress):
      - gdaladdo on the PGMOSAIC dataset (one process, its reader on all CPUs);
      - gdaladdo -ro on a gdalbuildvrt VRT of the same files, like for like (the same
        COMPRESS_OVERVIEW, GDAL_NUM_THREADS=ALL_CPUS), for ZSTD and DEFLATE: the issue's
        target is pgmosaic >= 1.5x the VRT;
      - pgmosaic_dask.build_overviews with 1, 2 and 4 workers (one thread each), one tile per
        task: time, scaling against 1 worker, and the work of each worker (tasks, tiles, busy
        seconds); each result's levels compared with gdaladdo's (band checksums);
      - 2 workers with one killed in the middle of a task (pgmosaic_dask.KillOnce): the
        result compared with gdaladdo's.
  (2) zonal statistics of --zones polygons (band 1, exact), in random order: one
      pgmosaic.zonal_stats call against the Dask tasks (--zone-batch zones each, neighbours
      batched together) on 1 and 2 workers; rows compared.
  (3) registration of the grid's files: ogr2ogr of a gdaltindex index into a new mosaic against
      pgmosaic_dask.register_files (--file-batch files a task) on 1, 2 and 4 workers; the
      catalogs compared (items and DRAD tiles, all but ids and times), and a run with one
      worker killed.
Each case runs --repeat times (the median is printed; overview builds clean the levels first).
The machine's other load is printed with the figures (load average before and after): on a
shared 2-core machine, figures are only comparable within one run.

It needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic, and GDAL_DRIVER_PATH
pointing at gdal_PGMOSAIC.so: tests/bench/run_dask.sh does all that with a throw-away cluster.
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "python"))
import bench_read  # noqa: E402  (the tile grid and the psql helpers)
from bench_read import psql, psql_value, sql_literal  # noqa: E402
import pgmosaic_dask  # noqa: E402

gdal.UseExceptions()
MOSAIC = "dask"
FACTORS = ["2", "4", "8"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_read.add_grid_arguments(p)
    p.add_argument("--keep", metavar="DIR", help="keep the tiles in DIR (shared with run.sh)")
    p.add_argument("--repeat", type=int, default=2, help="runs per case (default 2)")
    p.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    p.add_argument("--zones", type=int, default=10000, help="zonal statistics polygons")
    p.add_argument("--zone-batch", type=int, default=500, help="zones per task")
    p.add_argument("--file-batch", type=int, default=20, help="files per registration task")
    p.add_argument("--skip", default="", help="comma list of parts to skip: overviews,vrt,zonal,register")
    p.add_argument("--dbname", default="pgmosaic_bench_dask")
    return p.parse_args()


def conninfo(dbname):
    return (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} "
            f"user={os.environ['PGUSER']} dbname={dbname}")


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def levels_digest(conn):
    ds = gdal.Open(f"PGMOSAIC:{conn} mosaic={MOSAIC}")
    out = []
    for i in range(ds.GetRasterBand(1).GetOverviewCount()):
        out.append(tuple(ds.GetRasterBand(b).GetOverview(i).Checksum()
                         for b in range(1, ds.RasterCount + 1)))
    return out


def gdaladdo(args, env=None):
    subprocess.run(["gdaladdo", "-q"] + args, check=True, env=env)


def cluster(n):
    from distributed import Client, LocalCluster
    c = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0")
    return c, Client(c)


def print_balance(results, indent="      "):
    for w, b in sorted(pgmosaic_dask.balance(results).items()):
        print(f"{indent}{w}: {b['tasks']} tasks, {b['units']} units, busy {b['seconds']:.1f} s")


def overview_part(args, conn, vrt, workdir):
    pgm = f"PGMOSAIC:{conn} mosaic={MOSAIC}"
    compress_env = lambda c: dict(os.environ, GDAL_NUM_THREADS="ALL_CPUS",  # noqa: E731
                                  COMPRESS_OVERVIEW=c)

    def clean_pgm():
        gdaladdo(["-clean", pgm])

    def clean_vrt():
        if os.path.exists(vrt + ".ovr"):
            os.remove(vrt + ".ovr")

    results = {}
    print(f"\n(1) overview build: gdaladdo -r average ... {' '.join(FACTORS)}, median of "
          f"{args.repeat} ({load()})")
    cases = [("pgmosaic gdaladdo, ZSTD, ALL_CPUS", pgm, compress_env("ZSTD"), clean_pgm),
             ("pgmosaic gdaladdo, DEFLATE, ALL_CPUS", pgm, compress_env("DEFLATE"), clean_pgm)]
    if "vrt" not in args.skip:
        cases += [("VRT gdaladdo -ro, ZSTD, ALL_CPUS", vrt, compress_env("ZSTD"), clean_vrt),
                  ("VRT gdaladdo -ro, DEFLATE, ALL_CPUS", vrt, compress_env("DEFLATE"),
                   clean_vrt)]
    reference = None
    for name, target, env, clean in cases:
        times = []
        for _ in range(args.repeat):
            clean()
            extra = ["-ro"] if target == vrt else []
            times.append(timed(lambda: gdaladdo(["-r", "average"] + extra + [target] + FACTORS,
                                                env))[0])
        results[name] = statistics.median(times)
        if name.startswith("pgmosaic gdaladdo, ZSTD"):
            reference = levels_digest(conn)
        print(f"    {name:40s} {results[name]:7.2f} s   (runs: "
              f"{', '.join(f'{t:.2f}' for t in times)})")
    if "vrt" not in args.skip:
        for c in ("ZSTD", "DEFLATE"):
            r = results[f"VRT gdaladdo -ro, {c}, ALL_CPUS"] / \
                results[f"pgmosaic gdaladdo, {c}, ALL_CPUS"]
            print(f"    pgmosaic / VRT throughput, {c}: {r:.2f}x  (target >= 1.5x: "
                  f"{'PASS' if r >= 1.5 else 'FAIL'})")

    print(f"  Dask: pgmosaic_dask.build_overviews, one tile per task, ZSTD ({load()})")
    single = results["pgmosaic gdaladdo, ZSTD, ALL_CPUS"]
    base = None
    for n in [int(x) for x in args.workers.split(",")]:
        c, client = cluster(n)
        try:
            times = []
            for _ in range(args.repeat):
                clean_pgm()
                t, res = timed(lambda: pgmosaic_dask.build_overviews(
                    client, conn, MOSAIC, FACTORS, "average", config={"COMPRESS_OVERVIEW": "ZSTD"}))
                times.append(t)
            same = levels_digest(conn) == reference
        finally:
            client.close()
            c.close()
        med = statistics.median(times)
        base = base or med
        print(f"    {n} worker(s): {med:7.2f} s, {sum(r['tiles'] for r in res)} tiles in "
              f"{len(res)} tasks; scaling vs 1 worker {base / med:.2f}x; vs single-process "
              f"gdaladdo {single / med:.2f}x; levels equal gdaladdo's: "
              f"{'yes' if same else 'NO'}")
        print_balance(res)
        if not same:
            raise SystemExit("the distributed build differs from gdaladdo's")

    c, client = cluster(2)
    try:
        clean_pgm()
        marker = os.path.join(workdir, "kill-overview")
        t, res = timed(lambda: pgmosaic_dask.build_overviews(
            client, conn, MOSAIC, FACTORS, "average", config={"COMPRESS_OVERVIEW": "ZSTD"},
            hook=pgmosaic_dask.KillOnce(marker, delay=0.3)))
        same = levels_digest(conn) == reference
        dup = psql_value(args.dbname, "SELECT count(*) - count(DISTINCT path) FROM pgmosaic.item")
    finally:
        client.close()
        c.close()
    print(f"    2 workers, one killed mid-task (pid {open(marker).read().split()[0]}): "
          f"{t:.2f} s; levels equal gdaladdo's: {'yes' if same else 'NO'}; duplicate items: "
          f"{dup}")
    print_balance(res)
    if not same or dup != "0":
        raise SystemExit("the build with a killed worker differs from gdaladdo's")


def zonal_part(args, conn, datadir):
    rng = np.random.default_rng(7)
    ds = gdal.Open(f"PGMOSAIC:{conn} mosaic={MOSAIC}")
    gt, w, h = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize
    ds = None
    zones = []
    for i in range(args.zones):
        x = gt[0] + rng.uniform(0, w) * gt[1]
        y = gt[3] + rng.uniform(0, h) * gt[5]
        dx, dy = rng.uniform(5, 60, size=2) * gt[1]  # parcels of 5 to 60 pixels a side
        zones.append((i, f"SRID={bench_read.SRID};POLYGON(({x} {y},{x + dx} {y},{x + dx} "
                         f"{y + dy},{x} {y + dy},{x} {y}))"))
    settings = {"pgmosaic.enable_file_access": "on", "pgmosaic.allowed_roots": datadir}
    print(f"\n(2) zonal statistics of {len(zones)} polygons (5-60 pixels a side), band 1, exact, "
          f"median of {args.repeat} ({load()})")

    def one_call():
        import psycopg2
        c = psycopg2.connect(conn)
        try:
            with c, c.cursor() as cur:
                for k, v in settings.items():
                    cur.execute("SELECT set_config(%s, %s, true)", (k, v))
                cur.execute("SELECT count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
                            "%s, %s::text[]::geometry[], 1, true) ORDER BY n",
                            (MOSAIC, [g for _, g in zones]))
                return [(k,) + tuple(r) for (k, _), r in zip(zones, cur.fetchall())]
        finally:
            c.close()

    times = []
    for _ in range(args.repeat):
        t, expected = timed(one_call)
        times.append(t)
    single = statistics.median(times)
    print(f"    one zonal_stats call:           {single:7.2f} s")
    for n in [int(x) for x in args.workers.split(",") if int(x) <= 2]:
        c, client = cluster(n)
        try:
            times = []
            for _ in range(args.repeat):
                t, (rows, res) = timed(lambda: pgmosaic_dask.zonal_stats(
                    client, conn, MOSAIC, zones, 1, True, args.zone_batch, settings))
                times.append(t)
        finally:
            client.close()
            c.close()
        med = statistics.median(times)
        print(f"    Dask, {n} worker(s), {args.zone_batch} zones a task: {med:7.2f} s "
              f"({single / med:.2f}x the single call); rows equal: "
              f"{'yes' if rows == expected else 'NO'}")
        print_balance(res)
        if rows != expected:
            raise SystemExit("distributed zonal statistics differ from the single call")


ITEM = ("to_jsonb(i) - 'id' - 'mosaic_id' - 'registered' - 'footprint' || "
        "jsonb_build_object('footprint', ST_AsText(i.footprint))")


def catalog(dbname, name):
    q = (f"SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (SELECT i.path::text || ({ITEM})::text "
         f"AS x FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id "
         f"WHERE m.name = {sql_literal(name)} UNION ALL SELECT i.path::text || "
         f"concat_ws(',', t.level, t.key::text, ST_AsText(t.bounds), t.byte_offset, "
         f"t.byte_length, t.empty, t.stats) FROM pgmosaic.tile t JOIN pgmosaic.item i "
         f"ON i.mosaic_id = t.mosaic_id AND i.id = t.item_id JOIN pgmosaic.mosaic m "
         f"ON m.id = i.mosaic_id WHERE m.name = {sql_literal(name)}) s")
    n = psql_value(dbname, "SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON "
                   f"m.id = i.mosaic_id WHERE m.name = {sql_literal(name)}")
    return psql_value(dbname, q), int(n)


def register_part(args, conn, paths, workdir):
    print(f"\n(3) registration of {len(paths)} files (ogr2ogr's items layer, default options), "
          f"median of {args.repeat} ({load()})")
    index = os.path.join(workdir, "index.gpkg")
    subprocess.run(["gdaltindex", "-f", "GPKG", index] + paths, check=True,
                   stdout=subprocess.DEVNULL)

    def drop(name):
        psql(args.dbname, "-c", f"SELECT pgmosaic.drop_mosaic({sql_literal(name)}) FROM "
             f"pgmosaic.mosaic WHERE name = {sql_literal(name)}")

    times = []
    for _ in range(args.repeat):
        drop("reg")
        times.append(timed(lambda: subprocess.run(
            ["ogr2ogr", "-update", f"PGMOSAIC:{conn}", index, "-nln", "reg.items"],
            check=True))[0])
    single = statistics.median(times)
    expected = catalog(args.dbname, "reg")
    print(f"    ogr2ogr, one process (NUM_THREADS=ALL_CPUS): {single:7.2f} s, "
          f"{len(paths) / single:.1f} files/s")
    for n in [int(x) for x in args.workers.split(",")]:
        c, client = cluster(n)
        try:
            times = []
            for _ in range(args.repeat):
                drop("reg")
                t, res = timed(lambda: pgmosaic_dask.register_files(
                    client, conn, "reg", paths, args.file_batch))
                times.append(t)
            same = catalog(args.dbname, "reg") == expected
        finally:
            client.close()
            c.close()
        med = statistics.median(times)
        print(f"    Dask, {n} worker(s), {args.file_batch} files a task: {med:7.2f} s, "
              f"{len(paths) / med:.1f} files/s ({single / med:.2f}x ogr2ogr); catalog equals "
              f"ogr2ogr's: {'yes' if same else 'NO'}")
        print_balance(res)
        if not same:
            raise SystemExit("the distributed registration differs from ogr2ogr's")
    c, client = cluster(2)
    try:
        drop("reg")
        marker = os.path.join(workdir, "kill-register")
        t, res = timed(lambda: pgmosaic_dask.register_files(
            client, conn, "reg", paths, args.file_batch,
            hook=pgmosaic_dask.KillOnce(marker, delay=0.3)))
        same = catalog(args.dbname, "reg") == expected
    finally:
        client.close()
        c.close()
    print(f"    2 workers, one killed mid-task: {t:.2f} s; catalog equals ogr2ogr's: "
          f"{'yes' if same else 'NO'}")
    if not same:
        raise SystemExit("the registration with a killed worker differs from ogr2ogr's")


def main():
    args = parse_args()
    datadir = bench_read.data_dir(args.keep)
    paths, list_path = bench_read.make_tiles(args, datadir)
    workdir = tempfile.mkdtemp(prefix="pgmosaic-bench-dask.", dir="/tmp")
    os.chmod(workdir, 0o755)
    os.environ["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + \
        os.environ.get("PYTHONPATH", "")
    bench_read.setup_database(args.dbname)
    t = bench_read.register_pgmosaic(args.dbname, datadir, paths, workdir, MOSAIC)
    managed = os.path.join(workdir, "managed")
    os.makedirs(managed, mode=0o777)
    os.chmod(managed, 0o777)
    psql(args.dbname, "-c", f"INSERT INTO pgmosaic.path_root VALUES ({sql_literal(MOSAIC)}, "
         f"{sql_literal(managed)})")
    vrt, _ = bench_read.build_vrt(list_path, workdir)
    conn = conninfo(args.dbname)
    print(f"{len(paths)} tiles of {args.size}x{args.size}x{bench_read.BANDS} registered in "
          f"{t:.1f} s; {os.cpu_count()} CPUs; {load()}")
    if "overviews" not in args.skip:
        overview_part(args, conn, vrt, workdir)
    if "zonal" not in args.skip:
        zonal_part(args, conn, datadir)
    if "register" not in args.skip:
        register_part(args, conn, paths, workdir)
    print(f"\ndone ({load()})")


if __name__ == "__main__":
    main()
