#!/bin/bash
# A peer that dies while both sides are suspended: both answer ALLOWED,
# one is killed (SIGKILL), the survivor is resumed. When the survivor
# connected originally its reconnects are refused (nobody listens any
# more); when it accepted, nobody reconnects to it. Either way, after
# PSP_RESUME_TIMEOUT the connection fails (con_error, its requests fail)
# instead of waiting forever, and with PSP_POSTPONE_FEEDBACK=1 the
# survivor answers FAILED, not COMPLETED, and its status says "failed".
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
tl_init
. "$top_srcdir/test/suspend/mqtt-env.sh"
export PSP_IVSHMEM=0 PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B PSP_DEBUG=2
export PSP_POSTPONE_FEEDBACK=1 PSP_RESUME_TIMEOUT=1500 PSP_SUSPEND_TIMEOUT=8000
N=2000
tap_plan 12

# case NAME VICTIM SURVIVOR ERROR: VICTIM and SURVIVOR are srv (listens)
# or cli (connects); ERROR is what the survivor's con_error says.
case_run() {
    _c=$1 _v=$2 _s=$3 _err=$4
    tl_start "srv$_c" "$st" -l -n $N -h $((N / 2)) -g "$TL_DIR/go$_c" \
        -w "$TL_DIR/end$_c" -k
    tl_wait_line "$TL_DIR/srv$_c.out" '^port ' 30 || tap_bail "srv$_c did not listen"
    _port=$(awk '/^port/{print $2}' "$TL_DIR/srv$_c.out")
    tl_start "cli$_c" "$st" -c "127.0.0.1:$_port" -n $N -h $((N / 2)) \
        -g "$TL_DIR/go$_c" -w "$TL_DIR/end$_c" -k
    for _p in "srv$_c" "cli$_c"; do
        tl_wait_line "$TL_DIR/$_p.out" '^halfway' 60 || tap_bail "$_p: no halfway"
        eval "_pid=\$TL_PID_$_p"
        mqtt_wait_agent "$_pid" 60 ||
            tap_bail "the agent of $_p did not subscribe"
    done
    eval "_vpid=\$TL_PID_$_v$_c _spid=\$TL_PID_$_s$_c"

    "$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s$_c" 2>&1
    tap_is $? 0 "$_c: both suspend: ALLOWED"
    kill -KILL "$_vpid"
    tl_wait_exit "$_v$_c" 30
    tap_is $? 137 "$_c: the $_v side is killed while suspended"

    tl_start "status$_c" mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" \
        -t "fast/pscom/$H/$_spid/status"
    tl_wait_line "$TL_DIR/status$_c.out" '"state":"suspended"' 30 ||
        tap_bail "no retained status of the survivor"
    "$mig" resume "$H" -n 1 -t 6 --broker "$B" >"$TL_DIR/r$_c" 2>&1
    _rc=$?
    grep -q "$_spid : FAILED" "$TL_DIR/r$_c"
    tap_is "$_rc:$?" "1:0" "$_c: the survivor answers FAILED, not COMPLETED"
    grep -q "^conerror .*$_err" "$TL_DIR/$_s$_c.out"
    tap_result $? "$_c: its connection failed (con_error: $_err)"
    tl_wait_line "$TL_DIR/status$_c.out" "\"state\":\"failed\".*\"error\":\"$_err\"" 30
    tap_result $? "$_c: its status says failed, with the connection's error"
    touch "$TL_DIR/go$_c"
    tl_wait_exit "$_s$_c" 60
    _rc=$?
    grep -qE '^FAIL: (send|receive) failed' "$TL_DIR/$_s$_c.out"
    tap_is "$_rc:$?" "1:0" "$_c: its requests failed: the application ends (no hang)"
    tap_diag "$(grep -E 'giving up|answering FAILED' "$TL_DIR/$_s$_c.out")"
    [ $TAP_FAILED -eq 0 ] || tap_diag "$(tail -n 8 "$TL_DIR/$_s$_c.out" "$TL_DIR/r$_c")"
}

case_run 1 srv cli "connection refused"
case_run 2 cli srv "IO error"
exit "$(tap_status)"
