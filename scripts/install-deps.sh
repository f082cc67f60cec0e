#!/usr/bin/env bash
# Installs every Debian 12 package pgmosaic needs to build, test and run its demo.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libgdal-dev gdal-bin python3-gdal python3-rasterio python3-pytest python3-numpy python3-psycopg2
  postgresql-15 postgresql-server-dev-15 postgresql-15-postgis-3 postgis libpq-dev
  libproj-dev libtiff-dev libdeflate-dev libzstd-dev googletest libgtest-dev
  cgi-mapserver mapserver-bin python3-qgis
  nginx-light
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (for s3rver): the machine's own when present, else Debian's.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  exec bash "$(dirname "$0")/install-test-servers.sh"
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
bash "$(dirname "$0")/install-test-servers.sh"
