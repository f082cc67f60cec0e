#!/usr/bin/python3
"""Remote-read benchmark: pgmosaic against a gdalbuildvrt VRT over the same URLs, with latency.

The read benchmark's COG tiles (tests/bench/bench_read.py's grid) are served by nginx on
loopback (tests/lib/storage_servers.py) through a latency proxy adding --delays ms each way (a
round trip of twice that). pgmosaic registers them once as @web/<file>, path_root "web" pointing at
the proxy of the delay measured (re-pointing the root is one UPDATE); the VRT is built over
/vsicurl/ URLs of that proxy. For each delay, both systems read cold, with the same GDAL
settings (GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR, the default block cache):
  - one full-resolution window of --big-window pixels in the middle of the mosaic (a fresh
    process);
  - --windows random windows of --window-size pixels: in one process, each opened afresh with
    GDAL's block cache and HTTP caches emptied (as bench_read.py's runs); then again each in a
    fresh process (PostgreSQL connection, catalog and PROJ start-up included);
  - the whole mosaic read into an --overview-size buffer (a fresh process).
Requests and bytes are counted by nginx (its access log); the time is the open and the read
in the worker process. The bytes of the blocks a window needs come from the DRAD (the
full-resolution tiles of the items whose pixels are in the window, less the empty ones).
Both systems' pixels are compared (md5): a difference fails the run.

Registration (--register-tiles, at the largest delay): ogr2ogr of the URLs into pgmosaic
(client side, SCAN=HEADER STATISTICS=APPROX: the header and an overview of each file by range
requests, many at once), against raster2pgsql -R -t 512x512 -I -C | psql of the same URLs.

The issue's targets at the largest delay are printed as PASS/FAIL lines (they do not change
the exit code). tests/bench/run_remote.sh runs it against a throw-away cluster.
"""

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bench_read  # noqa: E402
import storage_servers as servers  # noqa: E402

PY = "/usr/bin/python3"
MOSAIC = "remote"
ROOT = "web"

