#!/bin/bash
# Smoke runs of every table-printing benchmark with --quick: each runs,
# exits 0 and prints a full table (its rows counted). Speed is not judged
# here (no timing assertions in tests); the output is kept as comments.
. "$top_srcdir/test/common/tap.sh"
# BENCH_OMPI=1 (set by make check where configure built lib/ompi-mtl):
# mpi-table.sh too.
tap_plan $((15 + ${BENCH_OMPI:-0} * 3))

# smoke NAME ROWS ROW-REGEX LAST-LINE-REGEX -- SCRIPT-ARGS...
smoke() {
    local name=$1 want=$2 row=$3 line=$4 out rows
    shift 5
    out=$(bash "$top_srcdir/bench/$name" "$@" 2>&1)
    tap_result $? "$name $* exits 0"
    rows=$(printf '%s\n' "$out" | grep -cE "$row")
    tap_is "$rows" "$want" "$name: a row for every size or count"
    if [ -n "$line" ]; then
        printf '%s\n' "$out" | grep -qE "$line"
        tap_result $? "$name: the goal lines are printed"
    fi
    printf '%s\n' "$out" | sed 's/^/# /'
}

num='+[0-9.]+'
smoke tcp-vs-ompi.sh 18 "^ +[0-9]+ \| $num $num " \
    '^goal pscom_tcp vs ompi_tcp: latency at 0 B' \
    -- --quick --builddir "$top_builddir"
smoke pp-table.sh 18 "^ +[0-9]+ \| $num $num $num $num " \
    '^goal ivshmem: connect to first message' \
    -- --quick --builddir "$top_builddir"
smoke pp-table.sh 14 "^ +[0-9]+ \| $num $num \| $num ${num}\$" \
    '^CPU time of an idle waiting process per idle second' \
    -- --quick --bell-only --builddir "$top_builddir"
smoke suspend-bench.sh 2 "^ +[0-9]+ +1 +shm $num $num $num ${num}\$" '' \
    -- --quick "$top_builddir"
smoke suspend-bench.sh 2 "^ +[0-9]+ +1 +ivshmem $num $num $num ${num}\$" '' \
    -- --quick --ivshmem "$top_builddir"
smoke copy-bench.sh 32 "^ +[0-9]+ +[0-9]+ \| $num $num\$" '' \
    -- --builddir "$top_builddir"
if [ "${BENCH_OMPI:-0}" = 1 ]; then
    smoke mpi-table.sh 18 "^ +[0-9]+ \| $num $num $num $num " \
        '^goal ivshmem: half-RTT <= 1.15x vader' \
        -- --quick --builddir "$top_builddir"
fi
exit "$(tap_status)"
