#!/usr/bin/env bash
# Runs tests/bench/bench_dask.py (pgmosaic's overview build, zonal statistics and registration
# as Dask tasks on 1, 2 and 4 local workers, against gdaladdo on the PGMOSAIC dataset and on a
# gdalbuildvrt VRT, one zonal_stats call and ogr2ogr) against a throw-away PostgreSQL cluster.
#
#   tests/bench/run_dask.sh [bench_dask.py options]
#     e.g.  tests/bench/run_dask.sh --tiles 8 --zones 2000 --repeat 1
#           tests/bench/run_dask.sh --keep /tmp/bench-tiles     (the read benchmark's tiles)
#
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so (default
# <repo>/build), copied into the run's temporary directory. Needs python3-dask and
# python3-distributed (scripts/install-deps.sh).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3

for arg in "$@"; do
  case "$arg" in
  -h | --help)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_dask.py" --help
    exit 0
    ;;
  esac
done

# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_dask.sh

rc=0
"$python" "$repo/tests/bench/bench_dask.py" "$@" || rc=$?
bench_check_extension
exit "$rc"
