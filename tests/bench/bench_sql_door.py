#!/usr/bin/python3
"""SQL door benchmark: pgmosaic's read/value/zonal_stats/render_tile against PostGIS raster.

The read benchmark's grid of COG tiles (bench_read.py's options and --keep), registered twice in
one database:
  - pgmosaic:       pgmosaic.add_raster() for every file;
  - PostGIS raster: raster2pgsql -R -t 512x512 -I -C (out-db tiles), read with
                    postgis.enable_outdb_rasters on and the GTiff driver enabled.
Five workloads, each one SQL statement per unit of work, sent by psycopg2 to the same server
(the same machine, the same page cache), the result fetched by the client (rasters in
PostgreSQL's binary form, COPY ... (FORMAT binary); timed until the client holds the bytes,
parsed into arrays for the checks afterwards: the client's copies, the same for both systems;
the client's large buffers on transparent huge pages unless --client-malloc default):
  - clip:       a 4096 x 4096 pixel square in the middle: pgmosaic.read(m, area) against
                ST_Union(ST_Clip(rast, area) ORDER BY rid) (later tiles on top, as in pgmosaic);
  - reproject:  a 2048 x 2048 square to EPSG:4326: pgmosaic.read(m, area, srid => 4326,
                options => '{"max_error": 0.125}') (ST_Transform's default error threshold;
                pgmosaic's default is exact) against ST_Transform(ST_Union(ST_Clip(...)), 4326);
                the check reads exactly and compares with an exact ST_Transform on its grid;
  - zonal:      200 random polygons: pgmosaic.zonal_stats(m, zones[]) (one call) against
                ST_SummaryStatsAgg(ST_Clip(rast, zone), 1, true) grouped by zone (the issue's
                form; it counts the files' overlaps twice) and against
                ST_SummaryStats(ST_Union(ST_Clip(...))) (overlaps once, the form whose values
                can equal pgmosaic's);
  - values:     1,000 random points: pgmosaic.value(m, points[]) (one call) against ST_Value of
                the last tile holding a valid pixel under each point (one statement);
  - clip and reproject again, the raster made in the server and only its size fetched: what
                the functions cost, without the transfer of the 50 MB to the client;
  - web tiles:  100 XYZ tiles inside the data at the mosaic's native zoom, one statement per
                tile: pgmosaic.render_tile(m, z, x, y) against ST_AsPNG(ST_Clip(ST_Transform(
                ST_Union(ST_Clip(rast, tile)), <the tile's 256 x 256 grid>), tile)).
Every workload: one untimed warm-up, then --repeat timed runs (fewer when a run takes longer
than --cap allows); medians and best printed, with PostGIS/pgmosaic ratios (the issue's target:
>= 10) and a check of the values: equal pixels, equal statistics, equal point values. The exit
code is 1 when a pgmosaic result differs from PostGIS raster's where they must agree (clip,
values, zonal statistics of the overlap-once form), 0 otherwise; ratios are informational.

It needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic and postgis_raster
installed: tests/bench/run.sh --sql-door does all that with a throw-away cluster. The database
--dbname is dropped and re-created.
"""

import argparse
import math
import os
import random
import shutil
import statistics
import struct
import sys
import time

import numpy as np
import psycopg2
from osgeo import gdal, ogr, osr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_read  # noqa: E402
from bench_read import MOSAIC, PGR_TABLE, SRID, psql, sql_literal  # noqa: E402
from pgraster import Raster  # noqa: E402

gdal.UseExceptions()

