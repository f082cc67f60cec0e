#!/usr/bin/python3
"""Load benchmark: files per second registered by ogr2ogr into pgmosaic against raster2pgsql -R.

On the read benchmark's tile grid (bench_read.make_tiles, same parameters, so --keep
directories are shared with tests/bench/bench_read.py), it times, each run on a freshly
created database:
  (a) gdaltindex index.gpkg <files>                                 (for information)
  (b) ogr2ogr -f PGMOSAIC "PGMOSAIC:... mosaic=load" index.gpkg -nln items, default options:
      valid-data footprints traced from the masks, approximate per-band statistics,
      NUM_THREADS=ALL_CPUS
  (c) the same with -doo NUM_THREADS=1
  (d) the same with -doo FOOTPRINT=EXTENT -doo STATISTICS=NONE  (doing less; for information)
  (e) raster2pgsql -R -t 512x512 -I -C -s 32631 <files> | psql    (one pipeline, end to end,
      index and constraints included)
With --breakdown, also FOOTPRINT=VALID STATISTICS=NONE and FOOTPRINT=EXTENT STATISTICS=APPROX,
which split the cost of (b) into footprints and statistics.

Every pgmosaic run makes its own index.gpkg with gdaltindex (timed: that is (a)), then runs
ogr2ogr on it (timed apart). The primary figure is the ogr2ogr time; gdaltindex + ogr2ogr of the
same run is reported as well. Runs go round-robin over the cases (run 1 of every case, then
run 2, ...) so that a change in the machine's load spreads over all cases; the tables give the
median and the best of --repeat runs (fewer when a case would not fit in --cap seconds: said so).
The tiles are read once before the first run, so the OS page cache is warm for all cases.

After every run the load is checked (not timed): pgmosaic: one item per file, each with a
footprint and (unless STATISTICS=NONE) statistics for every band; the average footprint vertex
count and the share of the extent the footprints cover are printed (every --nodata-every-th tile
has a nodata corner: a triangle of 1/8 of the tile). raster2pgsql: the expected number of rows
and the constraints in raster_columns.

It needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic and postgis_raster
installed, and GDAL_DRIVER_PATH pointing at gdal_PGMOSAIC.so: tests/bench/run_load.sh does all
that with a throw-away cluster. The database --dbname is dropped and re-created for every run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_read  # noqa: E402  (the tile grid and the psql helpers)
from bench_read import psql, psql_value, sql_literal  # noqa: E402

gdal.UseExceptions()

SRID = bench_read.SRID
BANDS = bench_read.BANDS
MOSAIC = "load"
PGR_TABLE = "public.bench_pgr"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_read.add_grid_arguments(p)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per case (default 3)")
    p.add_argument("--cap", type=float, default=900.0,
                   help="time budget in seconds for the runs of one case; a slower case runs "
                        "fewer times (labelled)")
    p.add_argument("--breakdown", action="store_true",
                   help="also time FOOTPRINT=VALID STATISTICS=NONE and FOOTPRINT=EXTENT "
                        "STATISTICS=APPROX (where the time of the default load goes)")
    p.add_argument("--keep", metavar="DIR",
                   help="keep the tiles in DIR and reuse them when DIR already holds this grid "
                        "(shared with bench_read.py --keep)")
    p.add_argument("--dbname", default="pgmosaic_bench_load", help="database to (re)create")
    return p.parse_args()


# --------------------------------------------------------------------------------------------
# The cases


class Case:
    def __init__(self, key, label, desc, doo=None):
        self.key = key          # short name in the tables
        self.label = label      # (a)..(e)
        self.desc = desc
        self.doo = doo          # ogr2ogr -doo options; None: raster2pgsql
        self.index_times = []   # gdaltindex seconds of each run (pgmosaic cases)
        self.load_times = []    # ogr2ogr or raster2pgsql|psql seconds of each run
        self.checks = []        # verification of each run (dict)
        self.note = ""

    @property
    def is_pgmosaic(self):
        return self.doo is not None


def make_cases(args):
    cases = [
        Case("ogr2ogr", "(b)", "ogr2ogr, default options (FOOTPRINT=VALID, STATISTICS=APPROX, "
             "NUM_THREADS=ALL_CPUS)", []),
        Case("ogr2ogr 1t", "(c)", "ogr2ogr -doo NUM_THREADS=1", ["NUM_THREADS=1"]),
        Case("ogr2ogr extent", "(d)", "ogr2ogr -doo FOOTPRINT=EXTENT -doo STATISTICS=NONE "
             "(doing less)", ["FOOTPRINT=EXTENT", "STATISTICS=NONE"]),
    ]
    if args.breakdown:
        cases += [
            Case("ogr2ogr valid nostats", "(f)", "ogr2ogr -doo STATISTICS=NONE (footprints only)",
                 ["STATISTICS=NONE"]),
            Case("ogr2ogr extent stats", "(g)", "ogr2ogr -doo FOOTPRINT=EXTENT (statistics only)",
                 ["FOOTPRINT=EXTENT"]),
        ]
    cases.append(Case("raster2pgsql", "(e)", "raster2pgsql -R -t 512x512 -I -C -s 32631 <files> "
                      "| psql", None))
    return cases


# --------------------------------------------------------------------------------------------
# Setup and one run


def fresh_database(dbname):
    psql("postgres", "-c", f'DROP DATABASE IF EXISTS "{dbname}"', "-c", f'CREATE DATABASE "{dbname}"')
    psql(dbname, "-c", "CREATE EXTENSION pgmosaic CASCADE", "-c", "CREATE EXTENSION IF NOT EXISTS postgis_raster")
    # Whatever the setup left to write goes to disk now, not during the timed load.
    psql(dbname, "-c", "CHECKPOINT")


def conninfo(dbname):
    return " ".join(f"{key}={os.environ[var]}" for key, var in
                    (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"))
                    if os.environ.get(var)) + f" dbname={dbname}"


def run_logged(cmd, log_path, what):
    with open(log_path, "a") as log:
        log.write("$ " + " ".join(cmd[:12]) + (" ..." if len(cmd) > 12 else "") + "\n")
        log.flush()
        r = subprocess.run(cmd, stdout=log, stderr=log)
    if r.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f"{what} failed ({r.returncode}); the end of {log_path}:\n{tail}")


def run_pgmosaic(args, case, paths, workdir):
    """gdaltindex then ogr2ogr into a fresh database: (gdaltindex s, ogr2ogr s)."""
    fresh_database(args.dbname)
    index = os.path.join(workdir, "index.gpkg")
    if os.path.exists(index):
        os.remove(index)
    log_path = os.path.join(workdir, "load.log")
    t0 = time.perf_counter()
    run_logged(["gdaltindex", "-f", "GPKG", index] + paths, log_path, "gdaltindex")
    t1 = time.perf_counter()
    cmd = ["ogr2ogr", "-f", "PGMOSAIC", f"PGMOSAIC:{conninfo(args.dbname)} mosaic={MOSAIC}", index,
           "-nln", "items"]
    for opt in case.doo:
        cmd += ["-doo", opt]
    run_logged(cmd, log_path, f"ogr2ogr ({case.key})")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def run_raster2pgsql(args, paths, workdir):
    fresh_database(args.dbname)
    log_path = os.path.join(workdir, "raster2pgsql.log")
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        r2p = subprocess.Popen(["raster2pgsql", "-R", "-t", "512x512", "-I", "-C",
                                "-s", str(SRID)] + paths + [PGR_TABLE],
                               stdout=subprocess.PIPE, stderr=log)
        try:
            psql(args.dbname, stdin=r2p.stdout)
        finally:
            r2p.stdout.close()
            rc = r2p.wait()
    t = time.perf_counter() - t0
    if rc != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f"raster2pgsql failed ({rc}); the end of {log_path}:\n{tail}")
    return t


# --------------------------------------------------------------------------------------------
# Checks (not timed)


def check_pgmosaic(args, case, n_files):
    row = psql_value(args.dbname, f"""
        SELECT json_build_object(
          'items', count(*),
          'with_statistics', count(i.statistics),
          'full_statistics', count(*) FILTER (WHERE jsonb_array_length(i.statistics) = i.band_count
                                              AND i.band_count = {BANDS}),
          'with_footprint', count(*) FILTER (WHERE i.footprint IS NOT NULL
                                             AND NOT ST_IsEmpty(i.footprint)),
          'valid_footprint', count(*) FILTER (WHERE ST_IsValid(i.footprint)),
          'paths', count(DISTINCT i.path::text),
          'avg_vertices', avg(ST_NPoints(i.footprint)),
          'max_vertices', max(ST_NPoints(i.footprint)),
          'avg_cover_env', avg(ST_Area(i.footprint) / ST_Area(ST_Envelope(i.footprint))),
          'avg_cover_ext', avg(ST_Area(i.footprint) / (i.width * abs(i.geotransform[2])
                                                      * i.height * abs(i.geotransform[6]))),
          'cut_tiles', count(*) FILTER (WHERE ST_Area(i.footprint) < 0.99 * ST_Area(ST_Envelope(i.footprint))),
          'cut_vertices', avg(ST_NPoints(i.footprint)) FILTER (
                              WHERE ST_Area(i.footprint) < 0.99 * ST_Area(ST_Envelope(i.footprint))),
          'cut_cover_ext', avg(ST_Area(i.footprint) / (i.width * abs(i.geotransform[2])
                                                      * i.height * abs(i.geotransform[6]))) FILTER (
                              WHERE ST_Area(i.footprint) < 0.99 * ST_Area(ST_Envelope(i.footprint))),
          'mosaic_srid', max(m.srid))
        FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id
        WHERE m.name = {sql_literal(MOSAIC)}""")
    c = json.loads(row)
    problems = []
    if c["items"] != n_files:
        problems.append(f"{c['items']} items for {n_files} files")
    if c["paths"] != n_files:
        problems.append(f"{c['paths']} distinct paths for {n_files} files")
    if c["with_footprint"] != c["items"]:
        problems.append(f"{c['items'] - c['with_footprint']} items without a footprint")
    if c["valid_footprint"] != c["items"]:
        problems.append(f"{c['items'] - c['valid_footprint']} invalid footprints")
    wants_stats = "STATISTICS=NONE" not in case.doo
    if wants_stats and c["full_statistics"] != c["items"]:
        problems.append(f"{c['items'] - c['full_statistics']} items without statistics for "
                        f"all {BANDS} bands")
    if not wants_stats and c["with_statistics"] != 0:
        problems.append(f"{c['with_statistics']} items with statistics under STATISTICS=NONE")
    if c["mosaic_srid"] != SRID:
        problems.append(f"mosaic SRID {c['mosaic_srid']}, expected {SRID}")
    c["problems"] = problems
    return c


def check_raster2pgsql(args, n_files):
    per_file = (-(-args.size // 512)) ** 2
    row = psql_value(args.dbname, f"""
        SELECT json_build_object(
          'rows', (SELECT count(*) FROM {PGR_TABLE}),
          'files', (SELECT count(DISTINCT ST_BandPath(rast, 1)) FROM {PGR_TABLE}),
          'index', (SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_pgr'
                                                      AND indexdef ILIKE '%gist%'),
          'constraints', (SELECT count(*) FROM pg_constraint
                          WHERE conrelid = {sql_literal(PGR_TABLE)}::regclass),
          'raster_columns', (SELECT json_build_object('srid', srid, 'blocksize',
                                 blocksize_x || 'x' || blocksize_y, 'num_bands', num_bands,
                                 'out_db', out_db, 'same_alignment', same_alignment,
                                 'extent', extent IS NOT NULL)
                             FROM raster_columns WHERE r_table_name = 'bench_pgr'))""")
    c = json.loads(row)
    problems = []
    if c["rows"] != n_files * per_file:
        problems.append(f"{c['rows']} rows, expected {n_files * per_file}")
    if c["files"] != n_files:
        problems.append(f"{c['files']} distinct files, expected {n_files}")
    if c["index"] < 1:
        problems.append("no GiST index")
    if c["constraints"] < 1:
        problems.append("no constraints")
    c["problems"] = problems
    return c


# --------------------------------------------------------------------------------------------
# Report


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows, ref_rate):
    header = ["", "case", "runs", "median s", "best s", "files/s", "best files/s",
              "/ raster2pgsql"]
    lines = [header]
    for label, name, times, n in rows:
        med = statistics.median(times) if times else None
        best = min(times) if times else None
        rate = n / med if med else None
        lines.append([label, name, str(len(times)), fmt(med, ".2f"), fmt(best, ".2f"),
                      fmt(rate, ".1f"), fmt(n / best if best else None, ".1f"),
                      fmt(rate / ref_rate if rate and ref_rate else None, ".2f")])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("  " + "  ".join(cell.ljust(widths[j]) if j < 2 else cell.rjust(widths[j])
                               for j, cell in enumerate(line)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def loadavg():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# --------------------------------------------------------------------------------------------


def main():
    args = parse_args()
    t_start = time.perf_counter()
    if gdal.GetDriverByName("PGMOSAIC") is None:
        sys.exit("GDAL has no PGMOSAIC driver: set GDAL_DRIVER_PATH to <build>/gdal_driver "
                 "(tests/bench/run_load.sh does)")
    print(f"GDAL_DRIVER_PATH={os.environ.get('GDAL_DRIVER_PATH', '')}")
    print(f"start: {loadavg()}, {os.cpu_count()} CPUs")
    workdir = bench_read.data_dir(args.keep)
    # The per-run files (index.gpkg, logs) go apart from the tiles: --keep dirs stay clean.
    rundir = tempfile.mkdtemp(prefix="pgmosaic-bench-load.", dir="/tmp")
    try:
        failures = run(args, workdir, rundir)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nend: {loadavg()}")
    print(f"total wall time of the load benchmark: {time.perf_counter() - t_start:.1f} s")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))


def run(args, workdir, rundir):
    paths, _ = bench_read.make_tiles(args, workdir)
    n = len(paths)
    data_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"tiles: {n} files, {data_mb:.0f} MB on disk in {workdir}")
    # Warm the OS page cache for every case alike.
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass
    print(f"tiles read once to warm the page cache in {time.perf_counter() - t0:.1f} s")

    cases = make_cases(args)
    print(f"\nGDAL {gdal.__version__}, {psql_value('postgres', 'SELECT version()').split(',')[0]}; "
          f"{args.repeat} timed runs per case, round-robin, each into a freshly created database "
          f"(CREATE EXTENSION pgmosaic CASCADE, postgis_raster; not timed)")
    for c in cases:
        print(f"  {c.label} {c.key:22s} {c.desc}")

    failures = []
    for rep in range(args.repeat):
        for c in cases:
            spent = sum(c.load_times) + sum(c.index_times)
            if rep > 0 and spent / rep * (rep + 1) > args.cap:
                if not c.note:
                    c.note = f"{rep} run(s) only: more would exceed --cap {args.cap:g} s"
                continue
            if c.is_pgmosaic:
                t_idx, t_load = run_pgmosaic(args, c, paths, rundir)
                c.index_times.append(t_idx)
                c.load_times.append(t_load)
                chk = check_pgmosaic(args, c, n)
                timing = (f"gdaltindex {t_idx:6.2f} s  ogr2ogr {t_load:7.2f} s "
                          f"({n / t_load:6.1f} files/s)")
            else:
                t_load = run_raster2pgsql(args, paths, rundir)
                c.load_times.append(t_load)
                chk = check_raster2pgsql(args, n)
                timing = f"{'':21s}pipeline {t_load:6.2f} s ({n / t_load:6.1f} files/s)"
            c.checks.append(chk)
            status = "ok" if not chk["problems"] else "CHECK FAILED: " + "; ".join(chk["problems"])
            print(f"  run {rep + 1} {c.label} {c.key:22s} {timing}  {status}  [{loadavg()}]",
                  flush=True)
            if chk["problems"]:
                failures.append(f"{c.key} run {rep + 1}: " + "; ".join(chk["problems"]))

    # ---- tables
    ref = next(c for c in cases if not c.is_pgmosaic)
    ref_rate = n / statistics.median(ref.load_times)
    idx_all = [t for c in cases for t in c.index_times]
    rows = [("(a)", "gdaltindex alone (all pgmosaic runs)", idx_all, n)]
    for c in cases:
        if c.is_pgmosaic:
            rows.append((c.label, c.key, c.load_times, n))
            rows.append(("", f"  gdaltindex + {c.key}",
                         [a + b for a, b in zip(c.index_times, c.load_times)], n))
    rows.append((ref.label, "raster2pgsql -R | psql", ref.load_times, n))
    print(f"\nload times, {n} files ({args.size}x{args.size}x{BANDS} COG): seconds, files/s of the "
          f"median, and the ratio of files/s to raster2pgsql's (> 1: faster than raster2pgsql)")
    print_table(rows, ref_rate)
    notes = [f"  {c.key}: {c.note}" for c in cases if c.note]
    if notes:
        print("\n".join(notes))

    # ---- what was loaded
    print("\nwhat was loaded (last run of each case)")
    # A nodata corner is the pixels with x + y < size // 2 (sampledata.make_tile_grid).
    half = args.size // 2
    cut_share = 1 - half * (half + 1) / 2 / args.size ** 2   # valid share of a cut tile
    cut = len(range(0, n, args.nodata_every)) if args.nodata_every else 0
    expected = 1 - cut / n * (1 - cut_share)
    for c in cases:
        chk = c.checks[-1]
        if c.is_pgmosaic:
            print(f"  {c.label} {c.key:22s} {chk['items']} items, {chk['with_statistics']} with "
                  f"statistics, {chk['with_footprint']} with a footprint; footprint vertices: "
                  f"average {chk['avg_vertices']:.1f}, max {chk['max_vertices']}; "
                  f"footprint / own envelope area: average {chk['avg_cover_env']:.4f}; "
                  f"footprint / raster extent: average {chk['avg_cover_ext']:.4f}")
            if chk["cut_tiles"]:
                print(f"      {'':22s} {chk['cut_tiles']} tiles with a nodata corner: "
                      f"{chk['cut_vertices']:.1f} vertices on average, covering "
                      f"{chk['cut_cover_ext']:.4f} of their extent (valid pixels: "
                      f"{cut_share:.4f})")
        else:
            print(f"  {c.label} {c.key:22s} {chk['rows']} rows (512x512 out-db tiles) from "
                  f"{chk['files']} files, GiST index: {chk['index']}, {chk['constraints']} "
                  f"constraints; raster_columns: {json.dumps(chk['raster_columns'])}")
    print(f"  share of the extent with valid pixels, all tiles: {expected:.4f} ({cut} of {n} "
          f"tiles have a nodata corner; a footprint contains all valid pixels, so it covers a "
          f"little more)")

    # ---- target
    b = next(c for c in cases if c.key == "ogr2ogr")
    rate_b = n / statistics.median(b.load_times)
    rate_total = n / statistics.median([x + y for x, y in zip(b.index_times, b.load_times)])
    ok = rate_b >= ref_rate
    print("\ntarget of the issue (medians; not part of the exit code)")
    print(f"  {'PASS' if ok else 'FAIL'}  ogr2ogr (default: valid footprints + statistics) "
          f"{rate_b:.1f} files/s vs raster2pgsql -R -t 512x512 -I -C {ref_rate:.1f} files/s: "
          f"ratio {rate_b / ref_rate:.2f} (>= 1)")
    print(f"        gdaltindex + ogr2ogr: {rate_total:.1f} files/s, ratio "
          f"{rate_total / ref_rate:.2f} ({'also' if rate_total >= ref_rate else 'not'} "
          f"at least as fast)")
    if not failures:
        print("\nOK: every load registered every file (pgmosaic: footprints, and statistics "
              "unless STATISTICS=NONE; raster2pgsql: rows, index and constraints)")
    return failures


if __name__ == "__main__":
    main()
