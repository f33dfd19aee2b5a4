#!/bin/bash
# A suspend that cannot drain, over ivshmem (a real ivshmem-server
# segment, PSP_SHM=0): the peer is stopped (SIGSTOP, a paused VM), so the
# suspend gives up after PSP_SUSPEND_TIMEOUT and does not answer ALLOWED;
# the connection stays up. The resume that follows makes the plugin look
# for its device again -- it must not unmap the segment the still-linked
# connection's rings live in (that crashed the process in the ring's
# consumer). Then the peer continues (SIGCONT): the interrupted suspend
# exchange ends, the connection comes back over ivshmem and every message
# arrives once and in order. First with PSP_SIGSUSPEND, then over MQTT.
. "$top_srcdir/test/common/ivshmem-env.sh"
. "$top_srcdir/test/suspend/mqtt-env.sh"
ivt_server a 8
export PSP_SUSPEND_TIMEOUT=1000 PSP_DEBUG=2 PSP_POSTPONE_FEEDBACK=0
N=2000
tap_plan 10

# pair NAME [VAR=value...]: srv$NAME (listens; env as given) and cli$NAME
# (no agent) stream N messages; srv stops calling pscom halfway until
# $TL_DIR/go$NAME exists. Returns when srv is halfway.
pair() {
    _n=$1
    shift
    tl_start "srv$_n" env "$@" "$st" -l -n $N -h $((N / 2)) \
        -g "$TL_DIR/go$_n" -w "$TL_DIR/end$_n"
    tl_wait_line "$TL_DIR/srv$_n.out" '^port ' 30 || tap_bail "srv$_n did not listen"
    _port=$(awk '/^port/{print $2}' "$TL_DIR/srv$_n.out")
    tl_start "cli$_n" "$st" -c "127.0.0.1:$_port" -n $N
    tl_wait_line "$TL_DIR/srv$_n.out" '^halfway' 60 || tap_bail "srv$_n: no halfway"
}

# finish NAME: the peer continues; everything arrives, both end cleanly.
finish() {
    eval "_cli=\$TL_PID_cli$1"
    kill -CONT "$_cli"
    touch "$TL_DIR/go$1"
    tl_wait_line "$TL_DIR/srv$1.out" '^received type=ivshmem' 60 || return 1
    touch "$TL_DIR/end$1"
    tl_wait_exit "srv$1" 60 || return 1
    tl_wait_exit "cli$1" 60 || return 1
    grep -q '^done ok type=ivshmem' "$TL_DIR/srv$1.out"
}

pair 1 PSP_SIGSUSPEND=10
grep -q "connected type=ivshmem" "$TL_DIR/cli1.out"
tap_result $? "signal: the stream runs over ivshmem"
eval "cli=\$TL_PID_cli1 srv=\$TL_PID_srv1"
kill -STOP "$cli"
kill -USR1 "$srv"
tl_wait_line "$TL_DIR/srv1.out" 'did not drain within 1000 ms' 30
tap_result $? "signal: the suspend gives up (the peer is stopped), no ALLOWED"
kill -USR1 "$srv"
tl_wait_line "$TL_DIR/srv1.out" 'pscom: process COMPLETED' 30
tap_result $? "signal: the resume is done"
finish 1
tap_result $? "signal: the peer continues; all $N messages, back on ivshmem"
! grep -q 'FAIL' "$TL_DIR/srv1.out" "$TL_DIR/cli1.out"
tap_result $? "signal: no failure on either side"

pair 2 PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B
mqtt_wait_agent "$TL_PID_srv2" 60 ||
    tap_bail "the agent of srv2 did not subscribe"
kill -STOP "$TL_PID_cli2"
"$mig" suspend "$H" -n 1 -t 3 --broker "$B" >"$TL_DIR/s2" 2>&1
tap_is $? 1 "mqtt: suspend with the peer stopped: no ALLOWED"
grep -q 'did not drain within 1000 ms' "$TL_DIR/srv2.out"
tap_result $? "mqtt: ... the process said why"
"$mig" resume "$H" -n 1 --broker "$B" >"$TL_DIR/r2" 2>&1
tap_is $? 0 "mqtt: resume answered COMPLETED"
finish 2
tap_result $? "mqtt: the peer continues; all $N messages, back on ivshmem"
ivt_wait_free "$PSP_IVSHMEM_DEVICE"
tap_result $? "every frame is back in the segment"
[ $TAP_FAILED -eq 0 ] ||
    tap_diag "$(tail -n 12 "$TL_DIR"/srv?.out "$TL_DIR"/cli?.out)"
exit "$(tap_status)"
