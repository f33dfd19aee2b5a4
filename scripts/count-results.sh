#!/bin/sh
# Count automake test results. Usage:
#   count-results.sh trs BUILDDIR   -- from the .trs files of a build tree
#   count-results.sh log FILE       -- from the console log of 'make check'
# Prints "P F S" (passed failed skipped).
set -eu
mode=$1; src=$2
case "$mode" in
trs) find "$src" -name '*.trs' -exec grep -h '^:test-result:' {} + \
        | awk '{print $2}' ;;
log) grep -E '^(PASS|XFAIL|FAIL|XPASS|ERROR|SKIP): ' "$src" | cut -d: -f1 ;;
esac | awk '
    /^(PASS|XFAIL)$/ {p++} /^(FAIL|XPASS|ERROR)$/ {f++} /^SKIP$/ {s++}
    END {printf "%d %d %d\n", p, f, s}'
