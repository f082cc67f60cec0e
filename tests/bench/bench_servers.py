"""Seed 002's test: web tiles of a mosaic served by the servers GIS people run, under
concurrent load, on loopback (run by tests/bench/run_servers.sh, which starts the cluster).

The tiles of several zoom levels that lie fully inside the data are shuffled and cut into sets
of N (10, 16, 50, 100); each set goes out as N concurrent requests, the next set when all came
back, until a request or time cap; at each level the cases take turns (--rounds), so that other
work on the machine weighs on all of them alike. Cases:
  - dynamic tiles: MapServer 8 FastCGI (tile mode) on PGMOSAIC, on a gdalbuildvrt VRT of the
    same files, on PostGISRaster (raster2pgsql -R out-db tables of the same files, mode=2);
    QGIS Server 3.22 FastCGI (WMS GetMap of the tile) on PGMOSAIC and on the VRT;
  - cached tiles: MapCache 1.14 (apache2, disk cache of the MapServer PGMOSAIC layer) after
    mapcache_seed of the same zooms;
  - zoomed out: the whole mosaic in a few tiles against mid-zoom tiles (MapServer on
    PGMOSAIC), without and with mosaic-wide overviews (gdaladdo).
Prints p50/p95/max and requests per second per case, and the ratios against seed 002's
targets: cached p95 < 0.15 s at 100; PGMOSAIC p95 <= 0.7x the VRT's at 16 and 100; PostGISRaster
p95 >= 3x PGMOSAIC's; zoomed-out as fast as mid zoom with overviews, within 2x without.
"""

import argparse
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import numpy as np  # noqa: E402
from osgeo import gdal, osr  # noqa: E402

import sampledata  # noqa: E402
import servers  # noqa: E402

gdal.UseExceptions()
SRID = 32631
MERCATOR = 20037508.342789244
MOSAIC = "bench_tiles"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cols", type=int, default=6)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--size", type=int, default=1024, help="pixels of a COG's side")
    p.add_argument("--zooms", default="12,15", help="MIN,MAX zooms of the dynamic tiles")
    p.add_argument("--concurrency", default="10,16,50,100")
    p.add_argument("--requests", type=int, default=600,
                   help="requests per case and level (at least 4 sets of N)")
    p.add_argument("--seconds", type=float, default=25, help="time cap per case and level")
    p.add_argument("--rounds", type=int, default=4,
                   help="turns the cases take at each level (interleaved)")
    p.add_argument("--ms-processes", type=int, default=4)
    p.add_argument("--qgis-processes", type=int, default=2)
    p.add_argument("--no-qgis", action="store_true")
    p.add_argument("--no-pgraster", action="store_true")
    p.add_argument("--keep", help="directory to keep the COGs in (reused when present)")
    return p.parse_args()


def conninfo():
    return f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user={os.environ['PGUSER']}"


def psql(dbname, *args, stdin=None):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-d", dbname]
                   + list(args), stdin=stdin, check=True,
                   env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"))


def tile_bounds(z, x, y):
    size = 2 * MERCATOR / (1 << z)
    return (-MERCATOR + x * size, MERCATOR - (y + 1) * size,
            -MERCATOR + (x + 1) * size, MERCATOR - y * size)


