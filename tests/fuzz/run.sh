#!/bin/bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang-14 (ASan + UBSan) in a build
# directory of their own, compiling the common/ sources they need itself (the main build is
# not touched), and runs each one for a bounded time on a copy of its checked-in corpus
# (tests/fuzz/corpus/<target>/ stays as it is). Fails when a harness finds a crash, a failed
# invariant, a leak or undefined behaviour; the input is kept in <build>/artifacts/<target>/.
#
#   bash tests/fuzz/run.sh [build-dir]             # about 5 s per harness (CTest: fuzz_short)
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh        # longer runs
#   FUZZ_TARGETS="pathref tilekey" bash tests/fuzz/run.sh
#   build-fuzz/fuzz_pathref crash-file              # replay one input
# FUZZ_JOBS harnesses run at a time (default 2).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$SRC/build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-5}
JOBS=${FUZZ_JOBS:-2}
TARGETS=${FUZZ_TARGETS:-"pathref tilekey wkb_cover conninfo expression tiff_blocks"}
CXX=${FUZZ_CXX:-clang++-14}

command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang-14 libfuzzer-14-dev)" >&2; exit 1; }
mkdir -p "$BUILD/obj"

CXXFLAGS="-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
-fno-sanitize-recover=all -I$SRC/common $(gdal-config --cflags)"
LIBS="$(gdal-config --libs) $(pkg-config --libs libdeflate libzstd)"
# Sources below common/, by path without .cpp.
COMMON="types/pathref types/tilekey types/wkb_cover conninfo inspect/expression error read/tiff_blocks"

# The newest header the sources depend on: a changed header rebuilds everything.
newest=$(ls -t "$SRC"/common/*.h "$SRC"/common/*/*.h "$SRC"/tests/fuzz/*.h | head -1)
stale() { [ ! -f "$1" ] || [ "$2" -nt "$1" ] || [ "$newest" -nt "$1" ]; }

# Background jobs, at most JOBS at a time; a failing one leaves a file in $BUILD/failed.
run_limited() {
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    ("$@" || touch "$BUILD/failed/$BASHPID") &
}
wait_all() {
    wait
    if [ -n "$(ls -A "$BUILD/failed")" ]; then rm -f "$BUILD/failed/"*; return 1; fi
}
compile() { # out src extra-flags...
    local out=$1 src=$2
    shift 2
    if stale "$out" "$src"; then
        # shellcheck disable=SC2086
        $CXX $CXXFLAGS "$@" -c "$src" -o "$out.tmp" && mv "$out.tmp" "$out"
    fi
}
rm -rf "$BUILD/failed"
mkdir -p "$BUILD/failed"

start=$(date +%s)
objs=()
for c in $COMMON; do
    o="$BUILD/obj/${c//\//_}.o"
    run_limited compile "$o" "$SRC/common/$c.cpp" -fsanitize=fuzzer-no-link
    objs+=("$o")
done
for t in $TARGETS; do
    run_limited compile "$BUILD/obj/fuzz_$t.o" "$SRC/tests/fuzz/fuzz_$t.cpp" -fsanitize=fuzzer-no-link
done
wait_all || { echo "fuzz: build failed" >&2; exit 1; }
# A harness is relinked when its object or any common/ object is newer than it.
newest_obj=$(ls -t "${objs[@]}" | head -1)
for t in $TARGETS; do
    if stale "$BUILD/fuzz_$t" "$BUILD/obj/fuzz_$t.o" || [ "$newest_obj" -nt "$BUILD/fuzz_$t" ]; then
        # shellcheck disable=SC2086
        run_limited $CXX $CXXFLAGS -fsanitize=fuzzer "$BUILD/obj/fuzz_$t.o" "${objs[@]}" $LIBS \
            -o "$BUILD/fuzz_$t"
    fi
done
wait_all || { echo "fuzz: link failed" >&2; exit 1; }
built=$(date +%s)
echo "fuzz: built in $((built - start)) s; running each harness for $SECONDS_EACH s"

fuzz_one() {
    local t=$1 corpus="$BUILD/corpus/$1" art="$BUILD/artifacts/$1/"
    rm -rf "$corpus" "$art"
    mkdir -p "$corpus" "$art"
    cp "$SRC/tests/fuzz/corpus/$t/"* "$corpus/"
    if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=print_stacktrace=1 \
        "$BUILD/fuzz_$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 -artifact_prefix="$art" "$corpus" >"$BUILD/fuzz_$t.log" 2>&1; then
        echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz_$t.log" |
            grep -o '[0-9]*$') runs, corpus $(ls "$corpus" | wc -l))"
    else
        echo "fuzz: $t FAILED; input kept in $art, log $BUILD/fuzz_$t.log:" >&2
        grep -E 'ERROR|SUMMARY|runtime error|invariant failed|#[0-9]+ 0x' "$BUILD/fuzz_$t.log" | head -25 >&2
        return 1
    fi
}
for t in $TARGETS; do
    run_limited fuzz_one "$t"
done
status=0
wait_all || status=1
echo "fuzz: done in $(($(date +%s) - start)) s"
exit $status
