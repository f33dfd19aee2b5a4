#!/bin/sh
# libFuzzer over the ivshmem hand-shake parser (fuzz_msg.c), built and run
# for a bounded time (IVSHMEM_FUZZ_SECONDS, default 10) by the ring's fuzz
# runner. TAP output.
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
: "${top_builddir:?top_builddir must be set (make check sets it)}"
t=$top_srcdir
FUZZ_NAME=fuzz_msg
FUZZ_WHAT="ivshmem hand-shake parser and checks"
FUZZ_CORPUS=$t/test/pscom4ivshmem/msg-corpus
# config.h comes from the build tree (lib/shmseg includes it).
FUZZ_SOURCES="-I$top_builddir -I$t/include -I$t/lib/core -I$t/lib/ring
 -I$t/lib/shmseg -I$t/lib/pscom4ivshmem $t/test/pscom4ivshmem/fuzz_msg.c
 $t/lib/pscom4ivshmem/msg.c $t/lib/shmseg/layout.c $t/lib/shmseg/log.c"
RING_FUZZ_SECONDS=${IVSHMEM_FUZZ_SECONDS:-10}
export FUZZ_NAME FUZZ_WHAT FUZZ_CORPUS FUZZ_SOURCES RING_FUZZ_SECONDS
exec /bin/sh "$t/test/ring/fuzz-ring.sh"
