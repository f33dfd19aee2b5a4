#!/bin/bash
# csum-corrupt.sh for large messages: the per-message checksum
# (PSP_IVSHMEM_CHECKSUM=1) covers the data that go through a bulk area
# (lib/core/bulk.c, RING_BULK_F_TRAILER). A pscom_pp client streams 4 MiB
# messages with --verify; it is stopped (SIGSTOP: a paused VM) while the
# server's bulk area holds chunks on their way to it, one byte in the
# middle of every undrained chunk is inverted (marks and lengths intact:
# the area's own checks see nothing), and it continues.
#   checksum on (asked by the server only): the client's connection
#     fails with "checksum mismatch", exit 1, no wrong data delivered
#   checksum off: delivered silently; only --verify notices
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 10
# A stopped client misses heartbeats: stay far from its eviction.
ivt_server csumb 16 -T 60000
seg=$PSP_IVSHMEM_DEVICE
# A known geometry for bulk-pending.py (both sides read it).
export PSP_DEBUG=1 PSP_SHM_BULK_SLOTS=16 PSP_SHM_BULK_SLOT=65536
bp() { # PID probe|flip
    ivt_info csumb >"$TL_DIR/now.json" &&
        python3 "$top_srcdir/test/common/bulk-pending.py" "$seg" \
            "$TL_DIR/now.json" 16 65536 "$1" "$2"
}

# attack PID: stop PID until the server's bulk area holds chunks for it,
# flip a byte in each, continue PID. Stopped while it was sending (its
# peer had nothing for it): let it run a moment and try again.
attack() {
    for _ in $(seq 60); do
        kill -STOP "$1" 2>/dev/null || return 1
        for _ in $(seq 5); do
            [ "$(bp "$1" probe)" -ge 2 ] && break 2
            tl_nap
        done
        kill -CONT "$1"
        tl_nap
    done
    flipped=$(bp "$1" flip)
    kill -CONT "$1"
}

n=0
for mode in on off; do
    n=$((n + 1))
    ivt_wait_free "$seg" || tap_diag "$mode: frames still in use before the round"
    if [ $mode = on ]; then
        ivt_pp_server "srv$n" PSP_IVSHMEM_CHECKSUM=1
    else
        ivt_pp_server "srv$n" PSP_IVSHMEM_CHECKSUM=0
    fi
    tl_start "victim$n" env PSP_IVSHMEM_CHECKSUM=0 "$pp" --minsize 4M \
        --maxsize 4M --rounds 1000000000 --verify "$addr"
    tl_wait_line "$TL_DIR/srv$n.out" "via ivshmem" ||
        tap_diag "$(cat "$TL_DIR/srv$n.out")"
    flipped=0
    eval "attack \$TL_PID_victim$n"
    [ "${flipped:-0}" -ge 1 ]
    tap_result $? "$mode: payload changed in $flipped undrained bulk chunk(s)"
    tl_wait_exit "victim$n" 60
    rc=$?
    ivt_csum_verdict $mode "$rc" "$TL_DIR/victim$n.out" "checksum|bulk area|ring"
    eval "kill -TERM \$TL_PID_srv$n"
    eval "tl_wait_exit srv$n 30" >/dev/null
done

# Checksummed large messages do take the bulk area: PSP_DEBUG=3 says the
# sender took one, and the data arrive intact.
ivt_pp_server srv3 PSP_IVSHMEM_CHECKSUM=1
PSP_IVSHMEM_CHECKSUM=1 PSP_DEBUG=3 "$pp" --minsize 1M --maxsize 4M \
    --loops 4 --verify "$addr" >"$TL_DIR/c3.out" 2>&1
tap_result $? "checksum on: 1-4 MiB messages verified"
grep -q "bulk area taken" "$TL_DIR/c3.out"
tap_result $? "... through a bulk area (PSP_DEBUG=3)"
exit "$(tap_status)"
