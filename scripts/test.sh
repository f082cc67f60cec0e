#!/usr/bin/env bash
# Every test of pgmosaic, on a fresh Debian 12 machine as root: dependencies, build, install,
# then CTest (GoogleTest units, pg_regress, pytest integration through the real GDAL tools,
# the PGXS build).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(bash "$repo/scripts/build.sh")
cluster=$(cat "$build/testcluster.path")
# CTest's cleanup fixture stops the cluster; this trap covers an interrupted run too.
trap '[ -n "$cluster" ] && bash "$repo/scripts/pgcluster.sh" stop "$cluster" || true' EXIT
ctest --test-dir "$build" --output-on-failure
