#!/usr/bin/env bash
# Runs the read benchmark (tests/bench/bench_read.py) against a throw-away PostgreSQL cluster.
#   tests/bench/run.sh [bench_read.py options]     e.g.  tests/bench/run.sh --tiles 4 --size 512
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so
# (default <repo>/build). Works from any directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}

if [ ! -f "$build/gdal_driver/gdal_PGMOSAIC.so" ]; then
  echo "run.sh: no $build/gdal_driver/gdal_PGMOSAIC.so (build first, or set PGMOSAIC_BUILD_DIR)" >&2
  exit 1
fi

cluster=$(mktemp -u /tmp/pgmosaic-bench-pg.XXXXXX)
trap '"$repo/scripts/pgcluster.sh" stop "$cluster"' EXIT
"$repo/scripts/pgcluster.sh" start "$cluster"
# shellcheck disable=SC1091
. "$cluster/env"

export GDAL_DRIVER_PATH=$build/gdal_driver
/usr/bin/python3 "$repo/tests/bench/bench_read.py" "$@"
