#!/bin/sh
# Smoke test of the ring benchmark (no timing checks): a quick run of
# bench/ring-bench through bench/ring-bench.sh must deliver every message
# intact (the program checks each length) and print a row for every size.
set -u
: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
prog="$top_builddir/bench/ring-bench"
. "$top_srcdir/test/common/tap.sh"
tap_plan 2
if [ ! -x "$prog" ]; then
    tap_result 1 "$prog not built (make -C bench ring-bench)"
    tap_result 1 "table # not run"
    exit 1
fi
out=$(mktemp "${TMPDIR:-/tmp}/ring-bench-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT INT TERM
if RING_BENCH="$prog" "$top_srcdir/bench/ring-bench.sh" -q -m 65536 \
        >"$out" 2>&1; then
    tap_result 0 "ring-bench -q -m 65536 runs to the end"
else
    sed 's/^/# /' "$out"
    tap_result 1 "ring-bench -q -m 65536 failed"
fi
# 0 B, 1 B, 2 B ... 64 KiB: 18 rows with a number in each column.
rows=$(grep -cE '^ *[0-9]+ (B|KiB|MiB) +[0-9]+\.[0-9]+ +([0-9]+|-)$' "$out")
if [ "$rows" -eq 18 ]; then
    tap_result 0 "table has a row for each of the 18 sizes"
else
    sed 's/^/# /' "$out"
    tap_result 1 "table has $rows rows, want 18"
fi
