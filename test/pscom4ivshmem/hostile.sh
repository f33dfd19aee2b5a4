#!/bin/bash
# Hostile memory on a live connection: while two pscom_pp processes stream
# over ivshmem, a third party (another "VM") overwrites both receive rings
# in the segment with garbage (0xff, 0xa5: never a valid chunk header or
# position). The connection must fail cleanly -- the
# client exits with an error, not a signal -- and the server process must
# survive and serve the next client over ivshmem with fresh rings.
# Then zeros: written into one connection's chunk headers while it
# streams, a published message vanishes and both sides would wait for
# each other for ever; the receiver must see its producer's position
# ahead of an empty chunk header and fail the connection with a clear
# error, while another connection on the same segment keeps working.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 15
ivt_server hostile 4
export PSP_DEBUG=1

ivt_pp_server srv

rings() { # INFO-JSON: number of ring allocations
    python3 -c 'import json, sys
info = json.load(open(sys.argv[1]))
print(sum(a["tag"] == "ring" for a in info["allocations"]))' "$1"
}

n=0
for byte in 0xff 0xa5; do
    n=$((n + 1))
    # The last round's rings must be gone first (the server frees them
    # after the error; under load that takes a moment), else this round
    # would count, and scribble over, a ring on its way out.
    ivt_wait_free "$PSP_IVSHMEM_DEVICE" ||
        tap_diag "round $n: frames still in use before the client starts"
    tl_start "c$n" "$pp" --minsize 0 --maxsize 0 --loops 1000000000 \
        "$addr"
    tl_wait_line "$TL_DIR/srv.out" "via ivshmem" ||
        tap_diag "$(cat "$TL_DIR/srv.out")"
    # Wait until both rings are allocated, then scribble over them.
    for _ in $(seq 1500); do
        ivt_info hostile >"$TL_DIR/info.json" 2>/dev/null
        [ "$(rings "$TL_DIR/info.json")" -ge 2 ] && break
        tl_nap
    done
    rings=$(python3 "$top_srcdir/test/common/scribble.py" \
        "$PSP_IVSHMEM_DEVICE" "$TL_DIR/info.json" $byte)
    tap_is "$rings" 2 "round $n: both rings overwritten with $byte"
    tl_wait_exit "c$n" 60
    rc=$?
    [ $rc -ge 1 ] && [ $rc -lt 128 ]
    tap_result $? \
        "round $n: the client fails with an error (exit $rc), no signal"
    [ $rc -ge 1 ] && [ $rc -lt 128 ] ||
        tap_diag "$(tail -n 5 "$TL_DIR/c$n.out")"
    kill -0 "$TL_PID_srv" 2>/dev/null
    tap_result $? "round $n: the server process survives"
    grep -q "ring" "$TL_DIR/srv.out" "$TL_DIR/c$n.out"
    tap_result $? "round $n: the broken ring is logged"
done

# Round 3: zeros into the chunk headers of one connection.
srv_addr=$addr
ivt_wait_free "$PSP_IVSHMEM_DEVICE" ||
    tap_diag "round 3: frames still in use before the clients start"
ivt_pp_server by
tl_start cb "$pp" --minsize 0 --maxsize 4K --loops 1000000000 --verify \
    "$addr"
tl_wait_line "$TL_DIR/by.out" "via ivshmem" ||
    tap_bail "no bystander connection: $(cat "$TL_DIR/by.out")"
tl_start c4 "$pp" --minsize 0 --maxsize 0 --loops 1000000000 "$srv_addr"
for _ in $(seq 1500); do
    [ "$(grep -c 'via ivshmem' "$TL_DIR/srv.out")" -ge 3 ] && break
    tl_nap
done
for _ in $(seq 1500); do # c4's receive ring allocated
    ivt_info hostile >"$TL_DIR/info.json" 2>/dev/null
    python3 -c 'import json, sys
i = json.load(open(sys.argv[1]))
s = {p["slot"] for p in i["participants"] if p["pid"] == int(sys.argv[2])}
sys.exit(not any(a["tag"] == "ring" and a["slot"] in s
                 for a in i["allocations"]))' "$TL_DIR/info.json" \
        "$TL_PID_c4" && break
    tl_nap
done
# Until c4 exits (bounded): a hit needs a message waiting to be read.
rings=$(python3 "$top_srcdir/test/common/scribble.py" \
    "$PSP_IVSHMEM_DEVICE" "$TL_DIR/info.json" --zero-headers \
    "$TL_PID_c4" 30)
tap_is "$rings" 1 "round 3: zeros written into the victim's chunk headers"
tl_wait_exit c4 60
rc=$?
[ $rc -ge 1 ] && [ $rc -lt 128 ] && [ $rc != 124 ] # 124: tl_wait_exit's
tap_result $? "round 3: the victim fails with an error (exit $rc), no hang"
grep -q "stalled: the producer announced data" "$TL_DIR/c4.out"
tap_result $? "round 3: the error says the ring stalled (overwritten)"
grep -q "stalled" "$TL_DIR/c4.out" || tap_diag "$(tail -n 5 "$TL_DIR/c4.out")"
kill -0 "$TL_PID_cb" 2>/dev/null
tap_result $? "round 3: the other connection's client still runs"
! grep -qiE "error|fail|mismatch" "$TL_DIR/cb.out" "$TL_DIR/by.out"
tap_result $? "round 3: ... without an error"
kill -TERM "$TL_PID_cb" 2>/dev/null

# The server still works: a clean client gets fresh rings.
addr=$srv_addr
"$pp" --maxsize 64K --loops 5 --verify "$addr" >"$TL_DIR/c3.out" 2>&1
tap_result $? "a new client is served with --verify after both attacks"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c3.out")" 18 "... over ivshmem"
exit "$(tap_status)"
