#!/usr/bin/python3
"""Seed 001's five queries (Table 2 of the DAD/DRAD paper), each with and without pgmosaic's
abstraction, and seed 000's overview-build figure as throughput.

Every query runs twice on the same data in the same run: "without" is what a GIS user does
with no abstraction (read the pixels and work on them), "with" uses what pgmosaic keeps in the
catalog. The ratio without/with is printed next to the paper's.

  (1) overview (DAD): whole 2000x2000 RGB mosaic read into 512x512 (open + read). Without: the
      source has no internal overviews and the mosaic no gdaladdo levels, so the read decodes
      full resolution. With: a mosaic of the same file whose levels 2 and 4 were built by
      gdaladdo -r average "PGMOSAIC:..." (mosaic-wide COG tiles under the managed root).
  (2) zoom/pan: a 512x512 viewport moving one tile at a time (serpentine) over an 8000x8000
      1-band Byte map. Per-read latency, median. Without, as in the paper ("a BLOB without
      image tiling and reordering: seek through the whole image data, read the needed part"):
      the same map untiled (GDAL's default strips, the COG's DEFLATE + predictor), a plain
      PGMOSAIC dataset, GDAL's block cache emptied before every read (the BLOB is read from
      storage for every request). With: the COG of 512x512 tiles (DRAD) and
      prefetch=neighbors (the driver composes the 8 tiles around each read in the background).
      For information: (2b) the untiled map with GDAL's block cache kept through the pan (a
      serpentine pan along rows re-uses the strips of the row: the best case for strips);
      (2c) prefetch alone: the tiled COG without and with prefetch. Between reads the viewer
      looks at the screen for --think s in every mode (an idle CPU makes the next read slower,
      on this machine ~0.15 ms for any 256 KB read: the same for all); with prefetch it also
      waits until PREFETCHED stops rising (at most --think-max s). Think time is not counted.
  (3) thematic (DAD): water and cloud areas of a 1024x1024 RGB scene. Without: look the image up
      in the catalog, read it, evaluate the rules in numpy, count pixels x pixel area. With:
      pgmosaic.theme_area() of the polygons that add_theme_rule() derived at load time. The
      areas must agree (--area-tolerance).
  (4) range query (DRAD): a 256x256-pixel quadrilateral on the 8000x8000 map, clipped. Without:
      find the image in the catalog, read it whole (like a BLOB), clip. With: pgmosaic.tiles()
      lists the internal tiles the polygon needs; read just those tiles (one window), clip. Both
      results must be identical. --polygons polygons (fixed seed), anywhere on the map. The
      paper tiles the images "into small files" without giving their size: (4) uses tiles of
      the polygon's size, 256x256 (GDAL's GTiff tiling), (4c) the 512x512 tiles of (2)'s map,
      where most polygons need 2 or 4 tiles of 4 times the pixels. "With" is printed by the
      number of tiles a polygon needs too (the pooled median falls between those groups).
      (4b, for information) pgmosaic.summary() (count/min/max/mean from per-tile statistics,
      reading only the tiles on the polygon's edge) against numpy on the whole image.
  (5) analysis (DAD): Sobel edge magnitude of the 2000x2000 RGB map (open + read + compute).
      Without: at full resolution. With: on the 4x-reduced level (500x500) read from the
      dataset's overview 1 (gdaladdo level 4). Similarity: correlation of the small edge map,
      upsampled 4x, with the full one (and with the full one's 4x4 block means).
  Overview build (seed 000): gdaladdo -r average 2 4 8 on a mosaic of --build-tiles COG tiles
  (pgmosaic writes ZSTD COG tiles by default, DEFLATE with COMPRESS_OVERVIEW=DEFLATE, reading
  with all CPUs) against gdaladdo -r average -ro 2 4 8 on a gdalbuildvrt VRT of the same files:
  gdaladdo's defaults (uncompressed .ovr, one thread) and, like for like, COMPRESS_OVERVIEW=ZSTD
  and DEFLATE with GDAL_NUM_THREADS=ALL_CPUS; as MB of source per second (raw: width x height
  x bands bytes), next to seed 000's figures (62.1 GB in 22 min, 360 GB in 43 min: 47 and 140
  MB/s on its own hardware).

Method: one untimed warm-up, then --repeat timed runs per case; medians. Every timed run empties
GDAL's block cache and opens its datasets afresh (the catalog connection of (3) and (4) stays
open, as an application's would). The OS page cache is warm for all (files just written).
Every PGMOSAIC open is a new server connection: the header line says what a fresh backend pays
on its first catalog query (loading pgmosaic.so, GDAL with it, unless preloaded: run_seed001.sh
--preload), which is part of both sides of (1) and (5).

It needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic installed and
GDAL_DRIVER_PATH pointing at gdal_PGMOSAIC.so: tests/bench/run_seed001.sh does all that with a
throw-away cluster. The database --dbname is dropped and re-created. Functions missing from the
installed extension (theme and tile functions) make their query print "not available".
Exit code: non-zero when a correctness check fails (the paper's ratios only print yes/no).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg2
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import sampledata  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# One warm-up then timed runs, GDAL's block cache emptied before each: as the read benchmark.
from bench_read import flush_gdal_cache, time_runs  # noqa: E402

gdal.UseExceptions()

SRID = 32631
RES = 10.0  # metres per pixel for every image
ORIGIN = (500000.0, 5000000.0)

# The paper's ratios (Table 2 of seed 001), without / with.
PAPER = {
    "1": ("about 10x", 10.0),
    "2": ("about 30x", 30.0),
    "3": ("2:15 = 7.5x", 15 / 2),
    "4": ("1:81 = 81x", 81.0),
    "4c": ("1:81 = 81x", 81.0),
    "5": ("about 15x", 15.0),
}

NAMES = {
    "1": "overview 2000x2000 RGB -> 512x512",
    "2": "zoom/pan 8000x8000: untiled -> tiles + prefetch",
    "2b": "zoom/pan: untiled, GDAL cache kept -> same",
    "2c": "zoom/pan: tiles -> tiles + prefetch",
    "3": "thematic: water + cloud area 1024x1024",
    "4": "range: 256x256 polygon on 8000x8000",
    "4b": "range summary (count/min/max/mean)",
    "4c": "range, as (4) on 512x512 tiles",
    "5": "edge detection 2000x2000 RGB",
}

WATER_RULE = "(b2 - b3) / (b2 + b3) > 0.1"
CLOUD_RULE = "b1 > 180 and b2 > 180 and b3 > 180"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    p.add_argument("--only", default="1,2,3,4,5,build",
                   help="comma-separated subset of 1,2,3,4,5,build (default all)")
    p.add_argument("--pan-rows", type=int, default=3, help="(2) rows of tiles the pan crosses")
    p.add_argument("--pan-cols", type=int, default=12, help="(2) tiles per row of the pan")
    p.add_argument("--pan-repeat", type=int, default=3, help="(2) timed pans per mode")
    p.add_argument("--think", type=float, default=0.1,
                   help="(2) think time between reads in every mode, s (default 0.1)")
    p.add_argument("--think-max", type=float, default=1.0,
                   help="(2) longest wait for prefetching between reads, s (default 1.0)")
    p.add_argument("--polygons", type=int, default=16,
                   help="(4) random polygons (default 16)")
    p.add_argument("--seed", type=int, default=1, help="(4) seed of the polygons")
    p.add_argument("--area-tolerance", type=float, default=0.01,
                   help="(3) largest relative difference of the areas (default 0.01)")
    p.add_argument("--build-tiles", type=int, default=16,
                   help="overview build: tiles of 1024x1024x3 (default 16, a 4x4 grid)")
    p.add_argument("--build-repeat", type=int, default=2, help="overview build: runs per system")
    p.add_argument("--dbname", default="pgmosaic_seed001", help="database to (re)create")
    return p.parse_args()


# --------------------------------------------------------------------------------------------
# Sample images (deterministic, made with numpy; written by sampledata.make_cog)


def interp_matrix(n, cells):
    """n x (cells + 1) matrix of linear interpolation weights from a coarse grid to n samples."""
    pos = np.linspace(0, cells, n, dtype=np.float64)
    i0 = np.minimum(pos.astype(int), cells - 1)
    t = pos - i0
    m = np.zeros((n, cells + 1), dtype=np.float32)
    m[np.arange(n), i0] = 1 - t
    m[np.arange(n), i0 + 1] = t
    return m


def interp_cols(a, cols):
    """Linear interpolation of the columns of `a` (rows x (cells + 1)) to `cols` columns."""
    cells = a.shape[1] - 1
    pos = np.linspace(0, cells, cols, dtype=np.float64)
    i0 = np.minimum(pos.astype(int), cells - 1)
    t = (pos - i0).astype(np.float32)
    return a[:, i0] * (1 - t) + a[:, i0 + 1] * t


def smooth_field(rng, rows, cols, cells, octaves=3):
    """Value noise in [0, 1]: `octaves` bilinear grids of doubling frequency, halving weight."""
    out = np.zeros((rows, cols), dtype=np.float32)
    weight, total = 1.0, 0.0
    for o in range(octaves):
        c = cells * 2 ** o
        grid = rng.random((c + 1, c + 1)).astype(np.float32)
        out += weight * interp_cols(interp_matrix(rows, c) @ grid, cols)
        total += weight
        weight /= 2
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo)


def draw_lines(img, rng, count, width, value):
    """Straight roads: pixels within width/2 of random lines get `value` (img: bands, rows, cols
    or rows, cols). Row by row: each line covers one run of columns per row."""
    rows, cols = img.shape[-2:]
    ys = np.arange(rows, dtype=np.float64)
    for _ in range(count):
        angle = rng.uniform(0, np.pi)
        nx, ny = np.cos(angle), np.sin(angle)
        c = -(nx * rng.uniform(0, cols) + ny * rng.uniform(0, rows))
        hw = width / 2
        v = ny * ys + c  # |nx * x + v| < hw
        if abs(nx) < 1e-9:
            runs = [(y, 0, cols) for y in np.nonzero(np.abs(v) < hw)[0]]
        else:
            a, b = (-hw - v) / nx, (hw - v) / nx
            lo = np.ceil(np.minimum(a, b)).astype(np.int64).clip(0, cols)
            hi = np.ceil(np.maximum(a, b)).astype(np.int64).clip(0, cols)
            runs = [(y, lo[y], hi[y]) for y in np.nonzero(hi > lo)[0]]
        for y, x0, x1 in runs:
            if img.ndim == 3:
                img[:, y, x0:x1] = np.asarray(value, dtype=img.dtype)[:, None]
            else:
                img[y, x0:x1] = value


def make_scanned_map(path, size, seed):
    """24-bit scanned map: land-use zones in flat colours, darker zone borders, roads, a little
    scanner noise. No internal overviews (the DAD levels are the only reduced versions)."""
    rng = np.random.default_rng(seed)
    field = smooth_field(rng, size, size, 6)
    zones = np.minimum((field * 7).astype(np.int32), 6)
    palette = np.array([[232, 226, 200], [196, 222, 170], [160, 200, 140], [250, 240, 190],
                        [170, 205, 230], [220, 200, 180], [205, 205, 205]], dtype=np.int16)
    img = np.moveaxis(palette[zones], 2, 0).copy()
    border = np.zeros((size, size), dtype=bool)
    border[:, 1:] |= zones[:, 1:] != zones[:, :-1]
    border[1:, :] |= zones[1:, :] != zones[:-1, :]
    img[:, border] = 90
    draw_lines(img, rng, 12, 5.0, (40, 40, 40))
    draw_lines(img, rng, 20, 2.5, (200, 60, 50))
    img += rng.integers(-6, 7, size=img.shape, dtype=np.int16)
    img = np.clip(img, 1, 255).astype(np.uint8)
    return sampledata.make_cog(path, img, ORIGIN, RES, overviews=False)


def make_scene(path, size, seed):
    """24-bit satellite scene (b1 red, b2 green, b3 near infrared): land, lakes (b2 well above
    b3) and clouds (all bright), with texture and soft edges."""
    rng = np.random.default_rng(seed)
    lakes = smooth_field(rng, size, size, 5)
    clouds = smooth_field(rng, size, size, 4)
    texture = smooth_field(rng, size, size, 40, octaves=2)
    water = np.clip((lakes - 0.68) * 25, 0, 1)      # soft edge over a few pixels
    cloud = np.clip((clouds - 0.75) * 20, 0, 1)
    land = np.stack([60 + 40 * texture, 80 + 30 * texture, 150 + 60 * texture])
    lake = np.stack([30 + 10 * texture, 70 + 15 * texture, 20 + 10 * texture])
    sky = np.stack([225 + 20 * texture, 228 + 20 * texture, 230 + 20 * texture])
    img = land * (1 - water) + lake * water
    img = img * (1 - cloud) + sky * cloud
    img += rng.normal(0, 3, size=img.shape)
    img = np.clip(np.rint(img), 1, 255).astype(np.uint8)
    return sampledata.make_cog(path, img, ORIGIN, RES)


def make_bilevel_map(path, size, seed):
    """'1-bit' scanned line map as 1-band Byte (0 ink, 255 paper): contour lines, roads, text-like
    blocks and scanner speckle; 512x512 tiles, no internal overviews."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 255, dtype=np.uint8)
    strip = 1000
    cells = 24
    # The field in strips (whole-image float arrays would be 256 MB each).
    grid = [rng.random((cells * 2 ** o + 1, cells * 2 ** o + 1)).astype(np.float32)
            for o in range(2)]
    wy = [interp_matrix(size, cells * 2 ** o) for o in range(2)]
    for y0 in range(0, size, strip):
        f = sum((0.5 ** o) * interp_cols(wy[o][y0:y0 + strip] @ grid[o], size)
                for o in range(2)) / 1.5
        frac = (f * 40) % 1.0
        ink = (frac < 0.035) | (frac > 0.965)
        ink |= rng.random(ink.shape) < 0.01
        img[y0:y0 + strip][ink] = 0
    for _ in range(3000):  # "text": small dark blocks
        x, y = rng.integers(0, size - 40, size=2)
        w, h = rng.integers(4, 30), rng.integers(4, 10)
        img[y:y + h, x:x + w] = 0
    draw_lines(img, rng, 25, 4.0, 0)
    return sampledata.make_cog(path, img[np.newaxis], ORIGIN, RES, blocksize=512, overviews=False)