WEB = 3857
EARTH_HALF = 20037508.342789244


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_read.add_grid_arguments(p)
    p.add_argument("--clip-size", type=int, default=4096, help="side of the clip in pixels")
    p.add_argument("--reproject-size", type=int, default=2048,
                   help="side of the reprojected clip in pixels")
    p.add_argument("--zones", type=int, default=200, help="random polygons for zonal statistics")
    p.add_argument("--points", type=int, default=1000, help="random points for values")
    p.add_argument("--web-tiles", type=int, default=100, help="XYZ tiles to render")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    p.add_argument("--cap", type=float, default=300.0,
                   help="time budget in seconds for one system on one workload: a slower system "
                        "runs fewer repeats (labelled)")
    p.add_argument("--seed", type=int, default=4321, help="seed of the zones, points and tiles")
    p.add_argument("--keep", metavar="DIR",
                   help="keep the tiles in DIR and reuse them when DIR already holds this grid")
    p.add_argument("--dbname", default="pgmosaic_bench_door", help="database to (re)create")
    p.add_argument("--client-malloc", choices=("hugepages", "default"), default="hugepages",
                   help="the client's large buffers on transparent huge pages (glibc's "
                        "glibc.malloc.hugetlb=1, the default here) or glibc's default 4 kB pages")
    return p.parse_args()


def client_on_huge_pages(args):
    """Runs this client again with glibc's large allocations on transparent huge pages, unless
    --client-malloc default. psycopg2 receives a 50 MB raster into three fresh buffers (libpq's,
    PQgetCopyData's, the Python bytes); on this VM first-touching 50 MB in 4 kB pages costs about
    200 ms, paid alike for both systems' results and by neither server. Only this process and
    its client tools get the setting: the server was started before, as configured."""
    want = "glibc.malloc.hugetlb=1"
    if args.client_malloc == "default" or want in os.environ.get("GLIBC_TUNABLES", ""):
        return
    tunables = ":".join(t for t in (os.environ.get("GLIBC_TUNABLES"), want) if t)
    os.execve(sys.executable, [sys.executable] + sys.argv,
              dict(os.environ, GLIBC_TUNABLES=tunables))


# --------------------------------------------------------------------------------------------
# Setup


def setup(args, workdir):
    paths, _ = bench_read.make_tiles(args, workdir)
    bench_read.setup_database(args.dbname)
    t_pgm = bench_read.register_pgmosaic(args.dbname, workdir, paths, workdir)
    t_pgr = bench_read.load_raster2pgsql(args.dbname, paths, workdir, args.size)
    db = args.dbname
    psql(db, "-c", f'ALTER DATABASE "{db}" SET pgmosaic.enable_file_access = on',
         "-c", f'ALTER DATABASE "{db}" SET pgmosaic.allowed_roots = {sql_literal(workdir)}',
         "-c", f'ALTER DATABASE "{db}" SET postgis.enable_outdb_rasters = on',
         "-c", f"ALTER DATABASE \"{db}\" SET postgis.gdal_enabled_drivers = "
               "'GTiff COG PNG JPEG WEBP'",
         "-c", "ANALYZE")
    print(f"tiles: {len(paths)} files in {workdir}; pgmosaic add_raster {t_pgm:.1f} s, "
          f"raster2pgsql -R -t 512x512 -I -C {t_pgr:.1f} s")
    return paths


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def mosaic_grid(cur):
    """(xmin, ymax, res, width, height) of the mosaic (its grid, from the catalog)."""
    cur.execute("SELECT ST_XMin(e), ST_YMax(e), ST_XMax(e), ST_YMin(e) FROM "
                "(SELECT ST_Extent(footprint)::geometry e FROM pgmosaic.items(%s)) s", (MOSAIC,))
    xmin, ymax, xmax, ymin = cur.fetchone()
    cur.execute("SELECT ST_ScaleX(rast) FROM " + PGR_TABLE + " LIMIT 1")
    res = cur.fetchone()[0]
    return xmin, ymax, res, int(round((xmax - xmin) / res)), int(round((ymax - ymin) / res))


def square(grid, side):
    """A square of `side` pixels in the middle of the mosaic, on its grid: (WKT, gt)."""
    xmin, ymax, res, width, height = grid
    col, row = (width - side) // 2, (height - side) // 2
    x0, y0 = xmin + col * res, ymax - row * res
    x1, y1 = x0 + side * res, y0 - side * res
    return f"POLYGON(({x0} {y1},{x1} {y1},{x1} {y0},{x0} {y0},{x0} {y1}))"


