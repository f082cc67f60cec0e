#!/usr/bin/python3
"""Catalog benchmark: a mosaic of 1,000,000 items, against plain-SQL anchors in the same run.

Workloads (each with its anchor, and the ratio printed):
  - window lookup in mosaic order: the driver's prepared
        SELECT id, resolved_path, ... FROM pgmosaic.items($1, ST_MakeEnvelope(...))
    for random windows of one item (2,560 m) and of 10 x 10 items, as the superuser and as a
    reader under row-level security, and with a filter and sort (the dynamic-SQL path);
    anchor: the bare GiST query on pgmosaic.item with the same ORDER BY;
  - re-rooting: one UPDATE of pgmosaic.path_root, checked through items();
    anchor: rewriting every item's path (repair_paths over 1,000,000 references, rolled back),
    which is what per-row paths (PostGIS raster's ST_SetBandPath) cost;
  - check() and sync() on 10,000 items whose files exist (hard links of one GeoTIFF);
    check(deep) re-opens every file; anchors: os.stat / gdal.Open of the same files in Python;
  - registration: add_rasters() of 1,000 real files (open, header, cheap statistics);
  - tilekey covering of a polygon (200 vertices, about 2 km and 10 km across) at zoom 18;
    anchor: PostGIS, ST_TileEnvelope of every tile of the bounding box tested with
    ST_Intersects.

The items are synthetic rows (a 1000 x 1000 grid of 256 x 256-pixel tiles at 10 m,
@root/... references), bulk-inserted with all indexes in place. Needs PGHOST/PGPORT/PGUSER of a
superuser on a server with pgmosaic installed; tests/bench/bench_catalog.sh runs it on a
throw-away cluster. The database --dbname is dropped and re-created.
"""

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import psycopg2
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import sampledata  # noqa: E402

gdal.UseExceptions()

SRID = 32631
X0, Y0 = 500000.0, 5000000.0
TILE = 256          # pixels per item side
RES = 10.0          # metres per pixel
SPAN = TILE * RES   # metres per item side
READER = "bench_catalog_reader"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=1000000, help="items of the big mosaic (a square "
                   "grid; default 1,000,000)")
    p.add_argument("--lookups", type=int, default=2000, help="window lookups per variant")
    p.add_argument("--check-items", type=int, default=10000, help="items of the check mosaic")
    p.add_argument("--register-files", type=int, default=1000, help="files for add_rasters")
    p.add_argument("--cover-repeat", type=int, default=1000, help="coverings per polygon")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dbname", default="pgmosaic_bench_catalog")
    return p.parse_args()


def connect(dbname, autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def one(cur, sql, params=None):
    cur.execute(sql, params)
    return cur.fetchone()[0]


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def fmt_ms(seconds):
    return f"{seconds * 1000:10.3f} ms"


class Report:
    def __init__(self):
        self.rows = []

    def add(self, what, value, anchor=None, note=""):
        self.rows.append((what, value, anchor, note))
        ratio = f"x{anchor / value:8.1f} faster" if anchor and value and anchor > value else (
            f"x{value / anchor:8.2f} of anchor" if anchor else "")
        print(f"  {what:<58} {fmt_ms(value)}  {ratio} {note}", flush=True)


def latency(cur, stmt, params_list):
    times = []
    rows = 0
    for params in params_list:
        t = time.perf_counter()
        cur.execute(stmt, params)
        rows += len(cur.fetchall())
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], rows / len(params_list)