# --------------------------------------------------------------------------------------------
# Database, GDAL and timing helpers


def connect(dbname):
    conn = psycopg2.connect(host=os.environ.get("PGHOST"), port=os.environ.get("PGPORT"),
                            user=os.environ.get("PGUSER"), dbname=dbname,
                            options="-c client_min_messages=warning")
    conn.autocommit = True
    return conn


def sql(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


def has_functions(conn, *names):
    """The names among `names` that the installed pgmosaic lacks."""
    rows = sql(conn, "SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON "
                     "n.oid = p.pronamespace WHERE n.nspname = 'pgmosaic' AND p.proname = ANY(%s)",
               (list(names),))
    found = {r[0] for r in rows}
    return [n for n in names if n not in found]


def register(conn, mosaic, paths, datadir):
    """create_mosaic + add_raster of `paths` (backend file access below `datadir`): seconds."""
    t0 = time.perf_counter()
    sql(conn, "SET pgmosaic.enable_file_access = on")
    sql(conn, "SET pgmosaic.allowed_roots = %s", (datadir,))
    sql(conn, "BEGIN")
    sql(conn, "SELECT pgmosaic.create_mosaic(%s, %s)", (mosaic, SRID))
    for p in paths:
        sql(conn, "SELECT pgmosaic.add_raster(%s, %s)", (mosaic, p))
    sql(conn, "COMMIT")
    return time.perf_counter() - t0


def gdaladdo(args, env=None):
    t0 = time.perf_counter()
    subprocess.run(["gdaladdo", "-q"] + args, check=True, env=env)
    return time.perf_counter() - t0


def median_ms(times):
    return f"{1000 * statistics.median(times):.2f} ms"


class Row:
    """One line of the final table."""

    def __init__(self, key, name, without=None, with_=None, note=""):
        self.key, self.name, self.without, self.with_, self.note = key, name, without, with_, note


# --------------------------------------------------------------------------------------------
# (1) overview and (5) analysis: the 2000x2000 RGB map, plain and with DAD levels


def setup_map2000(ctx):
    if "map2000" in ctx.cache:
        return ctx.cache["map2000"]
    path = os.path.join(ctx.datadir, "map2000_rgb.tif")
    t0 = time.perf_counter()
    make_scanned_map(path, 2000, seed=2000)
    t_make = time.perf_counter() - t0
    t_plain = register(ctx.db, "q1_plain", [path], ctx.datadir)
    t_dad = register(ctx.db, "q1_dad", [path], ctx.datadir)
    managed = os.path.join(ctx.workdir, "managed_q1_dad")
    os.makedirs(managed, mode=0o755)
    sql(ctx.db, "INSERT INTO pgmosaic.path_root VALUES ('q1_dad', %s)", (managed,))
    t_addo = gdaladdo(["-r", "average", f"PGMOSAIC:{ctx.conninfo} mosaic=q1_dad", "2", "4"])
    ds = gdal.Open(f"PGMOSAIC:{ctx.conninfo} mosaic=q1_dad")
    levels = [(ds.GetRasterBand(1).GetOverview(i).XSize, ds.GetRasterBand(1).GetOverview(i).YSize)
              for i in range(ds.GetRasterBand(1).GetOverviewCount())]
    ds = None
    n_tiles = sql(ctx.db, "SELECT count(*) FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON "
                          "m.id = i.mosaic_id WHERE m.name = 'q1_dad' AND i.category = "
                          "'overview'")[0][0]
    print(f"  map2000: 2000x2000x3 COG without internal overviews, {os.path.getsize(path) / 1e6:.1f}"
          f" MB, made in {t_make:.1f} s; registered as q1_plain ({t_plain:.2f} s) and q1_dad "
          f"({t_dad:.2f} s)")
    print(f"  gdaladdo -r average \"PGMOSAIC:... mosaic=q1_dad\" 2 4: {t_addo:.2f} s, "
          f"{n_tiles} overview tiles; dataset overviews {levels}")
    ctx.cache["map2000"] = path
    return path


def query1(ctx):
    setup_map2000(ctx)
    out = 512

    opens = {}

    def read(mosaic):
        opens[mosaic] = []

        def fn():
            t0 = time.perf_counter()
            ds = gdal.OpenEx(f"PGMOSAIC:{ctx.conninfo} mosaic={mosaic}", gdal.OF_RASTER)
            opens[mosaic].append(time.perf_counter() - t0)
            data = ds.ReadRaster(0, 0, ds.RasterXSize, ds.RasterYSize,
                                 buf_xsize=out, buf_ysize=out)
            ds = None
            return data
        return fn

    t_without, a = time_runs(read("q1_plain"), ctx.repeat)
    t_with, b = time_runs(read("q1_dad"), ctx.repeat)
    x = np.frombuffer(a, dtype=np.uint8).astype(np.int16)
    y = np.frombuffer(b, dtype=np.uint8).astype(np.int16)
    for label, key, times in (("without (q1_plain, decodes full resolution)", "q1_plain", t_without),
                              ("with    (q1_dad, DAD levels)              ", "q1_dad", t_with)):
        print(f"  {label}: open + read median {median_ms(times)} (of which open "
              f"{median_ms(opens[key][1:])})")
    print(f"  the two 512x512 images: mean |difference| {np.abs(x - y).mean():.2f} grey levels "
          f"(nearest from full resolution against nearest from the average-built level)")
    return [Row("1", NAMES["1"], t_without, t_with)]


def sobel_magnitude(img):
    """Gradient magnitude (Sobel, 3x3), the largest over the bands: (rows - 2, cols - 2)."""
    out = None
    for band in img.astype(np.float32):
        a = band
        gx = (a[:-2, 2:] + 2 * a[1:-1, 2:] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[1:-1, :-2] + a[2:, :-2])
        gy = (a[2:, :-2] + 2 * a[2:, 1:-1] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[:-2, 1:-1] + a[:-2, 2:])
        mag = np.hypot(gx, gy)
        out = mag if out is None else np.maximum(out, mag)
    return out


def query5(ctx):
    setup_map2000(ctx)

    def full():
        ds = gdal.OpenEx(f"PGMOSAIC:{ctx.conninfo} mosaic=q1_plain", gdal.OF_RASTER)
        img = ds.ReadAsArray()
        ds = None
        return sobel_magnitude(img)

    def reduced():
        ds = gdal.OpenEx(f"PGMOSAIC:{ctx.conninfo} mosaic=q1_dad", gdal.OF_RASTER)
        img = np.stack([ds.GetRasterBand(b).GetOverview(1).ReadAsArray()
                        for b in range(1, ds.RasterCount + 1)])
        ds = None
        return sobel_magnitude(img)

    t_without, e_full = time_runs(full, ctx.repeat)
    t_with, e_small = time_runs(reduced, ctx.repeat)
    # Both maps lose a 1-pixel border: full (1998, 1998) at offset 1, small (498, 498) at offset
    # 1 of the 500x500 level = offset 4 at full resolution.
    up = np.repeat(np.repeat(e_small, 4, axis=0), 4, axis=1)            # covers rows 4..1995
    full_c = e_full[3:3 + up.shape[0], 3:3 + up.shape[1]]
    n = min(full_c.shape[0], up.shape[0])
    corr_up = np.corrcoef(full_c[:n, :n].ravel(), up[:n, :n].ravel())[0, 1]
    blocks = e_full[3:3 + 4 * 498, 3:3 + 4 * 498].reshape(498, 4, 498, 4).mean(axis=(1, 3))
    corr_blocks = np.corrcoef(blocks.ravel(), e_small.ravel())[0, 1]
    # Where the edges are: the 10% strongest cells of each 500x500 map (the full map by its
    # 4x4 block means), and how much those two sets overlap (intersection over union).
    top_full = blocks > np.percentile(blocks, 90)
    top_small = e_small > np.percentile(e_small, 90)
    iou = np.count_nonzero(top_full & top_small) / np.count_nonzero(top_full | top_small)
    print(f"  without (full 2000x2000x3 + Sobel): median {median_ms(t_without)}")
    print(f"  with    (overview 1 = 500x500x3 + Sobel): median {median_ms(t_with)}")
    print(f"  similarity: correlation of the small edge map upsampled 4x with the full one "
          f"{corr_up:.3f}; with the full one's 4x4 block means {corr_blocks:.3f}; strongest 10% "
          f"edge cells of both: intersection/union {iou:.2f} (random would be 0.05)")
    return [Row("5", NAMES["5"], t_without, t_with,
                f"corr {corr_up:.2f}")]


# --------------------------------------------------------------------------------------------
# (2) zoom/pan and (4) range query: the 8000x8000 bilevel map


def setup_map8000(ctx):
    if "map8000" in ctx.cache:
        return ctx.cache["map8000"]
    path = os.path.join(ctx.datadir, "map8000_bilevel.tif")
    t0 = time.perf_counter()
    make_bilevel_map(path, 8000, seed=8000)
    t_make = time.perf_counter() - t0
    t_reg = register(ctx.db, "map8000", [path], ctx.datadir)
    print(f"  map8000: 8000x8000x1 Byte COG, 512x512 tiles, {os.path.getsize(path) / 1e6:.1f} MB "
          f"(raw 64 MB), made in {t_make:.1f} s; registered as map8000 in {t_reg:.2f} s")
    # The paper's "BLOB without tiling": the same pixels and codec, in GDAL's default strips.
    untiled = os.path.join(ctx.datadir, "map8000_untiled.tif")
    gdal.Translate(untiled, path, creationOptions=["COMPRESS=DEFLATE", "PREDICTOR=2"])
    ds = gdal.Open(untiled)
    block = ds.GetRasterBand(1).GetBlockSize()
    ds = None
    t_reg = register(ctx.db, "map8000_untiled", [untiled], ctx.datadir)
    print(f"  map8000_untiled: the same map untiled (blocks of {block[0]}x{block[1]}, DEFLATE + "
          f"predictor like the COG), {os.path.getsize(untiled) / 1e6:.1f} MB; registered as "
          f"map8000_untiled in {t_reg:.2f} s")
    ctx.cache["map8000"] = path
    return path


def pan_path(rows, cols, row0=3, col0=1):
    """Tile positions of a serpentine pan: right along a row, down one, left, down one, ..."""
    steps = []
    for r in range(rows):
        cs = range(col0, col0 + cols) if r % 2 == 0 else range(col0 + cols - 1, col0 - 1, -1)
        steps += [(c, row0 + r) for c in cs]
    return steps


def settle(ds, limit):
    """Waits until PREFETCHED has not moved for 40 ms (or `limit` seconds): the background
    composition of the neighbours is done. Returns the seconds waited."""
    t0 = time.perf_counter()
    last, since = None, t0
    while True:
        now = time.perf_counter()
        v = ds.GetMetadataItem("PREFETCHED", "PGMOSAIC")
        if v != last:
            last, since = v, now
        elif now - since >= 0.04:
            break
        if now - t0 >= limit:
            break
        time.sleep(0.005)
    return time.perf_counter() - t0


def query2(ctx):
    setup_map8000(ctx)
    steps = pan_path(ctx.args.pan_rows, ctx.args.pan_cols)
    t = 512
    # name, mosaic, prefetch, GDAL block cache emptied before every read
    modes = (("untiled, re-read", "map8000_untiled", False, True),
             ("untiled, cached", "map8000_untiled", False, False),
             ("tiled", "map8000", False, False),
             ("tiled + prefetch", "map8000", True, False))

    def pan(mosaic, prefetch, reread):
        ds = gdal.OpenEx(f"PGMOSAIC:{ctx.conninfo} mosaic={mosaic}"
                         + (" prefetch=neighbors" if prefetch else ""), gdal.OF_RASTER)
        lat, data, waited = [], [], 0.0
        for c, r in steps:
            if reread:
                flush_gdal_cache()
            t0 = time.perf_counter()
            buf = ds.ReadRaster(c * t, r * t, t, t)
            lat.append(time.perf_counter() - t0)
            data.append(buf)
            # The viewer looks at the screen; with prefetch, until the neighbours are ready.
            t0 = time.perf_counter()
            time.sleep(ctx.args.think)
            if prefetch:
                settle(ds, ctx.args.think_max)
            waited += time.perf_counter() - t0
        counters = ({k: int(ds.GetMetadataItem(k, "PGMOSAIC") or 0)
                     for k in ("PREFETCHED", "PREFETCH_HITS", "PREFETCH_MISSES")}
                    if prefetch else {})
        ds = None
        return lat, data, waited, counters

    result = {}
    for name, mosaic, prefetch, reread in modes:
        flush_gdal_cache()
        pan(mosaic, prefetch, reread)  # warm-up
        lats, last = [], None
        for _ in range(ctx.args.pan_repeat):
            flush_gdal_cache()
            last = pan(mosaic, prefetch, reread)
            lats += last[0]
        result[name] = (lats, last)
    first = result[modes[0][0]][1][1]
    same = all(result[m[0]][1][1] == first for m in modes)
    if not same:
        ctx.failures.append("(2) the pans read different bytes in different modes")
    print(f"  pan: {len(steps)} reads of 512x512 (serpentine, {ctx.args.pan_rows} rows x "
          f"{ctx.args.pan_cols} tiles from tile (1, 3)), {ctx.args.pan_repeat} timed pans per "
          f"mode after a warm-up; {1000 * ctx.args.think:.0f} ms think time after every read")
    for name, _, prefetch, _ in modes:
        lats, last = result[name]
        extra = (f"; wait per read of the last pan {1000 * last[2] / len(steps):.0f} ms "
                 f"(not counted); counters {last[3]}" if prefetch else "")
        print(f"  {name:16s}: per-read median {median_ms(lats)}, mean "
              f"{1000 * statistics.mean(lats):.2f} ms, max {1000 * max(lats):.2f} ms{extra}")
    print(f"  bytes read: {'identical' if same else 'DIFFERENT'} in the {len(modes)} modes")
    reread, cached, tiled, prefetched = (result[m[0]][0] for m in modes)
    return [Row("2", NAMES["2"], reread, prefetched, "as the paper's BLOB"),
            Row("2b", NAMES["2b"], cached, prefetched, "strips re-used along rows"),
            Row("2c", NAMES["2c"], tiled, prefetched, "prefetch alone")]


def quad(rng, width, height, size=256, jitter=16):
    """A convex quadrilateral of about size x size pixels anywhere in the image: pixel-space
    corners (clockwise from the top-left)."""
    x0 = rng.randrange(jitter, width - size - jitter)
    y0 = rng.randrange(jitter, height - size - jitter)
    base = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    return [(x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in base]


def to_map(corners, gt):
    return [(gt[0] + x * gt[1], gt[3] + y * gt[5]) for x, y in corners]


def polygon_wkt(corners_map):
    ring = corners_map + corners_map[:1]
    return "POLYGON((" + ", ".join(f"{x:.3f} {y:.3f}" for x, y in ring) + "))"


def polygon_box(corners):
    """The pixel bounding box of a polygon (pixel space): x0, y0, x1, y1."""
    xs = [c[0] for c in corners]
    ys = [c[1] for c in corners]
    return (int(np.floor(min(xs))), int(np.floor(min(ys))),
            int(np.ceil(max(xs))), int(np.ceil(max(ys))))


def polygon_mask(corners):
    """The pixels of the polygon's bounding box whose centres are inside the convex polygon
    `corners` (pixel space, clockwise on the screen)."""
    bx0, by0, bx1, by1 = polygon_box(corners)
    xx = np.arange(bx0, bx1, dtype=np.float64) + 0.5
    yy = (np.arange(by0, by1, dtype=np.float64) + 0.5)[:, np.newaxis]
    inside = np.ones((by1 - by0, bx1 - bx0), dtype=bool)
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
        inside &= (bx - ax) * (yy - ay) - (by - ay) * (xx - ax) >= 0
    return inside


def polygon_spans(corners):
    """polygon_mask as one span of inside pixels per row: one bound per edge and row, rounded to
    the first and past-the-last pixel whose centre is inside, then two integer comparisons per
    pixel. Checked against polygon_mask on every polygon of the run."""
    bx0, by0, bx1, by1 = polygon_box(corners)
    yc = np.arange(by0, by1, dtype=np.float64) + 0.5
    lo = np.full(yc.shape, -np.inf)
    hi = np.full(yc.shape, np.inf)
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
        # inside: (bx - ax) * (yc - ay) - (by - ay) * (xc - ax) >= 0
        e, d = (bx - ax) * (yc - ay), by - ay
        if d > 0:
            hi = np.minimum(hi, ax + e / d)
        elif d < 0:
            lo = np.maximum(lo, ax + e / d)
        else:
            hi = np.where(e >= 0, hi, -np.inf)
    # Column c (centre c + 0.5) is inside when lo <= c + 0.5 <= hi.
    width = bx1 - bx0
    first = np.clip(np.ceil(lo - 0.5) - bx0, 0, width).astype(np.int32)
    end = np.maximum(np.clip(np.floor(hi - 0.5) + 1 - bx0, 0, width).astype(np.int32), first)
    cols = np.arange(width, dtype=np.int32)
    return (cols >= first[:, np.newaxis]) & (cols < end[:, np.newaxis]), int((end - first).sum())


def clip(window, win_x, win_y, corners):
    """The polygon's bounding box out of `window` (whose top-left pixel is (win_x, win_y) of the
    image), pixels outside the polygon set to 0; and the number inside. The same function for
    both paths."""
    bx0, by0, bx1, by1 = polygon_box(corners)
    inside, count = polygon_spans(corners)
    return window[by0 - win_y:by1 - win_y, bx0 - win_x:bx1 - win_x] * inside, count


def setup_map8000_t256(ctx):
    """The 8000x8000 map again, in 256x256 tiles (GDAL's GTiff tiling; the polygon's size)."""
    path = os.path.join(ctx.datadir, "map8000_t256.tif")
    gdal.Translate(path, setup_map8000(ctx), format="COG",
                   creationOptions=["COMPRESS=DEFLATE", "PREDICTOR=2", "BLOCKSIZE=256",
                                    "OVERVIEWS=NONE"])
    t_reg = register(ctx.db, "map8000_t256", [path], ctx.datadir)
    print(f"  map8000_t256: the same map in 256x256 tiles, {os.path.getsize(path) / 1e6:.1f} MB; "
          f"registered as map8000_t256 in {t_reg:.2f} s")
    return path


def range_query(ctx, mosaic, polys, wkts):
    """(4) on one mosaic of the map: the without and with times pooled over the polygons."""
    db = ctx.db

    def without(corners, wkt):
        def fn():
            rows = sql(db, "SELECT resolved_path FROM pgmosaic.items(%s, "
                           "ST_GeomFromText(%s, 32631))", (mosaic, wkt))
            out = []
            for (p,) in rows:
                src = gdal.Open(p)
                whole = src.GetRasterBand(1).ReadAsArray()   # the whole image, like a BLOB
                src = None
                out.append(clip(whole, 0, 0, corners))
            return out
        return fn

    def with_tiles(corners, wkt):
        def fn():
            rows = sql(db, "SELECT path, ST_XMin(bounds), ST_YMax(bounds), ST_XMax(bounds), "
                           "ST_YMin(bounds) FROM pgmosaic.tiles(%s, "
                           "ST_GeomFromText(%s, 32631), 0)", (mosaic, wkt))
            by_path = {}
            for p, x0, y0, x1, y1 in rows:
                by_path.setdefault(p, []).append((x0, y0, x1, y1))
            out = []
            for p, boxes in by_path.items():
                if p.startswith("@"):
                    p = sql(db, "SELECT pgmosaic.resolve_path(%s)", (p,))[0][0]
                src = gdal.Open(p)
                g = src.GetGeoTransform()
                # The tiles' union as one pixel window (the tiles a range needs form a rectangle).
                px0 = int(round((min(b[0] for b in boxes) - g[0]) / g[1]))
                py0 = int(round((max(b[1] for b in boxes) - g[3]) / g[5]))
                px1 = min(src.RasterXSize, int(round((max(b[2] for b in boxes) - g[0]) / g[1])))
                py1 = min(src.RasterYSize, int(round((min(b[3] for b in boxes) - g[3]) / g[5])))
                window = src.GetRasterBand(1).ReadAsArray(px0, py0, px1 - px0, py1 - py0)
                src = None
                out.append(clip(window, px0, py0, corners))
            return out
        return fn

    t_without, t_with, ntiles, differ = [], [], [], 0
    with_by_tiles = {}  # tiles needed -> times of "with"
    for corners, wkt in zip(polys, wkts):
        tw, a = time_runs(without(corners, wkt), ctx.repeat)
        tt, b = time_runs(with_tiles(corners, wkt), ctx.repeat)
        t_without += tw
        t_with += tt
        ntiles.append(sql(db, "SELECT count(*) FROM pgmosaic.tiles(%s, "
                              "ST_GeomFromText(%s, 32631), 0)", (mosaic, wkt))[0][0])
        with_by_tiles.setdefault(ntiles[-1], []).extend(tt)
        if len(a) != 1 or len(b) != 1 or not np.array_equal(a[0][0], b[0][0]):
            ctx.failures.append(f"(4) {mosaic}: the clipped pixels differ for polygon {wkt}")
            differ += 1
    print(f"  {mosaic}: tiles per polygon {ntiles}")
    print(f"    without (items() + read 8000x8000 + clip): median {median_ms(t_without)}")
    print(f"    with    (tiles() + read those tiles + clip): median {median_ms(t_with)}")
    # The pooled median falls between polygons needing different numbers of tiles: each alone.
    print("    with, by tiles needed: " + "; ".join(
        f"{n} ({len(ts) // ctx.repeat} polygons) {median_ms(ts)}, "
        f"{statistics.median(t_without) / statistics.median(ts):.1f}x"
        for n, ts in sorted(with_by_tiles.items())))
    print(f"    clipped pixels: {'identical for every polygon' if not differ else f'DIFFERENT for {differ} polygons'}")
    return t_without, t_with


def query4(ctx):
    path = setup_map8000(ctx)
    setup_map8000_t256(ctx)
    ds = gdal.Open(path)
    gt, width, height = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize
    ds = None
    rng = random.Random(ctx.args.seed)
    polys = [quad(rng, width, height) for _ in range(ctx.args.polygons)]
    for corners in polys:  # the clip's row spans select exactly the pixel-centre rule's pixels
        if not np.array_equal(polygon_spans(corners)[0], polygon_mask(corners)):
            ctx.failures.append("(4) polygon_spans differs from polygon_mask")
    wkts = [polygon_wkt(to_map(p, gt)) for p in polys]
    db = ctx.db
    print(f"  {len(polys)} quadrilaterals of about 256x256 pixels (corners jittered by 16), seed "
          f"{ctx.args.seed}; {ctx.repeat} timed runs each")
    rows = [Row("4", NAMES["4"], *range_query(ctx, "map8000_t256", polys, wkts)),
            Row("4c", NAMES["4c"], *range_query(ctx, "map8000", polys, wkts), "the (2) map")]

    missing = has_functions(db, "summary")
    if missing:
        print("  (4b) summary: not available (pgmosaic.summary is not in the installed extension)")
        rows.append(Row("4b", NAMES["4b"], note="not available"))
        return rows
    corners, wkt = polys[0], wkts[0]

    def numpy_stats():
        src = gdal.Open(path)
        whole = src.GetRasterBand(1).ReadAsArray()
        src = None
        bx0, by0, bx1, by1 = polygon_box(corners)
        vals = whole[by0:by1, bx0:bx1][polygon_mask(corners)]
        return int(vals.size), float(vals.min()), float(vals.max()), float(vals.mean())

    def summary():
        with db.cursor() as cur:
            cur.execute("SELECT * FROM pgmosaic.summary('map8000', ST_GeomFromText(%s, 32631), 1)",
                        (wkt,))
            names = [d[0] for d in cur.description]
            return dict(zip(names, cur.fetchone()))

    t_np, st_np = time_runs(numpy_stats, ctx.repeat)
    t_sum, st_sum = time_runs(summary, ctx.repeat)
    got = tuple(st_sum.get(k) for k in ("count", "min", "max", "mean"))
    same = got[0] == st_np[0] and all(
        v is not None and abs(v - w) <= 1e-9 * max(1.0, abs(w)) for v, w in zip(got[1:], st_np[1:]))
    extra = ", ".join(f"{k} {v}" for k, v in st_sum.items() if k not in ("count", "min", "max",
                                                                          "mean"))
    print(f"  (4b) summary(), band 1, of polygon 1: median {median_ms(t_sum)}: count {got[0]}, "
          f"min {got[1]}, max {got[2]}, mean {got[3]:.4f}{'; ' + extra if extra else ''}")
    print(f"       numpy on the whole image, pixel centres in the polygon: median "
          f"{median_ms(t_np)}: count {st_np[0]}, min {st_np[1]:g}, max {st_np[2]:g}, mean "
          f"{st_np[3]:.4f}: {'the same' if same else 'DIFFERENT (summary uses its own pixel rule)'}")
    rows.append(Row("4b", NAMES["4b"], t_np, t_sum, "same values" if same else "values differ"))
    return rows


# --------------------------------------------------------------------------------------------
# (3) thematic selection


def query3(ctx):
    db = ctx.db
    missing = has_functions(db, "add_theme_rule", "theme_area")
    if missing:
        print(f"  not available: pgmosaic.{', pgmosaic.'.join(missing)} not in the installed "
              f"extension")
        return [Row("3", NAMES["3"], note="not available")]
    path = os.path.join(ctx.datadir, "scene1024_rgb.tif")
    make_scene(path, 1024, seed=1024)
    t_reg = register(db, "q3", [path], ctx.datadir)
    t0 = time.perf_counter()
    sql(db, "SET pgmosaic.enable_file_access = on")
    sql(db, "SET pgmosaic.allowed_roots = %s", (ctx.datadir,))
    sql(db, "SELECT pgmosaic.add_theme_rule('q3', 'water', %s)", (WATER_RULE,))
    sql(db, "SELECT pgmosaic.add_theme_rule('q3', 'cloud', %s)", (CLOUD_RULE,))
    t_rules = time.perf_counter() - t0
    npoly = sql(db, "SELECT (SELECT count(*) FROM pgmosaic.theme_polygons('q3', 'water')), "
                    "(SELECT count(*) FROM pgmosaic.theme_polygons('q3', 'cloud'))")[0]
    print(f"  scene: 1024x1024x3 COG, registered as q3 in {t_reg:.2f} s; add_theme_rule water "
          f"'{WATER_RULE}' and cloud '{CLOUD_RULE}' (load-time DAD, not in the query time): "
          f"{t_rules:.2f} s, {npoly[0]} + {npoly[1]} polygons")

    def without():
        (p,) = sql(db, "SELECT resolved_path FROM pgmosaic.items('q3')")[0]
        src = gdal.Open(p)
        gt = src.GetGeoTransform()
        b1, b2, b3 = src.ReadAsArray().astype(np.float64)
        src = None
        with np.errstate(divide="ignore", invalid="ignore"):
            water = np.count_nonzero((b2 - b3) / (b2 + b3) > 0.1)
        cloud = np.count_nonzero((b1 > 180) & (b2 > 180) & (b3 > 180))
        pixel = abs(gt[1] * gt[5])
        return water * pixel, cloud * pixel

    def with_dad():
        return tuple(sql(db, "SELECT pgmosaic.theme_area('q3', 'water'), "
                             "pgmosaic.theme_area('q3', 'cloud')")[0])

    t_without, (w0, c0) = time_runs(without, ctx.repeat)
    t_with, (w1, c1) = time_runs(with_dad, ctx.repeat)
    total = 1024 * 1024 * RES * RES
    ok = True
    for name, a, b in (("water", w0, w1), ("cloud", c0, c1)):
        rel = abs(a - b) / a if a else float("inf")
        good = rel <= ctx.args.area_tolerance
        ok = ok and good
        print(f"  {name}: numpy {a / 1e6:.4f} km2 ({100 * a / total:.1f}% of the scene), "
              f"theme_area {b / 1e6:.4f} km2: relative difference {100 * rel:.3f}% "
              f"({'within' if good else 'OUTSIDE'} {100 * ctx.args.area_tolerance:.1f}%)")
        if not good:
            ctx.failures.append(f"(3) {name} areas differ by {100 * rel:.3f}%")
    print(f"  without (items() + read + rules in numpy): median {median_ms(t_without)}")
    print(f"  with    (theme_area x 2):                 median {median_ms(t_with)}")
    return [Row("3", NAMES["3"], t_without, t_with,
                "areas agree" if ok else "AREAS DIFFER")]


# --------------------------------------------------------------------------------------------
# Overview build throughput (seed 000)


def build_throughput(ctx):
    n = ctx.args.build_tiles
    cols = max(1, round(n ** 0.5))
    rows = -(-n // cols)
    tiledir = os.path.join(ctx.datadir, "build_tiles")
    t0 = time.perf_counter()
    paths = sampledata.make_tile_grid(tiledir, cols, rows, 1024, bands=3, overlap=0, nodata=None)
    raw_mb = len(paths) * 1024 * 1024 * 3 / 1e6
    disk_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    t_reg = register(ctx.db, "ovb", paths, ctx.datadir)
    managed = os.path.join(ctx.workdir, "managed_ovb")
    os.makedirs(managed, mode=0o755)
    sql(ctx.db, "INSERT INTO pgmosaic.path_root VALUES ('ovb', %s)", (managed,))
    list_path = os.path.join(ctx.workdir, "ovb_files.txt")
    with open(list_path, "w") as f:
        f.write("\n".join(paths) + "\n")
    vrt = os.path.join(ctx.workdir, "ovb.vrt")
    subprocess.run(["gdalbuildvrt", "-q", "-input_file_list", list_path, vrt], check=True)
    print(f"  {len(paths)} COG tiles of 1024x1024x3 ({cols}x{rows}, made and registered in "
          f"{time.perf_counter() - t0:.1f} s, add_raster {t_reg:.2f} s): {raw_mb:.1f} MB raw, "
          f"{disk_mb:.1f} MB on disk")
    pgm = f"PGMOSAIC:{ctx.conninfo} mosaic=ovb"

    def env_with(threads, compress):
        env = dict(os.environ, GDAL_NUM_THREADS=threads)
        if compress:
            env["COMPRESS_OVERVIEW"] = compress
        return env

    def clean_ovr():
        if os.path.exists(vrt + ".ovr"):
            os.remove(vrt + ".ovr")

    def clean_pgm():
        gdaladdo(["-clean", pgm])

    # pgmosaic writes COG tiles (ZSTD unless COMPRESS_OVERVIEW says otherwise) reading with all
    # CPUs; gdaladdo's .ovr is uncompressed and single-threaded unless told otherwise. The like
    # for like anchors are the VRT with the same codec on all CPUs.
    cases = [
        ("pgmosaic, ZSTD COG tiles (default), ALL_CPUS", pgm, None, clean_pgm),
        ("pgmosaic, DEFLATE COG tiles, ALL_CPUS", pgm, env_with("ALL_CPUS", "DEFLATE"),
         clean_pgm),
        ("VRT -ro .ovr, uncompressed, 1 thread (defaults)", vrt, env_with("1", None), clean_ovr),
        ("VRT -ro .ovr, ZSTD, ALL_CPUS", vrt, env_with("ALL_CPUS", "ZSTD"), clean_ovr),
        ("VRT -ro .ovr, DEFLATE, ALL_CPUS", vrt, env_with("ALL_CPUS", "DEFLATE"), clean_ovr),
    ]
    results = {}
    for name, target, env, clean in cases:
        times = []
        for _ in range(ctx.args.build_repeat):
            clean()
            args = ["-r", "average"] + (["-ro"] if target == vrt else []) + [target, "2", "4", "8"]
            times.append(gdaladdo(args, env))
        results[name] = statistics.median(times)
    # A look at what was built (the last run of each).
    ds = gdal.Open(pgm)
    pgm_levels = ds.GetRasterBand(1).GetOverviewCount()
    ds = None
    print(f"  gdaladdo -r average ... 2 4 8, median of {ctx.args.build_repeat} runs (cleaned "
          f"before each); the mosaic has {pgm_levels} overview levels after the build")
    for name, secs in results.items():
        print(f"    {name:48s} {secs:6.2f} s  {raw_mb / secs:7.1f} MB/s raw  "
              f"({disk_mb / secs:.1f} MB/s on disk)")
    print("  seed 000 (a commercial mosaic dataset, its own hardware; GB as stored): "
          "Global DEM 62.1 GB in 22 min = 47.0 MB/s; Mauritius image 360 GB in 43 min "
          "= 139.5 MB/s")
    def ratio(a, b):
        return results[cases[b][0]] / results[cases[a][0]]

    print(f"  pgmosaic throughput / VRT's, like for like: ZSTD {ratio(0, 3):.2f}x, DEFLATE "
          f"{ratio(1, 4):.2f}x; pgmosaic's default against gdaladdo's defaults "
          f"{ratio(0, 2):.2f}x")
    ctx.build = (raw_mb, results)


# --------------------------------------------------------------------------------------------


class Context:
    pass


def backend_load_cost(dbname):
    """What a fresh connection pays the first time it touches the catalog types (the backend
    loads pgmosaic.so, and GDAL with it, unless preloaded): every PGMOSAIC open is one."""
    first, later = [], []
    for _ in range(3):
        conn = connect(dbname)
        for out in (first, later):
            t0 = time.perf_counter()
            sql(conn, "SELECT '/x.tif'::pgmosaic.pathref IS NOT NULL")
            out.append(time.perf_counter() - t0)
        conn.close()
    return (f"first pathref use in a fresh connection {median_ms(first)}, then "
            f"{median_ms(later)} (every PGMOSAIC open is a fresh connection)")


def print_table(rows):
    header = ["query", "paper", "without (s)", "with (s)", "our ratio", "beats paper?", "note"]
    lines = [header]
    for r in rows:
        paper_text, paper = PAPER.get(r.key, ("-", None))
        if r.without is None or r.with_ is None:
            lines.append([f"({r.key}) {r.name}", paper_text, "-", "-", "-", "-", r.note])
            continue
        w, x = statistics.median(r.without), statistics.median(r.with_)
        ratio = w / x
        beats = "-" if paper is None else ("yes" if ratio > paper else "NO")
        lines.append([f"({r.key}) {r.name}", paper_text, f"{w:.5f}", f"{x:.5f}",
                      f"{ratio:.1f}x", beats, r.note])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("  ".join(c.ljust(widths[j]) if j in (0, 1, 6) else c.rjust(widths[j])
                        for j, c in enumerate(line)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    args = parse_args()
    t_start = time.perf_counter()
    if gdal.GetDriverByName("PGMOSAIC") is None:
        sys.exit("GDAL has no PGMOSAIC driver: set GDAL_DRIVER_PATH (run_seed001.sh does)")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    ctx = Context()
    ctx.args, ctx.repeat, ctx.cache, ctx.failures = args, args.repeat, {}, []
    ctx.workdir = tempfile.mkdtemp(prefix="pgmosaic-seed001.", dir="/tmp")
    os.chmod(ctx.workdir, 0o755)
    ctx.datadir = os.path.join(ctx.workdir, "data")
    os.makedirs(ctx.datadir, mode=0o755)
    os.chmod(ctx.datadir, 0o755)
    ctx.conninfo = " ".join(f"{k}={os.environ[v]}" for k, v in
                            (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"))
                            if os.environ.get(v)) + f" dbname={args.dbname}"
    admin = connect("postgres")
    sql(admin, f'DROP DATABASE IF EXISTS "{args.dbname}"')
    sql(admin, f'CREATE DATABASE "{args.dbname}"')
    admin.close()
    ctx.db = connect(args.dbname)
    sql(ctx.db, "CREATE EXTENSION pgmosaic CASCADE")
    version = sql(ctx.db, "SELECT extversion FROM pg_extension WHERE extname = 'pgmosaic'")[0][0]
    missing = has_functions(ctx.db, "tiles", "summary", "add_theme_rule", "theme_area",
                            "theme_polygons")
    print(f"GDAL {gdal.__version__}, {os.cpu_count()} CPUs, GDAL cache {gdal.GetCacheMax() >> 20}"
          f" MB; pgmosaic {version}; GDAL_DRIVER_PATH={os.environ.get('GDAL_DRIVER_PATH', '')}")
    print(f"abstraction functions missing from the installed extension: "
          f"{', '.join(missing) if missing else 'none'}")
    print(f"warm-up + {args.repeat} timed runs per case, medians; work in {ctx.workdir}; load "
          f"average at start {os.getloadavg()[0]:.2f}")
    print(f"server: shared_preload_libraries = "
          f"'{sql(ctx.db, 'SHOW shared_preload_libraries')[0][0]}'; {backend_load_cost(args.dbname)}")

    rows = []
    try:
        for key, title, fn in (("1", "overview (DAD levels)", query1),
                               ("2", "zoom/pan (prefetch of the 8 neighbours)", query2),
                               ("3", "thematic selection (theme polygons)", query3),
                               ("4", "range query (DRAD tiles)", query4),
                               ("5", "analysis on the 4x-reduced abstraction", query5)):
            if key not in only:
                continue
            print(f"\n({key}) {title}")
            t0 = time.perf_counter()
            if key == "4" and has_functions(ctx.db, "tiles"):
                print("  not available: pgmosaic.tiles is not in the installed extension")
                rows.append(Row("4", NAMES["4"], note="not available"))
                continue
            try:
                rows += fn(ctx)
            except (psycopg2.Error, RuntimeError, subprocess.CalledProcessError) as e:
                # A function of the extension (or the driver) failing: said, and the run goes on.
                msg = " ".join(str(e).split())[:300]
                print(f"  ERROR: {type(e).__name__}: {msg}")
                ctx.failures.append(f"({key}) raised {type(e).__name__}")
                rows.append(Row(key, NAMES[key], note="error (see above)"))
            print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
        if "build" in only:
            print("\noverview build throughput (seed 000)")
            t0 = time.perf_counter()
            build_throughput(ctx)
            print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    finally:
        ctx.db.close()
        shutil.rmtree(ctx.workdir, ignore_errors=True)

    rows.sort(key=lambda r: r.key)
    print("\nseed 001, Table 2: without / with the abstraction (medians; (2) per read)")
    print_table(rows)
    if getattr(ctx, "build", None):
        raw_mb, results = ctx.build
        print("\noverview build (seed 000's figure: 47-140 MB/s of source, its hardware):")
        for name, secs in results.items():
            print(f"  {name:48s} {raw_mb / secs:7.1f} MB/s of source")
    print(f"\ntotal wall time: {time.perf_counter() - t_start:.1f} s; load average at the end "
          f"{os.getloadavg()[0]:.2f} (other work on the machine disturbs the timings)")
    if ctx.failures:
        sys.exit("FAILED: " + "; ".join(ctx.failures))


if __name__ == "__main__":
    main()