def tiles_in(extent, z, fully=True):
    """XYZ tiles of zoom z whose four corners (in the mosaic's SRS) lie inside `extent`
    (fully), or that meet it."""
    utm, merc = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(SRID)
    merc.ImportFromEPSG(3857)
    for s in (utm, merc):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_merc = osr.CoordinateTransformation(utm, merc)
    to_utm = osr.CoordinateTransformation(merc, utm)
    mx0, my0, mx1, my1 = to_merc.TransformBounds(*extent, 21)
    size = 2 * MERCATOR / (1 << z)
    out = []
    for x in range(int((mx0 + MERCATOR) // size), int((mx1 + MERCATOR) // size) + 1):
        for y in range(int((MERCATOR - my1) // size), int((MERCATOR - my0) // size) + 1):
            b = tile_bounds(z, x, y)
            corners = [to_utm.TransformPoint(cx, cy)[:2] for cx in (b[0], b[2])
                       for cy in (b[1], b[3])]
            inside = [extent[0] <= cx <= extent[2] and extent[1] <= cy <= extent[3]
                      for cx, cy in corners]
            if all(inside) or not fully:
                out.append((z, x, y))
    return out


class Case:
    def __init__(self, name, url_of):
        self.name, self.url_of = name, url_of
        self.results = {}  # concurrency -> dict


def get(url):
    """(seconds, None) for a 256x256 PNG answered 200, else (seconds, what was wrong): a full
    FastCGI backlog makes nginx answer 502 at once, and MapServer answers a failed draw with
    200 and an XML error, both of which would flatter a slow case if counted."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=300) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        return time.perf_counter() - t0, f"HTTP {e.code}"
    except Exception as e:  # refused, reset, timed out
        return time.perf_counter() - t0, type(e).__name__
    dt = time.perf_counter() - t0
    if status != 200:
        return dt, f"HTTP {status}"
    if body[:8] != b"\x89PNG\r\n\x1a\n" or body[12:16] != b"IHDR":
        return dt, "not a PNG"
    if struct.unpack(">II", body[16:24]) != (256, 256):
        return dt, "not 256x256"
    return dt, None


def check_tiles(case, tiles, count=8):
    """Decodes `count` tiles of the case (outside the timed sets): each must have opaque
    pixels, since every tile lies fully inside the data. Raises naming the first that has
    none (a layer that drew nothing still answers a valid PNG)."""
    for k, (z, x, y) in enumerate(tiles[:count]):
        with urllib.request.urlopen(case.url_of(z, x, y), timeout=300) as r:
            body = r.read()
        name = f"/vsimem/bench_check_{k}.png"
        gdal.FileFromMemBuffer(name, body)
        try:
            ds = gdal.Open(name)
            px = ds.ReadAsArray()
        finally:
            ds = None
            gdal.Unlink(name)
        drawn = (px[3] > 0).any() if px.ndim == 3 and px.shape[0] == 4 else px.max() > 0
        if not drawn:
            raise RuntimeError(f"{case.name}: tile {z}/{x}/{y} is empty")


def run_sets(case, tiles, conc, requests, seconds, start=0):
    """Sets of `conc` tiles (from tiles[start]), each sent as `conc` concurrent requests, the
    next set when all came back, until `requests` were sent or `seconds` passed; latencies of
    the good answers, the count of bad ones by kind (every request of a set counts: nothing is
    dropped), the wall time, and their summary (summary())."""
    lat, bad = [], {}
    i = 0
    t_start = time.perf_counter()
    while i < requests and time.perf_counter() - t_start < seconds:
        batch = [tiles[(start + i + k) % len(tiles)] for k in range(conc)]
        i += conc
        out = [None] * conc

        def worker(k):
            out[k] = get(case.url_of(*batch[k]))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(conc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for t, err in out:
            if err is None:
                lat.append(t)
            else:
                bad[err] = bad.get(err, 0) + 1
    return summary(lat, bad, time.perf_counter() - t_start)


def summary(lat, bad, wall):
    a = np.array(lat) if lat else np.array([float("nan")])
    return {"lat": list(lat), "wall": wall, "n": len(lat), "bad": sum(bad.values()), "why": bad,
            "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max()), "rps": len(lat) / wall if wall > 0 else 0.0}


def run_interleaved(cases, tiles, conc, requests, seconds, rounds):
    """Each case's `requests` at `conc` concurrent, cut into `rounds` turns taken case after
    case, the same tiles for every case: on a machine shared with other work, a burst of it
    then slows every case alike instead of the one that happened to run. Summaries per case."""
    per_round = max(1, math.ceil(requests / conc / rounds)) * conc
    acc = {case.name: ([], {}, 0.0) for case in cases}
    for k in range(rounds):
        for case in cases:
            lat, bad, wall = acc[case.name]
            r = run_sets(case, tiles, conc, per_round, seconds / rounds, start=k * per_round)
            for why, v in r["why"].items():
                bad[why] = bad.get(why, 0) + v
            acc[case.name] = (lat + r["lat"], bad, wall + r["wall"])
    return {name: summary(*v) for name, v in acc.items()}


def fmt(v):
    return "   n/a" if v is None or math.isnan(v) else f"{v:6.3f}"


def ratio_line(label, value, target, better_low=True):
    if value is None or math.isnan(value):
        return f"  {label:<62}    n/a  (bad answers or no data)  FAIL"
    ok = value <= target if better_low else value >= target
    cmp = "<=" if better_low else ">="
    return f"  {label:<62} {value:6.2f}  (target {cmp} {target})  {'PASS' if ok else 'FAIL'}"


def main():
    args = parse_args()
    zmin, zmax = (int(v) for v in args.zooms.split(","))
    levels = [int(v) for v in args.concurrency.split(",")]
    work = tempfile.mkdtemp(prefix="bench-servers-", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(work, 0o755)
    try:
        run(args, work, zmin, zmax, levels)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work, zmin, zmax, levels):
    for comp in ("mapserver", "mapcache"):
        if not servers.available(comp):
            sys.exit(f"{comp} is not installed ({servers.missing(comp)}): scripts/install-deps.sh")
    use_qgis = not args.no_qgis and servers.available("qgis_server")
    datadir = args.keep or os.path.join(work, "data")
    os.makedirs(datadir, exist_ok=True)
    os.chmod(datadir, 0o755)
    t0 = time.perf_counter()
    listing = os.path.join(datadir, "files.txt")
    sig = f"{args.cols}x{args.rows}x{args.size}\n"
    sigfile = os.path.join(datadir, "grid.txt")
    if os.path.exists(sigfile) and open(sigfile).read() == sig:
        paths = open(listing).read().split()
    else:
        paths = sampledata.make_tile_grid(datadir, args.cols, args.rows, args.size, overlap=32,
                                          nodata_every=3, blocksize=512)
        with open(listing, "w") as f:
            f.write("\n".join(paths) + "\n")
        with open(sigfile, "w") as f:
            f.write(sig)
    print(f"data: {len(paths)} RGB COGs of {args.size}x{args.size} (512-pixel blocks, own "
          f"overviews), made in {time.perf_counter() - t0:.1f} s")

    db = "bench_servers"
    psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}")
    psql(db, "-c", "CREATE EXTENSION pgmosaic CASCADE")
    reg = os.path.join(work, "register.sql")
    with open(reg, "w") as f:
        f.write("SET pgmosaic.enable_file_access = on;\n")
        f.write(f"SET pgmosaic.allowed_roots = '{datadir}';\nBEGIN;\n")
        f.write(f"SELECT pgmosaic.create_mosaic('{MOSAIC}', {SRID});\n")
        for p in paths:
            f.write(f"SELECT pgmosaic.add_raster('{MOSAIC}', '{p}');\n")
        f.write("COMMIT;\n")
    psql(db, "-f", reg)
    vrt = os.path.join(work, "bench.vrt")
    gdal.BuildVRT(vrt, paths).FlushCache()
    os.chmod(vrt, 0o644)
    ci = f"{conninfo()} dbname={db}"
    pgmosaic = f"PGMOSAIC:{ci} mosaic={MOSAIC}"
    ds = gdal.Open(pgmosaic)
    gt = ds.GetGeoTransform()
    extent = (gt[0], gt[3] + ds.RasterYSize * gt[5], gt[0] + ds.RasterXSize * gt[1], gt[3])
    ds = None
    layers = {"pgmosaic": pgmosaic, "vrt": vrt}
    if not args.no_pgraster:
        t0 = time.perf_counter()
        r2p = subprocess.Popen(["raster2pgsql", "-R", "-t", "256x256", "-I", "-C",
                                "-s", str(SRID)] + paths + ["bench_pgr"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        psql(db, stdin=r2p.stdout)
        r2p.wait()
        print(f"PostGISRaster: raster2pgsql -R -t 256x256 -I -C in "
              f"{time.perf_counter() - t0:.1f} s")
        layers["pgraster"] = (f"PG:{ci} schema=public table=bench_pgr mode=2 "
                              f"outdb_resolution=client_side")

    qgs = None
    if use_qgis:
        qgs = os.path.join(work, "bench.qgs")
        subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "lib", "qgis_project.py"),
                        qgs, str(SRID), f"pgmosaic=/vsipgmosaic/{ci}/{MOSAIC}", f"vrt={vrt}"],
                       check=True, capture_output=True)

    tiles = {z: tiles_in(extent, z) for z in range(zmin, zmax + 1)}
    mixed = [t for z in tiles for t in tiles[z]]
    random.Random(2).shuffle(mixed)
    print(f"tiles fully inside the data: " +
          ", ".join(f"z{z}: {len(v)}" for z, v in tiles.items()) + f" ({len(mixed)} shuffled)")
    env = {"GDAL_DRIVER_PATH": os.environ.get("GDAL_DRIVER_PATH", "")}
    results = {}
    with servers.WebSite(os.path.join(work, "site"), layers, SRID, extent, env=env,
                         processes=args.ms_processes, qgis_project=qgs,
                         qgis_processes=args.qgis_processes) as site:
        def ms(layer):
            return lambda z, x, y: site.url(site.tile_path(layer, z, x, y))

        def qg(layer):
            def url(z, x, y):
                b = ",".join(repr(v) for v in tile_bounds(z, x, y))
                return site.url(f"/qgis?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layer}"
                                f"&STYLES=&CRS=EPSG:3857&BBOX={b}&WIDTH=256&HEIGHT=256"
                                f"&FORMAT=image/png&TRANSPARENT=TRUE")
            return url

        cases = [Case("MapServer PGMOSAIC", ms("pgmosaic")), Case("MapServer VRT", ms("vrt"))]
        if "pgraster" in layers:
            cases.append(Case("MapServer PostGISRaster", ms("pgraster")))
        if use_qgis:
            cases += [Case("QGIS Server PGMOSAIC", qg("pgmosaic")),
                      Case("QGIS Server VRT", qg("vrt"))]
        mc = servers.MapCacheSite(os.path.join(work, "mapcache"), site.url("/wms"), "pgmosaic")
        with mc:
            t0 = time.perf_counter()
            merc = tiles_merc_extent(extent)
            mc.seed((zmin, zmax), extent=merc, threads=2)
            print(f"MapCache: mapcache_seed z{zmin}-{zmax} in {time.perf_counter() - t0:.1f} s")
            cases.append(Case("MapCache (cached)",
                              lambda z, x, y: mc.url(mc.tile_path(z, x, y))))
            for case in cases:
                run_sets(case, mixed, 10, 10, 60)  # warm: every process opens its sources
                check_tiles(case, mixed)
            for c in levels:
                # Every case the same requests (at least 4 sets of N), in turns.
                level = run_interleaved(cases, mixed, c, max(args.requests, 4 * c),
                                        args.seconds, args.rounds)
                for case in cases:
                    case.results[c] = level[case.name]
            for case in cases:
                for c in levels:
                    r = case.results[c]
                    why = ", ".join(f"{v} {k}" for k, v in r["why"].items())
                    print(f"  {case.name:<26} c={c:<4} n={r['n']:<4} p50 {fmt(r['p50'])} "
                          f"p95 {fmt(r['p95'])} max {fmt(r['max'])} s  "
                          f"{r['rps']:7.1f} req/s" + (f"  FAILED {r['bad']}: {why}" if why else ""),
                          flush=True)
                results[case.name] = case.results

            # Zoomed out: the whole mosaic in a few tiles, against mid-zoom tiles.
            zoom_out = zoomed_out_zoom(extent)
            few = tiles_in(extent, zoom_out, fully=False)
            mid = tiles[(zmin + zmax) // 2 + 1] if (zmin + zmax) // 2 + 1 in tiles else mixed
            zoomed = {}
            base = Case("MapServer PGMOSAIC", ms("pgmosaic"))
            zoomed["mid"] = run_sets(base, mid, 16, 160, args.seconds)
            zoomed["out, sources' overviews"] = run_sets(base, few, len(few), 8 * len(few),
                                                         args.seconds)
            t0 = time.perf_counter()
            psql(db, "-c", f"INSERT INTO pgmosaic.path_root VALUES ('{MOSAIC}', "
                           f"'{os.path.join(work, 'managed')}')")
            os.makedirs(os.path.join(work, "managed"), exist_ok=True)
            subprocess.run(["gdaladdo", "-q", "-r", "average", pgmosaic, "2", "4", "8", "16",
                            "32"], check=True, env=dict(os.environ, **env))
            print(f"gdaladdo 2..32 on the mosaic in {time.perf_counter() - t0:.1f} s")
            run_sets(base, few, len(few), len(few), 60)
            zoomed["out, mosaic overviews"] = run_sets(base, few, len(few), 8 * len(few),
                                                       args.seconds)
            print(f"zoomed out: z{zoom_out} ({len(few)} tiles, all sent at once) against "
                  f"z{mid[0][0]} (16 concurrent), MapServer on PGMOSAIC")
            for k, r in zoomed.items():
                print(f"  {k:<26} p50 {fmt(r['p50'])} p95 {fmt(r['p95'])} max {fmt(r['max'])} s"
                      + (f"  FAILED {r['bad']}: {r['why']}" if r["bad"] else ""))

    print("\ntargets (seed 002), ratios from this run:")
    def get_p95(name, c):
        r = results.get(name, {}).get(c)
        if r is None:
            return None
        return float("nan") if r["bad"] else r["p95"]  # bad answers: no ratio, FAIL

    cached = get_p95("MapCache (cached)", 100)
    print(ratio_line("cached p95 at 100 concurrent (s)", cached, 0.15))
    for server in ("MapServer", "QGIS Server"):
        for c in (16, 100):
            a, b = get_p95(f"{server} PGMOSAIC", c), get_p95(f"{server} VRT", c)
            if a is not None and b is not None:
                print(ratio_line(f"{server} PGMOSAIC p95 / VRT p95 at {c}", a / b, 0.7))
    for c in (16, 100):
        a, b = get_p95("MapServer PostGISRaster", c), get_p95("MapServer PGMOSAIC", c)
        if a is not None and b is not None:
            print(ratio_line(f"MapServer PostGISRaster p95 / PGMOSAIC p95 at {c}", a / b, 3,
                             better_low=False))
    m = zoomed["mid"]["p50"]
    print(ratio_line("zoomed-out p50 / mid-zoom p50, mosaic overviews",
                     zoomed["out, mosaic overviews"]["p50"] / m, 1.0))
    print(ratio_line("zoomed-out p50 / mid-zoom p50, sources' overviews only",
                     zoomed["out, sources' overviews"]["p50"] / m, 2.0))


def tiles_merc_extent(extent):
    utm, merc = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(SRID)
    merc.ImportFromEPSG(3857)
    for s in (utm, merc):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(utm, merc).TransformBounds(*extent, 21)


def zoomed_out_zoom(extent):
    """The finest zoom at which the whole mosaic fits in at most 4 tiles."""
    mx0, my0, mx1, my1 = tiles_merc_extent(extent)
    for z in range(20, 0, -1):
        size = 2 * MERCATOR / (1 << z)
        n = (int((mx1 + MERCATOR) // size) - int((mx0 + MERCATOR) // size) + 1) * \
            (int((MERCATOR - my0) // size) - int((MERCATOR - my1) // size) + 1)
        if n <= 4:
            return z
    return 1


if __name__ == "__main__":
    main()
