#!/usr/bin/python3
"""Read benchmark: pgmosaic against a gdalbuildvrt VRT and GDAL's PostGISRaster driver.

Generates a grid of COG tiles (tests/lib/sampledata.py), registers them three ways:
  - pgmosaic:      pgmosaic.add_raster() for every file, in one transaction;
  - VRT:           gdalbuildvrt over the same file list (same order);
  - PostGISRaster: raster2pgsql -R -t 512x512 -I -C (out-db tiles), read by GDAL's
                   PostGISRaster driver with mode=2 (the whole table as one dataset) and
                   outdb_resolution=client_side (GDAL opens the out-db files itself);
then times, on each system, three workloads:
  - one full-resolution window of 4096 x 4096 pixels in the middle of the mosaic;
  - 200 random 256 x 256 windows (same windows, fixed seed, for all systems);
  - the whole mosaic read into a 1024 x 1024 buffer.
All reads are dataset-level ReadRaster() calls of all bands.

Method: for every (workload, system) there is one untimed warm-up run, then --repeat timed
runs; the tables give the median and the best. Every run opens the dataset afresh after the
GDAL block cache has been emptied; the open is timed apart (its own row) and is not in the
workload times. The OS page cache is warm for all systems (the files were just written or
read), so this measures decoding and compositing, not disk.

It needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic and postgis_raster
installed, and GDAL_DRIVER_PATH pointing at gdal_PGMOSAIC.so: tests/bench/run.sh does all that
with a throw-away cluster. The database --dbname is dropped and re-created.
"""

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import sampledata  # noqa: E402

gdal.UseExceptions()

SRID = 32631
MOSAIC = "bench"
PGR_TABLE = "public.bench_pgr"
BANDS = 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiles", type=int, default=20, help="grid side in tiles (default 20: 400 tiles)")
    p.add_argument("--size", type=int, default=1024, help="tile side in pixels (default 1024)")
    p.add_argument("--overlap", type=int, default=16, help="overlap of neighbour tiles in pixels")
    p.add_argument("--nodata-every", type=int, default=7,
                   help="every N-th tile has a nodata corner (0: none)")
    p.add_argument("--windows", type=int, default=200, help="number of random windows")
    p.add_argument("--window-size", type=int, default=256, help="side of the random windows")
    p.add_argument("--big-window", type=int, default=4096, help="side of the full-resolution window")
    p.add_argument("--overview-size", type=int, default=1024,
                   help="buffer side for the whole-mosaic read")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    p.add_argument("--seed", type=int, default=1234, help="seed of the random windows")
    p.add_argument("--cap", type=float, default=600.0,
                   help="time budget in seconds for one system on one workload; slower systems "
                        "run fewer repeats or fewer windows (scaled and labelled)")
    p.add_argument("--keep", metavar="DIR",
                   help="keep the tiles in DIR and reuse them when DIR already holds this grid "
                        "(DIR must be readable by the PostgreSQL server)")
    p.add_argument("--dbname", default="pgmosaic_bench", help="database to (re)create")
    return p.parse_args()


# --------------------------------------------------------------------------------------------
# Setup


def psql(dbname, *args, stdin=None, quiet=True):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname]
    if quiet:
        cmd += ["-o", "/dev/null"]
    return subprocess.run(cmd + list(args), stdin=stdin, check=True,
                          stdout=subprocess.PIPE, text=True, env=env).stdout


def psql_value(dbname, sql):
    return psql(dbname, "-At", "-c", sql, quiet=False).strip()


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def make_tiles(args, datadir):
    """The tile files, generated or (with --keep) reused when DIR already holds this grid."""
    signature = (f"tiles={args.tiles} size={args.size} bands={BANDS} overlap={args.overlap} "
                 f"nodata_every={args.nodata_every} blocksize=256\n")
    sig_path = os.path.join(datadir, "grid.txt")
    list_path = os.path.join(datadir, "files.txt")
    if os.path.exists(sig_path) and os.path.exists(list_path):
        with open(sig_path) as f, open(list_path) as g:
            cached = f.read() == signature
            paths = g.read().split()
        if cached and paths and all(os.path.exists(p) for p in paths):
            print(f"tiles: reusing {len(paths)} tiles in {datadir}")
            return paths, list_path
    t0 = time.perf_counter()
    paths = sampledata.make_tile_grid(datadir, args.tiles, args.tiles, args.size, bands=BANDS,
                                      overlap=args.overlap, nodata=0,
                                      nodata_every=args.nodata_every, blocksize=256)
    with open(list_path, "w") as f:
        f.write("\n".join(paths) + "\n")
    with open(sig_path, "w") as f:
        f.write(signature)
    print(f"tiles: generated {len(paths)} COG tiles of {args.size}x{args.size}x{BANDS} in "
          f"{time.perf_counter() - t0:.1f} s")
    return paths, list_path


