#!/usr/bin/env bash
# Installs the dependencies, builds everything (warnings are errors) and installs the extension
# into PostgreSQL and the plugin into GDAL's plugin directory. Prints the build directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PGMOSAIC_BUILD_DIR:-$repo/build}
bash "$repo/scripts/install-deps.sh" >&2
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGMOSAIC_WERROR=ON >&2
cmake --build "$build" -j"$(nproc)" >&2
bash "$repo/scripts/install.sh" "$build" >&2
echo "$build"
