"""python3 -m pgmosaic_dask (overviews | zonal | register) ...: the module's three jobs on a
Dask cluster, a local one (--local N: N worker processes on loopback) or a running one
(--scheduler tcp://host:8786). Prints what each worker did."""

import argparse
import json
import sys

import pgmosaic_dask


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m pgmosaic_dask", description=__doc__)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="a running scheduler's address, tcp://host:8786")
    where.add_argument("--local", type=int, metavar="N",
                       help="a LocalCluster of N worker processes (one thread each) on loopback")
    p.add_argument("--conninfo", required=True, help="libpq connection string the workers use")
    p.add_argument("--mosaic", required=True)
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="GDAL configuration option of the tasks (e.g. COMPRESS_OVERVIEW=ZSTD)")
    sub = p.add_subparsers(dest="job", required=True)
    o = sub.add_parser("overviews", help="gdaladdo of the mosaic, tile by tile")
    o.add_argument("-r", "--resampling", default="nearest")
    o.add_argument("--tiles-per-task", type=int, default=1)
    o.add_argument("factors", type=int, nargs="+")
    z = sub.add_parser("zonal", help="zonal statistics of the zones a query returns")
    z.add_argument("--zones-sql", required=True,
                   help="a query returning (bigint key, geometry) rows, run by the client")
    z.add_argument("--band", type=int, default=1)
    z.add_argument("--approximate", action="store_true", help="exact => false")
    z.add_argument("--batch", type=int, default=200)
    z.add_argument("--into", help="a table the tasks write their rows to (created if missing)")
    z.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting of each task's transaction, e.g. pgmosaic.allowed_roots=/data")
    r = sub.add_parser("register", help="ogr2ogr of files into the mosaic, batch by batch")
    r.add_argument("--batch", type=int, default=20)
    r.add_argument("--doo", action="append", default=[], metavar="KEY=VALUE",
                   help="a loading option (SKIP_BAD=YES, STATISTICS=EXACT, ...)")
    r.add_argument("files", nargs="+", help="files, or @list (one path a line)")
    a = p.parse_args(argv)

    from distributed import Client, LocalCluster
    config = dict(kv.split("=", 1) for kv in a.config)
    cluster = None
    if a.local:
        cluster = LocalCluster(n_workers=a.local, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0")
    client = Client(cluster if cluster else a.scheduler)
    try:
        if a.job == "overviews":
            results = pgmosaic_dask.build_overviews(client, a.conninfo, a.mosaic, a.factors,
                                                    a.resampling, a.tiles_per_task, config)
        elif a.job == "zonal":
            from pgmosaic_dask import _connect
            conn = _connect(a.conninfo)
            with conn.cursor() as cur:
                cur.execute(f"SELECT k, ST_AsEWKT(g) FROM ({a.zones_sql}) z(k, g)")
                zones = cur.fetchall()
            conn.close()
            rows, results = pgmosaic_dask.zonal_stats(
                client, a.conninfo, a.mosaic, zones, a.band, not a.approximate, a.batch,
                dict(kv.split("=", 1) for kv in a.set), a.into)
            if not a.into:
                for row in rows:
                    print("\t".join("" if v is None else str(v) for v in row))
        else:
            files = []
            for f in a.files:
                files += open(f[1:]).read().split() if f.startswith("@") else [f]
            results = pgmosaic_dask.register_files(client, a.conninfo, a.mosaic, files, a.batch,
                                                   dict(kv.split("=", 1) for kv in a.doo))
        print(json.dumps(pgmosaic_dask.balance(results), indent=1), file=sys.stderr)
    finally:
        client.close()
        if cluster:
            cluster.close()


if __name__ == "__main__":
    main()