def setup_database(dbname):
    psql("postgres", "-c", f'DROP DATABASE IF EXISTS "{dbname}"', "-c", f'CREATE DATABASE "{dbname}"')
    psql(dbname, "-c", "CREATE EXTENSION pgmosaic CASCADE", "-c", "CREATE EXTENSION postgis_raster")


def register_pgmosaic(dbname, datadir, paths, workdir):
    sql_path = os.path.join(workdir, "register.sql")
    with open(sql_path, "w") as f:
        f.write("SET pgmosaic.enable_file_access = on;\n")
        f.write(f"SET pgmosaic.allowed_roots = {sql_literal(datadir)};\n")
        f.write("BEGIN;\n")
        f.write(f"SELECT pgmosaic.create_mosaic({sql_literal(MOSAIC)}, {SRID});\n")
        for p in paths:
            f.write(f"SELECT pgmosaic.add_raster({sql_literal(MOSAIC)}, {sql_literal(p)});\n")
        f.write("COMMIT;\n")
    t0 = time.perf_counter()
    psql(dbname, "-f", sql_path)
    return time.perf_counter() - t0


def load_raster2pgsql(dbname, paths, workdir):
    log_path = os.path.join(workdir, "raster2pgsql.log")
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        r2p = subprocess.Popen(["raster2pgsql", "-R", "-t", "512x512", "-I", "-C",
                                "-s", str(SRID)] + paths + [PGR_TABLE],
                               stdout=subprocess.PIPE, stderr=log)
        try:
            psql(dbname, stdin=r2p.stdout)
        finally:
            r2p.stdout.close()
            rc = r2p.wait()
    if rc != 0:
        sys.exit(f"raster2pgsql failed ({rc}), see {log_path}")
    return time.perf_counter() - t0


def build_vrt(list_path, workdir):
    vrt_path = os.path.join(workdir, "bench.vrt")
    t0 = time.perf_counter()
    subprocess.run(["gdalbuildvrt", "-q", "-overwrite", "-input_file_list", list_path, vrt_path],
                   check=True)
    return vrt_path, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# Timing


def flush_gdal_cache():
    """Empties GDAL's block cache (lowering the maximum flushes the blocks above it)."""
    cache_max = gdal.GetCacheMax()
    gdal.SetCacheMax(0)
    gdal.SetCacheMax(cache_max)


def run_once(conn, windows):
    """Opens `conn` afresh, runs the workload on `windows`: (open seconds, read seconds, data)."""
    flush_gdal_cache()
    t0 = time.perf_counter()
    ds = gdal.OpenEx(conn, gdal.OF_RASTER | gdal.OF_READONLY)
    t1 = time.perf_counter()
    data = [ds.ReadRaster(x, y, w, h, buf_xsize=bw, buf_ysize=bh)
            for (x, y, w, h, bw, bh) in windows]
    t2 = time.perf_counter()
    ds = None
    return t1 - t0, t2 - t1, data


class Measure:
    """The timings of one system on one workload."""

    def __init__(self):
        self.opens = []
        self.reads = []     # seconds of the timed runs, scaled to the full window list
        self.data = None    # what the last run read
        self.note = ""      # set when the workload was cut down to fit the time budget


def measure(conn, windows, repeat, cap):
    """A warm-up run, then `repeat` timed runs, within about `cap` seconds. Workloads of many
    windows that would not fit run on a prefix of the windows, their time scaled up."""
    m = Measure()
    n = len(windows)
    if n > 10:
        # Probe with a few windows to see whether the whole list fits in the budget.
        _, probe, _ = run_once(conn, windows[:10])
        per_window = probe / 10
        if per_window * n * (repeat + 1) > cap:
            n = max(10, int(cap / (repeat + 1) / per_window))
            m.note = f"{n} of {len(windows)} windows timed, scaled x{len(windows) / n:.1f}"
    t_open, warm, m.data = run_once(conn, windows[:n])
    m.opens.append(t_open)
    runs = repeat
    if warm * (repeat + 1) > cap:
        runs = max(0, int(cap / warm) - 1)
        if runs == 0:
            m.note = (m.note + "; " if m.note else "") + "one run only (the warm-up)"
            m.reads.append(warm * len(windows) / n)
            return m
        m.note = (m.note + "; " if m.note else "") + f"{runs} repeats only"
    for _ in range(runs):
        t_open, t_read, m.data = run_once(conn, windows[:n])
        m.opens.append(t_open)
        m.reads.append(t_read * len(windows) / n)
    return m


