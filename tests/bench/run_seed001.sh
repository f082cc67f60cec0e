#!/usr/bin/env bash
# Runs seed 001's five queries (tests/bench/bench_seed001.py: overview, zoom/pan, thematic
# selection, range query, analysis), each with and without pgmosaic's abstraction, and seed
# 000's overview-build throughput against gdaladdo on a gdalbuildvrt VRT, against a throw-away
# PostgreSQL cluster. Prints the ratios next to the paper's.
#
#   tests/bench/run_seed001.sh [--preload] [bench_seed001.py options]
#     e.g.  tests/bench/run_seed001.sh --repeat 3 --only 1,5       (a quick one)
#   --preload: shared_preload_libraries = 'pgmosaic', 'postgis-3' on the cluster (a DBA's
#   tuning: backends then do not load pgmosaic.so, and GDAL with it, on their first catalog
#   query; every PGMOSAIC open is a new connection, so this shows in the open + read times).
#
# PGMOSAIC_BUILD_DIR: the CMake build directory holding gdal_driver/gdal_PGMOSAIC.so
# (default <repo>/build). The plugin is copied at startup into the run's temporary directory
# and GDAL_DRIVER_PATH points there, so a rebuild during the run does not change what is
# measured (the server loads the installed extension: its sha256 is printed). The exit code is
# that of bench_seed001.py: non-zero when a correctness check fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
python=/usr/bin/python3

preload=0
args=()
for arg in "$@"; do
  case "$arg" in
  --preload) preload=1 ;;
  -h | --help)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    "$python" "$repo/tests/bench/bench_seed001.py" --help
    exit 0
    ;;
  *) args+=("$arg") ;;
  esac
done

# shellcheck source=tests/bench/bench_env.sh
. "$repo/tests/bench/bench_env.sh"
bench_start run_seed001.sh
if [ "$preload" = 1 ]; then
  echo "shared_preload_libraries = 'pgmosaic', 'postgis-3' (--preload): restarting the cluster"
  psql -X -q -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'pgmosaic', 'postgis-3'"
  as_owner=()
  [ "$(id -u)" -eq 0 ] && as_owner=(runuser -u postgres --)
  "${as_owner[@]}" "$(pg_config --bindir)/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" \
    -w -t 60 restart >/dev/null
fi

start=$(date +%s)
rc=0
"$python" "$repo/tests/bench/bench_seed001.py" ${args[@]+"${args[@]}"} || rc=$?
echo "run_seed001.sh: wall time $(($(date +%s) - start)) s (cluster start/stop not included)"
exit "$rc"
