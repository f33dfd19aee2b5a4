#!/bin/bash
# Eviction: a pscom_pp client streaming over ivshmem is stopped (SIGSTOP)
# longer than the server's owner timeout, so ivshmem-server declares it
# dead and reclaims its frames. Its peer must stop writing into the
# reclaimed area (connection error, the server process survives); the
# evicted client, continued, must fail its connection instead of reusing
# frames that are no longer its own.
# Then the listener itself stalls past the timeout: continued, it fails
# its old connection and joins the segment again, so that its next
# client talks ivshmem again (not tcp forever); and after the server
# re-initialised the segment (-t) the old connections fail naming that,
# and new ones use the new segment.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 15
# -T 3000: short enough for a test, long against 500 ms heartbeats.
ivt_server evict 4 -T 3000
export PSP_DEBUG=1

ivt_pp_server srv
tl_start cli "$pp" --minsize 0 --maxsize 0 --loops 1000000000 "$addr"
tl_wait_line "$TL_DIR/srv.out" "via ivshmem" ||
    tap_bail "no ivshmem connection: $(cat "$TL_DIR/srv.out" "$TL_DIR/cli.out")"
kill -STOP "$TL_PID_cli"

# Wait (bounded) until the server reclaimed the stopped client's slot.
live() { # PID: 1 if a LIVE participant has this host pid
    ivt_info evict 2>/dev/null | python3 -c 'import json,sys
pid = int(sys.argv[1])
print(int(any(p["pid"] == pid and p["status"] == "live"
              for p in json.load(sys.stdin)["participants"])))' "$1"
}
for _ in $(seq 3000); do
    [ "$(live "$TL_PID_cli")" = 0 ] && break
    tl_nap
done
tap_is "$(live "$TL_PID_cli")" 0 "the stopped client was evicted"
tl_wait_line "$TL_DIR/srv.out" "lost its segment membership" 60
tap_result $? "its peer noticed and failed the connection"
kill -0 "$TL_PID_srv" 2>/dev/null
tap_result $? "the server process survives"

kill -CONT "$TL_PID_cli"
tl_wait_exit cli 60
rc=$?
[ $rc -ge 1 ] && [ $rc -lt 128 ]
tap_result $? "the evicted client fails with an error (exit $rc), no signal"
[ $rc -ge 1 ] && [ $rc -lt 128 ] || tap_diag "$(tail -n 5 "$TL_DIR/cli.out")"
"$pp" --maxsize 4K --loops 5 --verify "$addr" >"$TL_DIR/c2.out" 2>&1
tap_result $? "a new client is served afterwards"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c2.out")" 14 "... over ivshmem"

# The evicted process lives on: the listener stalls this time.
ivt_pp_server lis
tl_start cli2 "$pp" --minsize 0 --maxsize 0 --loops 1000000000 "$addr"
tl_wait_line "$TL_DIR/lis.out" "via ivshmem" ||
    tap_bail "no ivshmem connection: $(cat "$TL_DIR/lis.out")"
kill -STOP "$TL_PID_lis"
for _ in $(seq 3000); do
    [ "$(live "$TL_PID_lis")" = 0 ] && break
    tl_nap
done
tap_is "$(live "$TL_PID_lis")" 0 "the stopped listener was evicted"
kill -CONT "$TL_PID_lis"
# Its peer may have noticed first and closed: then the listener sees EOF
# before its own membership check; either way the connection ends.
for _ in $(seq 3000); do
    [ "$(grep -c '^Waiting for client' "$TL_DIR/lis.out")" -ge 2 ] && break
    tl_nap
done
[ "$(grep -c '^Waiting for client' "$TL_DIR/lis.out")" -ge 2 ]
tap_result $? "the listener's old connection ended, the listener waits again"
tl_wait_exit cli2 60
"$pp" --maxsize 4K --loops 5 --verify "$addr" >"$TL_DIR/c3.out" 2>&1
tap_result $? "the listener serves a new client, data verified"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c3.out")" 14 \
    "... over ivshmem again (a new membership), not tcp"
tap_is "$(live "$TL_PID_lis")" 1 "the listener is a live member again"

# The server re-initialises the segment under a connected pair.
tl_start cli3 "$pp" --minsize 0 --maxsize 0 --loops 1000000000 "$addr"
tl_wait_line "$TL_DIR/lis.out" "via ivshmem.*$" || tap_bail "no client"
seen=$(wc -l <"$TL_DIR/lis.out") # the eviction above logged already
host_server_stop evict
ivt_server evict 4 -T 3000 -t
# Whichever side checks first names the cause; the other may see EOF.
tl_wait_line "$TL_DIR/lis.out" "the segment was re-initialised" 60 ||
    tl_wait_line "$TL_DIR/cli3.out" "the segment was re-initialised" 5
tap_result $? "the old connection fails naming the re-initialisation"
! { tail -n +"$((seen + 1))" "$TL_DIR/lis.out"; cat "$TL_DIR/cli3.out"; } |
    grep -q "evicted from"
tap_result $? "... not an eviction"
tl_wait_exit cli3 60
"$pp" --maxsize 4K --loops 5 --verify "$addr" >"$TL_DIR/c4.out" 2>&1
tap_result $? "a new client is served on the new segment, data verified"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c4.out")" 14 "... over ivshmem"
exit "$(tap_status)"
