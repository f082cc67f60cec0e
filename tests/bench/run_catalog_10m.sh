#!/usr/bin/env bash
# Runs the 10-million-item catalog benchmark (tests/bench/bench_catalog_10m.py) against a
# throw-away PostgreSQL cluster, with the pgmosaic extension installed in the system PostgreSQL.
#   tests/bench/run_catalog_10m.sh [--install BUILD_DIR] [bench_catalog_10m.py options]
#     e.g.  tests/bench/run_catalog_10m.sh --items 1000000 --small-items 100000 --mosaics 10
# The extension is created once, in a template database, holding /tmp/pgmosaic-install.lock (with
# --install, after installing BUILD_DIR's build under the same lock), so that another install
# cannot change the extension's SQL under the run; the benchmark's database is a copy of it.
# Not part of CTest: the full run loads 11 million items four times (pgmosaic.item, two
# partitioned copies and a pgSTAC-style table) and takes about an hour on 2 cores, with about
# 20 GB of disk in /tmp.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
install=
if [ "${1:-}" = --install ]; then
  install=$(cd "${2:?--install BUILD_DIR}" && pwd)
  shift 2
fi
cluster=$(mktemp -u /tmp/pgmosaic-bench-10m-pg.XXXXXX)
trap '"$repo/scripts/pgcluster.sh" stop "$cluster"' EXIT
# A server sized for a catalog of about 10 GB, as its DBA would set it: 4 GB of shared buffers
# (PostgreSQL's default of 128 MB evicts the indexes a bulk registration writes).
"$repo/scripts/pgcluster.sh" start "$cluster" shared_buffers=4GB
# shellcheck disable=SC1091
. "$cluster/env"
template=pgmosaic_catalog_10m_template
flock -o /tmp/pgmosaic-install.lock bash -c '
  set -euo pipefail
  if [ -n "$1" ]; then bash "$2/scripts/install.sh" "$1" >&2; fi
  cat "$(pg_config --sharedir)/extension/pgmosaic.installed-by" 2>/dev/null || true
  psql -X -q -d postgres -c "CREATE DATABASE $3"
  psql -X -q -d "$3" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgmosaic CASCADE"
' _ "$install" "$repo" "$template"
/usr/bin/python3 "$repo/tests/bench/bench_catalog_10m.py" --template "$template" "$@"
