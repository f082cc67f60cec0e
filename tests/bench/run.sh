#!/usr/bin/env bash
# Runs the benchmarks against a throw-away PostgreSQL cluster:
#   - tests/bench/bench_read.py           reads: pgmosaic vs a VRT, PostGISRaster and gdalwarp;
#   - tests/bench/bench_catalog_scale.py  a 100,000-item catalog: open and item-lookup times;
#   - tests/bench/bench_sql_door.py       (only with --sql-door) the SQL door against PostGIS
#                                         raster: clip, reprojection, zonal stats, values, tiles.
#
#   tests/bench/run.sh [--no-read] [--no-catalog] [bench_read.py options] [--catalog options]
#   tests/bench/run.sh --sql-door [bench_sql_door.py options]
#     e.g.  tests/bench/run.sh --tiles 4 --size 512 --mixed-tiles 4 --catalog --cols 100 --rows 100
#           tests/bench/run.sh --sql-door --keep /tmp/bench-tiles
#   Options after --catalog go to bench_catalog_scale.py; the others to bench_read.py (or, after
#   --sql-door, to bench_sql_door.py).
#
# With --sql-door the server's large buffers are on transparent huge pages
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, the README's tuning for raster-heavy servers), for
# both systems alike; PGMOSAIC_BENCH_SERVER_MALLOC=default runs it with glibc's defaults.
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so
# (default <repo>/build). The plugin is copied at startup into the run's temporary directory
# and GDAL_DRIVER_PATH points there, so a rebuild during the run does not change what is
# measured. Works from any directory. The exit code is that of the first failing benchmark
# (a correctness check failing; the performance targets only print PASS/FAIL).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3

run_read=1
run_catalog=1
run_door=0
read_args=()
catalog_args=()
door_args=()
target="read"
for arg in "$@"; do
  case "$target:$arg" in
  *:--no-read) run_read=0 ;;
  *:--no-catalog) run_catalog=0 ;;
  read:--catalog) target=catalog ;;
  read:--sql-door)
    target=door run_door=1 run_read=0 run_catalog=0
    ;;
  door:*) door_args+=("$arg") ;;
  read:-h | read:--help)
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_read.py" --help
    echo
    "$python" "$repo/tests/bench/bench_catalog_scale.py" --help
    echo
    "$python" "$repo/tests/bench/bench_sql_door.py" --help
    exit 0
    ;;
  read:*) read_args+=("$arg") ;;
  catalog:*) catalog_args+=("$arg") ;;
  esac
done

bench_server_tunables=
if [ "$run_door" = 1 ] && [ "${PGMOSAIC_BENCH_SERVER_MALLOC:-hugepages}" != default ]; then
  bench_server_tunables=glibc.malloc.hugetlb=1
fi
# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run.sh

rc=0
if [ "$run_read" = 1 ]; then
  "$python" "$repo/tests/bench/bench_read.py" "${read_args[@]}" || rc=$?
fi
if [ "$run_catalog" = 1 ]; then
  echo
  "$python" "$repo/tests/bench/bench_catalog_scale.py" "${catalog_args[@]}" || {
    r=$?
    [ "$rc" != 0 ] || rc=$r
  }
fi
if [ "$run_door" = 1 ]; then
  "$python" "$repo/tests/bench/bench_sql_door.py" "${door_args[@]}" || rc=$?
fi
exit "$rc"
