#!/usr/bin/env bash
# Runs the load benchmark (tests/bench/bench_load.py) against a throw-away PostgreSQL cluster:
# files per second registered by gdaltindex + ogr2ogr into pgmosaic (valid footprints and
# statistics) against raster2pgsql -R -t 512x512 -I -C | psql into PostGIS, on the read
# benchmark's 400 COG tiles (same grid, so --keep directories are shared with run.sh).
#
#   tests/bench/run_load.sh [bench_load.py options]
#     e.g.  tests/bench/run_load.sh --tiles 4 --size 512 --repeat 1      (a quick one)
#           tests/bench/run_load.sh --keep /tmp/bench-tiles --breakdown
#
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so
# (default <repo>/build). The plugin is copied at startup into the run's temporary directory
# and GDAL_DRIVER_PATH points there, so a rebuild during the run does not change what is
# measured (the extension the server loads is the installed one: its sha256 is printed at the
# start and the end). The exit code is that of bench_load.py: non-zero when a load check fails
# (the performance target only prints PASS/FAIL).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3

for arg in "$@"; do
  case "$arg" in
  -h | --help)
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_load.py" --help
    exit 0
    ;;
  esac
done

# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_load.sh

rc=0
"$python" "$repo/tests/bench/bench_load.py" "$@" || rc=$?
bench_check_extension
exit "$rc"