def build_big_mosaic(cur, n_side):
    cur.execute("SELECT pgmosaic.create_mosaic('big', %s, %s)", (SRID, RES))
    mid = cur.fetchone()[0]
    cur.execute("""UPDATE pgmosaic.mosaic SET origin_x = %s, origin_y = %s, min_x = %s,
                   max_x = %s, min_y = %s, max_y = %s, band_count = 3, data_type = 'Byte',
                   nodata = 0 WHERE id = %s""",
                (X0, Y0, X0, X0 + n_side * SPAN, Y0 - n_side * SPAN, Y0, mid))
    cur.execute("INSERT INTO pgmosaic.path_root VALUES ('big', '/mnt/nas1/imagery')")
    cur.execute("""
        INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, height,
                                   band_count, data_type, nodata, driver, file_size, file_mtime,
                                   priority, acquired, cloud_cover, min_pixel_size, status)
        SELECT %(mid)s,
               pgmosaic.pathref(format('@big/r%%s/c%%s.tif', r, c)),
               ST_MakeEnvelope(%(x0)s + c * %(span)s, %(y0)s - (r + 1) * %(span)s,
                               %(x0)s + (c + 1) * %(span)s, %(y0)s - r * %(span)s, %(srid)s),
               %(srid)s,
               ARRAY[%(x0)s + c * %(span)s, %(res)s, 0, %(y0)s - r * %(span)s, 0, -%(res)s],
               %(tile)s, %(tile)s, 3, 'Byte', 0, 'GTiff', 150000, now(),
               (hashtext(r || ',' || c) & 3),
               tstzrange(timestamptz '2020-01-01' + ((r * 7 + c) %% 365) * interval '1 day',
                         timestamptz '2020-01-01' + ((r * 7 + c) %% 365) * interval '1 day'
                         + interval '1 minute'),
               (hashtext(c || ':' || r) & 1023) %% 101, %(res)s, 'ok'
        FROM generate_series(0, %(n)s - 1) r, generate_series(0, %(n)s - 1) c
    """, {"mid": mid, "x0": X0, "y0": Y0, "span": SPAN, "srid": SRID, "res": RES, "tile": TILE,
          "n": n_side})
    cur.execute("ANALYZE pgmosaic.item")
    cur.execute("ANALYZE pgmosaic.mosaic")
    return mid


def windows(rng, n_side, size_items, count):
    out = []
    for _ in range(count):
        c = rng.uniform(0, n_side - size_items)
        r = rng.uniform(0, n_side - size_items)
        x = X0 + c * SPAN
        y = Y0 - r * SPAN
        out.append((x, y - size_items * SPAN, x + size_items * SPAN, y))
    return out


def bench_lookups(args, report, dbname, n_side):
    rng = random.Random(args.seed)
    conn = connect(dbname)
    cur = conn.cursor()
    cur.execute("""PREPARE lookup(text, float8, float8, float8, float8, int) AS
                   SELECT id, resolved_path, srid, geotransform, width, height
                   FROM pgmosaic.items($1, public.ST_MakeEnvelope($2, $3, $4, $5, $6))""")
    cur.execute("""PREPARE anchor(int, float8, float8, float8, float8, int) AS
                   SELECT id, path FROM pgmosaic.item
                   WHERE mosaic_id = $1 AND category = 'primary'
                     AND footprint && public.ST_MakeEnvelope($2, $3, $4, $5, $6)
                   ORDER BY priority DESC, id DESC""")
    cur.execute("""PREPARE filtered(text, float8, float8, float8, float8, int) AS
                   SELECT id, resolved_path FROM pgmosaic.items(
                       $1, public.ST_MakeEnvelope($2, $3, $4, $5, $6),
                       filter => 'cloud_cover < 50', sort => 'acquired DESC')""")
    mid = one(cur, "SELECT id FROM pgmosaic.mosaic WHERE name = 'big'")
    reader = connect(dbname)
    rcur = reader.cursor()
    rcur.execute(f"SET ROLE {READER}")
    rcur.execute("""PREPARE lookup(text, float8, float8, float8, float8, int) AS
                    SELECT id, resolved_path, srid, geotransform, width, height
                    FROM pgmosaic.items($1, public.ST_MakeEnvelope($2, $3, $4, $5, $6))""")
    print(f"\nWindow lookup in mosaic order ({args.lookups} random windows each; median, p95)")
    for size in (1, 10):
        ws = windows(rng, n_side, size, args.lookups + 50)
        warm, ws = ws[:50], ws[50:]
        for w in warm:
            cur.execute("EXECUTE lookup('big', %s, %s, %s, %s, %s)", (*w, SRID))
            cur.fetchall()
            cur.execute("EXECUTE anchor(%s, %s, %s, %s, %s, %s)", (mid, *w, SRID))
            cur.fetchall()
            rcur.execute("EXECUTE lookup('big', %s, %s, %s, %s, %s)", (*w, SRID))
            rcur.fetchall()
        a_med, a_p95, a_rows = latency(cur, "EXECUTE anchor(%s, %s, %s, %s, %s, %s)",
                                       [(mid, *w, SRID) for w in ws])
        m_med, m_p95, m_rows = latency(cur, "EXECUTE lookup('big', %s, %s, %s, %s, %s)",
                                       [(*w, SRID) for w in ws])
        r_med, r_p95, _ = latency(rcur, "EXECUTE lookup('big', %s, %s, %s, %s, %s)",
                                  [(*w, SRID) for w in ws])
        f_med, f_p95, f_rows = latency(cur, "EXECUTE filtered('big', %s, %s, %s, %s, %s)",
                                       [(*w, SRID) for w in ws])
        label = f"{size}x{size} item window"
        report.add(f"anchor: bare GiST query, {label} (~{a_rows:.0f} rows)", a_med,
                   note=f"p95 {a_p95 * 1000:.3f} ms")
        report.add(f"items(), {label} (~{m_rows:.0f} rows)", m_med, a_med,
                   note=f"p95 {m_p95 * 1000:.3f} ms")
        report.add(f"items() as a reader under RLS, {label}", r_med, a_med,
                   note=f"p95 {r_p95 * 1000:.3f} ms")
        report.add(f"items() + filter + sort (dynamic SQL), {label} (~{f_rows:.0f})", f_med,
                   a_med, note=f"p95 {f_p95 * 1000:.3f} ms")
    reader.close()
    conn.close()


