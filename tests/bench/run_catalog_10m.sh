#!/usr/bin/env bash
# Runs the 10-million-item catalog benchmark (tests/bench/bench_catalog_10m.py) against a
# throw-away PostgreSQL cluster, with the pgmosaic extension installed in the system PostgreSQL.
#   tests/bench/run_catalog_10m.sh [bench_catalog_10m.py options]
#     e.g.  tests/bench/run_catalog_10m.sh --items 1000000 --small-items 100000 --mosaics 10
# Not part of CTest: the full run loads 11 million items four times (pgmosaic.item, two
# partitioned copies and a pgSTAC-style table) and takes the better part of an hour on 2 cores,
# with about 20 GB of disk in /tmp.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cluster=$(mktemp -u /tmp/pgmosaic-bench-10m-pg.XXXXXX)
trap '"$repo/scripts/pgcluster.sh" stop "$cluster"' EXIT
"$repo/scripts/pgcluster.sh" start "$cluster"
# shellcheck disable=SC1091
. "$cluster/env"
/usr/bin/python3 "$repo/tests/bench/bench_catalog_10m.py" "$@"
