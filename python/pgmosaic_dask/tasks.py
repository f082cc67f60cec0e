"""What a Dask worker runs: one task is a batch of overview tiles, of zones or of files, done
through the real GDAL plugin (gdaladdo's BuildOverviews, the items layer ogr2ogr writes to) or
the real SQL functions, and committed in its own transaction(s). Every task can run again
without duplicating anything: a tile already registered up to date is kept, a file already
registered is skipped, a zone's row is replaced. A worker killed in the middle of a task
leaves at most a partial file that the next run overwrites."""

import os
import time


_malloc_tuned = False


def _tune_malloc():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off
    glibc's sliding mmap threshold: every buffer above 128 kB (a composed tile, a block's
    decoding buffer) is then mapped afresh, page-faulted and zeroed, and given back when freed.
    A 1024x1024 overview tile took 0.44 s in a worker against 0.14 s in a plain process. Large
    buffers come from the heap again here, and the heap is trimmed above 256 MB free."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's upper bound on 64-bit
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except OSError:  # not glibc
        pass


def _worker_name():
    try:
        from distributed import get_worker
        return get_worker().address
    except Exception:  # run outside a worker (the single-process path, tests)
        return f"pid {os.getpid()}"


def _done(started, **what):
    what.update(worker=_worker_name(), pid=os.getpid(), seconds=time.monotonic() - started)
    return what


class _ThreadConfig:
    """GDAL configuration options set on the calling thread for the duration of a task (a
    worker may run several tasks at once, each on a thread of its own)."""

    def __init__(self, options):
        self.options = dict(options or {})
        self.saved = {}

    def __enter__(self):
        from osgeo import gdal
        for k, v in self.options.items():
            self.saved[k] = gdal.GetThreadLocalConfigOption(k, None)
            gdal.SetThreadLocalConfigOption(k, str(v))
        return self

    def __exit__(self, *exc):
        from osgeo import gdal
        for k, v in self.saved.items():
            gdal.SetThreadLocalConfigOption(k, v)


def build_overview_tiles(conninfo, mosaic, level, tiles, resampling, config=None, hook=None,
                         after=None):
    """Builds tiles [(col, row), ...] of `level` with gdaladdo's own entry (BuildOverviews on
    the PGMOSAIC dataset, restricted by OVERVIEW_TILES): composed from level - 1 (its tiles
    where up to date: `after` are the tasks that built those, which Dask runs first), written as
    COGs under the mosaic's managed root and registered. `after` is only there to order tasks."""
    from osgeo import gdal
    started = time.monotonic()
    _tune_malloc()
    if hook:
        hook("overview", (level, tiles))
    gdal.UseExceptions()
    spec = ",".join(f"{level}/{c}/{r}" for c, r in tiles)
    with _ThreadConfig(config):
        ds = gdal.OpenEx(f"PGMOSAIC:{conninfo} mosaic={mosaic}", gdal.OF_RASTER | gdal.OF_UPDATE,
                         open_options=[f"OVERVIEW_TILES={spec}"])
        try:
            ds.BuildOverviews(resampling.upper(), [1 << level])
        finally:
            ds = None
    return _done(started, kind="overview", level=level, tiles=len(tiles))


def zonal_stats_batch(conninfo, mosaic, zones, band, exact, settings=None, into=None, hook=None):
    """pgmosaic.zonal_stats of zones [(key, geometry as EWKT or hex EWKB), ...] in one call of
    the SQL function; rows (key, count, min, max, mean, stddev, sum) in the order given. With
    `into` (a table name), the rows replace the zones' rows there in the same transaction."""
    import psycopg2
    from psycopg2 import sql
    started = time.monotonic()
    _tune_malloc()
    if hook:
        hook("zonal", [k for k, _ in zones])
    conn = psycopg2.connect(conninfo, application_name="pgmosaic_dask")
    try:
        with conn, conn.cursor() as cur:
            for k, v in (settings or {}).items():
                cur.execute("SELECT set_config(%s, %s, true)", (k, str(v)))
            cur.execute("SELECT n, count, min, max, mean, stddev, sum FROM pgmosaic.zonal_stats("
                        "%s, %s::text[]::geometry[], %s, %s) ORDER BY n",
                        (mosaic, [g for _, g in zones], band, exact))
            rows = [(zones[r[0] - 1][0],) + tuple(r[1:]) for r in cur.fetchall()]
            if into:
                cur.executemany(
                    sql.SQL("INSERT INTO {} (zone, count, min, max, mean, stddev, sum) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (zone) DO UPDATE "
                            "SET count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max, "
                            "mean = EXCLUDED.mean, stddev = EXCLUDED.stddev, sum = EXCLUDED.sum"
                            ).format(sql.Identifier(*into.split("."))), rows)
    finally:
        conn.close()
    return _done(started, kind="zonal", zones=len(zones), rows=rows)


def register_file_batch(conninfo, mosaic, paths, load_options=None, create=False, hook=None,
                        after=None):
    """Registers `paths` as ogr2ogr does (the items layer: inspected here, on the worker, and
    registered by one statement when the last feature is written, so that an error raises
    here: the batch wholly or not at all), skipping paths already in
    the mosaic (ON_DUPLICATE=SKIP), so that a batch run again adds nothing twice. With
    `create`, the mosaic may not exist yet (ogr2ogr -nln <mosaic>.items creates it)."""
    from osgeo import gdal
    started = time.monotonic()
    _tune_malloc()
    if hook:
        hook("register", paths)
    gdal.UseExceptions()
    options = {"ON_DUPLICATE": "SKIP", **(load_options or {}), "BATCH_SIZE": str(len(paths))}
    from osgeo import ogr
    src = gdal.GetDriverByName("Memory").Create("", 0, 0, 0, gdal.GDT_Unknown)
    layer = src.CreateLayer("files", geom_type=ogr.wkbNone)
    layer.CreateField(ogr.FieldDefn("path", ogr.OFTString))
    for p in paths:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("path", p)
        layer.CreateFeature(f)
    args = ["-update", "-nln", f"{mosaic}.items" if create else "items"]
    for k, v in options.items():
        args += ["-doo", f"{k}={v}"]
    dest = f"PGMOSAIC:{conninfo}" + ("" if create else f" mosaic={mosaic}")
    out = gdal.VectorTranslate(dest, src, options=args)
    if out is None:
        raise RuntimeError(f"cannot register the batch starting with {paths[0]}: "
                           f"{gdal.GetLastErrorMsg()}")
    out = None
    return _done(started, kind="register", files=len(paths))
