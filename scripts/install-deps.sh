#!/usr/bin/env bash
# Installs every Debian 12 package pgmosaic needs to build, test and run its demo.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libgdal-dev gdal-bin python3-gdal python3-rasterio python3-pytest python3-numpy python3-psycopg2
  postgresql-15 postgresql-server-dev-15 postgresql-15-postgis-3 postgis libpq-dev
  # pg_cron: the scheduled maintenance jobs of the README and tests/integration/test_cron.py
  postgresql-15-cron
  libproj-dev libtiff-dev libdeflate-dev libzstd-dev googletest libgtest-dev
  cgi-mapserver mapserver-bin python3-qgis
  # the web map servers of the serving tests and benchmarks (tests/lib/servers.py)
  nginx-light spawn-fcgi apache2 libapache2-mod-mapcache mapcache-tools qgis-server
  chromium wrk
  # distributed overview builds, zonal statistics and registration (python/pgmosaic_dask)
  python3-dask python3-distributed
)

repo=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nodejs may come from elsewhere with its own npm: Debian's npm only when there is none.
  command -v npm >/dev/null || missing+=(npm)
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged services are not wanted running: the tests start their own on loopback.
  for s in nginx apache2; do
    systemctl disable --now "$s" >/dev/null 2>&1 || service "$s" stop >/dev/null 2>&1 || true
  done
fi

# The map page's Leaflet, from npm into tests/web/node_modules (never globally), as locked.
if [ ! -f "$repo/tests/web/node_modules/leaflet/dist/leaflet.js" ]; then
  if ! command -v npm >/dev/null; then
    [ "$(id -u)" -eq 0 ] && apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  (cd "$repo/tests/web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The S3-compatible server of the remote-read tests and benchmark (s3rver, from npm into
# tests/servers/node_modules, as locked).
bash "$repo/scripts/install-test-servers.sh"
