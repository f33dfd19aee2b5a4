#!/bin/sh
# Print the ring's floor as a table: half round-trip latency and streaming
# bandwidth between two processes pinned to cores 0 and 1, over two
# lib/ring rings in one MAP_SHARED region (8-byte pscom-like header per
# message, receiver copies the payload out).
#   bench/ring-bench.sh [ring-bench options]     (from the build tree)
# RING_BENCH overrides the program path. Numbers mean something only on a
# quiet machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=${RING_BENCH:-}
if [ -z "$prog" ]; then
    for p in ./ring-bench ./bench/ring-bench "$here/ring-bench"; do
        if [ -x "$p" ]; then prog=$p; break; fi
    done
fi
if [ -z "$prog" ] || [ ! -x "$prog" ]; then
    echo "ring-bench.sh: ring-bench not found: run 'make -C bench" \
        "ring-bench' in the build tree or set RING_BENCH" >&2
    exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "ring-bench.sh: needs 2 cores, this machine has $(nproc)" >&2
    exit 1
fi
out=$(mktemp "${TMPDIR:-/tmp}/ring-bench.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
"$prog" "$@" >"$out"
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "lib/ring ping-pong and streaming, two processes ($cpu), best of 5 rounds"
sed -n 's/^# //p' "$out"
awk '
function human(b) {
    if (b >= 1048576) return sprintf("%d MiB", b / 1048576)
    if (b >= 1024) return sprintf("%d KiB", b / 1024)
    return sprintf("%d B", b)
}
BEGIN {
    printf "%10s  %14s  %16s\n", "size", "half-RTT [us]", "bandwidth [MB/s]"
    printf "%10s  %14s  %16s\n", "----------", "--------------",
        "----------------"
}
/^#/ { next }
{ printf "%10s  %14.3f  %16s\n", human($1), $2, $3 }
' "$out"
