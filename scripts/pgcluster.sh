#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for the demo, the tests and the benchmarks.
#   scripts/pgcluster.sh start DIR   initdb in DIR, start on a free loopback port, write DIR/env
#   scripts/pgcluster.sh stop DIR    stop it and delete DIR
# PostgreSQL refuses to run as root: as root, the cluster runs as the "postgres" user.
set -euo pipefail

cmd=${1:?usage: pgcluster.sh start|stop DIR}
dir=${2:?usage: pgcluster.sh start|stop DIR}
bindir=$(pg_config --bindir)

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
  # A cluster left behind by an interrupted run is stopped and replaced.
  if [ -e "$dir" ]; then "$0" stop "$dir"; fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 256MB
# PostGIS raster, once loaded into a backend (pgmosaic requires it, read() returns its type),
# deregisters every GDAL driver this does not name, for pgmosaic too (GDAL's driver list is the
# process's): the formats pgmosaic reads stay enabled.
postgis.gdal_enabled_drivers = 'GTiff PNG JPEG COG WEBP'
CONF
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  cat >"$dir/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
ENV
  echo "pgcluster: started on 127.0.0.1:$port (data in $dir/data)"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: pgcluster.sh start|stop DIR" >&2
  exit 2
  ;;
esac
