#!/usr/bin/env bash
# Runs the remote-read benchmark (tests/bench/bench_remote.py) against a throw-away PostgreSQL
# cluster: pgmosaic against a gdalbuildvrt VRT over the same URLs, served by nginx on loopback
# through a latency proxy (0, 10 and 25 ms each way by default), and registration of the
# remote COGs against raster2pgsql -R. Needs nginx and s3rver (scripts/install-deps.sh).
#
#   tests/bench/run_remote.sh [bench_remote.py options]
#     e.g.  tests/bench/run_remote.sh --tiles 4 --size 512 --delays 0,25 --windows 5   (quick)
#           tests/bench/run_remote.sh --keep /tmp/bench-tiles
#
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so (default
# <repo>/build), copied at startup as for run.sh. The exit code is non-zero when pixels differ;
# the performance targets only print PASS/FAIL.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3

for arg in "$@"; do
  case "$arg" in
  -h | --help)
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_remote.py" --help
    exit 0
    ;;
  esac
done

# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_remote.sh

rc=0
"$python" "$repo/tests/bench/bench_remote.py" "$@" || rc=$?
bench_check_extension
exit "$rc"
