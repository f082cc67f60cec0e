#!/usr/bin/python3
"""Collections benchmark: median and greenest-pixel mosaics of a stack of dates, one file per
band with a QA file, pgmosaic against numpy over the same window read through VRTs.

Generates --dates dates of a --tiles x --tiles grid of --size pixel tiles, each tile of each
date one file per band (blue, green, red, nir: UInt16, nodata 0, with a nodata swath edge) plus
a QA file (bit 3: cloud, random cloud blobs), as COGs; registers every (date, tile) as one item
made of five files (pgmosaic.add_item), the mosaic's mask bit(qa, 3). Then, over the window of
the whole grid (4096 x 4096 by default), each timed after one untimed warm-up:

  - median of the four bands: pgmosaic (method=median) against numpy.nanmedian over the stack
    read through one VRT per date and band (gdalbuildvrt of the 16 tiles), cloudy and nodata
    pixels as NaN -- what a user would write by hand;
  - greenest pixel (method=quality:(nir-red)/(nir+red)): against numpy (NDVI stack, argmax,
    every band taken from the winning date);
  - first method without the mask: against a gdalbuildvrt -separate VRT per (date, tile) of its
    four band files, mosaicked by a gdalbuildvrt of those (later dates on top).

Each pair must give equal values (checked); the ratios print against the issue's targets
(median and greenest: pgmosaic >= 3x faster than numpy; first: within 1.2x of the VRT) as
PASS/FAIL (they do not change the exit code). Needs PGHOST/PGPORT/PGUSER of a superuser on a
server with pgmosaic installed and GDAL_DRIVER_PATH at gdal_PGMOSAIC.so: run_collections.sh
does that with a throw-away cluster.
"""

