#!/usr/bin/env bash
# Installs the dependencies, builds everything (warnings are errors) and installs the extension
# into PostgreSQL and the plugin into GDAL's plugin directory. Prints the build directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
bash "$repo/scripts/install-deps.sh" >&2
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGMOSAIC_WERROR=ON >&2
cmake --build "$build" -j"$(nproc)" >&2
# cmake --install skips files older than the installed ones: clear what an earlier build of
# another version left, so the installed extension is exactly this tree's.
sharedir=$(pg_config --sharedir)
rm -f "$sharedir"/extension/pgmosaic.control "$sharedir"/extension/pgmosaic--*.sql
cmake --install "$build" >&2
echo "$build"