def bench_reroot(report, dbname, n_items):
    conn = connect(dbname)
    cur = conn.cursor()
    print(f"\nRe-rooting ({n_items} items under one path root)")
    # Warm the session: catalog caches, and pgmosaic.so (the prefix check calls into it).
    cur.execute("SELECT count(*), pgmosaic.pathref('/warm') FROM pgmosaic.path_root")
    t, _ = timed(lambda: cur.execute(
        "UPDATE pgmosaic.path_root SET prefix = '/mnt/nas2/imagery' WHERE name = 'big'"))
    resolved = one(cur, "SELECT resolved_path FROM pgmosaic.items('big', "
                        "ST_MakeEnvelope(%s, %s, %s, %s, %s))",
                   (X0 + 1, Y0 - 2, X0 + 2, Y0 - 1, SRID))
    assert resolved.startswith("/mnt/nas2/imagery/"), resolved
    conn2 = connect(dbname, autocommit=False)
    cur2 = conn2.cursor()
    ta, changed = timed(lambda: one(cur2, "SELECT pgmosaic.repair_paths('big', '@big', "
                                          "'/mnt/nas3/imagery')"))
    conn2.rollback()
    conn2.close()
    assert changed == n_items, changed
    report.add(f"anchor: rewrite every path (repair_paths, {changed} rows, rolled back)", ta)
    report.add("UPDATE pgmosaic.path_root (one row)", t, ta)
    conn.close()


