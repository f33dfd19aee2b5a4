#!/bin/bash
# Suspend/resume over MQTT of processes streaming over ivshmem (a real
# ivshmem-server segment, the host view of a VM's BAR): "suspend" closes
# the connections and gives every frame back to the segment (checked with
# ivshmem-info --json); after "resume" they are on ivshmem again and every
# message arrived once and in order. The peer does not run the agent (it
# is not migrating): it follows passively, its sends wait, it finishes.
# Then a connection set up while the process is suspended: it is
# suspended as soon as it is up, and resumed with the process.
. "$top_srcdir/test/common/ivshmem-env.sh"
. "$top_srcdir/test/suspend/stream-pair.sh"
. "$top_srcdir/test/suspend/mqtt-env.sh"
ivt_server a 8
seg=$PSP_IVSHMEM_DEVICE
export PSP_MQTT_BROKER=$B PSP_POSTPONE_FEEDBACK=1 PSP_DEBUG=2
N=2000
tap_plan 14

# The peer runs no agent: it keeps calling pscom (blocked in its waits).
stream_pair $N
grep -q "connected type=ivshmem" "$TL_DIR/cli.out"
tap_result $? "the stream runs over ivshmem"
[ "$(ivt_used "$seg")" -gt 0 ]
tap_result $? "its rings hold frames of the segment"

"$mig" suspend "$H" -n 1 --broker "$B" >"$TL_DIR/s1" 2>&1
tap_result $? "suspend: ALLOWED (the application is computing)"
ivt_wait_free "$seg"
tap_result $? "every frame is back in the segment (ivshmem-info --json)"
grep -q "suspending (asked by the peer)" "$TL_DIR/cli.out"
tap_result $? "the non-migrating peer suspended passively"

touch "$TL_DIR/go"
"$mig" resume "$H" -n 1 --broker "$B" >"$TL_DIR/r1" 2>&1
tap_result $? "resume: COMPLETED once the connection is up again"
tl_wait_line "$TL_DIR/srv.out" '^received type=ivshmem' 60
tap_result $? "all $N messages in order, the connection on ivshmem again"
[ "$(ivt_used "$seg")" -gt 0 ]
tap_result $? "the new rings are in the segment"
touch "$TL_DIR/end"
rc=0
tl_wait_exit srv 60 || rc=1
tl_wait_exit cli 60 || rc=1
grep -q '^done ok type=ivshmem' "$TL_DIR/cli.out" || rc=1
tap_result $rc "both finish cleanly"

# Set-up during a suspend.
PSP_SUSPEND_RESUME=1 tl_start srv2 "$st" -l -n 500
tl_wait_line "$TL_DIR/srv2.out" '^port ' 30 || tap_bail "srv2 did not listen"
port=$(awk '/^port/{print $2}' "$TL_DIR/srv2.out")
mqtt_wait_agent "$TL_PID_srv2" 30 ||
    tap_bail "the agent of srv2 did not subscribe"
"$mig" suspend "$H" -n 1 --broker "$B" >"$TL_DIR/s2" 2>&1
tap_result $? "a process without connections suspends: ALLOWED"
tl_start cli2 "$st" -c "127.0.0.1:$port" -n 500
tl_wait_line "$TL_DIR/srv2.out" 'up, suspending at once' 30
tap_result $? "a connection set up meanwhile is suspended as soon as it is up"
tl_wait_line "$TL_DIR/cli2.out" 'via susp: suspended' 30 && ivt_wait_free "$seg"
tap_result $? "... its rings are freed"
"$mig" resume "$H" -n 1 --broker "$B" >"$TL_DIR/r2" 2>&1
tap_result $? "resume: COMPLETED"
rc=0
tl_wait_exit srv2 60 || rc=1
tl_wait_exit cli2 60 || rc=1
grep -q '^done ok type=ivshmem' "$TL_DIR/srv2.out" || rc=1
tap_result $rc "... and its stream completes over ivshmem"
[ $TAP_FAILED -eq 0 ] ||
    tap_diag "$(tail -n 8 "$TL_DIR/srv.out" "$TL_DIR/cli.out" "$TL_DIR/srv2.out" "$TL_DIR/cli2.out")"
exit "$(tap_status)"
