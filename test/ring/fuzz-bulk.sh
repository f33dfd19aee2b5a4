#!/bin/sh
# Fuzz the bulk area (lib/ring/ring_bulk.c): announcement parser, the
# receiver's and the sender's reads of hostile marks. Through fuzz-ring.sh.
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
FUZZ_NAME=fuzz_bulk
FUZZ_WHAT="bulk announcement and area"
FUZZ_CORPUS=$top_srcdir/test/ring/bulk-corpus
FUZZ_SOURCES="-I$top_srcdir/lib/ring $top_srcdir/test/ring/fuzz_bulk.c $top_srcdir/lib/ring/ring_bulk.c"
FUZZ_MAX_LEN=40000
export FUZZ_NAME FUZZ_WHAT FUZZ_CORPUS FUZZ_SOURCES FUZZ_MAX_LEN
exec /bin/sh "$top_srcdir/test/ring/fuzz-ring.sh"
