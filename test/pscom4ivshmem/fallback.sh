#!/bin/bash
# The ivshmem plugin between two pscom_pp processes on a real
# ivshmem-server segment: the data path (verified) and every way it must
# refuse cleanly and fall back to tcp (no device, another segment, no room
# for a ring), and a client killed with SIGKILL mid-stream: the server
# survives, serves the next client, and every frame comes back.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 12

ivt_server a 4
seg_a=$PSP_IVSHMEM_DEVICE
ivt_server b 4
seg_b=$PSP_IVSHMEM_DEVICE
export PSP_DEBUG=2

rows_via() { # FILE TYPE: table rows that went over TYPE
    grep -cE "^ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+  $2\$" "$1"
}

# 1. The data path, verified, over ivshmem.
ivt_pp_server s1 PSP_IVSHMEM_DEVICE="$seg_a"
PSP_IVSHMEM_DEVICE=$seg_a "$pp" --maxsize 1M --loops 20 --verify --xheader 8 \
    "$addr" >"$TL_DIR/c1.out" 2>&1
tap_result $? "pscom_pp --verify over one segment exits 0"
tap_is "$(rows_via "$TL_DIR/c1.out" ivshmem)" 22 \
    "all 22 sizes (0 B .. 1 MiB) went over ivshmem"

# 2. Two segments with different UUIDs: not co-located, tcp.
PSP_IVSHMEM_DEVICE=$seg_b "$pp" --maxsize 1K --loops 5 --verify "$addr" \
    >"$TL_DIR/c2.out" 2>&1
tap_result $? "client on another segment exits 0"
tap_is "$(rows_via "$TL_DIR/c2.out" tcp)" 12 "... and every size went over tcp"
grep -q "not co-located" "$TL_DIR/s1.out"
tap_result $? "... the server logged the refusal: not co-located"

# 3. No device at all on the client: it does not offer ivshmem.
PSP_IVSHMEM_DEVICE=$TL_DIR/no-such-device "$pp" --maxsize 1K --loops 5 \
    "$addr" >"$TL_DIR/c3.out" 2>&1
tap_is "$(rows_via "$TL_DIR/c3.out" tcp)" 12 "client without a device: tcp"
kill -TERM "$TL_PID_s1"
tl_wait_exit s1 30 >/dev/null

# 4. No room for the accepting side's ring: refusal, both sides free what
# they allocated, tcp.
ivt_pp_server s4 PSP_IVSHMEM_DEVICE="$seg_a" PSP_IVSHMEM_RING_SIZE=64M
PSP_IVSHMEM_DEVICE=$seg_a "$pp" --maxsize 1K --loops 5 --verify "$addr" \
    >"$TL_DIR/c4.out" 2>&1
tap_is "$(rows_via "$TL_DIR/c4.out" tcp)" 12 "exhausted segment: tcp"
grep -q "no receive ring" "$TL_DIR/s4.out"
tap_result $? "... the server logged why: no receive ring"
# (Bounded wait: s1, killed above, may still await the server's reclaim.)
ivt_wait_free "$seg_a"
tap_is "$(ivt_used "$seg_a")" 0 "... and no frame stays allocated"
kill -TERM "$TL_PID_s4"
tl_wait_exit s4 30 >/dev/null

# 5. SIGKILL of a client in the middle of an endless stream (0-byte
# messages: pscom_pp caps the loops of larger sizes).
ivt_pp_server s5 PSP_IVSHMEM_DEVICE="$seg_a"
tl_start k1 env PSP_IVSHMEM_DEVICE="$seg_a" "$pp" --minsize 0 --maxsize 0 \
    --loops 1000000000 "$addr"
tl_wait_line "$TL_DIR/s5.out" 'New connection from .* via ivshmem' ||
    tap_diag "$(cat "$TL_DIR/s5.out" "$TL_DIR/k1.out")"
kill -KILL "$TL_PID_k1"
tl_wait_exit k1 30
tap_is $? 137 "the client died of SIGKILL mid-stream"
# The server reclaims the dead owner (host pid gone) and the survivor
# frees its own receive area once its peer is gone: everything returns.
ivt_wait_free "$seg_a"
tap_is "$(ivt_used "$seg_a")" 0 "every frame came back after the kill"
PSP_IVSHMEM_DEVICE=$seg_a "$pp" --maxsize 64K --loops 5 --verify "$addr" \
    >"$TL_DIR/c5.out" 2>&1
tap_is "$(rows_via "$TL_DIR/c5.out" ivshmem)" 18 \
    "the surviving server serves the next client over ivshmem"
exit "$(tap_status)"