# --------------------------------------------------------------------------------------------
# Report


def fmt_s(value):
    return "-" if value is None else f"{value:.3f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def print_table(title, rows, systems):
    header = ["workload"] + [f"{s} s" for s in systems] + ["pgmosaic/VRT", "PostGISRaster/pgmosaic"]
    lines = [header]
    for name, values in rows:
        vrt, pgm, pgr = (values.get(s) for s in systems)
        lines.append([name] + [fmt_s(v) for v in (vrt, pgm, pgr)]
                     + [fmt_ratio(pgm, vrt), fmt_ratio(pgr, pgm)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(f"\n{title}")
    for i, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[0]) if j == 0 else cell.rjust(widths[j])
                        for j, cell in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def compare(a, b):
    """'identical', or how much two lists of buffers differ."""
    if a == b:
        return "identical"
    same = sum(x == y for x, y in zip(a, b))
    x = np.frombuffer(b"".join(a), dtype=np.uint8).astype(np.int16)
    y = np.frombuffer(b"".join(b), dtype=np.uint8).astype(np.int16)
    if x.shape != y.shape:
        return "DIFFERENT sizes"
    diff = np.count_nonzero(x != y)
    return (f"DIFFERENT: {same}/{len(a)} buffers identical, {diff} of {x.size} bytes differ "
            f"({100.0 * diff / x.size:.3f}%), mean abs diff {np.abs(x - y).mean():.4f}")


def digest(buffers):
    return hashlib.sha256(b"".join(buffers)).hexdigest()[:16]


# --------------------------------------------------------------------------------------------


def main():
    args = parse_args()
    t_start = time.perf_counter()
    if gdal.GetDriverByName("PGMOSAIC") is None:
        sys.exit("GDAL has no PGMOSAIC driver: set GDAL_DRIVER_PATH to <build>/gdal_driver "
                 "(tests/bench/run.sh does)")
    if args.keep:
        workdir = os.path.realpath(args.keep)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="pgmosaic-bench-data.", dir="/tmp")
    os.chmod(workdir, 0o755)
    try:
        run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal wall time of the benchmark: {time.perf_counter() - t_start:.1f} s")


