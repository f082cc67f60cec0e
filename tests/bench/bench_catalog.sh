#!/usr/bin/env bash
# Runs the catalog benchmark (tests/bench/bench_catalog.py) against a throw-away PostgreSQL
# cluster, with the pgmosaic extension installed in the system PostgreSQL (cmake --install).
#   tests/bench/bench_catalog.sh [bench_catalog.py options]   e.g. --items 100000
# Not part of CTest: it loads 1,000,000 items and takes a few minutes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cluster=$(mktemp -u /tmp/pgmosaic-bench-catalog-pg.XXXXXX)
trap '"$repo/scripts/pgcluster.sh" stop "$cluster"' EXIT
"$repo/scripts/pgcluster.sh" start "$cluster"
# shellcheck disable=SC1091
. "$cluster/env"
/usr/bin/python3 "$repo/tests/bench/bench_catalog.py" "$@"
