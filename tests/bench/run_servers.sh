#!/usr/bin/env bash
# Seed 002's tile service test (tests/bench/bench_servers.py) against a throw-away cluster:
# MapServer, QGIS Server and MapCache on loopback serving web tiles of a mosaic under 10 to 100
# concurrent requests, against a VRT and PostGISRaster of the same files. Bounded: each case
# stops after --requests or --seconds; every server and the cluster stop at the end.
#   tests/bench/run_servers.sh [bench_servers.py options]   (--help for them)
# PGMOSAIC_BUILD_DIR: the build holding gdal_driver/gdal_PGMOSAIC.so (default <repo>/build).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3
for arg in "$@"; do
  case "$arg" in -h | --help) exec "$python" "$repo/tests/bench/bench_servers.py" --help ;; esac
done
# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_servers.sh
"$python" "$repo/tests/bench/bench_servers.py" "$@"
