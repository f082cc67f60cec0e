# shellcheck shell=bash disable=SC2154  # repo and build come from the runner
# Sourced by the benchmark runners (run.sh, run_load.sh, run_seed001.sh) after they set `repo`
# and `build`. bench_start <runner name> leaves:
#   - a temporary directory $tmp (removed on exit) holding a throw-away cluster $cluster,
#     started, with its PG* variables exported;
#   - a private copy of the plugin in GDAL_DRIVER_PATH, so a rebuild during the run does not
#     change what is measured;
#   - ext_so / ext_start: the installed extension module the server loads and its sha256,
#     printed with the plugin's, for bench_check_extension at the end.
# bench_server_tunables (optional, set by the runner): GLIBC_TUNABLES for the server alone.

bench_sha() { sha256sum "$1" | cut -c1-16; }

bench_start() {
  local name=$1 plugin_src=$build/gdal_driver/gdal_PGMOSAIC.so
  if [ ! -f "$plugin_src" ]; then
    echo "$name: no $plugin_src (build first, or set PGMOSAIC_BUILD_DIR)" >&2
    exit 1
  fi
  tmp=$(mktemp -d "/tmp/pgmosaic-bench.XXXXXX")
  chmod 755 "$tmp" # the cluster inside runs as another user when started by root
  cluster=$tmp/pg
  trap bench_cleanup EXIT

  mkdir "$tmp/gdal_driver"
  cp "$plugin_src" "$tmp/gdal_driver/"
  export GDAL_DRIVER_PATH=$tmp/gdal_driver
  echo "plugin: $plugin_src (modified $(date -r "$plugin_src" '+%F %T'), sha256" \
    "$(bench_sha "$tmp/gdal_driver/gdal_PGMOSAIC.so")) copied to $GDAL_DRIVER_PATH"
  ext_so=$(pg_config --pkglibdir)/pgmosaic.so
  ext_start=$(bench_sha "$ext_so")
  echo "extension: $ext_so (modified $(date -r "$ext_so" '+%F %T'), sha256 $ext_start)"

  if [ -n "${bench_server_tunables:-}" ]; then
    echo "server: GLIBC_TUNABLES=$bench_server_tunables"
    GLIBC_TUNABLES=$bench_server_tunables "$repo/scripts/pgcluster.sh" start "$cluster"
  else
    "$repo/scripts/pgcluster.sh" start "$cluster"
  fi
  # shellcheck disable=SC1091
  . "$cluster/env"
}

bench_cleanup() {
  "$repo/scripts/pgcluster.sh" stop "$cluster" || true
  rm -rf "$tmp"
}

# Warns when the installed extension changed during the run (databases created after the
# change used the new one).
bench_check_extension() {
  local ext_end
  ext_end=$(bench_sha "$ext_so")
  if [ "$ext_end" != "$ext_start" ]; then
    echo "WARNING: the installed extension changed during the run (sha256 $ext_start ->" \
      "$ext_end): the databases created after the change used the new one"
  fi
}
