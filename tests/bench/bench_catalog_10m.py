#!/usr/bin/python3
"""The catalog at 10 million items (issue 17): window lookups, overview tiles, bulk
registration and maintenance, on pgmosaic's catalog against a partitioned copy of it and a
pgSTAC-style JSONB item table.

Synthetic rows (SQL generate_series, no files), loaded with INSERT ... SELECT and the
non-constraint indexes built after the load:
  - mosaic "big": --items items (default 10,000,000) of 1000 x 1000 pixels at 1 m in EPSG:32631,
    a row-major grid, every item acquired on one of 3,650 days (2015-2024), paths @big/...;
    mosaic-wide overview tiles (category overview, 512-pixel tiles) on the coarsest levels down
    to about 50,000 tiles;
  - mosaics "m000".."m099": --small-items items (default 1,000,000) spread over --mosaics
    (default 100) mosaics, each a grid over the same ground as big's north-west corner (the
    worst case for one GiST index over every mosaic's footprints).
It prints:
  (1) window lookups of ~4 and ~100 items in mosaic order, p50/p95 over --lookups random windows:
      the driver's query (FindItemsSql: pgmosaic._read_items(), items() with each file's
      record), as a superuser and as a reader role under row-level security, and as a reader
      the query before it (items(), then each item's record by its key), on big and on a small
      mosaic;
      the query items() runs inside on pgmosaic.item (unpartitioned), on partitioned copies
      (LIST by mosaic; big's partition also sub-partitioned by acquisition year or by a coarse
      4x4 cell of the item's centre, with and without the cell predicate that prunes) and on
      the pgSTAC-style table (pgSTAC's search shape: collection, ST_Intersects, ORDER BY
      datetime DESC, id DESC); every value fetched as the text libpq receives, as the driver
      reads it (psycopg2's conversion to Python objects would add ~1 ms per 100 rows);
  (2) the zoom-0 overview tile lookup (the driver's FindOverviewTilesSql) and a mid level;
  (3) the registration rate of --register items (default 100,000) in bulk SQL from a table of
      paths with their inspection JSON (pgmosaic.register_rasters), register_raster called per
      row (on --register-slow rows), and plain INSERTs into the partitioned copy and the
      pgSTAC-style table as anchors;
  (4) check() and sync() on --maint items (default 100,000) whose paths are symbolic links to
      one real tiny GeoTIFF (1% recorded with another size, so sync() re-inspects them);
  (5) repair_paths() on --maint items, re-rooting (UPDATE pgmosaic.path_root) of those items
      and of big, and the pgSTAC-style equivalent (rewriting the hrefs in content).
Targets (PASS/FAIL lines): window lookup p95 < 5 ms at 10M items; registration >= 20,000
items/s. Needs PGHOST/PGPORT/PGUSER of a superuser on a server with pgmosaic installed:
tests/bench/run_catalog_10m.sh does that. The database --dbname is dropped and re-created.
"""

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg2
import psycopg2.extensions

SRID = 32631
PX = 1000          # item side in pixels
RES = 1.0          # metres per pixel
STEP = PX * RES    # item side in metres
X0, Y0 = 500000.0, 9000000.0
OVR_TILE = 512


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=10_000_000, help="items of mosaic big")
    p.add_argument("--small-items", type=int, default=1_000_000,
                   help="items spread over the small mosaics")
    p.add_argument("--mosaics", type=int, default=100, help="small mosaics")
    p.add_argument("--lookups", type=int, default=300, help="timed lookups per case")
    p.add_argument("--register", type=int, default=100_000, help="items of the bulk registration")
    p.add_argument("--register-slow", type=int, default=2_000,
                   help="items registered by register_raster one call per row")
    p.add_argument("--maint", type=int, default=100_000, help="items of check/sync/repair")
    p.add_argument("--no-variants", action="store_true",
                   help="skip the partitioned copies and the pgSTAC-style table")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--dbname", default="pgmosaic_catalog_10m")
    p.add_argument("--template", help="a database with pgmosaic created, to copy "
                   "(run_catalog_10m.sh makes one); without it, CREATE EXTENSION pgmosaic")
    return p.parse_args()


def conninfo(dbname):
    parts = [f"{key}={os.environ[var]}" for key, var in
             (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")) if os.environ.get(var)]
    return " ".join(parts + [f"dbname={dbname}"])


def connect(dbname, user=None):
    info = conninfo(dbname) + (f" user={user}" if user else "")
    conn = psycopg2.connect(info)
    conn.autocommit = True
    return conn


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(math.ceil(q / 100.0 * len(v))) - 1))]


def ms(s):
    return f"{1000.0 * s:.2f}"


class Timer:
    def __init__(self, label):
        self.label = label

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        if exc[0] is None:
            print(f"    {self.label}: {self.seconds:.1f} s", flush=True)


# -------------------------------------------------------------------------------------------
# Loading
# -------------------------------------------------------------------------------------------

BANDS = ('[{"data_type": "Byte", "nodata": 0, "description": "", "color_interp": "Red"}, '
         '{"data_type": "Byte", "nodata": 0, "description": "", "color_interp": "Green"}, '
         '{"data_type": "Byte", "nodata": 0, "description": "", "color_interp": "Blue"}]')


def item_insert_sql(mid, cols, first, count, x0, y0, prefix, ncols_pad=6):
    """INSERT ... SELECT of `count` grid items k = first .. first+count-1 of a grid `cols` wide."""
    return f"""
        INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, height,
            band_count, data_type, nodata, driver, file_size, file_mtime, acquired,
            min_pixel_size, bands, is_cog, block_width, block_height, overview_count)
        SELECT {mid}, ('{prefix}/r' || lpad((k / {cols})::text, {ncols_pad}, '0') || '/c'
                       || lpad((k % {cols})::text, {ncols_pad}, '0') || '.tif')::pgmosaic.pathref,
               ST_MakeEnvelope({x0} + (k % {cols}) * {STEP}, {y0} - (k / {cols} + 1) * {STEP},
                               {x0} + (k % {cols} + 1) * {STEP}, {y0} - (k / {cols}) * {STEP},
                               {SRID}),
               {SRID},
               ARRAY[{x0} + (k % {cols}) * {STEP}, {RES}, 0, {y0} - (k / {cols}) * {STEP}, 0,
                     -{RES}],
               {PX}, {PX}, 3, 'Byte', 0, 'GTiff', 3000000, '2024-01-01',
               tstzrange(t, t, '[]'), {RES}, '{BANDS}'::jsonb, true, 512, 512, 1
        FROM generate_series({first}::bigint, {first + count - 1}::bigint) AS k
        CROSS JOIN LATERAL (SELECT '2015-01-01'::timestamptz
                                   + ((k * 7919) % 3650) * interval '1 day') AS a (t)
    """


