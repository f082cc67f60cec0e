#!/bin/bash
# The unit tests and the plugin's integration tests under AddressSanitizer + UBSan, built in a
# tree of their own (-DPGMOSAIC_SANITIZE=ON, without the backend module; the main build is not
# touched). Any sanitizer report fails the run (UBSAN_OPTIONS=halt_on_error=1).
#
#   bash tests/sanitize/run.sh units [build-dir]                 # GoogleTest units (CTest: sanitize_units)
#   bash tests/sanitize/run.sh integration [build-dir] [pytest args...]
#                                                                # pytest through the sanitized plugin
#                                                                # (CTest: sanitize_integration)
# The integration run preloads GCC's libasan (and libstdc++, or ASan cannot intercept C++
# exceptions thrown by libproj) into python3 (the interpreter is not
# instrumented, the plugin is), with leak detection off (python and GDAL keep memory until
# exit) and pytest's faulthandler off (ASan reports a SEGV itself). The pg_dump/pg_restore
# tests (every test with "dump" in its name) are left out: pg_dump hangs with libasan preloaded
# (and does not load the plugin). So are the web servers' tests (test_servers.py): the preload
# would reach nginx, apache2, mapserv, QGIS Server and Chromium, none of them instrumented. So
# are the Dask tests (test_dask.py): their worker processes run the same plugin calls as
# test_dad.py's gdaladdo and test_etl.py's ogr2ogr, which run here, and the tile list they add
# is in the sanitized units. It uses the cluster of PGMOSAIC_CLUSTER_ENV, or starts one of its own (not preloaded) and stops it.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
what=${1:-units}
BUILD=${2:-$SRC/build-sanitize}
shift $(($# >= 2 ? 2 : $#))

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGMOSAIC_WERROR=ON \
        -DPGMOSAIC_SANITIZE=ON -DPGMOSAIC_BUILD_EXTENSION=OFF >/dev/null
fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

case "$what" in
units)
    cmake --build "$BUILD" -j2 --target pgmosaic_unit_tests
    ASAN_OPTIONS=detect_leaks=1 "$BUILD/tests/pgmosaic_unit_tests" "$@"
    ;;
integration)
    cmake --build "$BUILD" -j2 --target gdal_PGMOSAIC
    own=""
    if [ -z "${PGMOSAIC_CLUSTER_ENV:-}" ]; then
        own=/tmp/pgmosaic-sanitize-$(echo "$BUILD" | md5sum | cut -c1-10)
        "$SRC/scripts/pgcluster.sh" start "$own" >/dev/null
        trap '"$SRC/scripts/pgcluster.sh" stop "$own" >/dev/null' EXIT
        export PGMOSAIC_CLUSTER_ENV=$own/env
    fi
    GDAL_DRIVER_PATH="$BUILD/gdal_driver" LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)" \
        ASAN_OPTIONS=detect_leaks=0 \
        /usr/bin/python3 -m pytest -p no:cacheprovider -p no:faulthandler -q -rs \
        -k "not dump and not test_servers and not test_dask" "$SRC/tests/integration" "$@"
    ;;
*)
    echo "usage: $0 units|integration [build-dir] [args...]" >&2
    exit 2
    ;;
esac
