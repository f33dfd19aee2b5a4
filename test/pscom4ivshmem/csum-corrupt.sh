#!/bin/bash
# The per-message checksum (PSP_IVSHMEM_CHECKSUM=1) against a co-tenant
# that changes data, not structure: one payload byte in a receive ring,
# every ring header left intact, so the ring's own checks see nothing.
# A pscom_pp client streams 64 KiB messages with --verify; it is stopped
# (SIGSTOP: a paused VM) while the server fills its receive ring, a byte
# of every unread chunk is inverted in the segment, and it continues.
#   checksum on (asked by the server only: either side suffices): the
#     client's connection fails with "checksum mismatch", exit 1, no
#     signal; the server and an unrelated pair on the same segment go on
#   checksum off: the transport delivers the changed byte silently; only
#     the application's own --verify notices
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 12
# A stopped client misses heartbeats: stay far from its eviction.
ivt_server csum 8 -T 60000
export PSP_DEBUG=1
rp=$top_srcdir/test/common/ring-pending.py

rings() { # INFO-JSON: the ring allocations' offsets, one a line
    python3 -c 'import json, sys
for a in json.load(open(sys.argv[1]))["allocations"]:
    if a["tag"] == "ring": print(a["offset"])' "$1"
}

# keep INFO-JSON OFFSETS-FILE OUT: INFO-JSON with only those rings.
keep() {
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
keep = set(int(x) for x in open(sys.argv[2]).read().split())
j["allocations"] = [a for a in j["allocations"] if a["offset"] in keep]
json.dump(j, open(sys.argv[3], "w"))' "$1" "$2" "$3"
}

# attack PID MODE: stop PID until its receive ring holds more than a
# consumer can hold back unpublished (3/4 of the ring: the server is
# blocked on it), then with MODE=flip change the unread payload, and
# continue PID. The victim may have been stopped where nothing is on its
# way to it (it was sending): then let it run a moment and try again.
attack() {
    # The victim's rings stay where they are while its connection lives.
    ivt_info csum >"$TL_DIR/now.json" &&
        keep "$TL_DIR/now.json" "$TL_DIR/victim" "$TL_DIR/v.json" || return 1
    for _ in $(seq 200); do
        kill -STOP "$1" 2>/dev/null || return 1 # gone: the caller says why
        for _ in $(seq 10); do
            [ "$(python3 "$rp" "$PSP_IVSHMEM_DEVICE" "$TL_DIR/v.json" \
                probe)" -ge 5952 ] && break 2
            tl_nap
        done
        kill -CONT "$1"
        tl_nap
    done
    [ "$2" = flip ] && flipped=$(python3 "$rp" "$PSP_IVSHMEM_DEVICE" \
        "$TL_DIR/v.json" flip)
    kill -CONT "$1"
}

n=0
for mode in on off; do
    n=$((n + 1))
    ivt_wait_free "$PSP_IVSHMEM_DEVICE" ||
        tap_diag "$mode: frames still in use before the round"
    if [ $mode = on ]; then
        ivt_pp_server "srv$n" PSP_IVSHMEM_CHECKSUM=1
    else
        ivt_pp_server "srv$n" PSP_IVSHMEM_CHECKSUM=0
    fi
    srv=$addr
    # --rounds: the stream lasts until the attack ends it, however slow
    # the machine (512 rounds of 64 KiB were once over before it hit).
    tl_start "victim$n" env PSP_IVSHMEM_CHECKSUM=0 "$pp" --minsize 64K \
        --maxsize 64K --rounds 1000000000 --verify "$srv"
    tl_wait_line "$TL_DIR/srv$n.out" "via ivshmem" ||
        tap_diag "$(cat "$TL_DIR/srv$n.out")"
    for _ in $(seq 1500); do
        ivt_info csum >"$TL_DIR/info.json" 2>/dev/null
        rings "$TL_DIR/info.json" >"$TL_DIR/victim"
        [ "$(wc -l <"$TL_DIR/victim")" -ge 2 ] && break
        tl_nap
    done
    # An unrelated pair on the same segment, running through the attack.
    ivt_pp_server "bsrv$n"
    tl_start "bys$n" "$pp" --minsize 4K --maxsize 4K --loops 1000000000 \
        --maxtime 5 --verify "$addr"
    tl_wait_line "$TL_DIR/bsrv$n.out" "via ivshmem" ||
        tap_diag "$(cat "$TL_DIR/bsrv$n.out")"

    flipped=0
    eval "attack \$TL_PID_victim$n flip"
    [ "$flipped" -ge 1 ]
    tap_result $? "$mode: payload changed in $flipped unread chunk(s)"
    [ "$flipped" -ge 1 ] ||
        tap_diag "victim: $(tail -n 5 "$TL_DIR/victim$n.out")"
    tl_wait_exit "victim$n" 60
    rc=$?
    ivt_csum_verdict $mode "$rc" "$TL_DIR/victim$n.out" "checksum|ring"
    tl_wait_exit "bys$n" 60
    tap_result $? "$mode: the pair beside it on the segment is unharmed"
done

# The attacked server serves the next client, checksum on, over ivshmem.
"$pp" --maxsize 64K --loops 5 --verify "$srv" >"$TL_DIR/next.out" 2>&1
tap_result $? "the server serves a new client with --verify"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/next.out")" 18 "... over ivshmem"
exit "$(tap_status)"