def bench_check(args, report, dbname, workdir):
    print(f"\ncheck() and sync() on {args.check_items} items (existing files)")
    files_dir = os.path.join(workdir, "check")
    os.makedirs(files_dir)
    rng = np.random.default_rng(args.seed)
    src = sampledata.make_cog(os.path.join(files_dir, "src.tif"),
                              sampledata.tile_pixels(rng, 3, TILE, TILE, 1), (X0, Y0), RES,
                              nodata=0, blocksize=256, overviews=False)
    paths = []
    for i in range(args.check_items):
        sub = os.path.join(files_dir, f"d{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        p = os.path.join(sub, f"t{i:05d}.tif")
        os.link(src, p)
        paths.append(p)
    st = os.stat(src)
    conn = connect(dbname)
    cur = conn.cursor()
    cur.execute("SET pgmosaic.enable_file_access = on")
    cur.execute("SET pgmosaic.allowed_roots = %s", (workdir,))
    cur.execute("SELECT pgmosaic.create_mosaic_from_file('check10k', %s)", (src,))
    cur.execute("""
        INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, height,
                                   band_count, data_type, nodata, driver, file_size, file_mtime,
                                   min_pixel_size, is_cog, status)
        SELECT i.mosaic_id, pgmosaic.pathref(p), i.footprint, i.srid, i.geotransform, i.width,
               i.height, i.band_count, i.data_type, i.nodata, i.driver, i.file_size,
               i.file_mtime, i.min_pixel_size, i.is_cog, 'ok'
        FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id,
             unnest(%s::text[]) p
        WHERE m.name = 'check10k'
    """, (paths,))
    cur.execute("DELETE FROM pgmosaic.item i USING pgmosaic.mosaic m WHERE m.id = i.mosaic_id "
                "AND m.name = 'check10k' AND i.path = %s::text::pgmosaic.pathref", (src,))
    n = one(cur, "SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m "
                 "ON m.id = i.mosaic_id WHERE m.name = 'check10k'")
    assert n == args.check_items, n
    cur.execute("ANALYZE pgmosaic.item")
    one(cur, "SELECT count(*) FROM pgmosaic.check('check10k')")  # warm-up

    def py_stat():
        for p in paths:
            os.path.realpath(p)
            os.stat(p)
    ta, _ = timed(py_stat)
    tc, problems = timed(lambda: one(cur, "SELECT count(*) FROM pgmosaic.check('check10k')"))
    ts, changes = timed(lambda: one(cur, "SELECT count(*) FROM pgmosaic.sync('check10k')"))
    report.add(f"anchor: realpath + stat of {n} files in Python", ta)
    report.add(f"check() of {n} items ({problems} problems)", tc, ta)
    report.add(f"sync() of {n} unchanged items ({changes} changes)", ts, ta)

    def py_open():
        # What inspection needs from each file: geotransform, SRS and its EPSG code, bands.
        for p in paths:
            ds = gdal.Open(p)
            ds.GetGeoTransform()
            ds.GetSpatialRef().GetAuthorityCode(None)
            for b in range(1, ds.RasterCount + 1):
                band = ds.GetRasterBand(b)
                band.DataType, band.GetNoDataValue(), band.GetBlockSize()
            ds.GetRasterBand(1).GetOverviewCount()
            ds = None
    tao, _ = timed(py_open)
    tcd, problems = timed(lambda: one(cur, "SELECT count(*) FROM pgmosaic.check('check10k', "
                                           "deep => true)"))
    report.add(f"anchor: gdal.Open + georeferencing + bands of {n} files (Python)", tao)
    report.add(f"check(deep) of {n} items ({problems} problems)", tcd, tao)

    # Registration of real files: open, header, footprint, cheap statistics, one transaction.
    reg = paths[:args.register_files]
    cur.execute("SELECT pgmosaic.create_mosaic('registered', %s)", (SRID,))
    tr, count = timed(lambda: one(cur, "SELECT count(*) FROM pgmosaic.add_rasters("
                                       "'registered', %s::text[])", (reg,)))
    assert count == len(reg)
    report.add(f"add_rasters() of {count} files (per file: {tr / count * 1000:.2f} ms)", tr)
    conn.close()


def bench_cover(args, report, dbname):
    print(f"\ntilekey covering at zoom 18 (mean of {args.cover_repeat} calls, through SQL)")
    conn = connect(dbname)
    cur = conn.cursor()
    rng = random.Random(args.seed)
    # Polygons around Paris in EPSG:3857: 200-vertex star shapes.
    cx, cy = 261845.0, 6250566.0
    for radius in (1000.0, 5000.0):
        pts = []
        for i in range(200):
            a = 2 * math.pi * i / 200
            r = radius * rng.uniform(0.6, 1.0)
            pts.append(f"{cx + r * math.cos(a):.3f} {cy + r * math.sin(a):.3f}")
        pts.append(pts[0])
        wkt = f"POLYGON(({','.join(pts)}))"
        cur.execute("SELECT ST_AsBinary(ST_GeomFromText(%s, 3857))", (wkt,))
        wkb = cur.fetchone()[0]
        n = args.cover_repeat
        tiles = one(cur, "SELECT count(*) FROM pgmosaic.tilekey_cover(ST_GeomFromText(%s, 3857),"
                         " 18)", (wkt,))
        compact = one(cur, "SELECT count(*) FROM pgmosaic.tilekey_cover(ST_GeomFromText(%s, "
                           "3857), 18, true)", (wkt,))
        sql = ("SELECT sum(c) FROM generate_series(1, %s) g, LATERAL (SELECT count(*) AS c "
               "FROM pgmosaic.tilekey_cover_wkb(%s, 18 + 0 * g, -20037508.342789244, "
               "20037508.342789244, 40075016.685578488, 40075016.685578488, %s)) t")
        one(cur, sql, (10, psycopg2.Binary(wkb), False))
        t, total = timed(lambda: one(cur, sql, (n, psycopg2.Binary(wkb), False)))
        assert total == tiles * n
        tcomp, _ = timed(lambda: one(cur, sql, (n, psycopg2.Binary(wkb), True)))
        # Anchor: PostGIS, every tile of the bounding box tested against the polygon.
        anchor_sql = """
            WITH p AS (SELECT ST_GeomFromText(%s, 3857) AS g),
                 b AS (SELECT pgmosaic.tilekey_at(ST_XMin(g), ST_YMax(g), 18,
                                                  -20037508.342789244, 20037508.342789244,
                                                  40075016.685578488, 40075016.685578488) AS lo,
                              pgmosaic.tilekey_at(ST_XMax(g), ST_YMin(g), 18,
                                                  -20037508.342789244, 20037508.342789244,
                                                  40075016.685578488, 40075016.685578488) AS hi
                       FROM p)
            SELECT count(*) FROM p, b,
                 generate_series(pgmosaic.tilekey_x(lo), pgmosaic.tilekey_x(hi)) x,
                 generate_series(pgmosaic.tilekey_y(lo), pgmosaic.tilekey_y(hi)) y
            WHERE ST_Intersects(ST_TileEnvelope(18, x, y), g)
              AND ST_Area(ST_Intersection(ST_TileEnvelope(18, x, y), g)) > 0"""
        reps = max(1, n // 100)
        one(cur, anchor_sql, (wkt,))
        ta, anchor_tiles = timed(lambda: [one(cur, anchor_sql, (wkt,)) for _ in range(reps)])
        anchor_tiles = anchor_tiles[0]
        ta /= reps
        report.add(f"anchor: PostGIS ST_TileEnvelope + ST_Intersects ({anchor_tiles} tiles)", ta)
        report.add(f"tilekey_cover, {2 * radius / 1000:.0f} km polygon: {tiles} tiles", t / n, ta,
                   note=f"{t / n * 1e6:.1f} us per covering")
        report.add(f"tilekey_cover compact: {compact} keys", tcomp / n, ta,
                   note=f"{tcomp / n * 1e6:.1f} us per covering")
        assert anchor_tiles == tiles, (anchor_tiles, tiles)
    conn.close()


def main():
    args = parse_args()
    n_side = int(round(math.sqrt(args.items)))
    n_items = n_side * n_side
    admin = connect("postgres")
    acur = admin.cursor()
    acur.execute(f"DROP DATABASE IF EXISTS {args.dbname}")
    acur.execute(f"CREATE DATABASE {args.dbname}")
    acur.execute(f"DROP ROLE IF EXISTS {READER}")
    workdir = tempfile.mkdtemp(prefix="pgmosaic-bench-catalog-")
    os.chmod(workdir, 0o755)
    report = Report()
    try:
        conn = connect(args.dbname)
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION pgmosaic CASCADE")  # creates the pgmosaic_* roles
        acur.execute(f"CREATE ROLE {READER} IN ROLE pgmosaic_reader")
        print(f"pgmosaic {one(cur, 'SELECT extversion FROM pg_extension WHERE extname = %s', ('pgmosaic',))}"
              f", PostgreSQL {one(cur, 'SHOW server_version')}, GDAL {one(cur, 'SELECT pgmosaic.gdal_version()')}")
        print(f"\nLoading {n_items} synthetic items ({n_side} x {n_side} grid, all indexes in place)")
        t, _ = timed(lambda: build_big_mosaic(cur, n_side))
        size = one(cur, "SELECT pg_size_pretty(pg_total_relation_size('pgmosaic.item'))")
        report.add(f"bulk INSERT ... SELECT of {n_items} items + ANALYZE ({size} with indexes)", t)
        cur.execute("SELECT pgmosaic.grant_access('big', %s)", (READER,))
        conn.close()
        bench_lookups(args, report, args.dbname, n_side)
        bench_reroot(report, args.dbname, n_items)
        bench_check(args, report, args.dbname, workdir)
        bench_cover(args, report, args.dbname)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        acur.execute(f"DROP DATABASE IF EXISTS {args.dbname} WITH (FORCE)")
        acur.execute(f"DROP ROLE IF EXISTS {READER}")
        admin.close()


if __name__ == "__main__":
    main()
