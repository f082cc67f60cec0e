#!/usr/bin/env bash
# Runs the collections benchmark (tests/bench/bench_collections.py: median and greenest-pixel
# mosaics of a stack of dates, one file per band with QA masks, against numpy over VRTs; the
# first method against a VRT of -separate VRTs) against a throw-away PostgreSQL cluster.
#
#   tests/bench/run_collections.sh [bench_collections.py options]
#     e.g.  tests/bench/run_collections.sh --dates 4 --tiles 2 --size 512     (a quick one)
#
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so
# (default <repo>/build), copied into the run's temporary directory (GDAL_DRIVER_PATH); the
# server loads the installed extension (its sha256 is printed). The exit code is
# bench_collections.py's: non-zero when a result differs from its anchor's.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3
for arg in "$@"; do
  case "$arg" in
  -h | --help)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_collections.py" --help
    exit 0
    ;;
  esac
done

# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_collections.sh
rc=0
"$python" "$repo/tests/bench/bench_collections.py" "$@" || rc=$?
bench_check_extension
exit "$rc"
