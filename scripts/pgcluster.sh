#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for the demo, the tests and the benchmarks.
#   scripts/pgcluster.sh start DIR [SETTING=VALUE ...]
#                                    initdb in DIR, start on a free loopback port, write DIR/env;
#                                    settings are added to postgresql.conf (e.g.
#                                    shared_preload_libraries=pg_cron)
#   scripts/pgcluster.sh standby PRIMARY DIR
#                                    a hot standby of the cluster started in PRIMARY, made by
#                                    pg_basebackup -R (streaming replication), started on a free
#                                    loopback port of its own, DIR/env as for start
#   scripts/pgcluster.sh restart DIR restart it (settings that need a restart)
#   scripts/pgcluster.sh stop DIR    stop it and delete DIR
# PostgreSQL refuses to run as root: as root, the cluster runs as the "postgres" user.
set -euo pipefail
# A cluster started from a test run does not inherit the test's plugin set-up: not the preload
# of a sanitized run (tests/sanitize/run.sh; PostgreSQL's programs hang under it), nor its
# GDAL_DRIVER_PATH (a backend's GDAL would load the sanitized plugin without its runtime).
unset LD_PRELOAD GDAL_DRIVER_PATH

usage="usage: pgcluster.sh start DIR [SETTING=VALUE ...] | standby PRIMARY DIR | restart DIR | stop DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
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

write_env() { # DIR PORT
  cat >"$1/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$2
export PGUSER=postgres
ENV
}

new_dir() { # DIR: empty, owned by the server's user (a cluster left behind is stopped first)
  if [ -e "$1" ]; then "$0" stop "$1"; fi
  mkdir -p "$1"
  chmod 755 "$1"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$1"; fi
}

case "$cmd" in
start)
  shift 2
  new_dir "$dir"
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
  for setting in "$@"; do
    echo "${setting%%=*} = '${setting#*=}'" >>"$dir/data/postgresql.conf"
  done
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  write_env "$dir" "$port"
  echo "pgcluster: started on 127.0.0.1:$port (data in $dir/data)"
  ;;
standby)
  # pgcluster.sh standby PRIMARY DIR: the primary's settings come with the copy (initdb's
  # pg_hba.conf lets loopback replication connections in); -R writes primary_conninfo and
  # standby.signal. Its own port and socket directory are appended, so they win.
  primary=$dir
  dir=${3:?$usage}
  # shellcheck disable=SC1091
  primary_port=$(. "$primary/env" && echo "$PGPORT")
  new_dir "$dir"
  as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/data" \
    -R -X stream -c fast >"$dir/basebackup.log" 2>&1
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
hot_standby = on
CONF
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  write_env "$dir" "$port"
  echo "pgcluster: standby of $primary started on 127.0.0.1:$port (data in $dir/data)"
  ;;
restart)
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 restart >/dev/null
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "$usage" >&2
  exit 2
  ;;
esac
