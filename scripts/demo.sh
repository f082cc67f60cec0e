#!/usr/bin/env bash
# The pgmosaic demo, on a fresh Debian 12 machine as root: builds and installs, starts a
# temporary PostgreSQL cluster, makes a set of COG tiles, registers them as a mosaic, shows it
# through GDAL, writes a PNG quicklook, and times a window read against a gdalbuildvrt VRT.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(bash "$repo/scripts/build.sh")
py=/usr/bin/python3

work=$(mktemp -d /tmp/pgmosaic-demo.XXXXXX)
chmod 755 "$work"
trap 'bash "$repo/scripts/pgcluster.sh" stop "$work/cluster" >/dev/null 2>&1; rm -rf "$work"' EXIT

echo "== 1. a temporary PostgreSQL cluster"
bash "$repo/scripts/pgcluster.sh" start "$work/cluster"
. "$work/cluster/env"
createdb demo
psql -q -d demo -c "CREATE EXTENSION pgmosaic CASCADE" 2>&1 | grep -v NOTICE || true
conn="host=$PGHOST port=$PGPORT user=$PGUSER dbname=demo"

echo "== 2. sample Cloud Optimized GeoTIFFs: 4 x 3 tiles of 1024 px, overlapping, some nodata"
PYTHONPATH="$repo/tests/lib" "$py" -c "
import sampledata
paths = sampledata.make_tile_grid('$work/tiles', 4, 3, 1024, overlap=64, nodata_every=3)
open('$work/files.txt', 'w').write('\n'.join(paths) + '\n')
"
ls "$work/tiles" | sed 's/^/   /'

echo "== 3. the mosaic: create_mosaic + add_raster, in file-list order"
{
  echo "SET pgmosaic.enable_file_access = on;"
  echo "SET pgmosaic.allowed_roots = '$work/tiles';"
  echo "SELECT pgmosaic.create_mosaic('demo', 32631);"
  while read -r f; do echo "SELECT pgmosaic.add_raster('demo', '$f');"; done <"$work/files.txt"
} | psql -q -v ON_ERROR_STOP=1 -d demo -o /dev/null
psql -d demo -c "SELECT name, srid, res_x, band_count, data_type, nodata, (SELECT count(*) FROM pgmosaic.item) AS items FROM pgmosaic.mosaic"
psql -d demo -c "SELECT id, path FROM pgmosaic.items('demo', ST_MakeEnvelope(510000, 4990000, 510100, 4990100, 32631))"

export GDAL_DRIVER_PATH="$build/gdal_driver"
echo "== 4. gdalinfo \"PGMOSAIC:$conn mosaic=demo\""
gdalinfo -nomd "PGMOSAIC:$conn mosaic=demo" | grep -v -E '^ {8}' 
echo "== 5. a PNG quicklook with gdal_translate"
mkdir -p "$build/demo"
gdal_translate -q -of PNG -outsize 1024 0 "PGMOSAIC:$conn mosaic=demo" "$build/demo/quicklook.png"
echo "   wrote $build/demo/quicklook.png"

echo "== 6. a window read: PGMOSAIC: against gdalbuildvrt of the same files"
gdalbuildvrt -q -input_file_list "$work/files.txt" "$work/tiles.vrt"
"$py" "$repo/scripts/demo_read.py" "PGMOSAIC:$conn mosaic=demo" "$work/tiles.vrt"
echo "== done: the cluster is stopped and the temporary files removed"
