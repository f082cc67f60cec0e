"""pgmosaic's work spread over a Dask cluster: a mosaic's stale overview tiles, zonal statistics
of many zones, registration of many files, each cut into tasks that a worker does through the
real GDAL plugin or the real SQL functions and commits in its own transaction (see tasks.py).
A worker lost in the middle of a task loses nothing: Dask runs the task again elsewhere, and
every task can run again without duplicating anything. The results are those of the
single-process path (gdaladdo on the PGMOSAIC dataset, one zonal_stats call, ogr2ogr).

    from distributed import Client, LocalCluster
    import pgmosaic_dask
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \\
            Client(cluster) as client:   # or Client("tcp://scheduler:8786")
        results = pgmosaic_dask.build_overviews(client, "dbname=gis", "ortho", [2, 4, 8, 16])
        print(pgmosaic_dask.balance(results))

Workers need what the client needs: GDAL with the PGMOSAIC plugin (GDAL_DRIVER_PATH when it
is not in GDAL's plugin directory), psycopg2, this package, the files at the same paths, and
a connection string that reaches the database from where they run."""

import math
from collections import OrderedDict

from . import tasks
from .faults import KillOnce  # noqa: F401  (re-exported: fault injection for tests and benchmarks)

# The tile size of mosaic-wide overview levels (OverviewBuildPlan::tileSize, the driver's).
OVERVIEW_TILE_SIZE = 1024


def _connect(conninfo):
    import psycopg2
    conn = psycopg2.connect(conninfo, application_name="pgmosaic_dask")
    conn.autocommit = True
    return conn


def _levels(factors):
    levels = set()
    for f in factors:
        f = int(f)
        if f < 2 or f & (f - 1):
            raise ValueError(f"overview factor {f} is not a power of two: "
                             "mosaic-wide levels are 2, 4, 8, ...")
        levels.add(f.bit_length() - 1)
    return sorted(levels)


def plan_overviews(conninfo, mosaic, factors):
    """The tiles a gdaladdo of `factors` would build, as {level: [(col, row), ...]}: tiles
    registered but not up to date, and missing tiles whose extent meets the mosaic's boundary
    (the others have no item under them: gdaladdo composes nothing there either)."""
    from osgeo import gdal, ogr
    gdal.UseExceptions()
    levels = _levels(factors)
    ds = gdal.OpenEx(f"PGMOSAIC:{conninfo} mosaic={mosaic}", gdal.OF_RASTER)
    width, height, gt = ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform()
    ds = None
    conn = _connect(conninfo)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, ST_AsBinary(boundary) FROM pgmosaic.mosaic WHERE name = %s",
                        (mosaic,))
            mosaic_id, boundary = cur.fetchone()
            cur.execute("SELECT overview_level, path::text, status FROM pgmosaic.item "
                        "WHERE mosaic_id = %s AND category = 'overview'", (mosaic_id,))
            registered = {}
            for level, path, status in cur.fetchall():
                name = path.rsplit("/", 1)[-1]  # r<row>_c<col>.tif
                if name.startswith("r") and "_c" in name and name.endswith(".tif"):
                    r, c = name[1:-4].split("_c")
                    registered[(level, int(c), int(r))] = status
    finally:
        conn.close()
    area = ogr.CreateGeometryFromWkb(bytes(boundary)) if boundary is not None else None
    plan = OrderedDict()
    t = OVERVIEW_TILE_SIZE
    for k in levels:
        f = 1 << k
        cols = math.ceil(math.ceil(width / f) / t)
        rows = math.ceil(math.ceil(height / f) / t)
        todo = []
        for r in range(rows):
            for c in range(cols):
                status = registered.get((k, c, r))
                if status == "ok":
                    continue
                if status is None:
                    if area is None:
                        continue
                    x0, y0 = gt[0] + c * t * f * gt[1], gt[3] + r * t * f * gt[5]
                    x1, y1 = x0 + t * f * gt[1], y0 + t * f * gt[5]
                    ring = ogr.Geometry(ogr.wkbLinearRing)
                    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
                        ring.AddPoint_2D(x, y)
                    box = ogr.Geometry(ogr.wkbPolygon)
                    box.AddGeometry(ring)
                    if not area.Intersects(box):
                        continue
                todo.append((c, r))
        plan[k] = todo
    return plan


def build_overviews(client, conninfo, mosaic, factors, resampling="nearest", tiles_per_task=1,
                    config=None, hook=None, retries=2):
    """gdaladdo -r `resampling` on the mosaic with `factors`, as Dask tasks of
    `tiles_per_task` tiles of one level each; a tile's task runs after the tasks of the tiles
    of the level below it reads (its 2x2 tiles and their neighbours: resampling kernels reach
    over the edge). `config`: GDAL configuration options of the build (COMPRESS_OVERVIEW,
    ...). Returns the tasks' results (see balance)."""
    plan = plan_overviews(conninfo, mosaic, factors)
    futures, below = [], {}
    for k, tiles in plan.items():
        here = {}
        for i in range(0, len(tiles), tiles_per_task):
            batch = tiles[i:i + tiles_per_task]
            after = {id(f): f for c, r in batch
                     for cc in range(2 * c - 1, 2 * c + 3) for rr in range(2 * r - 1, 2 * r + 3)
                     for f in [below.get((cc, rr))] if f is not None}
            fut = client.submit(tasks.build_overview_tiles, conninfo, mosaic, k, batch,
                                resampling, config, hook, after=list(after.values()),
                                key=f"pgmosaic-overview-{mosaic}-L{k}-c{batch[0][0]}-"
                                    f"r{batch[0][1]}-{_token()}",
                                retries=retries, pure=False)
            for t in batch:
                here[t] = fut
            futures.append(fut)
        below = here
    return client.gather(futures)


