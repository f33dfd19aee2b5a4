#!/bin/bash
# Zeros into the chunk headers of one shm transport connection while it
# streams (a buggy or hostile process writing into the connection's
# object): the ring link is the one ivshmem uses
# (test/pscom4ivshmem/hostile.sh round 3),
# and so is the answer: the receiver sees its producer's position ahead
# of an empty chunk header and fails the connection with a clear error
# after PSP_SHM_STALL_MS, no hang; another shm connection keeps going.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 6
PSP_IVSHMEM=0 PSP_SHM=90 PSP_DEBUG=1 PSP_SHM_STALL_MS=300
export PSP_IVSHMEM PSP_SHM PSP_DEBUG PSP_SHM_STALL_MS

ivt_pp_server by
tl_start cb "$pp" --minsize 0 --maxsize 4K --loops 1000000000 --verify \
    "$addr"
tl_wait_line "$TL_DIR/by.out" "via shm" ||
    tap_bail "no bystander shm connection: $(cat "$TL_DIR/by.out")"
ivt_pp_server srv

# The scribbler starts the victim client itself (a parent may write into
# its memory) and zeros until it exits (bounded): a hit needs a message
# waiting to be read.
set -- $(python3 "$top_srcdir/test/common/scribble.py" --zero-headers-shm \
    30 "$TL_DIR/c.out" "$pp" --minsize 0 --maxsize 0 --loops 1000000000 \
    "$addr")
tap_is "$1" 2 "zeros written into the victim connection's chunk headers"
rc=$2
[ "$rc" -ge 1 ] && [ "$rc" -lt 128 ] && [ "$rc" != 124 ] # 124: killed
tap_result $? "the victim fails with an error (exit $rc), no hang"
grep -q "stalled: the producer announced data" "$TL_DIR/c.out" \
    "$TL_DIR/srv.out"
tap_result $? "the error says the ring stalled (overwritten)"
grep -q "stalled" "$TL_DIR/c.out" "$TL_DIR/srv.out" ||
    tap_diag "$(tail -n 5 "$TL_DIR/c.out" "$TL_DIR/srv.out")"
kill -0 "$TL_PID_cb" 2>/dev/null
tap_result $? "the other connection's client still runs"
! grep -qiE "error|fail|mismatch" "$TL_DIR/cb.out" "$TL_DIR/by.out"
tap_result $? "... without an error"
kill -TERM "$TL_PID_cb" 2>/dev/null
"$pp" --maxsize 4K --loops 5 --verify "$addr" >"$TL_DIR/c2.out" 2>&1 &&
    [ "$(grep -cE '  shm$' "$TL_DIR/c2.out")" -gt 0 ]
tap_result $? "the victim's server serves a new client over shm"
exit "$(tap_status)"