def run(args, workdir):
    paths, list_path = make_tiles(args, workdir)
    data_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"tiles: {len(paths)} files, {data_mb:.0f} MB on disk in {workdir}")

    setup_database(args.dbname)
    t_pgm = register_pgmosaic(args.dbname, workdir, paths, workdir)
    t_pgr = load_raster2pgsql(args.dbname, paths, workdir)
    vrt_path, t_vrt = build_vrt(list_path, workdir)
    psql(args.dbname, "-c", "ANALYZE")
    pgr_rows = int(psql_value(args.dbname, f"SELECT count(*) FROM {PGR_TABLE}"))

    print("\nregistration (for information)")
    print(f"  pgmosaic add_raster (one transaction): {t_pgm:8.2f} s  "
          f"{len(paths) / t_pgm:8.1f} files/s")
    print(f"  raster2pgsql -R -t 512x512 -I -C | psql: {t_pgr:6.2f} s  "
          f"{len(paths) / t_pgr:8.1f} files/s  ({pgr_rows} rows)")
    print(f"  gdalbuildvrt:                          {t_vrt:8.2f} s  "
          f"{len(paths) / t_vrt:8.1f} files/s")

    conn = " ".join(f"{key}={os.environ[var]}" for key, var in
                    (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"))
                    if os.environ.get(var)) + f" dbname={args.dbname}"
    systems = {
        "VRT": vrt_path,
        "pgmosaic": f"PGMOSAIC:{conn} mosaic={MOSAIC}",
        "PostGISRaster": f"PG:{conn} schema=public table=bench_pgr mode=2 "
                         f"outdb_resolution=client_side",
    }
    print("\ndatasets")
    sizes = {}
    for name, source in systems.items():
        ds = gdal.OpenEx(source, gdal.OF_RASTER | gdal.OF_READONLY)
        sizes[name] = (ds.RasterXSize, ds.RasterYSize, ds.RasterCount, ds.GetGeoTransform())
        print(f"  {name:14s} {source}\n  {'':14s} {ds.RasterXSize} x {ds.RasterYSize} x "
              f"{ds.RasterCount}, overviews: {ds.GetRasterBand(1).GetOverviewCount()}")
        ds = None
    if len(set(sizes.values())) != 1:
        sys.exit(f"the three datasets are not on the same grid: {sizes}")
    width, height = sizes["VRT"][:2]

    big = min(args.big_window, width, height)
    ws = min(args.window_size, width, height)
    rng = random.Random(args.seed)
    random_windows = [(rng.randrange(width - ws + 1), rng.randrange(height - ws + 1), ws, ws, ws, ws)
                      for _ in range(args.windows)]
    ovr = args.overview_size
    workloads = [
        (f"window {big}x{big}", [((width - big) // 2, (height - big) // 2, big, big, big, big)]),
        (f"{args.windows} random {ws}x{ws}", random_windows),
        (f"whole {width}x{height} -> {ovr}x{ovr}", [(0, 0, width, height, ovr, ovr)]),
    ]

    print(f"\nGDAL {gdal.__version__}, cache max {gdal.GetCacheMax() / 2**20:.0f} MB, "
          f"{os.cpu_count()} CPUs; warm-up + {args.repeat} timed runs per cell, each on a freshly "
          f"opened dataset with an empty GDAL block cache; open time not included (own row); "
          f"OS page cache warm for all")
    results = {}
    for wname, windows in workloads:
        for sname, source in systems.items():
            t0 = time.perf_counter()
            m = measure(source, windows, args.repeat, args.cap)
            results[(wname, sname)] = m
            print(f"  {wname:32s} {sname:14s} median {statistics.median(m.reads):8.3f} s  "
                  f"(cell took {time.perf_counter() - t0:.1f} s){'  [' + m.note + ']' if m.note else ''}",
                  flush=True)

    # Sanity: pgmosaic must read exactly what the VRT reads at full resolution.
    print("\nchecks against the VRT")
    ok = True
    for wname, windows in workloads:
        ref = results[(wname, "VRT")].data
        for sname in ("pgmosaic", "PostGISRaster"):
            got = results[(wname, sname)].data
            n = min(len(got), len(ref))  # fewer windows when cut down by --cap
            verdict = compare(got[:n], ref[:n])
            scope = f" (first {n} windows)" if n < len(windows) else ""
            print(f"  {wname:32s} {sname:14s} {verdict}{scope}")
            if sname == "pgmosaic" and wname == workloads[0][0] and verdict != "identical":
                ok = False
    if args.overlap:
        print("  (where tiles overlap, PostGISRaster does not draw them in file-list order as the "
              "VRT and pgmosaic do; with --overlap 0 its full-resolution reads match)")
    print(f"  digest of the {workloads[0][0]} read (sha256/16): "
          + ", ".join(f"{s} {digest(results[(workloads[0][0], s)].data)}" for s in systems))

    names = list(systems)
    for title, pick in (("median", statistics.median), ("best", min)):
        rows = []
        for wname, _ in workloads:
            rows.append((wname, {s: pick(results[(wname, s)].reads) for s in names}))
        opens = {s: pick([t for w, _ in workloads for t in results[(w, s)].opens]) for s in names}
        rows.append(("open dataset", opens))
        print_table(f"read times, {title} of the timed runs (seconds; open not included in the "
                    f"workloads)", rows, names)
    notes = [f"  {w} / {s}: {m.note}" for (w, s), m in results.items() if m.note]
    if notes:
        print(f"\ncut down to fit --cap {args.cap:g} s (scaled times include per-run fixed costs, "
              f"so they overestimate):")
        print("\n".join(notes))

    if not ok:
        sys.exit(f"FAILED: the {workloads[0][0]} read of pgmosaic differs from the VRT's")
    print(f"\nOK: the {workloads[0][0]} read of pgmosaic is byte-identical to the VRT's")


if __name__ == "__main__":
    main()