def zonal_stats(client, conninfo, mosaic, zones, band=1, exact=True, batch_size=200,
                settings=None, into=None, hook=None, retries=2):
    """pgmosaic.zonal_stats(mosaic, zones, band, exact) of `zones` [(key, geometry as EWKT
    or hex EWKB), ...] in tasks of `batch_size` zones, each one call of the SQL function;
    returns [(key, count, min, max, mean, stddev, sum), ...] in the order of `zones`. A batch
    holds zones near each other (Z order of their centres).
    `settings`: session settings of each task's transaction (pgmosaic.enable_file_access and
    pgmosaic.allowed_roots for a superuser, when the database does not set them). `into`: a
    table (created if missing: zone bigint primary key, then the statistics) where each task
    writes its rows in its own transaction, a zone's row replaced when it runs again."""
    zones = list(zones)
    # Batches of neighbouring zones: each task then opens the few files under its zones
    # (in the order given, a batch of random zones reads most of the mosaic's files).
    order = _spatial_order([g for _, g in zones])
    if into:
        from psycopg2 import sql
        conn = _connect(conninfo)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (zone bigint PRIMARY KEY, count bigint, "
                    "min float8, max float8, mean float8, stddev float8, sum float8)").format(
                        sql.Identifier(*into.split("."))))
        finally:
            conn.close()
    batches = [[zones[j] for j in order[i:i + batch_size]]
               for i in range(0, len(zones), batch_size)]
    futures = [client.submit(tasks.zonal_stats_batch, conninfo, mosaic, batch, band, exact,
                             settings, into, hook,
                             key=f"pgmosaic-zonal-{mosaic}-{i}-{_token()}", retries=retries,
                             pure=False)
               for i, batch in enumerate(batches)]
    results = client.gather(futures)
    rows = [None] * len(zones)
    done = (row for r in results for row in r.pop("rows"))
    for j, row in zip(order, done):
        rows[j] = row
    return rows, results


def _spatial_order(geometries):
    """Indexes of `geometries` (EWKT or hex EWKB) in Z order of their envelopes' centres."""
    from osgeo import ogr
    centres = []
    for g in geometries:
        text = g.split(";", 1)[1] if g[:5].upper() == "SRID=" else g
        try:
            geom = (ogr.CreateGeometryFromWkb(bytes.fromhex(text))
                    if all(c in "0123456789abcdefABCDEF" for c in text[:16])
                    else ogr.CreateGeometryFromWkt(text))
            x0, x1, y0, y1 = geom.GetEnvelope()
            centres.append(((x0 + x1) / 2, (y0 + y1) / 2))
        except Exception:  # the SQL function says what is wrong with it
            centres.append((0.0, 0.0))
    if not centres:
        return []
    xs, ys = [c[0] for c in centres], [c[1] for c in centres]
    x0, y0 = min(xs), min(ys)
    span = max(max(xs) - x0, max(ys) - y0) or 1.0

    def morton(c):
        x = int((c[0] - x0) / span * 65535)
        y = int((c[1] - y0) / span * 65535)
        key = 0
        for b in range(16):
            key |= ((x >> b) & 1) << (2 * b) | ((y >> b) & 1) << (2 * b + 1)
        return key

    return sorted(range(len(centres)), key=lambda i: morton(centres[i]))


def register_files(client, conninfo, mosaic, paths, batch_size=20, load_options=None,
                   hook=None, retries=2):
    """ogr2ogr of `paths` into the mosaic's items layer, as tasks of `batch_size` files (each
    inspected on a worker and registered in one transaction; paths already registered are
    skipped, so a batch run again adds nothing). A missing mosaic is created by the first
    batch, which the others wait for. Items get ids in the order their batches commit, not
    in the order of `paths`: where items overlap and mosaic order matters, give them
    priorities (a `priority` is kept per item) or register them in one process."""
    paths = list(paths)
    conn = _connect(conninfo)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pgmosaic.mosaic WHERE name = %s", (mosaic,))
            exists = cur.fetchone() is not None
    finally:
        conn.close()
    futures, first = [], None
    for i in range(0, len(paths), batch_size):
        create = not exists and i == 0
        fut = client.submit(tasks.register_file_batch, conninfo, mosaic, paths[i:i + batch_size],
                            load_options, create, hook, after=first,
                            key=f"pgmosaic-register-{mosaic}-{i}-{_token()}", retries=retries,
                            pure=False)
        if create:
            first = fut
        futures.append(fut)
    return client.gather(futures)


def balance(results):
    """The work of each worker: {worker: {"tasks": n, "units": tiles/zones/files,
    "seconds": busy time}}, from the results of a run."""
    out = {}
    for r in results:
        w = out.setdefault(r["worker"], {"tasks": 0, "units": 0, "seconds": 0.0})
        w["tasks"] += 1
        w["units"] += r.get("tiles", r.get("zones", r.get("files", 0)))
        w["seconds"] += r["seconds"]
    return out


def _token():
    import uuid
    return uuid.uuid4().hex[:8]
