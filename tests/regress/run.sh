#!/usr/bin/env bash
# Runs the pg_regress suite against the cluster described by CLUSTER_DIR/env (see
# scripts/pgcluster.sh) with the installed extension. Fixture rasters live in a fixed
# directory, since the expected output names their paths.
set -euo pipefail
cluster=${1:?usage: run.sh CLUSTER_DIR OUTPUT_DIR}
out=${2:?usage: run.sh CLUSTER_DIR OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$cluster/env"

data=/tmp/pgmosaic_regress
outside=/tmp/pgmosaic_regress_outside
# The fixtures live in a fixed place (the expected output names it): one run at a time.
exec 9>/tmp/pgmosaic_regress.lock
flock 9
rm -rf "$data" "$outside"
mkdir -p "$data/sub" "$outside"
mk() { gdal_create -q "$@"; }
# a and b: edge-matched 3-band tiles on a 10 m UTM 31N grid; c: under a path root.
mk -of GTiff -outsize 20 10 -bands 3 -ot Byte -burn 5 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 -a_nodata 0 "$data/a.tif"
mk -of GTiff -outsize 20 10 -bands 3 -ot Byte -burn 6 -a_srs EPSG:32631 \
   -a_ullr 500200 5000000 500400 4999900 -a_nodata 0 "$data/b.tif"
mk -of GTiff -outsize 10 10 -bands 3 -ot Byte -burn 7 -a_srs EPSG:32631 \
   -a_ullr 500100 4999900 500200 4999800 "$data/sub/c.tif"
mk -of GTiff -outsize 20 10 -bands 1 -ot Byte -burn 5 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 "$data/one_band.tif"
mk -of GTiff -outsize 20 10 -bands 3 -ot UInt16 -burn 5 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 "$data/uint16.tif"
mk -of GTiff -outsize 10 10 -bands 3 -ot Byte -burn 8 -a_srs EPSG:4326 \
   -a_ullr 3.0 45.1 3.001 45.099 "$data/wgs84.tif"
mk -of GTiff -outsize 20 10 -bands 3 -ot Byte -burn 5 "$data/no_georef.tif"
printf 'this is not a raster\n' >"$data/corrupt.tif"
mk -of GTiff -outsize 20 10 -bands 3 -ot Byte -burn 5 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 "$outside/secret.tif"
ln -s "$outside/secret.tif" "$data/escape.tif"
# The catalog's tests: a COG, a wider version of b, a directory tree to register, and work/,
# where the maintenance tests move and rewrite files.
gdal_translate -q -of COG "$data/a.tif" "$data/cog.tif"
mk -of GTiff -outsize 40 10 -bands 3 -ot Byte -burn 6 -a_srs EPSG:32631 \
   -a_ullr 500200 5000000 500600 4999900 -a_nodata 0 "$data/wide.tif"
# Items made of several files (assets.sql): one file per band, qa at 20 m, a second scene
# east of the first without qa, and a Float32 band.
mkdir -p "$data/scene1" "$data/scene2"
mk -of GTiff -outsize 20 10 -bands 1 -ot UInt16 -burn 100 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 -a_nodata 0 "$data/scene1/red.tif"
mk -of GTiff -outsize 20 10 -bands 1 -ot UInt16 -burn 200 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 -a_nodata 0 "$data/scene1/nir.tif"
mk -of GTiff -outsize 10 5 -bands 1 -ot UInt16 -burn 8 -a_srs EPSG:32631 \
   -a_ullr 500000 5000000 500200 4999900 "$data/scene1/qa.tif"
mk -of GTiff -outsize 20 10 -bands 1 -ot UInt16 -burn 110 -a_srs EPSG:32631 \
   -a_ullr 500200 5000000 500400 4999900 -a_nodata 0 "$data/scene2/red.tif"
mk -of GTiff -outsize 20 10 -bands 1 -ot UInt16 -burn 210 -a_srs EPSG:32631 \
   -a_ullr 500200 5000000 500400 4999900 -a_nodata 0 "$data/scene2/nir.tif"
mk -of GTiff -outsize 20 10 -bands 1 -ot Float32 -burn 0.5 -a_srs EPSG:32631 \
   -a_ullr 500200 5000000 500400 4999900 "$data/scene2/float.tif"
mkdir -p "$data/dir/deeper" "$data/work"
cp "$data/a.tif" "$data/dir/x1.tif"
cp "$data/b.tif" "$data/dir/x2.TIF"
cp "$data/sub/c.tif" "$data/dir/deeper/x3.tif"
cp "$data/corrupt.tif" "$data/dir/bad.tif"
printf 'not a raster\n' >"$data/dir/notes.txt"
gdalbuildvrt -q "$data/a.vrt" "$data/a.tif"
chmod -R a+rX "$data" "$outside"

mkdir -p "$out"
# --use-existing leaves the database to us: a fresh one for every run.
psql -q -d postgres -c "DROP DATABASE IF EXISTS pgmosaic_regress" -c "CREATE DATABASE pgmosaic_regress"
pg_regress="$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress"
if ! "$pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
     --inputdir="$here" --outputdir="$out" --dbname=pgmosaic_regress \
     --schedule="$here/schedule"; then
  cat "$out/regression.diffs" 2>/dev/null || true
  exit 1
fi
rm -rf "$data" "$outside"
