#!/usr/bin/env bash
# Installs the servers the remote-read tests and benchmark run on loopback: nginx (a Debian
# package, from install-deps.sh) and s3rver, an S3-compatible server from npm, into
# tests/servers/node_modules at the version tests/servers/package-lock.json pins.
# Idempotent: nothing is done when that version is there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$repo/tests/servers
want=$(sed -n 's/.*"s3rver": "\(.*\)".*/\1/p' "$dir/package.json" | head -1)
have=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$dir/node_modules/s3rver/package.json" 2>/dev/null | head -1 || true)
if [ -n "$want" ] && [ "$have" = "$want" ] && [ -x "$dir/node_modules/.bin/s3rver" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "install-test-servers: npm is missing (install-deps.sh installs it)" >&2
  exit 1
fi
echo "install-test-servers: installing s3rver $want into tests/servers" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
