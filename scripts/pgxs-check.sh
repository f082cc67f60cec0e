#!/usr/bin/env bash
# Builds the extension through PGXS (make -f Makefile.pgxs) in a scratch copy of the sources,
# so the packagers' path is proven to compile without touching the work tree.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$repo/common" "$repo/pg_extension" "$repo/sql" "$repo/Makefile.pgxs" "$scratch/"
make -s -C "$scratch" -f Makefile.pgxs -j2 >/dev/null
test -f "$scratch/pgmosaic.so"
# Not grep -q: with pipefail, nm would be killed by SIGPIPE once grep stops reading.
nm -D --defined-only "$scratch/pgmosaic.so" | grep pgmosaic_inspect_raster >/dev/null
# Every object of the engine is in the module (a missing one would only fail at load time).
missing=$(nm -DC --undefined-only "$scratch/pgmosaic.so" | grep ' pgmosaic::' || true)
if [ -n "$missing" ]; then
  echo "pgxs-check: pgmosaic.so lacks objects of common/ (Makefile.pgxs OBJS):" >&2
  echo "$missing" | head -5 >&2
  exit 1
fi
test -f "$scratch/pgmosaic_types.so"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$scratch/sql/pgmosaic.control")
test -s "$scratch/sql/generated/pgmosaic--$version.sql"
if ldd "$scratch/pgmosaic_types.so" | grep gdal >/dev/null; then
  echo "pgxs-check: pgmosaic_types.so must not link GDAL" >&2
  exit 1
fi
echo "pgxs-check: pgmosaic.so and pgmosaic_types.so built through PGXS"
