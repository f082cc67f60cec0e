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

plugin_src=$build/gdal_driver/gdal_PGMOSAIC.so
if [ ! -f "$plugin_src" ]; then
  echo "run_load.sh: no $plugin_src (build first, or set PGMOSAIC_BUILD_DIR)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/pgmosaic-bench.XXXXXX)
chmod 755 "$tmp" # the cluster inside runs as another user when started by root
cluster=$tmp/pg
cleanup() {
  "$repo/scripts/pgcluster.sh" stop "$cluster" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A private copy of the plugin: the build directory may be rebuilt while this runs.
mkdir "$tmp/gdal_driver"
cp "$plugin_src" "$tmp/gdal_driver/"
export GDAL_DRIVER_PATH=$tmp/gdal_driver
echo "plugin: $plugin_src (modified $(date -r "$plugin_src" '+%F %T'), sha256" \
  "$(sha256sum "$tmp/gdal_driver/gdal_PGMOSAIC.so" | cut -c1-16)) copied to $GDAL_DRIVER_PATH"
ext_so="$(pg_config --pkglibdir)/pgmosaic.so"
ext_sum() { sha256sum "$ext_so" | cut -c1-16; }
ext_start=$(ext_sum)
echo "extension: $ext_so (modified $(date -r "$ext_so" '+%F %T'), sha256 $ext_start)"

"$repo/scripts/pgcluster.sh" start "$cluster"
# shellcheck disable=SC1091
. "$cluster/env"

rc=0
"$python" "$repo/tests/bench/bench_load.py" "$@" || rc=$?
ext_end=$(ext_sum)
if [ "$ext_end" != "$ext_start" ]; then
  echo "WARNING: the installed extension changed during the run (sha256 $ext_start -> $ext_end):" \
    "the databases created after the change used the new one"
fi
exit "$rc"
