#!/bin/bash
# A peer that dies while both sides are suspended: both answer ALLOWED,
# the listening one is killed (SIGKILL), the survivor is resumed. Its
# reconnects are refused (nobody listens any more); after
# PSP_RESUME_TIMEOUT the connection fails (con_error "connection refused",
# its requests fail) instead of being retried forever, and with
# PSP_POSTPONE_FEEDBACK=1 the survivor answers FAILED, not COMPLETED, and
# its status says "failed".
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
st=$top_builddir/test/suspend/susp_stream
mig=$top_builddir/bin/pscom-migrate
[ -x "$st" ] && [ -x "$mig" ] || tap_bail "susp_stream or pscom-migrate missing"
tl_init
tl_need mosquitto_sub
start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
export PSP_IVSHMEM=0 PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B PSP_DEBUG=2
export PSP_POSTPONE_FEEDBACK=1 PSP_RESUME_TIMEOUT=1500 PSP_SUSPEND_TIMEOUT=8000
N=2000
tap_plan 7

tl_start srv "$st" -l -n $N -h $((N / 2)) -g "$TL_DIR/go" -w "$TL_DIR/end"
tl_wait_line "$TL_DIR/srv.out" '^port ' 30 || tap_bail "server did not listen"
port=$(awk '/^port/{print $2}' "$TL_DIR/srv.out")
tl_start cli "$st" -c "127.0.0.1:$port" -n $N -h $((N / 2)) \
    -g "$TL_DIR/go" -w "$TL_DIR/end" -k
for p in srv cli; do
    tl_wait_line "$TL_DIR/$p.out" '^halfway' 60 || tap_bail "$p: no halfway"
    eval "pid=\$TL_PID_$p"
    tl_wait_line "$TL_DIR/mosquitto.log" "Received SUBSCRIBE from pscom-$pid-" 30 ||
        tap_bail "the agent of $p did not subscribe"
done

"$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s1" 2>&1
tap_is $? 0 "both suspend: ALLOWED"
kill -KILL "$TL_PID_srv"
tl_wait_exit srv 30
tap_is $? 137 "the listening peer is killed while suspended"

tl_start status mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" \
    -t "fast/pscom/$H/$TL_PID_cli/status"
tl_wait_line "$TL_DIR/status.out" '"state":"suspended"' 30 ||
    tap_bail "no retained status of the survivor"
"$mig" resume "$H" -n 1 -t 6 --broker "$B" >"$TL_DIR/r1" 2>&1
tap_is $? 1 "the survivor does not answer COMPLETED"
grep -q "$TL_PID_cli : FAILED" "$TL_DIR/r1"
tap_result $? "... it answers FAILED"
grep -q '^conerror .*connection refused' "$TL_DIR/cli.out"
tap_result $? "its connection failed (con_error: connection refused)"
tl_wait_line "$TL_DIR/status.out" '"state":"failed".*"error":"connection refused"' 30
tap_result $? "its status says failed, with the connection's error"
touch "$TL_DIR/go"
tl_wait_exit cli 60
rc=$?
grep -qE '^FAIL: (send|receive) failed' "$TL_DIR/cli.out"
tap_is "$rc:$?" "1:0" "its requests failed: the application ends (no hang)"
[ $TAP_FAILED -eq 0 ] ||
    tap_diag "$(tail -n 15 "$TL_DIR/cli.out" "$TL_DIR/r1" "$TL_DIR/status.out")"
exit "$(tap_status)"