WORKER = r"""
import hashlib, json, sys, time
from osgeo import gdal
gdal.UseExceptions()
job = json.loads(sys.argv[1])
for k, v in job["config"].items():
    gdal.SetConfigOption(k, v)
out = []
for group in job["groups"]:
    # Cold: GDAL's block cache and HTTP caches emptied, the dataset opened afresh.
    cache = gdal.GetCacheMax()
    gdal.SetCacheMax(0)
    gdal.SetCacheMax(cache)
    gdal.VSICurlClearCache()
    t0 = time.perf_counter()
    ds = gdal.OpenEx(job["dataset"], gdal.OF_RASTER | gdal.OF_READONLY)
    h = hashlib.md5()
    for (x, y, w, hh, bw, bh) in group:
        h.update(ds.ReadRaster(x, y, w, hh, buf_xsize=bw, buf_ysize=bh))
    ds = None
    out.append({"seconds": time.perf_counter() - t0, "md5": h.hexdigest()})
print(json.dumps(out))
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_read.add_grid_arguments(p)
    p.add_argument("--delays", default="0,10,25", help="ms added each way (default 0,10,25)")
    p.add_argument("--windows", type=int, default=20, help="cold random windows (default 20)")
    p.add_argument("--window-size", type=int, default=256)
    p.add_argument("--big-window", type=int, default=4096)
    p.add_argument("--overview-size", type=int, default=1024)
    p.add_argument("--register-tiles", type=int, default=400,
                   help="tiles registered by each system in the registration comparison "
                        "(default 400; 0: skip it)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--keep", metavar="DIR", help="keep (and reuse) the tiles in DIR")
    p.add_argument("--dbname", default="pgmosaic_bench_remote")
    return p.parse_args()


class Served:
    """nginx over the tiles, a latency proxy in front of it per delay."""

    def __init__(self, datadir):
        self.nginx = servers.Nginx(datadir)
        self.proxy = None

    def with_delay(self, ms):
        if self.proxy:
            self.proxy.stop()
        self.proxy = servers.LatencyProxy(self.nginx.port, ms, max_seconds=3 * 3600)
        return f"/vsicurl/{self.proxy.url}/"

    def counted(self):
        reqs = self.nginx.requests()
        self.nginx.clear_log()
        return len(reqs), sum(r[3] for r in reqs)

    def stop(self):
        if self.proxy:
            self.proxy.stop()
        self.nginx.stop()


def worker(dataset, groups, config):
    r = subprocess.run([PY, "-c", WORKER, json.dumps({"dataset": dataset, "groups": groups,
                                                      "config": config})],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"worker failed on {dataset}: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def workload(served, dataset, windows, config, mode):
    """(seconds, requests, bytes, md5s) of reading `windows`: "one" in one open of a fresh
    process; "caches" each in an open of its own in one process, caches emptied before each;
    "processes" each in a fresh process."""
    served.counted()
    if mode == "one":
        runs = worker(dataset, [windows], config)
    elif mode == "caches":
        runs = worker(dataset, [[w] for w in windows], config)
    else:
        runs = [worker(dataset, [[w]], config)[0] for w in windows]
    reqs, nbytes = served.counted()
    return sum(r["seconds"] for r in runs), reqs, nbytes, [r["md5"] for r in runs]


def needed_bytes(dbname, window, gt):
    """Bytes of the full-resolution blocks of the items whose pixels are in `window`."""
    x, y, w, h = window
    x0, x1 = gt[0] + x * gt[1], gt[0] + (x + w) * gt[1]
    y1, y0 = gt[3] + y * gt[5], gt[3] + (y + h) * gt[5]
    env = f"ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 32631)"
    return int(bench_read.psql_value(
        dbname, f"SELECT coalesce(sum(t.byte_length), 0) FROM pgmosaic.tiles('{MOSAIC}', {env}, 0) t "
                f"WHERE NOT t.empty AND ST_Area(ST_Intersection(t.bounds, {env})) > 0"))


def register_pgmosaic(dbname, files, prefix, workdir, config):
    bench_read.psql(dbname, "-c", f"DELETE FROM pgmosaic.path_root WHERE name = '{ROOT}'",
                    "-c", f"INSERT INTO pgmosaic.path_root VALUES ('{ROOT}', '{prefix}')",
                    "-c", f"SELECT pgmosaic.drop_mosaic(name) FROM pgmosaic.mosaic "
                          f"WHERE name = '{MOSAIC}'")
    csv = os.path.join(workdir, "remote.csv")
    with open(csv, "w") as f:
        f.write("path,batch\n" + "".join(f"@{ROOT}/{os.path.basename(p)},1\n" for p in files))
    conn = f"PGMOSAIC:dbname={dbname} mosaic={MOSAIC}"
    t0 = time.perf_counter()
    subprocess.run(["ogr2ogr", "-f", "PGMOSAIC", conn, csv, "-nln", "items",
                    "-lco", "SCAN=HEADER", "-lco", "STATISTICS=APPROX", "-lco", "BATCH_SIZE=1000"],
                   check=True, env=dict(os.environ, **config))
    return time.perf_counter() - t0


def register_raster2pgsql(dbname, files, prefix, workdir, config):
    bench_read.psql(dbname, "-c", "DROP TABLE IF EXISTS public.remote_pgr")
    urls = [prefix + os.path.basename(p) for p in files]
    log = open(os.path.join(workdir, "raster2pgsql.log"), "w")
    t0 = time.perf_counter()
    r2p = subprocess.Popen(["raster2pgsql", "-R", "-t", "512x512", "-I", "-C", "-s", "32631"] +
                           urls + ["public.remote_pgr"], stdout=subprocess.PIPE, stderr=log,
                           env=dict(os.environ, **config))
    try:
        bench_read.psql(dbname, stdin=r2p.stdout)
    finally:
        r2p.stdout.close()
        rc = r2p.wait()
    if rc != 0:
        sys.exit("raster2pgsql failed, see raster2pgsql.log")
    return time.perf_counter() - t0


def main():
    args = parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    workdir = bench_read.data_dir(args.keep)
    files, list_path = bench_read.make_tiles(args, workdir)
    bench_read.setup_database(args.dbname)
    os.environ.setdefault("PGDATABASE", args.dbname)
    served = Served(workdir)
    common = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    results = {}
    try:
        # Registered once, through the proxy of the largest delay (timed against raster2pgsql).
        prefix = served.with_delay(max(delays))
        config = dict(common, PGMOSAIC_ALLOWED_NETWORK_PREFIXES=prefix)
        reg_files = files[:args.register_tiles] if args.register_tiles else []
        reg = {}
        if reg_files:
            served.counted()
            reg["pgmosaic"] = register_pgmosaic(args.dbname, reg_files, prefix, workdir, config)
            reg["pgmosaic requests"] = served.counted()
            reg["raster2pgsql"] = register_raster2pgsql(args.dbname, reg_files, prefix, workdir,
                                                        config)
            reg["raster2pgsql requests"] = served.counted()
        if len(reg_files) < len(files):
            register_pgmosaic(args.dbname, files, prefix, workdir, config)
        count = bench_read.psql_value(args.dbname, "SELECT count(*) FROM pgmosaic.item_remote")
        print(f"registered {count} remote items as @{ROOT}/<file>")
        pg = f"PGMOSAIC:dbname={args.dbname} mosaic={MOSAIC}"
        probe = bench_read.gdal.Open(pg)
        width, height, gt = probe.RasterXSize, probe.RasterYSize, probe.GetGeoTransform()
        probe = None
        big = min(args.big_window, width, height)
        bx, by = (width - big) // 2, (height - big) // 2
        rng = random.Random(args.seed)
        ws = args.window_size
        windows = [[rng.randrange(width - ws + 1), rng.randrange(height - ws + 1), ws, ws, ws, ws]
                   for _ in range(args.windows)]
        ov = args.overview_size
        need_big = needed_bytes(args.dbname, (bx, by, big, big), gt)
        need_small = sum(needed_bytes(args.dbname, tuple(w[:4]), gt) for w in windows)
        for delay in delays:
            prefix = served.with_delay(delay)
            bench_read.psql(args.dbname, "-c",
                            f"UPDATE pgmosaic.path_root SET prefix = '{prefix}' WHERE name = '{ROOT}'")
            vrt = os.path.join(workdir, "remote.vrt")
            with open(os.path.join(workdir, "remote_urls.txt"), "w") as f:
                f.write("\n".join(prefix + os.path.basename(p) for p in files) + "\n")
            subprocess.run(["gdalbuildvrt", "-q", "-overwrite", "-input_file_list",
                            os.path.join(workdir, "remote_urls.txt"), vrt], check=True,
                           env=dict(os.environ, **common))
            served.counted()
            config = dict(common, PGMOSAIC_ALLOWED_NETWORK_PREFIXES=prefix)
            for name, ds in (("pgmosaic", pg), ("VRT", vrt)):
                r = {}
                r["window"] = workload(served, ds, [[bx, by, big, big, big, big]], config, "one")
                r["random"] = workload(served, ds, windows, config, "caches")
                r["random processes"] = workload(served, ds, windows, config, "processes")
                r["whole"] = workload(served, ds, [[0, 0, width, height, ov, ov]], config, "one")
                results[(delay, name)] = r
            for w in ("window", "random", "random processes", "whole"):
                a, b = results[(delay, "pgmosaic")][w][3], results[(delay, "VRT")][w][3]
                if a != b:
                    sys.exit(f"pixels differ between pgmosaic and the VRT ({w}, {delay} ms)")
    finally:
        served.stop()

    print(f"\n{len(files)} COG tiles of {args.size}x{args.size}x3 over nginx + latency proxy; "
          f"cold runs; pixels equal in every case")
    print("window: one process; random windows: one process, each window opened afresh with GDAL's "
          "block and HTTP caches emptied (then each in a fresh process, PostgreSQL connection "
          "and PROJ database included); whole: one process")
    print(f"{'workload':22s} {'delay':>6s} {'system':9s} {'seconds':>8s} {'requests':>9s} "
          f"{'MB':>8s} {'VRT/pgm':>8s}")
    labels = {"window": f"window {big}x{big}", "random": f"{args.windows} windows {ws}x{ws}",
              "random processes": "  each in a process", "whole": f"whole into {ov}x{ov}"}
    for w in ("window", "random", "random processes", "whole"):
        for delay in delays:
            for name in ("pgmosaic", "VRT"):
                s, n, b, _ = results[(delay, name)][w]
                ratio = results[(delay, "VRT")][w][0] / results[(delay, "pgmosaic")][w][0]
                print(f"{labels[w]:22s} {delay:6.0f} {name:9s} {s:8.3f} {n:9d} {b / 1e6:8.2f} "
                      f"{ratio if name == 'pgmosaic' else float('nan'):8.2f}")
    top = max(delays)
    pw, vw = results[(top, "pgmosaic")]["window"], results[(top, "VRT")]["window"]
    pr, vr = results[(top, "pgmosaic")]["random"], results[(top, "VRT")]["random"]
    print(f"\nbytes of the blocks needed (DRAD): window {need_big / 1e6:.2f} MB, "
          f"random windows {need_small / 1e6:.2f} MB")
    checks = [
        (f"window at {top:.0f} ms: VRT / pgmosaic >= 5", vw[0] / pw[0], 5),
        (f"cold windows at {top:.0f} ms: VRT / pgmosaic >= 3", vr[0] / pr[0], 3),
    ]
    print(f"bytes read / needed: window {pw[2] / need_big:.3f}, random windows "
          f"{pr[2] / max(1, need_small):.3f}")
    checks_le = [(f"bytes read / needed (window, {top:.0f} ms) <= 1.1", pw[2] / need_big, 1.1)]
    if reg:
        n = len(reg_files)
        print(f"\nregistration of {n} remote COGs at {top:.0f} ms: pgmosaic (ogr2ogr, SCAN=HEADER) "
              f"{reg['pgmosaic']:.2f} s ({n / reg['pgmosaic']:.1f} files/s, "
              f"{reg['pgmosaic requests'][0]} requests, {reg['pgmosaic requests'][1] / 1e6:.2f} MB); "
              f"raster2pgsql -R {reg['raster2pgsql']:.2f} s ({n / reg['raster2pgsql']:.1f} files/s, "
              f"{reg['raster2pgsql requests'][0]} requests, "
              f"{reg['raster2pgsql requests'][1] / 1e6:.2f} MB)")
        checks.append((f"registration at {top:.0f} ms: raster2pgsql / pgmosaic >= 5",
                       reg["raster2pgsql"] / reg["pgmosaic"], 5))
    print()
    for label, value, target in checks:
        print(f"{'PASS' if value >= target else 'FAIL'} {label}: {value:.2f}")
    for label, value, target in checks_le:
        print(f"{'PASS' if value <= target else 'FAIL'} {label}: {value:.3f}")


if __name__ == "__main__":
    main()
