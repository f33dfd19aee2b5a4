#!/bin/sh
# Allocator benchmark table: alloc+free throughput with 1 and 2 pinned
# processes, and SIGKILL-to-reclaimed time through a real ivshmem-server
# with its default settings and with a short period/timeout.
# Run from a build directory:  sh ../../bench/alloc-bench.sh
# Environment: OPS (per process, default 2000000), REPS (default 10).
set -u
B=${BUILDDIR:-$(pwd)}
BENCH="$B/bench/alloc-bench"
SRV="$B/vendor/ivshmem/server/ivshmem-server"
OPS=${OPS:-2000000}
REPS=${REPS:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/alloc-bench.XXXXXX")
SHM="alloc-bench-$$"
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
    rm -f "/dev/shm/$SHM"
}
trap cleanup EXIT INT TERM
[ -x "$BENCH" ] && [ -x "$SRV" ] || {
    echo "alloc-bench.sh: build first (make; make -C bench alloc-bench)" >&2
    exit 1
}

echo "| 16-frame alloc+free | procs | ns/op (per proc) | Mops/s total |"
echo "|---|---|---|---|"
for p in 1 2; do
    set -- $("$BENCH" throughput "$p" "$OPS")
    echo "| pinned, 64 KiB runs | $1 | $3 | $4 |"
done

# serve OPTIONS...: start a server on a fresh object, wait for "ready".
serve() {
    mkfifo "$T/ready"
    "$SRV" -s "$SHM" -p "$T/sock" -m 16 -c pscom -t -u -R 3 "$@" \
        3>"$T/ready" 2>"$T/server.log" &
    SPID=$!
    [ "$(head -n 1 "$T/ready")" = ready ] || { cat "$T/server.log"; exit 1; }
    rm -f "$T/ready"
}
stop() { kill "$SPID"; wait "$SPID"; SPID=""; }

echo
echo "| SIGKILL -> reclaimed | server options | owner | min ms |" \
    "median ms | max ms |"
echo "|---|---|---|---|---|---|"
row() { # row "options" owner-kind
    serve $1
    set -- "$1" "$2" $("$BENCH" reclaim "/dev/shm/$SHM" "$REPS" "$2")
    echo "| kill -9 | ${1:-defaults (-r 500 -T 10000)} | $2 | $3 | $4 | $5 |"
    stop
}
row "" host
row "-r 10 -T 100" host
row "-r 10 -T 100" remote
echo
echo "(remote owners with the default 10 s timeout are reclaimed after"
echo " 10 s plus at most one 500 ms period, by construction.)"
