#!/bin/bash
# Hostile memory on a live connection: while two pscom_pp processes stream
# over ivshmem, a third party (another "VM") overwrites both receive rings
# in the segment with garbage (0xff, 0xa5: never a valid chunk header or
# position). The connection must fail cleanly -- the
# client exits with an error, not a signal -- and the server process must
# survive and serve the next client over ivshmem with fresh rings.
. "$top_srcdir/test/ivshmem/ivshmem-env.sh"
tap_plan 10
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
    rings=$(python3 "$top_srcdir/test/ivshmem/scribble.py" \
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

# The server still works: a clean client gets fresh rings.
"$pp" --maxsize 64K --loops 5 --verify "$addr" >"$TL_DIR/c3.out" 2>&1
tap_result $? "a new client is served with --verify after both attacks"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c3.out")" 18 "... over ivshmem"
exit "$(tap_status)"