def load(args):
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute("SET client_min_messages = warning")
        cur.execute(f'DROP DATABASE IF EXISTS "{args.dbname}"')
        cur.execute(f'CREATE DATABASE "{args.dbname}"'
                    + (f' TEMPLATE "{args.template}"' if args.template else ""))
        cur.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
        cur.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
        cur.execute("SELECT pg_reload_conf()")
    admin.close()
    conn = connect(args.dbname)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SET maintenance_work_mem = '2GB'")
    cur.execute("SET work_mem = '256MB'")
    if not args.template:
        cur.execute("CREATE EXTENSION pgmosaic CASCADE")
    cur.execute("CREATE SCHEMA bench")
    print("load", flush=True)
    big_cols = int(math.ceil(math.sqrt(args.items)))
    big_rows = int(math.ceil(args.items / big_cols))
    per_small = args.small_items // args.mosaics
    small_cols = int(math.ceil(math.sqrt(per_small)))
    cur.execute("INSERT INTO pgmosaic.path_root VALUES ('big', '/data/big'), "
                "('small', '/data/small')")
    cur.execute("SELECT pgmosaic.create_mosaic('big', %s)", (SRID,))
    big = cur.fetchone()[0]
    small = []
    for k in range(args.mosaics):
        cur.execute("SELECT pgmosaic.create_mosaic(%s, %s)", (f"m{k:03d}", SRID))
        small.append(cur.fetchone()[0])

    # Indexes other than the constraints' are built after the load (the constraints' btrees
    # take sorted keys at their right edge); triggers are off for the synthetic load.
    cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'pgmosaic' "
                "AND tablename = 'item' AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = 'pgmosaic.item'::regclass)")
    index_defs = cur.fetchall()
    for name, _ in index_defs:
        cur.execute(f"DROP INDEX pgmosaic.{name}")
    cur.execute("SET session_replication_role = replica")
    with Timer(f"{args.items} items of big ({big_cols} x {big_rows}), INSERT ... SELECT"):
        chunk = 2_000_000
        for first in range(0, args.items, chunk):
            cur.execute(item_insert_sql(big, big_cols, first, min(chunk, args.items - first),
                                        X0, Y0, "@big"))
    with Timer(f"{per_small * args.mosaics} items over {args.mosaics} mosaics"):
        for k, mid in enumerate(small):
            cur.execute(item_insert_sql(mid, small_cols, 0, per_small, X0, Y0,
                                        f"@small/m{k:03d}"))
    # Overview tiles of big: factor 2^L, 512-pixel tiles, from the coarsest level down to
    # about 50,000 tiles.
    width_px = big_cols * PX
    height_px = big_rows * PX
    top = max(0, int(math.ceil(math.log2(max(width_px, height_px) / OVR_TILE))))
    levels = []
    total = 0
    for level in range(top, 0, -1):
        side = OVR_TILE * (2 ** level) * RES
        nx, ny = int(math.ceil(width_px * RES / side)), int(math.ceil(height_px * RES / side))
        if total + nx * ny > 50_000:
            break
        levels.append((level, nx, ny, side))
        total += nx * ny
    with Timer(f"{total} overview tiles of big on levels {[lv[0] for lv in levels]}"):
        for level, nx, ny, side in levels:
            cur.execute(f"""
                INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width,
                    height, band_count, data_type, nodata, driver, file_size, file_mtime,
                    category, overview_level, min_pixel_size, bands, is_cog, block_width,
                    block_height, overview_count)
                SELECT {big}, format('@big/ovr/%s/%s_%s.tif', {level}, x, y)::pgmosaic.pathref,
                       ST_MakeEnvelope({X0} + x * {side}, {Y0} - (y + 1) * {side},
                                       {X0} + (x + 1) * {side}, {Y0} - y * {side}, {SRID}),
                       {SRID}, ARRAY[{X0} + x * {side}, {side / OVR_TILE}, 0,
                                     {Y0} - y * {side}, 0, -{side / OVR_TILE}],
                       {OVR_TILE}, {OVR_TILE}, 3, 'Byte', 0, 'GTiff', 100000, '2024-01-01',
                       'overview', {level}, {side / OVR_TILE}, '{BANDS}'::jsonb, true, 512,
                       512, 0
                FROM generate_series(0, {ny - 1}) y, generate_series(0, {nx - 1}) x""")
    cur.execute("RESET session_replication_role")
    with Timer("indexes of pgmosaic.item built after the load"):
        for name, definition in index_defs:
            cur.execute(definition)
    for mid, cols, rows in [(big, big_cols, big_rows)] + [
            (m, small_cols, int(math.ceil(per_small / small_cols))) for m in small]:
        cur.execute("""
            UPDATE pgmosaic.mosaic SET res_x = %(res)s, res_y = %(res)s, origin_x = %(x0)s,
                origin_y = %(y0)s, min_x = %(x0)s, max_y = %(y0)s,
                max_x = %(x0)s + %(cols)s * %(step)s, min_y = %(y0)s - %(rows)s * %(step)s,
                band_count = 3, data_type = 'Byte', nodata = 0,
                boundary = ST_MakeEnvelope(%(x0)s, %(y0)s - %(rows)s * %(step)s,
                                           %(x0)s + %(cols)s * %(step)s, %(y0)s, %(srid)s)
            WHERE id = %(mid)s""", dict(res=RES, x0=X0, y0=Y0, cols=cols, rows=rows, step=STEP,
                                        srid=SRID, mid=mid))
    with Timer("ANALYZE"):
        cur.execute("ANALYZE pgmosaic.item")
        cur.execute("ANALYZE pgmosaic.mosaic")
    cur.execute("SELECT pg_size_pretty(pg_table_size('pgmosaic.item')), "
                "pg_size_pretty(pg_indexes_size('pgmosaic.item')), count(*) FROM pgmosaic.item")
    size, isize, n = cur.fetchone()
    print(f"    pgmosaic.item: {n} rows, table {size}, indexes {isize}")
    cur.execute("SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) "
                "FROM pg_stat_user_indexes WHERE relid = 'pgmosaic.item'::regclass "
                "ORDER BY indexrelname")
    print("    " + ", ".join(f"{a} {b}" for a, b in cur.fetchall()))
    geo = dict(big=big, small=small, big_cols=big_cols, big_rows=big_rows,
               small_cols=small_cols, small_rows=int(math.ceil(per_small / small_cols)),
               levels=levels)
    return conn, geo


