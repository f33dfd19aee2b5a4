#!/bin/bash
# Print memcpy() against ring_copy() (lib/ring/ring_copy.h) as a table,
# pinned to core 0: the slow window of "rep movsb" (destination 1..47
# bytes after the source modulo 4 KiB) and the loop that avoids it.
#   bench/copy-bench.sh [--builddir DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-}
[ "${1:-}" = --builddir ] && builddir=$2
. "$here/bench-lib.sh"
builddir=$(bench_builddir "$builddir" "$here") || exit 1
prog=$builddir/bench/copy-bench
[ -x "$prog" ] || { echo "copy-bench.sh: $prog is missing: build first (make)" >&2; exit 1; }
echo "memcpy against ring_copy, one core ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
exec taskset -c 0 "$prog"
