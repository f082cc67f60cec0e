#!/usr/bin/env bash
# Installs a build's extension into PostgreSQL and its plugin into GDAL's plugin directory,
# without silently replacing a pgmosaic someone else installed:
# - nothing is copied when the installed files already are this build's (a demo or test run
#   that changed nothing reinstalls nothing);
# - an installation these scripts made (marked by extension/pgmosaic.installed-by) is replaced;
# - an unmarked installation of the same version is replaced after saving its files in
#   <build>/replaced-install/ (said on stderr); one owned by a Debian package, or of another
#   version, is refused unless PGMOSAIC_REPLACE_INSTALLED=yes.
#   bash scripts/install.sh <build-dir>
set -euo pipefail
build=$(cd "${1:?usage: install.sh <build-dir>}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
sharedir=$(pg_config --sharedir)
marker="$sharedir/extension/pgmosaic.installed-by"
stage="$build/stage"
rm -rf "$stage"
DESTDIR="$stage" cmake --install "$build" >/dev/null
mapfile -t files < <(cd "$stage" && find . -type f | sed 's|^\.||' | sort)

# The pgmosaic files installed now (any version), and whether they are exactly the staged ones.
mapfile -t installed < <(ls "$sharedir"/extension/pgmosaic.control \
    "$sharedir"/extension/pgmosaic--*.sql 2>/dev/null; for f in "${files[@]}"; do
    case "$f" in *.so) [ -e "$f" ] && echo "$f";; esac; done)
same=yes
for f in "${files[@]}"; do cmp -s "$stage$f" "$f" || { same=no; break; }; done
for f in "${installed[@]}"; do [ -e "$stage$f" ] || same=no; done
if [ "$same" = yes ] && [ -e "$marker" ]; then
    echo "install: the installed pgmosaic is this build's; nothing to install"
    exit 0
fi

if [ "${#installed[@]}" -gt 0 ] && [ ! -e "$marker" ]; then
    version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$1" 2>/dev/null; }
    mine=$(version "$stage$sharedir/extension/pgmosaic.control")
    theirs=$(version "$sharedir/extension/pgmosaic.control")
    owner=$(dpkg -S "${installed[@]}" 2>/dev/null | cut -d: -f1 | sort -u | tr '\n' ' ' || true)
    if [ "${PGMOSAIC_REPLACE_INSTALLED:-}" != yes ] && { [ -n "$owner" ] || [ "$mine" != "$theirs" ]; }; then
        echo "install: refusing to replace the pgmosaic installed in $sharedir" \
             "(version ${theirs:-unknown}${owner:+, from the package(s) $owner}; this build is $mine)." \
             "Set PGMOSAIC_REPLACE_INSTALLED=yes to replace it." >&2
        exit 1
    fi
    saved="$build/replaced-install"
    rm -rf "$saved" && mkdir -p "$saved"
    for f in "${installed[@]}"; do mkdir -p "$saved$(dirname "$f")" && cp -p "$f" "$saved$f"; done
    echo "install: replacing a pgmosaic ${theirs:-} these scripts did not install; its files are saved in $saved" >&2
fi

# Exactly this build's files: scripts of other versions go first (cmake --install also skips
# files older than the installed ones).
rm -f "$sharedir"/extension/pgmosaic.control "$sharedir"/extension/pgmosaic--*.sql
for f in "${files[@]}"; do
    install -D -m 644 "$stage$f" "$f"
    case "$f" in *.so) chmod 755 "$f";; esac
done
echo "installed by pgmosaic scripts/install.sh from $repo on $(date -u +%FT%TZ)" >"$marker"
echo "install: installed ${#files[@]} files"