def load_variants(conn, geo, args):
    cur = conn.cursor()
    cur.execute("SET maintenance_work_mem = '2GB'")
    big = geo["big"]
    width = geo["big_cols"] * STEP
    height = geo["big_rows"] * STEP
    # The coarse cell of an item: its centre in a 4 x 4 grid over big.
    cell = (f"(LEAST(3, GREATEST(0, floor((ST_X(ST_Centroid(footprint)) - {X0}) / {width / 4}))) "
            f"+ 4 * LEAST(3, GREATEST(0, floor(({Y0} - ST_Y(ST_Centroid(footprint))) / "
            f"{height / 4}))))::integer")
    print("load of the variants", flush=True)
    for variant in ("part_m", "part_t", "part_k"):
        cur.execute(f"CREATE TABLE bench.{variant} (LIKE pgmosaic.item INCLUDING DEFAULTS, "
                    f"cell integer NOT NULL DEFAULT 0, t0 timestamptz) "
                    f"PARTITION BY LIST (mosaic_id)")
        for mid in [big] + geo["small"]:
            sub = ""
            if mid == big and variant == "part_t":
                sub = " PARTITION BY RANGE (t0)"
            elif mid == big and variant == "part_k":
                sub = " PARTITION BY LIST (cell)"
            cur.execute(f"CREATE TABLE bench.{variant}_{mid} PARTITION OF bench.{variant} "
                        f"FOR VALUES IN ({mid}){sub}")
            if mid == big and variant == "part_t":
                for year in range(2015, 2026):
                    cur.execute(f"CREATE TABLE bench.{variant}_{mid}_{year} PARTITION OF "
                                f"bench.{variant}_{mid} FOR VALUES FROM ('{year}-01-01') "
                                f"TO ('{year + 1}-01-01')")
                cur.execute(f"CREATE TABLE bench.{variant}_{mid}_none PARTITION OF "
                            f"bench.{variant}_{mid} DEFAULT")
            if mid == big and variant == "part_k":
                for c in range(16):
                    cur.execute(f"CREATE TABLE bench.{variant}_{mid}_{c} PARTITION OF "
                                f"bench.{variant}_{mid} FOR VALUES IN ({c})")
        with Timer(f"bench.{variant}: copy of pgmosaic.item"):
            cur.execute(f"INSERT INTO bench.{variant} SELECT i.*, "
                        f"CASE WHEN i.mosaic_id = {big} THEN {cell} ELSE 0 END, "
                        f"lower(i.acquired) FROM pgmosaic.item i")
        with Timer(f"bench.{variant}: indexes (GiST footprint, order, overview, key)"):
            cur.execute(f"CREATE INDEX ON bench.{variant} USING gist (footprint)")
            cur.execute(f"CREATE INDEX ON bench.{variant} (mosaic_id, priority DESC, id DESC)")
            cur.execute(f"CREATE INDEX ON bench.{variant} (mosaic_id, overview_level) "
                        f"WHERE category = 'overview'")
            cur.execute(f"CREATE UNIQUE INDEX ON bench.{variant} (mosaic_id, id, cell, t0)")
        cur.execute(f"ANALYZE bench.{variant}")
    cur.execute("""
        CREATE TABLE bench.stac_items (
            id text NOT NULL, geometry geometry NOT NULL, collection text NOT NULL,
            datetime timestamptz, end_datetime timestamptz, content jsonb NOT NULL)""")
    with Timer("bench.stac_items: items as STAC JSON (pgSTAC-style, unpartitioned)"):
        cur.execute("""
            INSERT INTO bench.stac_items
            SELECT m.name || '-' || i.id, i.footprint, m.name, lower(i.acquired),
                   upper(i.acquired),
                   jsonb_build_object(
                       'type', 'Feature', 'stac_version', '1.0.0', 'id', m.name || '-' || i.id,
                       'collection', m.name, 'bbox', jsonb_build_array(ST_XMin(i.footprint),
                           ST_YMin(i.footprint), ST_XMax(i.footprint), ST_YMax(i.footprint)),
                       'properties', jsonb_build_object(
                           'datetime', lower(i.acquired), 'proj:epsg', i.srid,
                           'proj:shape', jsonb_build_array(i.height, i.width),
                           'proj:transform', to_jsonb(i.geotransform),
                           'pgmosaic:category', i.category,
                           'pgmosaic:overview_level', i.overview_level),
                       'assets', jsonb_build_object('data', jsonb_build_object(
                           'href', pgmosaic.resolve(i.path), 'type',
                           'image/tiff; application=geotiff; profile=cloud-optimized',
                           'file:size', i.file_size, 'raster:bands', i.bands)))
            FROM pgmosaic.item i JOIN pgmosaic.mosaic m ON m.id = i.mosaic_id""")
    with Timer("bench.stac_items: indexes (id, GiST geometry, collection + datetime)"):
        cur.execute("ALTER TABLE bench.stac_items ADD PRIMARY KEY (id)")
        cur.execute("CREATE INDEX ON bench.stac_items USING gist (geometry)")
        cur.execute("CREATE INDEX ON bench.stac_items (collection, datetime DESC, "
                    "end_datetime DESC)")
        cur.execute("ANALYZE bench.stac_items")
    for t in ("part_m", "part_t", "part_k", "stac_items"):
        cur.execute(f"SELECT pg_size_pretty(sum(pg_table_size(c.oid))), "
                    f"pg_size_pretty(sum(pg_indexes_size(c.oid))) FROM pg_partition_tree("
                    f"'bench.{t}') p JOIN pg_class c ON c.oid = p.relid")
        a, b = cur.fetchone()
        print(f"    bench.{t}: table {a}, indexes {b}")


# -------------------------------------------------------------------------------------------
# Lookups
# -------------------------------------------------------------------------------------------

