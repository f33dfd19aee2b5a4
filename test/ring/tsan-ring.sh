#!/bin/sh
# Build tsan_ring.c with clang -fsanitize=thread and stream through rings
# of several sizes in two threads: ThreadSanitizer reports any payload
# access the ring's acquire/release ordering does not cover. TAP output.
set -u
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
src="$top_srcdir/test/ring"
lib="$top_srcdir/lib/ring"
CLANG=${CLANG:-clang}
sizes="256 1024 32576"

. "$top_srcdir/test/common/tap.sh"
tap_plan 4
if ! command -v "$CLANG" >/dev/null 2>&1; then
    tap_result 1 "build tsan_ring: $CLANG not found (scripts/deps.sh installs clang)"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tsan-ring.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

if "$CLANG" -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=thread -pthread \
        -I"$lib" -I"$src" -I"$top_srcdir/test/common" "$src/tsan_ring.c" \
        "$src/ring_test_util.c" "$top_srcdir/test/common/tap.c" \
        "$lib/ring_init.c" "$lib/ring_producer.c" "$lib/ring_consumer.c" \
        -o "$work/tsan_ring" >"$work/build.log" 2>&1; then
    tap_result 0 "build tsan_ring with $CLANG -fsanitize=thread"
else
    sed 's/^/# /' "$work/build.log"
    tap_result 1 "build tsan_ring"
    exit 1
fi

for s in $sizes; do
    # halt_on_error: the first race fails the run with exit code 66.
    if TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
            "$work/tsan_ring" "$s" 16 >"$work/run.log" 2>&1 &&
            grep -q '^ok 1' "$work/run.log"; then
        tap_result 0 "no race, stream intact, $s-byte ring"
    else
        sed 's/^/# /' "$work/run.log" | head -n 60
        tap_result 1 "tsan_ring $s"
    fi
done