def random_zones(rng, grid, n):
    """n random star-shaped polygons of 7 to 12 vertices, 200 m to 2 km across, inside the
    mosaic."""
    xmin, ymax, res, width, height = grid
    zones = []
    for _ in range(n):
        radius = rng.uniform(100, 1000)
        cx = rng.uniform(xmin + radius, xmin + width * res - radius)
        cy = rng.uniform(ymax - height * res + radius, ymax - radius)
        k = rng.randint(7, 12)
        pts = []
        for i in range(k):
            a = 2 * math.pi * i / k
            r = radius * rng.uniform(0.5, 1.0)
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
        pts.append(pts[0])
        zones.append("POLYGON((" + ",".join(f"{x:.3f} {y:.3f}" for x, y in pts) + "))")
    return zones


def random_points(rng, grid, n):
    xmin, ymax, res, width, height = grid
    return [f"POINT({rng.uniform(xmin, xmin + width * res):.3f} "
            f"{rng.uniform(ymax - height * res, ymax):.3f})" for _ in range(n)]


def web_tiles(rng, grid, n):
    """n distinct XYZ tiles wholly inside the data at the zoom whose pixel is closest to the
    mosaic's on the ground (the native zoom)."""
    xmin, ymax, res, width, height = grid
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(SRID)
    dst.ImportFromEPSG(WEB)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_web = osr.CoordinateTransformation(src, dst)
    to_src = osr.CoordinateTransformation(dst, src)
    ring = ogr.CreateGeometryFromWkt(square(grid, min(width, height)))
    ring.Transform(to_web)
    wx0, wx1, wy0, wy1 = ring.GetEnvelope()
    # The ground size of a web pixel is its mercator size times cos(latitude).
    lat = math.degrees(2 * math.atan(math.exp((wy0 + wy1) / 2 / 6378137.0)) - math.pi / 2)
    z = int(round(math.log2(2 * EARTH_HALF / 256 * math.cos(math.radians(lat)) / res)))
    size = 2 * EARTH_HALF / 2 ** z
    footprint = ogr.CreateGeometryFromWkt(square(grid, min(width, height)))
    inside = []
    for x in range(int((wx0 + EARTH_HALF) // size), int((wx1 + EARTH_HALF) // size) + 1):
        for y in range(int((EARTH_HALF - wy1) // size), int((EARTH_HALF - wy0) // size) + 1):
            tx0, ty1 = -EARTH_HALF + x * size, EARTH_HALF - y * size
            tile = ogr.CreateGeometryFromWkt(
                f"POLYGON(({tx0} {ty1 - size},{tx0 + size} {ty1 - size},{tx0 + size} {ty1},"
                f"{tx0} {ty1},{tx0} {ty1 - size}))")
            tile.Transform(to_src)
            if footprint.Contains(tile):
                inside.append((z, x, y))
    rng.shuffle(inside)
    return inside[:n], z


# --------------------------------------------------------------------------------------------
# Timing


class Cell:
    """One system on one workload: the timed runs (seconds) and the last run's result."""

    def __init__(self, times, result, note):
        self.times, self.result, self.note = times, result, note


def measure(fn, repeat, cap):
    """An untimed warm-up, then `repeat` timed runs (fewer when they would pass `cap`)."""
    t0 = time.perf_counter()
    result = fn()
    warm = time.perf_counter() - t0
    runs = min(repeat, max(1, int(cap / max(warm, 1e-9)) - 1))
    note = "" if runs == repeat else f"{runs} timed run(s) only"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return Cell(times, result, note)


def one(cur, sql, params=()):
    cur.execute(sql, params)
    return cur.fetchone()[0]


class _Chunks:
    """A COPY sink that keeps the bytes objects psycopg2 hands it (one per CopyData message),
    where io.BytesIO would copy every one of them again."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(data)
        return len(data)


def one_binary(cur, sql):
    """The single bytea value of `sql`, fetched in PostgreSQL's binary form (COPY ... (FORMAT
    binary)): raw bytes, as a client moving rasters fetches them, not psycopg2's hex text."""
    sink = _Chunks()
    cur.copy_expert(f"COPY ({sql}) TO STDOUT (FORMAT binary)", sink)
    # The header and the row come in one message, the trailer in another: the value is a view
    # of the first, not copied again (the parts joined only if a server ever split them).
    data = memoryview(sink.parts[0] if sink.parts else b"")
    for attempt in range(2):
        # Signature (11 bytes), flags, header extension length; a tuple: field count, length,
        # bytes.
        if len(data) >= 25:
            ext = struct.unpack_from(">I", data, 15)[0]
            pos = 19 + ext
            if len(data) >= pos + 6:
                fields, = struct.unpack_from(">h", data, pos)
                size, = struct.unpack_from(">i", data, pos + 2)
                if fields != 1 or size < 0:
                    raise RuntimeError(f"expected one non-NULL value from {sql[:60]}...")
                if len(data) >= pos + 6 + size:
                    break
        data = memoryview(b"".join(sink.parts))
    else:
        raise RuntimeError(f"a truncated COPY from {sql[:60]}...")
    return data[pos + 6:pos + 6 + size]


# --------------------------------------------------------------------------------------------
# Comparisons


def rasters_agree(a, b):
    """Compares two rasters over the cells of their common extent (their grids must be the
    same up to the origin): (equal, cells compared, text)."""
    if not np.allclose(a.gt[1:3] + a.gt[4:6], b.gt[1:3] + b.gt[4:6]):
        return False, 0, f"different resolutions {a.gt} {b.gt}"
    col = (b.gt[0] - a.gt[0]) / a.gt[1]
    row = (b.gt[3] - a.gt[3]) / a.gt[5]
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return False, 0, f"grids not aligned (offset {col}, {row} pixels)"
    col, row = int(round(col)), int(round(row))
    ax0, ay0 = max(0, col), max(0, row)
    ax1, ay1 = min(a.width, col + b.width), min(a.height, row + b.height)
    if ax1 <= ax0 or ay1 <= ay0:
        return False, 0, "no common cells"
    pa = a.array[:, ay0:ay1, ax0:ax1]
    pb = b.array[:, ay0 - row:ay1 - row, ax0 - col:ax1 - col]
    valid_a = pa != (a.nodata[0] if a.nodata[0] is not None else np.nan)
    valid_b = pb != (b.nodata[0] if b.nodata[0] is not None else np.nan)
    both = valid_a & valid_b
    differ = int(np.count_nonzero(pa[both] != pb[both]))
    only = int(np.count_nonzero(valid_a ^ valid_b))
    text = (f"{a.width}x{a.height} and {b.width}x{b.height}: {int(both.sum())} valid band cells "
            f"in common, {differ} differ, {only} valid in one only")
    return differ == 0 and only == 0, int(both.sum()), text


def png_agree(a, b):
    """Two tiles (PNG bytes): pgmosaic's RGBA, PostGIS's RGB (or RGBA): (differing band cells
    where pgmosaic's alpha is opaque, cells compared, transparent pgmosaic pixels)."""
    def pixels(data):
        name = f"/vsimem/door_{id(data)}.png"
        gdal.FileFromMemBuffer(name, data)
        try:
            return gdal.Open(name).ReadAsArray()
        finally:
            gdal.Unlink(name)
    pa, pb = pixels(a), pixels(b)
    if pa.shape[1:] != pb.shape[1:]:
        return None, 0, 0
    opaque = pa[3] == 255 if pa.shape[0] == 4 else np.ones(pa.shape[1:], bool)
    rgb_a, rgb_b = pa[:3][:, opaque], pb[:3][:, opaque]
    return int(np.count_nonzero(rgb_a != rgb_b)), rgb_a.size, int((~opaque).sum())


def stats_agree(ours, theirs, rel=1e-9):
    # count exact; min, max, sum, mean and stddev to 1e-9 relative (summation order differs)
    """Zone by zone: (zones equal, zones compared, first difference)."""
    equal, first = 0, ""
    for z, (p, q) in enumerate(zip(ours, theirs)):
        if p[0] == q[0] == 0:  # no pixel: the sum of nothing may be 0 or NULL
            equal += 1
            continue
        same = p[0] == q[0] and all(
            (x is None and y is None) or (x is not None and y is not None
                                          and abs(x - y) <= rel * max(1.0, abs(y)))
            for x, y in zip(p[1:], q[1:]))
        equal += same
        if not same and not first:
            first = f"zone {z + 1}: pgmosaic {p} PostGIS {q}"
    return equal, len(ours), first


# --------------------------------------------------------------------------------------------


def run(args, workdir):
    setup(args, workdir)
    conn = connect(args.dbname)
    cur = conn.cursor()
    grid = mosaic_grid(cur)
    xmin, ymax, res, width, height = grid
    print(f"mosaic {MOSAIC}: {width} x {height} pixels of {res:g} m, EPSG:{SRID}")
    rng = random.Random(args.seed)
    clip = square(grid, min(args.clip_size, width, height))
    reproj = square(grid, min(args.reproject_size, width, height))
    zones = random_zones(rng, grid, args.zones)
    points = random_points(rng, grid, args.points)
    tiles, zoom = web_tiles(rng, grid, args.web_tiles)
    cur.execute("CREATE TEMP TABLE zones (id int, geom geometry)")
    cur.executemany("INSERT INTO zones VALUES (%s, ST_GeomFromText(%s, %s))",
                    [(i + 1, z, SRID) for i, z in enumerate(zones)])
    cur.execute("CREATE TEMP TABLE points (id int, geom geometry)")
    cur.executemany("INSERT INTO points VALUES (%s, ST_GeomFromText(%s, %s))",
                    [(i + 1, p, SRID) for i, p in enumerate(points)])
    cur.execute("ANALYZE zones; ANALYZE points")
    print(f"workloads: clip {min(args.clip_size, width, height)}^2, reprojected clip "
          f"{min(args.reproject_size, width, height)}^2 to EPSG:4326, {len(zones)} zones, "
          f"{len(points)} points, {len(tiles)} web tiles at z{zoom}")

    area = f"ST_GeomFromText('{clip}', {SRID})"
    rarea = f"ST_GeomFromText('{reproj}', {SRID})"
    union = (f"SELECT ST_Union(ST_Clip(r.rast, a.g) ORDER BY r.rid) FROM {PGR_TABLE} r, "
             f"(SELECT {{area}} g) a WHERE ST_Intersects(r.rast, a.g)")
    pgr_tile = (
        "WITH t AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) env), "
        "u AS (SELECT ST_Union(ST_Clip(r.rast, ST_Transform(t.env, " + str(SRID) + ")) "
        "ORDER BY r.rid) rast FROM " + PGR_TABLE + " r, t "
        "WHERE ST_Intersects(r.rast, ST_Transform(t.env, " + str(SRID) + "))) "
        "SELECT ST_AsPNG(ST_Clip(ST_Transform(u.rast, ST_MakeEmptyRaster(256, 256, "
        "ST_XMin(t.env), ST_YMax(t.env), (ST_XMax(t.env) - ST_XMin(t.env)) / 256, "
        "-(ST_XMax(t.env) - ST_XMin(t.env)) / 256, 0, 0, 3857)), t.env)) FROM u, t")

    workloads = [
        ("clip", f"{min(args.clip_size, width, height)}^2 clip",
         lambda: one_binary(cur, f"SELECT ST_AsBinary(pgmosaic.read('{MOSAIC}', {area}))"),
         lambda: one_binary(cur, "SELECT ST_AsBinary(u) FROM (" + union.format(area=area)
                            + ") s(u)"), None),
        ("reproject", f"{min(args.reproject_size, width, height)}^2 clip to EPSG:4326",
         lambda: one_binary(cur, f"SELECT ST_AsBinary(pgmosaic.read('{MOSAIC}', {rarea}, "
                                 f"srid => 4326, options => '{{\"max_error\": 0.125}}'))"),
         lambda: one_binary(cur, "SELECT ST_AsBinary(ST_Transform(u, 4326)) FROM ("
                            + union.format(area=rarea) + ") s(u)"), None),
        # The same two rasters made in the server, the client fetching their size only: what
        # the functions cost without the transfer of 50 MB (fetched above in binary form: as
        # psycopg2's hex text, twice the bytes, it cost either system about 1.5 s).
        ("clip_server", f"{min(args.clip_size, width, height)}^2 clip, in the server",
         lambda: one(cur, f"SELECT length(ST_AsBinary(pgmosaic.read('{MOSAIC}', {area})))"),
         lambda: one(cur, "SELECT length(ST_AsBinary(u)) FROM (" + union.format(area=area)
                     + ") s(u)"), None),
        ("reproject_server", f"{min(args.reproject_size, width, height)}^2 to 4326, in the server",
         lambda: one(cur, f"SELECT length(ST_AsBinary(pgmosaic.read('{MOSAIC}', {rarea}, "
                          f"srid => 4326, options => '{{\"max_error\": 0.125}}')))"),
         lambda: one(cur, "SELECT length(ST_AsBinary(ST_Transform(u, 4326))) FROM ("
                     + union.format(area=rarea) + ") s(u)"), None),
        ("zonal", f"zonal statistics of {len(zones)} polygons",
         lambda: (cur.execute(f"SELECT z.count, z.min, z.max, z.mean, z.stddev, z.sum FROM "
                              f"(SELECT array_agg(geom ORDER BY id) a FROM zones) s, "
                              f"pgmosaic.zonal_stats('{MOSAIC}', s.a) z ORDER BY z.n"),
                  cur.fetchall())[1],
         lambda: (cur.execute(f"SELECT id, (s).count, (s).min, (s).max, (s).mean, (s).stddev, (s).sum "
                              f"FROM (SELECT z.id, ST_SummaryStatsAgg(ST_Clip(r.rast, z.geom), 1, "
                              f"true) s FROM zones z JOIN {PGR_TABLE} r ON "
                              f"ST_Intersects(r.rast, z.geom) GROUP BY z.id) t ORDER BY id"),
                  cur.fetchall())[1],
         lambda: (cur.execute(f"SELECT id, (s).count, (s).min, (s).max, (s).mean, (s).stddev, (s).sum "
                              f"FROM (SELECT id, ST_SummaryStats(u, 1, true) s FROM (SELECT z.id, "
                              f"ST_Union(ST_Clip(r.rast, z.geom) ORDER BY r.rid) u FROM zones z "
                              f"JOIN {PGR_TABLE} r ON ST_Intersects(r.rast, z.geom) "
                              f"GROUP BY z.id) s) t ORDER BY id"), cur.fetchall())[1]),
        ("values", f"{len(points)} point values",
         lambda: (cur.execute(f"SELECT v.value FROM (SELECT array_agg(geom ORDER BY id) a FROM "
                              f"points) s, pgmosaic.value('{MOSAIC}', s.a) v ORDER BY v.n"),
                  [r[0] for r in cur.fetchall()])[1],
         lambda: (cur.execute(f"SELECT (SELECT v FROM (SELECT r.rid, ST_Value(r.rast, 1, p.geom) "
                              f"v FROM {PGR_TABLE} r WHERE ST_Intersects(r.rast, p.geom)) s "
                              f"WHERE v IS NOT NULL ORDER BY rid DESC LIMIT 1) FROM points p "
                              f"ORDER BY p.id"), [r[0] for r in cur.fetchall()])[1], None),
        ("tiles", f"{len(tiles)} web tiles z{zoom}, one statement each",
         lambda: [bytes(one(cur, "SELECT pgmosaic.render_tile(%s, %s, %s, %s)",
                            (MOSAIC, z, x, y))) for z, x, y in tiles],
         lambda: [bytes(one(cur, pgr_tile, dict(z=z, x=x, y=y))) for z, x, y in tiles], None),
    ]

    cells = {}
    print(f"\nwarm-up + {args.repeat} timed runs per cell (fewer past --cap {args.cap:g} s), "
          f"client and server on this machine, results fetched by the client (its large "
          f"buffers on {'huge' if args.client_malloc == 'hugepages' else '4 kB'} pages)")
    for key, label, pgm, pgr, pgr_once in workloads:
        systems = [("pgmosaic", pgm), ("PostGIS", pgr)]
        if pgr_once:
            systems.append(("PostGIS union", pgr_once))
        for name, fn in systems:
            t0 = time.perf_counter()
            cells[(key, name)] = measure(fn, args.repeat, args.cap)
            c = cells[(key, name)]
            print(f"  {label:42s} {name:14s} median {statistics.median(c.times):8.3f} s  "
                  f"(cell {time.perf_counter() - t0:.1f} s){'  [' + c.note + ']' if c.note else ''}",
                  flush=True)

    print("\nchecks")
    failures = []
    ok, n, text = rasters_agree(Raster(cells[("clip", "pgmosaic")].result),
                                Raster(cells[("clip", "PostGIS")].result))
    print(f"  clip: {'equal' if ok else 'DIFFERENT'}: {text}")
    if not ok:
        failures.append("the clip differs from PostGIS raster's")
    b = Raster(cells[("reproject", "PostGIS")].result)
    a = Raster(one(cur, f"SELECT ST_AsBinary(pgmosaic.read('{MOSAIC}', {rarea}, srid => 4326))"))
    print(f"  reproject: pgmosaic {a.width}x{a.height} at {a.gt[1]:.3e} deg, PostGIS "
          f"{b.width}x{b.height} at {b.gt[1]:.3e} deg (each its own grid)")
    aligned = Raster(one(cur, "SELECT ST_AsBinary(ST_Transform(u, ST_MakeEmptyRaster(1, 1, %s, %s,"
                              " %s, %s, 0, 0, 4326), 'NearestNeighbor', 0)) FROM ("
                     + union.format(area=rarea) + ") s(u)", (a.gt[0], a.gt[3], a.gt[1], a.gt[5])))
    ok, n, text = rasters_agree(a, aligned)
    print(f"  reproject on pgmosaic's grid (exact read against ST_Transform aligned to it, "
          f"maxerr 0): {'equal' if ok else 'different'}: {text} (cells valid in one only lie on "
          f"the area's edge: PostGIS clips before the warp, pgmosaic after it)")
    ours = cells[("zonal", "pgmosaic")].result
    for name in ("PostGIS union", "PostGIS"):
        theirs = [tuple(r[1:]) for r in cells[("zonal", name)].result]
        eq, n, first = stats_agree(ours, theirs)
        print(f"  zonal against {name}: {eq} of {n} zones equal{'; ' + first if first else ''}")
        if name == "PostGIS union" and eq != n:
            failures.append("zonal statistics differ from PostGIS raster's")
    ours, theirs = cells[("values", "pgmosaic")].result, cells[("values", "PostGIS")].result
    eq = sum(p == q for p, q in zip(ours, theirs))
    print(f"  values: {eq} of {len(ours)} equal ({sum(p is None for p in ours)} nodata)")
    if eq != len(ours):
        failures.append("point values differ from PostGIS raster's")
    diff = total = clear = 0
    for p, q in zip(cells[("tiles", "pgmosaic")].result, cells[("tiles", "PostGIS")].result):
        d, t, c = png_agree(p, q)
        if d is None:
            diff, total = diff + 1, total + 1
            continue
        diff, total, clear = diff + d, total + t, clear + c
    print(f"  web tiles: {diff} of {total} opaque band cells differ "
          f"({100.0 * diff / max(total, 1):.3f}%), {clear} transparent pgmosaic pixels (grids "
          f"alike; PostGIS's ST_Transform has a 0.125 pixel error threshold)")

    print("\nPostGIS raster / pgmosaic, medians (target >= 10)")
    for key, label, *_ in workloads:
        pgm = statistics.median(cells[(key, "pgmosaic")].times)
        names = ["PostGIS"] + (["PostGIS union"] if (key, "PostGIS union") in cells else [])
        for name in names:
            pgr = statistics.median(cells[(key, name)].times)
            best = min(cells[(key, name)].times) / min(cells[(key, "pgmosaic")].times)
            print(f"  {label:42s} {name:14s} {pgr:8.3f} s / {pgm:7.3f} s = {pgr / pgm:7.1f}x "
                  f"(best {best:.1f}x)")
    conn.close()
    return failures


def main():
    args = parse_args()
    client_on_huge_pages(args)
    t_start = time.perf_counter()
    workdir = bench_read.data_dir(args.keep)
    try:
        failures = run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal wall time of the SQL door benchmark: {time.perf_counter() - t_start:.1f} s")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