def recorded(i):
    # common/catalog_sql.cpp RecordedColumns (itemCatalog) of the row `i`.
    return (f"{i}.file_size, pg_catalog.floor(pg_catalog.date_part('epoch', {i}.file_mtime))"
            f"::bigint, coalesce(pg_catalog.jsonb_path_query_array(CASE WHEN "
            f"pg_catalog.jsonb_typeof({i}.bands) OPERATOR(pg_catalog.=) 'array' THEN {i}.bands "
            f"END, '$[*].data_type')::pg_catalog.text, pg_catalog.concat({i}.band_count, '*', "
            f"{i}.data_type))")


RECORDED = recorded("i")
QUALITY = ("x.cloud_cover, pg_catalog.date_part('epoch', pg_catalog.lower(x.acquired)), "
           "x.priority")
WINDOW = ("($1::text, public.ST_MakeEnvelope($2::float8, $3::float8, $4::float8, $5::float8, "
          "$6::integer), $7::text, $8::tstzrange, $9::text, $10::bigint[]")


def driver_sql(mid):
    # common/catalog_sql.cpp FindItemsSql (itemCatalog, readItems), as the driver sends it:
    # the records from the scan of _read_items() (items() with them).
    return ("SELECT x.id, x.resolved_path, x.srid, x.geotransform, x.width, x.height, "
            + recorded("x") + ", NULL::json, x.max_pixel_size, " + QUALITY +
            " FROM pgmosaic._read_items" + WINDOW + ", NULL) WITH ORDINALITY x "
            "ORDER BY x.ordinality")


def driver_sql_before(mid):
    # The driver's query before _read_items (and for catalogs of extension 0.2): items(), then
    # each item's record looked up again by its key, the band types aggregated by a subquery.
    return ("SELECT x.id, x.resolved_path, x.srid, x.geotransform, x.width, x.height, r.*, v.* "
            "FROM pgmosaic.items" + WINDOW + ") WITH ORDINALITY x CROSS JOIN LATERAL (SELECT "
            "i.file_size, pg_catalog.floor(pg_catalog.date_part('epoch', i.file_mtime))::bigint, "
            "coalesce((SELECT pg_catalog.string_agg(b.e ->> 'data_type', ',' ORDER BY b.n) "
            "FROM pg_catalog.jsonb_array_elements(CASE pg_catalog.jsonb_typeof(i.bands) WHEN "
            "'array' THEN i.bands END) WITH ORDINALITY b(e, n)), "
            "pg_catalog.concat(i.band_count, '*', i.data_type)), NULL::json, i.max_pixel_size "
            "FROM pgmosaic.item i WHERE i.mosaic_id OPERATOR(pg_catalog.=) " + str(mid) +
            " AND i.id OPERATOR(pg_catalog.=) x.id OFFSET 0) r CROSS JOIN LATERAL (SELECT "
            + QUALITY + ") v ORDER BY x.ordinality")


def inner_sql(table, extra=""):
    # The static query items() ran for a window before issue 17 (a 2D window on the
    # footprint, mosaic_id an index condition), on any table.
    return ("SELECT i.id, i.path, i.priority, i.srid, i.geotransform, i.width, i.height, "
            "i.footprint FROM " + table + " i WHERE i.mosaic_id = $1 AND i.category = 'primary' "
            "AND i.footprint OPERATOR(pgmosaic.&&) public.ST_MakeEnvelope($2, $3, $4, $5, 32631) "
            "AND public.ST_Intersects(i.footprint, public.ST_MakeEnvelope($2, $3, $4, $5, 32631))"
            + extra + " ORDER BY i.priority DESC, i.id DESC")


# The query items() runs now (sql/src/50_reading.sql): the mosaic's window key.
KEY_INNER = ("SELECT i.id, i.path, i.priority, i.srid, i.geotransform, i.width, i.height, "
             "i.footprint FROM pgmosaic.item i WHERE pgmosaic.window_key(i.mosaic_id, "
             "i.overview_level, i.footprint) OPERATOR(pgmosaic.&&&) "
             "pgmosaic.window_key($1, 0, public.ST_MakeEnvelope($2, $3, $4, $5, 32631)) "
             "AND i.mosaic_id OPERATOR(pg_catalog.+) 0 = $1 AND i.category = 'primary' "
             "AND public.ST_Intersects(i.footprint, public.ST_MakeEnvelope($2, $3, $4, $5, 32631))"
             " ORDER BY i.priority DESC, i.id DESC")


STAC_SQL = ("SELECT content FROM bench.stac_items WHERE collection = ANY ($1::text[]) "
            "AND public.ST_Intersects(geometry, public.ST_MakeEnvelope($2, $3, $4, $5, 32631)) "
            "ORDER BY datetime DESC, end_datetime DESC, id DESC LIMIT 10000")


def windows(rng, cols, rows, side_m, count):
    out = []
    w, h = cols * STEP, rows * STEP
    for _ in range(count):
        x = X0 + rng.uniform(0, w - side_m)
        y = Y0 - rng.uniform(0, h - side_m)
        out.append((x, y - side_m, x + side_m, y))
    return out