import argparse
import json
import os
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
X0, Y0, RES = 500000.0, 5000000.0, 10.0
BANDS = ["blue", "green", "red", "nir"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dates", type=int, default=12)
    p.add_argument("--tiles", type=int, default=4, help="grid side in tiles (default 4: 16)")
    p.add_argument("--size", type=int, default=1024, help="tile side in pixels")
    p.add_argument("--repeat", type=int, default=1, help="timed runs after the warm-up")
    p.add_argument("--dbname", default="pgmosaic_bench_collections")
    p.add_argument("--keep", help="directory for the files (kept); default: a temporary one")
    return p.parse_args()


def make_data(d, args):
    """The files, and per (date, tile) the item's assets. Reuses files already there."""
    rng = np.random.default_rng(42)
    n = args.size
    yy, xx = np.mgrid[0:n, 0:n]
    items = []
    for t in range(args.dates):
        for ty in range(args.tiles):
            for tx in range(args.tiles):
                origin = (X0 + tx * n * RES, Y0 - ty * n * RES)
                files = {}
                base = (xx + yy + t * 97 + (tx + ty) * 13) % 1000
                # a swath edge: a diagonal band of nodata in some dates
                swath = ((xx - yy + t * 300) % (4 * n)) < (n // 8) if t % 3 == 0 else None
                # clouds: blobs
                cloud = np.zeros((n, n), dtype=bool)
                for _ in range(6):
                    cx, cy, r = rng.integers(0, n), rng.integers(0, n), rng.integers(n // 16, n // 5)
                    cloud |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
                for b, name in enumerate(BANDS):
                    path = os.path.join(d, f"d{t:02d}_t{ty}{tx}_{name}.tif")
                    files[name] = path
                    if os.path.exists(path):
                        continue
                    v = (base * (b + 1) + rng.integers(1, 500, (n, n)) + (1500 if name == "nir"
                                                                         else 0)).astype("uint16")
                    v[v == 0] = 1
                    if swath is not None:
                        v[swath] = 0
                    sampledata.make_cog(path, v[None], origin, RES, nodata=0, blocksize=512,
                                        overviews=False)
                qa_path = os.path.join(d, f"d{t:02d}_t{ty}{tx}_qa.tif")
                files["qa"] = qa_path
                if not os.path.exists(qa_path):
                    sampledata.make_cog(qa_path, (cloud.astype("uint16") << 3)[None], origin, RES,
                                        blocksize=512, overviews=False)
                items.append((t, ty, tx, files))
    return items


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def register(args, items, d):
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {args.dbname}")
        cur.execute(f"CREATE DATABASE {args.dbname}")
    admin.close()
    conn = connect(args.dbname)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION pgmosaic CASCADE")
        cur.execute("SET pgmosaic.enable_file_access = on")
        cur.execute("SET pgmosaic.allowed_roots = %s", (d,))
        cur.execute("SELECT pgmosaic.create_mosaic('coll', %s)", (SRID,))
        cur.execute("SELECT pgmosaic.set_bands('coll', %s)", (BANDS + ["qa"],))
        cur.execute("SELECT pgmosaic.set_mask('coll', 'bit(qa, 3)')")
        t0 = time.perf_counter()
        cur.execute("BEGIN")
        for t, ty, tx, files in items:  # dates in order: the latest on top
            cur.execute("SELECT pgmosaic.add_item('coll', %s::jsonb, %s::jsonb)",
                        (json.dumps(files), json.dumps({"acquired": f"2021-{1 + t // 28:02d}-"
                                                                    f"{1 + t % 28:02d}"})))
        cur.execute("COMMIT")
        took = time.perf_counter() - t0
    conn.close()
    return took


def timed(fn, repeat):
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeat):
        gdal.SetCacheMax(gdal.GetCacheMax())  # (the block cache stays warm: same for both)
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    args = parse_args()
    d = args.keep or tempfile.mkdtemp(prefix="pgmosaic-bench-coll-")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    try:
        t0 = time.perf_counter()
        items = make_data(d, args)
        print(f"data: {len(items)} items of 5 files ({args.dates} dates x {args.tiles ** 2} tiles "
              f"of {args.size}^2) in {time.perf_counter() - t0:.0f} s, {d}")
        took = register(args, items, d)
        print(f"registration (add_item, backend inspection of {5 * len(items)} files): "
              f"{took:.1f} s")
        side = args.tiles * args.size
        conn = f"PGMOSAIC:dbname={args.dbname} mosaic=coll"

        # The VRT stack a user builds by hand: one VRT per date and band.
        vrts = {}
        for t in range(args.dates):
            for name in BANDS + ["qa"]:
                v = os.path.join(d, f"stack_d{t:02d}_{name}.vrt")
                gdal.BuildVRT(v, [f[name] for tt, _, _, f in items if tt == t])
                vrts[(t, name)] = v

        def stack(name):
            """(dates, rows, cols) float32, newest date first, NaN where nodata or cloudy."""
            out = np.empty((args.dates, side, side), dtype="float32")
            for t in range(args.dates):
                k = args.dates - 1 - t
                v = gdal.Open(vrts[(t, name)]).ReadAsArray().astype("float32")
                qa = gdal.Open(vrts[(t, "qa")]).ReadAsArray()
                v[(v == 0) | ((qa >> 3) & 1 == 1)] = np.nan
                out[k] = v
            return out

        def numpy_median():
            res = []
            for name in BANDS:
                with np.errstate(all="ignore"):
                    import warnings
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = np.nanmedian(stack(name), axis=0)
                res.append(np.where(np.isnan(m), 0, m).astype("float32"))
            return np.array(res)

        def numpy_greenest():
            s = {name: stack(name) for name in BANDS}
            with np.errstate(all="ignore"):
                ndvi = (s["nir"].astype("float64") - s["red"]) / (s["nir"].astype("float64") +
                                                                   s["red"])
            # candidates: the bands the score uses valid
            ndvi = np.where(np.isnan(ndvi), -np.inf, ndvi)
            best = np.argmax(ndvi, axis=0)
            anyv = np.isfinite(np.max(ndvi, axis=0))
            out = []
            for name in BANDS:
                v = np.take_along_axis(s[name], best[None], axis=0)[0]
                out.append(np.where(anyv & ~np.isnan(v), v, 0).astype("uint16"))
            return np.array(out)

        def pgmosaic(method, extra=""):
            def read():
                ds = gdal.OpenEx(conn + extra, gdal.OF_RASTER,
                                 open_options=[f"METHOD={method}", "BANDS=blue,green,red,nir"])
                return ds.ReadAsArray(0, 0, side, side)
            return read

        rows = []
        checks = []
        # Median
        tp, a = timed(pgmosaic("median"), args.repeat)
        tn, b = timed(numpy_median, args.repeat)
        checks.append(("median equal to numpy", np.array_equal(a, b)))
        rows.append(("median", tp, tn, "numpy nanmedian over VRTs", tn / tp, 3.0, ">="))
        del a, b
        # Greenest pixel
        tp, a = timed(pgmosaic("quality:(nir-red)/(nir+red)"), args.repeat)
        tn, b = timed(numpy_greenest, args.repeat)
        checks.append(("greenest equal to numpy", np.array_equal(a, b)))
        rows.append(("greenest (quality)", tp, tn, "numpy argmax over VRTs", tn / tp, 3.0, ">="))
        del a, b
        # First, unmasked, against a VRT of per-(date, tile) -separate VRTs
        seps = []
        for t, ty, tx, files in items:  # oldest first: later sources on top
            v = os.path.join(d, f"sep_d{t:02d}_t{ty}{tx}.vrt")
            gdal.BuildVRT(v, [files[n] for n in BANDS], separate=True)
            seps.append(v)
        top = os.path.join(d, "first.vrt")
        gdal.BuildVRT(top, seps)

        def vrt_first():
            return gdal.Open(top).ReadAsArray(0, 0, side, side)
        tp, a = timed(pgmosaic("first", " mask=none"), args.repeat)
        tv, b = timed(vrt_first, args.repeat)
        checks.append(("first equal to the VRT", np.array_equal(a, b)))
        rows.append(("first (no mask)", tp, tv, "VRT of -separate VRTs", tp / tv, 1.2, "<="))

        print(f"\nwindow {side} x {side}, 4 bands, {args.dates} dates x {args.tiles ** 2} tiles; "
              f"median of {args.repeat} run(s) after a warm-up")
        print(f"{'workload':22s} {'pgmosaic s':>10s} {'anchor s':>9s}  {'anchor':28s} "
              f"{'ratio':>6s}  target")
        ok = True
        for name, tp, ta, anchor, ratio, target, sense in rows:
            passed = ratio >= target if sense == ">=" else ratio <= target
            label = "speed-up" if sense == ">=" else "time ratio"
            print(f"{name:22s} {tp:10.2f} {ta:9.2f}  {anchor:28s} {ratio:6.2f}  {label} "
                  f"{sense} {target}: {'PASS' if passed else 'FAIL'}")
        for name, good in checks:
            print(f"check: {name}: {'yes' if good else 'NO'}")
            ok = ok and good
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
