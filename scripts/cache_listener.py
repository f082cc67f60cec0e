#!/usr/bin/python3
"""Keeps a MapCache tile cache of a mosaic true: drops exactly the cached tiles whose pixels a
catalog change altered, with MapCache's own tool (mapcache_seed -m delete).

The extension records every change of what a mosaic shows (items added, removed, re-pointed,
reordered or edited, a path root moved, the mosaic's method changed) as areas in
pgmosaic.dirty_area, in the changing transaction, and sends NOTIFY pgmosaic_dirty. This
listener waits for those notifications, reads the areas it has not seen yet with
pgmosaic.dirty_areas() (in the SRS of each MapCache grid), writes them to a GeoJSON file and runs

    mapcache_seed -c mapcache.xml -t TILESET -g GRID -m delete -d areas.geojson -z ZMIN,ZMAX

which deletes the cached tiles of those zoom levels that meet the areas, and only those. The
next request of such a tile renders it again from the mosaic.

It remembers what it has seen as a PostgreSQL snapshot in --state (written after the tiles are
dropped): a listener that was stopped catches up when it starts again, and changes are never
missed nor handled twice, whatever order their transactions commit in. Without a state file
it starts from the current snapshot (so take one with --init before seeding a cache).

    scripts/cache_listener.py --conninfo "dbname=gis" --mosaic ortho \\
        --config /etc/mapcache/mapcache.xml --tileset ortho \\
        --grid GoogleMapsCompatible:3857 --zooms 0,19 --state /var/cache/ortho.state

Run it as the owner of the cache (apache2's user for a disk cache), or give --seed-command.
The role of the connection needs only read access to the mosaic.
"""

import argparse
import json
import os
import select
import shlex
import subprocess
import sys
import tempfile
import time

import psycopg2
import psycopg2.extensions


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def read_state(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return text or None
    except FileNotFoundError:
        return None


def write_state(path, snapshot):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".cache_listener.")
    with os.fdopen(fd, "w") as f:
        f.write(snapshot + "\n")
    os.replace(tmp, path)


def current_snapshot(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_current_snapshot()::text")
        snap = cur.fetchone()[0]
    conn.commit()
    return snap


def changes(conn, mosaic, since, grids):
    """(snapshot now, {grid: [GeoJSON polygons in its SRS]}, dirty ids) of the changes not
    visible in `since`, read in one REPEATABLE READ snapshot."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_current_snapshot()::text")
            now = cur.fetchone()[0]
            polygons, ids = {}, set()
            for name, srid in grids:
                cur.execute(
                    "SELECT d.id, ST_AsGeoJSON((ST_Dump(d.area)).geom) "
                    "FROM pgmosaic.dirty_areas(%s, %s::pg_snapshot, %s) d",
                    (mosaic, since, srid))
                rows = cur.fetchall()
                polygons[name] = [json.loads(g) for _, g in rows]
                ids.update(i for i, _ in rows)
        conn.commit()
    finally:
        conn.rollback()  # nothing open (after a failure too) before the session changes back
        conn.set_session(isolation_level="READ COMMITTED", readonly=False)
    return now, polygons, sorted(ids)


def drop_tiles(args, grid, polygons, workdir):
    """mapcache_seed -m delete over the polygons (GeoJSON in the grid's SRS)."""
    path = os.path.join(workdir, f"dirty-{grid}.geojson")
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection",
                   "features": [{"type": "Feature", "properties": {}, "geometry": g}
                                for g in polygons]}, f)
    os.chmod(path, 0o644)
    cmd = shlex.split(args.seed_command) + [
        "-c", args.config, "-t", args.tileset, "-g", grid, "-m", "delete", "-d", path,
        "-z", args.zooms, "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seed_timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")


def process(conn, args, since, workdir):
    """Drops the tiles of changes since `since`; returns the new snapshot."""
    now, polygons, ids = changes(conn, args.mosaic, since, args.grids)
    if ids:
        for grid, _ in args.grids:
            if polygons[grid]:
                drop_tiles(args, grid, polygons[grid], workdir)
        log(f"dropped tiles of zooms {args.zooms} under {len(polygons[args.grids[0][0]])} "
            f"area(s) (dirty ids {','.join(map(str, ids))}) of mosaic {args.mosaic}")
    write_state(args.state, now)
    return now


def parse_grid(text):
    name, _, srid = text.partition(":")
    if not srid:
        if name not in ("GoogleMapsCompatible", "g", "WGS84"):
            raise argparse.ArgumentTypeError(f'grid "{text}": give its SRID as NAME:SRID')
        srid = "4326" if name == "WGS84" else "3857"
    return name, int(srid)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conninfo", required=True, help="libpq connection string of the catalog")
    p.add_argument("--mosaic", required=True)
    p.add_argument("--config", required=True, help="the mapcache.xml of the cache")
    p.add_argument("--tileset", required=True)
    p.add_argument("--grid", dest="grids", action="append", type=parse_grid,
                   help="NAME[:SRID] of a grid of the tileset (repeat; default "
                        "GoogleMapsCompatible:3857)")
    p.add_argument("--zooms", default="0,19", help="MIN,MAX zoom levels to drop (default 0,19)")
    p.add_argument("--state", required=True, help="file keeping the last snapshot handled")
    p.add_argument("--seed-command", default="mapcache_seed",
                   help='the mapcache_seed command, e.g. "runuser -u www-data -- mapcache_seed"')
    p.add_argument("--seed-timeout", type=float, default=600)
    p.add_argument("--init", action="store_true",
                   help="record the current snapshot as handled and exit (before seeding)")
    p.add_argument("--once", action="store_true", help="handle pending changes and exit")
    p.add_argument("--poll", type=float, default=60,
                   help="seconds between checks without notification (default 60)")
    p.add_argument("--exit-after", type=float, default=0,
                   help="stop after this many seconds (0: never)")
    args = p.parse_args(argv)
    args.grids = args.grids or [("GoogleMapsCompatible", 3857)]

    conn = psycopg2.connect(args.conninfo, application_name="pgmosaic_cache_listener")
    if args.init:
        write_state(args.state, current_snapshot(conn))
        log(f"state {args.state} starts at the current snapshot")
        return 0
    with conn.cursor() as cur:  # fails now, naming it, if the mosaic is not readable
        cur.execute("SELECT (pgmosaic._mosaic(%s::text)).id", (args.mosaic,))
        mosaic_id = str(cur.fetchone()[0])
        cur.execute("LISTEN pgmosaic_dirty")
    conn.commit()
    since = read_state(args.state)
    if since is None:
        since = current_snapshot(conn)
        write_state(args.state, since)
        log(f"no state: starting at the current snapshot {since}")
    workdir = tempfile.mkdtemp(prefix="cache_listener-")
    os.chmod(workdir, 0o755)  # mapcache_seed may run as another user
    deadline = time.time() + args.exit_after if args.exit_after else None
    log(f"listening for changes of mosaic {args.mosaic}")
    try:
        since = process(conn, args, since, workdir)  # what happened while it was stopped
        while not args.once:
            wait = args.poll if deadline is None else min(args.poll, deadline - time.time())
            if wait <= 0:
                break
            ready = select.select([conn], [], [], wait)[0]
            wanted = not ready  # a periodic check
            if ready:
                conn.poll()
                while conn.notifies:
                    n = conn.notifies.pop(0)
                    wanted = wanted or n.payload == mosaic_id
            if wanted:
                since = process(conn, args, since, workdir)
    finally:
        for f in os.listdir(workdir):
            os.unlink(os.path.join(workdir, f))
        os.rmdir(workdir)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
