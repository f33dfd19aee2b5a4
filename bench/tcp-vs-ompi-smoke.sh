#!/bin/bash
# Smoke run of bench/tcp-vs-ompi.sh --quick: it runs and prints a full
# table. Speed is not judged here (no timing assertions in tests).
. "$top_srcdir/test/common/tap.sh"
tap_plan 3
out=$(bash "$top_srcdir/bench/tcp-vs-ompi.sh" --quick --builddir "$top_builddir" 2>&1)
tap_result $? "tcp-vs-ompi.sh --quick exits 0"
rows=$(printf '%s\n' "$out" | grep -cE '^ +[0-9]+ \| +[0-9.]+ +[0-9.]+ ')
tap_is "$rows" 18 "table has a row for every size 0 B .. 64 KiB"
printf '%s\n' "$out" | grep -q '^goal pscom_tcp vs ompi_tcp: latency at 0 B'
tap_result $? "the goal lines are printed"
printf '%s\n' "$out" | sed 's/^/# /'
exit "$(tap_status)"