def cells_of(env, geo):
    """The coarse cells whose items may meet env: the window grown by an item's half side."""
    width = geo["big_cols"] * STEP
    height = geo["big_rows"] * STEP
    g = STEP / 2
    cx = [min(3, max(0, int((v - X0) // (width / 4)))) for v in (env[0] - g, env[2] + g)]
    cy = [min(3, max(0, int((Y0 - v) // (height / 4)))) for v in (env[3] + g, env[1] - g)]
    return [x + 4 * y for y in range(cy[0], cy[1] + 1) for x in range(cx[0], cx[1] + 1)]


CASE_SECONDS = 15.0


def fetch_as_text(conn, cur):
    """Have `cur` hand every value of the types the lookups return over as the text libpq
    received, as the driver reads them (PQgetvalue): psycopg2's own conversion to Python numbers,
    lists, ranges and dicts cost about 1.2 ms of a 2 ms lookup of 110 items."""
    types = conn.cursor()
    types.execute("SELECT oid, typarray FROM pg_catalog.pg_type WHERE typname IN ('int2', 'int4', "
                "'int8', 'float4', 'float8', 'numeric', 'bool', 'text', 'json', 'jsonb', "
                "'timestamptz', 'tstzrange', 'bytea')")
    rows = types.fetchall()
    text = psycopg2.extensions.new_type(tuple(r[0] for r in rows), "TEXT_AS_IS",
                                        lambda value, _cur: value)
    psycopg2.extensions.register_type(text, cur)
    psycopg2.extensions.register_type(psycopg2.extensions.new_type(
        tuple(r[1] for r in rows), "TEXT_AS_IS_ARRAY", lambda value, _cur: value), cur)


def time_query(conn, sql, params_list, name):
    cur = conn.cursor()
    fetch_as_text(conn, cur)
    types = {"drv": "(text, float8, float8, float8, float8, integer, text, tstzrange, text, "
                    "bigint[])",
             "inn": "(integer, float8, float8, float8, float8)",
             "ink": "(integer, float8, float8, float8, float8, integer[])",
             "stac": "(text[], float8, float8, float8, float8)"}[name]
    cur.execute("DEALLOCATE ALL")
    cur.execute(f"PREPARE q {types} AS {sql}")
    marks = ", ".join(["%s"] * len(params_list[0]))
    for p in params_list[:10]:          # warm-up (generic plans cached, pages in memory)
        cur.execute(f"EXECUTE q ({marks})", p)
        cur.fetchall()
    times, counts = [], []
    start = time.perf_counter()
    for p in params_list:
        t0 = time.perf_counter()
        cur.execute(f"EXECUTE q ({marks})", p)
        rows = cur.fetchall()
        times.append(time.perf_counter() - t0)
        counts.append(len(rows))
        if len(times) >= 20 and time.perf_counter() - start > CASE_SECONDS:
            break  # a slow case: its first lookups are enough
    return times, counts


def lookups(conn, reader, geo, args, results, variants):
    rng = random.Random(args.seed)
    big = geo["big"]
    small_k = rng.randrange(len(geo["small"]))
    small = geo["small"][small_k]
    cases = [("big", big, "big", geo["big_cols"], geo["big_rows"]),
             (f"m{small_k:03d}", small, f"m{small_k:03d}", geo["small_cols"], geo["small_rows"])]
    print(f"\n(1) window lookups, prepared, one connection, values fetched as text (as the driver "
          f"reads them), after 10 warm-up runs, {args.lookups} runs (a case slower than "
          f"{CASE_SECONDS:g} s stops after 20); times in ms (p50 / p95), items per window (median)")
    header = f"    {'case':58s} {'~4 items':>22s} {'~100 items':>22s}"
    print(header)
    print("    (the variants below run items()'s query before issue 17 on other tables, as a "
          "superuser)")
    for label, mid, name, cols, rows in cases:
        envs = {n: windows(rng, cols, rows, side, args.lookups)
                for n, side in (("4", 1.0 * STEP), ("100", 9.6 * STEP))}
        rows_out = []

        def run(case, c, sql, kind, make):
            out = {}
            for n in ("4", "100"):
                t, k = time_query(c, sql, [make(e) for e in envs[n]], kind)
                out[n] = (pct(t, 50), pct(t, 95), statistics.median(k))
            results[(label, case)] = out
            rows_out.append((case, out))

        drv = lambda e: (name, *e, SRID, None, None, None, None)  # noqa: E731
        inn = lambda e: (mid, *e)  # noqa: E731
        run("driver query via _read_items(), superuser", conn, driver_sql(mid), "drv", drv)
        run("driver query via _read_items(), reader role under RLS", reader, driver_sql(mid),
            "drv", drv)
        run("driver query before (items() + records by key), reader", reader,
            driver_sql_before(mid), "drv", drv)
        run("items()'s inner query (window key), reader under RLS", reader, KEY_INNER, "inn",
            inn)
        run("items()'s inner query (window key), superuser", conn, KEY_INNER, "inn", inn)
        # (Before issue 17 items() ANDed a 2D window with the btree on mosaic_id, 1 s at 10
        # million items; that 2D index is gone: the variants below still show that query.)
        if variants:
            run("  partitioned by mosaic (LIST)", conn, inner_sql("bench.part_m"), "inn", inn)
            if mid == big:
                run("  + big by acquisition year (RANGE, 12)", conn, inner_sql("bench.part_t"),
                    "inn", inn)
                run("  + big by 4x4 cell (LIST, 16), no cell predicate", conn,
                    inner_sql("bench.part_k"), "inn", inn)
                run("  + big by 4x4 cell, cell = ANY (window's cells)", conn,
                    inner_sql("bench.part_k", " AND i.cell = ANY ($6)"), "ink",
                    lambda e: (mid, *e, cells_of(e, geo)))
            run("pgSTAC-style JSONB table (search by bbox)", conn, STAC_SQL, "stac",
                lambda e: ([name], *e))
        for case, out in rows_out:
            cells = " ".join(f"{ms(out[n][0]):>7s}/{ms(out[n][1]):>7s} ({out[n][2]:>4g})"
                             for n in ("4", "100"))
            print(f"    {label + ': ' + case:58s} {cells}")
        sys.stdout.flush()


OVR_BEFORE = (
    "SELECT i.id, pgmosaic.resolve(i.path), i.srid, i.geotransform, i.width, i.height, "
    + RECORDED + " FROM pgmosaic.item i WHERE i.mosaic_id OPERATOR(pg_catalog.=) "
    "$1::integer AND i.category OPERATOR(pg_catalog.=) 'overview' AND i.overview_level "
    "OPERATOR(pg_catalog.=) $2::integer AND i.status OPERATOR(pg_catalog.=) 'ok' AND "
    "i.footprint OPERATOR(public.&&) public.ST_MakeEnvelope($3::float8, $4::float8, "
    "$5::float8, $6::float8, $7::integer) ORDER BY i.id")
OVR_KEY = (
    "SELECT i.id, pgmosaic.resolve(i.path), i.srid, i.geotransform, i.width, i.height, "
    + RECORDED + " FROM pgmosaic.item i WHERE pgmosaic.window_key(i.mosaic_id, "
    "i.overview_level, i.footprint) OPERATOR(pgmosaic.&&&) "
    "pgmosaic.window_key($1::integer, $2::integer, public.ST_MakeEnvelope($3::float8, "
    "$4::float8, $5::float8, $6::float8, $7::integer)) AND i.mosaic_id OPERATOR(pg_catalog.+) 0 "
    "OPERATOR(pg_catalog.=) $1::integer AND i.category OPERATOR(pg_catalog.=) 'overview' AND "
    "i.overview_level OPERATOR(pg_catalog.+) 0 OPERATOR(pg_catalog.=) $2::integer AND i.status "
    "OPERATOR(pg_catalog.=) 'ok' ORDER BY i.id")


def overview_lookup(conn, reader, geo, args):
    # common/catalog_sql.cpp FindOverviewTilesSql: now (window key) and before issue 17.
    width = geo["big_cols"] * STEP
    height = geo["big_rows"] * STEP
    print("\n(2) overview tile lookup (the driver's query, prepared), big, whole mosaic and a "
          f"window of 4 tiles, {args.lookups} runs after 10: ms p50 / p95")
    out = {}
    # The top level (zoom 0: one tile) and the first with 100 tiles or more.
    chosen = geo["levels"][:1] + [lv for lv in geo["levels"] if lv[1] * lv[2] >= 100][:1]
    for shape, sql in (("window key", OVR_KEY), ("before", OVR_BEFORE)):
        for who, c in (("reader", reader), ("superuser", conn)):
            cur = c.cursor()
            fetch_as_text(c, cur)
            cur.execute("DEALLOCATE ALL")
            cur.execute("PREPARE o (integer, integer, float8, float8, float8, float8, integer) "
                        "AS " + sql)
            for level, nx, ny, side in chosen:
                for what, env in (("whole mosaic", (X0, Y0 - height, X0 + width, Y0)),
                                  ("4 tiles", (X0 + side * 0.5, Y0 - side * 1.5,
                                               X0 + side * 1.5, Y0 - side * 0.5))):
                    if nx * ny == 1 and what == "4 tiles":
                        continue
                    times = []
                    for k in range(args.lookups + 10):
                        t0 = time.perf_counter()
                        cur.execute("EXECUTE o (%s, %s, %s, %s, %s, %s, %s)",
                                    (geo["big"], level, *env, SRID))
                        n = len(cur.fetchall())
                        if k >= 10:
                            times.append(time.perf_counter() - t0)
                    print(f"    {shape + ', ' + who:24s} level {level:2d} (factor {2 ** level}), "
                          f"{what}: {n} tile{'s' if n != 1 else ''}: "
                          f"{ms(pct(times, 50))} / {ms(pct(times, 95))}")
                    out[(shape, who, level, what)] = (pct(times, 50), pct(times, 95), n)
    return out


# -------------------------------------------------------------------------------------------
# Registration
# -------------------------------------------------------------------------------------------

def staging(cur, name, count, x0, y0, prefix):
    """A table of paths with their inspection JSON (what inspect_raster or the driver's
    client-side inspection gives), on a grid next to the others."""
    cols = int(math.ceil(math.sqrt(count)))
    cur.execute(f"DROP TABLE IF EXISTS bench.{name}")
    cur.execute(f"""
        CREATE TABLE bench.{name} AS
        SELECT k, '{prefix}/f' || lpad(k::text, 7, '0') || '.tif' AS path,
               jsonb_build_object(
                   'srid', {SRID}, 'width', {PX}, 'height', {PX}, 'band_count', 3,
                   'data_type', 'Byte', 'driver', 'GTiff', 'file_size', 3000000,
                   'mtime', 1704067200, 'is_cog', true, 'block_width', 512,
                   'block_height', 512, 'overview_count', 1, 'bands', '{BANDS}'::jsonb,
                   'geotransform', jsonb_build_array({x0} + (k % {cols}) * {STEP}, {RES}, 0,
                                                     {y0} - (k / {cols}) * {STEP}, 0, -{RES}),
                   'footprint', ST_AsText(ST_MakeEnvelope(
                       {x0} + (k % {cols}) * {STEP}, {y0} - (k / {cols} + 1) * {STEP},
                       {x0} + (k % {cols} + 1) * {STEP}, {y0} - (k / {cols}) * {STEP}))) AS info
        FROM generate_series(0, {count - 1}) k""")


def registration(conn, geo, args, variants):
    cur = conn.cursor()
    print("\n(3) registration in bulk SQL (rows of a table of paths with their inspection "
          "JSON, no file read)")
    out = {}
    xr = X0 - 10_000_000.0  # away from the other mosaics
    staging(cur, "reg", args.register, xr, Y0, "@small/reg")
    staging(cur, "reg_slow", args.register_slow, xr - 1_000_000.0, Y0, "@small/regslow")
    cur.execute("SELECT to_regprocedure('pgmosaic.register_rasters(text, text[], jsonb[], "
                "jsonb[], text)') IS NOT NULL")
    has_bulk = cur.fetchone()[0]
    cur.execute("SELECT pgmosaic.create_mosaic('reg', %s)", (SRID,))
    if has_bulk:
        t0 = time.perf_counter()
        cur.execute("SELECT count(*) FROM pgmosaic.register_rasters('reg', "
                    "(SELECT array_agg(path ORDER BY k) FROM bench.reg), "
                    "(SELECT array_agg(info ORDER BY k) FROM bench.reg))")
        n = cur.fetchone()[0]
        dt = time.perf_counter() - t0
        out["bulk"] = n / dt
        print(f"    pgmosaic.register_rasters, {n} items in one call: {dt:.1f} s, "
              f"{n / dt:,.0f} items/s")
    else:
        print("    pgmosaic.register_rasters: not in this version")
    cur.execute("SELECT pgmosaic.create_mosaic('reg_direct', %s)", (SRID,))
    cur.execute("SELECT pgmosaic.register_raster('reg_direct', path, info) FROM bench.reg "
                "WHERE k = 0")
    t0 = time.perf_counter()
    cur.execute(f"""
        INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width,
            height, band_count, data_type, nodata, driver, file_size, file_mtime, bands, is_cog,
            block_width, block_height, overview_count, min_pixel_size)
        SELECT m.id, (s.path || '_direct')::pgmosaic.pathref,
               ST_GeomFromText(s.info ->> 'footprint', {SRID}), {SRID},
               ARRAY(SELECT jsonb_array_elements_text(s.info -> 'geotransform'))::float8[],
               (s.info ->> 'width')::int, (s.info ->> 'height')::int,
               (s.info ->> 'band_count')::int, s.info ->> 'data_type', 0, 'GTiff',
               (s.info ->> 'file_size')::bigint, to_timestamp((s.info ->> 'mtime')::float8),
               s.info -> 'bands', true, 512, 512, 1, {RES}
        FROM bench.reg s, pgmosaic.mosaic m WHERE m.name = 'reg_direct' ORDER BY s.k""")
    t1 = time.perf_counter()
    cur.execute("SELECT pgmosaic.refresh_mosaic('reg_direct')")
    dt = time.perf_counter() - t0
    out["direct"] = args.register / dt
    print(f"    INSERT ... SELECT into pgmosaic.item (triggers: dirty areas, versions) then "
          f"refresh_mosaic(): {t1 - t0:.1f} s + {dt - (t1 - t0):.1f} s, "
          f"{args.register / dt:,.0f} items/s")
    cur.execute("SELECT pgmosaic.create_mosaic('reg_slow', %s)", (SRID,))
    t0 = time.perf_counter()
    cur.execute("SELECT count(pgmosaic.register_raster('reg_slow', path, info)) FROM "
                "(SELECT * FROM bench.reg_slow ORDER BY k) s")
    n = cur.fetchone()[0]
    dt = time.perf_counter() - t0
    out["per_row"] = n / dt
    print(f"    pgmosaic.register_raster per row, {n} items in one statement: {dt:.1f} s, "
          f"{n / dt:,.0f} items/s")
    cur.execute("SELECT count(*) FROM pgmosaic.dirty_area")
    if variants:
        cur.execute("SELECT max(mosaic_id) + 1 FROM pgmosaic.item")
        mid = cur.fetchone()[0]
        cur.execute(f"CREATE TABLE bench.part_m_{mid} PARTITION OF bench.part_m "
                    f"FOR VALUES IN ({mid})")
        t0 = time.perf_counter()
        cur.execute(f"""
            INSERT INTO bench.part_m (mosaic_id, id, path, footprint, srid, geotransform, width,
                height, band_count, data_type, nodata, driver, file_size, file_mtime, bands,
                is_cog, block_width, block_height, overview_count, min_pixel_size)
            SELECT {mid}, s.k + 1, s.path::pgmosaic.pathref,
                   ST_GeomFromText(s.info ->> 'footprint', {SRID}), {SRID},
                   ARRAY(SELECT jsonb_array_elements_text(s.info -> 'geotransform'))::float8[],
                   (s.info ->> 'width')::int, (s.info ->> 'height')::int,
                   (s.info ->> 'band_count')::int, s.info ->> 'data_type', 0, 'GTiff',
                   (s.info ->> 'file_size')::bigint,
                   to_timestamp((s.info ->> 'mtime')::float8), s.info -> 'bands', true, 512, 512,
                   1, {RES}
            FROM bench.reg s ORDER BY s.k""")
        dt = time.perf_counter() - t0
        out["part_insert"] = args.register / dt
        print(f"    anchor: INSERT ... SELECT of the same rows into the partitioned copy "
              f"(new partition, indexes present, no triggers): {dt:.1f} s, "
              f"{args.register / dt:,.0f} items/s")
        t0 = time.perf_counter()
        cur.execute("""
            INSERT INTO bench.stac_items
            SELECT 'reg-' || s.k, ST_GeomFromText(s.info ->> 'footprint', 32631), 'reg',
                   '2024-01-01', '2024-01-01',
                   jsonb_build_object('type', 'Feature', 'stac_version', '1.0.0',
                       'id', 'reg-' || s.k, 'collection', 'reg',
                       'properties', jsonb_build_object('datetime', '2024-01-01',
                           'proj:epsg', 32631, 'proj:transform', s.info -> 'geotransform'),
                       'assets', jsonb_build_object('data', jsonb_build_object(
                           'href', s.path, 'raster:bands', s.info -> 'bands')))
            FROM bench.reg s ORDER BY s.k""")
        dt = time.perf_counter() - t0
        out["stac_insert"] = args.register / dt
        print(f"    anchor: INSERT ... SELECT of the same rows as STAC items into the "
              f"pgSTAC-style table (indexes present): {dt:.1f} s, "
              f"{args.register / dt:,.0f} items/s")
    return out


# -------------------------------------------------------------------------------------------
# Maintenance
# -------------------------------------------------------------------------------------------

def maintenance(conn, geo, args, files_dir, variants):
    cur = conn.cursor()
    print(f"\n(4) check() and sync() on {args.maint} items: symbolic links to one real "
          f"{files_dir}/real.tif, 1% recorded with another size")
    real = os.path.join(files_dir, "real.tif")
    subprocess.run(["/usr/bin/python3", "-c", f"""
from osgeo import gdal
ds = gdal.GetDriverByName('MEM').Create('', 16, 16, 3, gdal.GDT_Byte)
ds.SetGeoTransform([{X0}, {STEP / 16}, 0, {Y0}, 0, -{STEP / 16}])
ds.SetProjection('EPSG:{SRID}')
for b in range(3):
    ds.GetRasterBand(b + 1).SetNoDataValue(0)
    ds.GetRasterBand(b + 1).Fill(7)
gdal.GetDriverByName('COG').CreateCopy({real!r}, ds)
"""], check=True)
    links = os.path.join(files_dir, "links")
    os.makedirs(links, exist_ok=True)
    with Timer(f"{args.maint} symbolic links"):
        for k in range(args.maint):
            os.symlink(real, os.path.join(links, f"f{k:07d}.tif"))
    os.system(f"chmod -R a+rX {files_dir}")
    cur.execute("SET pgmosaic.enable_file_access = on")
    cur.execute("SET pgmosaic.allowed_roots = %s", (files_dir,))
    cur.execute("INSERT INTO pgmosaic.path_root VALUES ('maint', %s)", (links,))
    cur.execute("SELECT pgmosaic.create_mosaic('maint', %s)", (SRID,))
    mid = cur.fetchone()[0]
    cur.execute("SELECT pgmosaic.add_raster('maint', '@maint/f0000000.tif')")
    cur.execute("SELECT file_size, file_mtime, footprint, geotransform, bands, statistics "
                "FROM pgmosaic.item WHERE mosaic_id = %s", (mid,))
    size, mtime, _, _, _, _ = cur.fetchone()
    cur.execute(f"""
        INSERT INTO pgmosaic.item (mosaic_id, path, footprint, srid, geotransform, width, height,
            band_count, data_type, nodata, driver, file_size, file_mtime, min_pixel_size, bands,
            statistics, is_cog, block_width, block_height, overview_count)
        SELECT i.mosaic_id, ('@maint/f' || lpad(k::text, 7, '0') || '.tif')::pgmosaic.pathref,
               ST_Translate(i.footprint, (k % 300) * {STEP}, -(k / 300) * {STEP}), i.srid,
               ARRAY[i.geotransform[1] + (k % 300) * {STEP}, i.geotransform[2], 0,
                     i.geotransform[4] - (k / 300) * {STEP}, 0, i.geotransform[6]],
               i.width, i.height, i.band_count, i.data_type,
               i.nodata, i.driver, CASE WHEN k % 100 = 7 THEN i.file_size + 1 ELSE i.file_size
               END, i.file_mtime, i.min_pixel_size, i.bands, i.statistics, i.is_cog,
               i.block_width, i.block_height, i.overview_count
        FROM pgmosaic.item i, generate_series(1, {args.maint - 1}) k
        WHERE i.mosaic_id = {mid}""")
    cur.execute("SELECT pgmosaic.refresh_mosaic('maint')")
    cur.execute("ANALYZE pgmosaic.item")
    out = {}
    for label, sql in (("check()", "SELECT problem, count(*) FROM pgmosaic.check('maint') "
                                   "GROUP BY 1 ORDER BY 1"),
                       ("sync()", "SELECT action, count(*) FROM pgmosaic.sync('maint') "
                                  "GROUP BY 1 ORDER BY 1"),
                       ("check() after sync()", "SELECT problem, count(*) FROM "
                                                "pgmosaic.check('maint') GROUP BY 1 ORDER BY 1")):
        t0 = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetchall()
        dt = time.perf_counter() - t0
        out[label] = dt
        print(f"    {label}: {dt:.1f} s ({args.maint / dt:,.0f} items/s): "
              f"{', '.join(f'{a} {b}' for a, b in rows) or 'no problem'}")

    print("\n(5) repair_paths() and re-rooting")
    t0 = time.perf_counter()
    try:
        cur.execute("SET statement_timeout = '600s'")
        cur.execute("SELECT pgmosaic.repair_paths('maint', '@maint', '@maint2')")
        n = cur.fetchone()[0]
        dt = time.perf_counter() - t0
        out["repair"] = dt
        print(f"    repair_paths('maint', '@maint', '@maint2'): {n} items in {dt:.1f} s")
        cur.execute("SELECT pgmosaic.repair_paths('maint', '@maint2', '@maint')")
    except psycopg2.Error as e:
        print(f"    repair_paths('maint', '@maint', '@maint2'): FAILED after "
              f"{time.perf_counter() - t0:.1f} s: {str(e).strip().splitlines()[0]}")
    finally:
        cur.execute("RESET statement_timeout")
    for root, count in (("maint", args.maint), ("big", args.items)):
        t0 = time.perf_counter()
        try:
            cur.execute("SET statement_timeout = '600s'")
            cur.execute("UPDATE pgmosaic.path_root SET prefix = prefix::text || '_moved' "
                        "WHERE name = %s", (root,))
            dt = time.perf_counter() - t0
            out[f"reroot_{root}"] = dt
            print(f"    re-rooting {root} (UPDATE pgmosaic.path_root, {count} items under it): "
                  f"{dt:.1f} s")
        except psycopg2.Error as e:
            dt = time.perf_counter() - t0
            out[f"reroot_{root}"] = None
            print(f"    re-rooting {root} ({count} items under it): FAILED after {dt:.1f} s: "
                  f"{str(e).strip().splitlines()[0]}")
        finally:
            cur.execute("RESET statement_timeout")
    if variants:
        t0 = time.perf_counter()
        cur.execute("UPDATE bench.stac_items SET content = jsonb_set(content, "
                    "'{assets,data,href}', to_jsonb('/data/small2/' || substr(content #>> "
                    "'{assets,data,href}', 13))) WHERE collection = 'reg' "
                    "OR collection LIKE 'm0%%' AND starts_with(content #>> '{assets,data,href}', "
                    "'/data/small/')")
        n = cur.rowcount
        dt = time.perf_counter() - t0
        print(f"    anchor: pgSTAC-style, rewriting the hrefs of {n} items (no roots: every "
              f"item's JSON): {dt:.1f} s, {n / dt:,.0f} items/s")
    return out


def main():
    args = parse_args()
    t_start = time.perf_counter()
    print("=== the catalog at 10 million items ===")
    print(f"big: {args.items} items; {args.small_items} items over {args.mosaics} mosaics")
    conn, geo = load(args)
    variants = not args.no_variants
    if variants:
        load_variants(conn, geo, args)
    cur = conn.cursor()
    cur.execute("DROP ROLE IF EXISTS bench_reader")
    cur.execute("CREATE ROLE bench_reader LOGIN IN ROLE pgmosaic_reader")
    for name in ["big"] + [f"m{k:03d}" for k in range(args.mosaics)]:
        cur.execute("SELECT pgmosaic.grant_access(%s, 'bench_reader', 'read')", (name,))
    cur.execute("VACUUM (ANALYZE) pgmosaic.item")
    reader = connect(args.dbname, user="bench_reader")
    results = {}
    lookups(conn, reader, geo, args, results, variants)
    ovr = overview_lookup(conn, reader, geo, args)
    reg = registration(conn, geo, args, variants)
    files_dir = tempfile.mkdtemp(prefix="pgmosaic-10m-files.")
    os.chmod(files_dir, 0o755)
    try:
        maint = maintenance(conn, geo, args, files_dir, variants)
    finally:
        subprocess.run(["rm", "-rf", files_dir], check=False)

    p95 = max(results[("big", "driver query via _read_items(), reader role under RLS")][n][1]
              for n in ("4", "100"))
    p95su = max(results[("big", "driver query via _read_items(), superuser")][n][1]
                for n in ("4", "100"))
    rate = reg.get("bulk")
    print(f"\ntargets of the issue (not part of the exit code), big at {args.items} items")
    print(f"  {'PASS' if p95 < 0.005 else 'FAIL'}  window lookup (driver query, ~4 and ~100 "
          f"items, reader role): p95 {ms(p95)} ms (< 5 ms); as superuser {ms(p95su)} ms")
    if rate is None:
        print("  FAIL  registration >= 20,000 items/s in bulk SQL: no bulk registration "
              f"function (register_raster per row: {reg['per_row']:,.0f} items/s)")
    else:
        print(f"  {'PASS' if rate >= 20000 else 'FAIL'}  registration >= 20,000 items/s in bulk "
              f"SQL: {rate:,.0f} items/s (register_raster per row: {reg['per_row']:,.0f})")
    del ovr, maint
    print(f"\ntotal wall time: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
