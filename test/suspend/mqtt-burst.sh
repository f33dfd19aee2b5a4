#!/bin/bash
# 1000 "suspend" requests in a burst: every one is answered. The answers
# are queued in the agent and handed to paho as it acknowledges earlier
# ones; before, paho's buffer (256 messages) overflowed and about a
# quarter of the answers were dropped ("cannot publish ... (-12)").
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
st=$top_builddir/test/suspend/susp_stream
[ -x "$st" ] || tap_bail "susp_stream missing"
tl_init
tl_need mosquitto_sub mosquitto_pub
start_mosquitto
H=$(hostname)
K=1000
export PSP_IVSHMEM=0 PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=127.0.0.1:$MQTT_PORT
tap_plan 4

tl_start srv "$st" -l -n 1
tl_wait_line "$TL_DIR/srv.out" '^port ' 30 || tap_bail "srv did not listen"
mqtt_wait_agent "$TL_PID_srv" 60 ||
    tap_bail "the agent did not subscribe"
tl_start answers mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -i "burst-$$" \
    -C $K -W 60 -t "fast/pscom/$H/$TL_PID_srv/response"
mqtt_wait_client "burst-$$" 30 ||
    tap_bail "mosquitto_sub did not subscribe"

# The process is stopped while the broker sends it the burst: on SIGCONT
# the agent finds all of it at once and answers as fast as it can (the
# burst of a loaded machine, on any machine).
sent() { grep -c "Sending PUBLISH to pscom-$TL_PID_srv-" "$MQTT_LOG"; }
kill -STOP "$TL_PID_srv"
yes suspend | head -n $K | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 0 -l \
    -t "fast/pscom/$H/any_proc/request"
rc=$?
end=$(($(date +%s) + 30))
while [ "$(sent)" -lt $K ] && [ "$(date +%s)" -le "$end" ]; do
    tl_nap
done
kill -CONT "$TL_PID_srv"
tap_is "$rc:$(sent)" "0:$K" "$K requests published and sent to the stopped process"
tl_wait_exit answers 90
tap_is $? 0 "$K answers arrived"
tap_is "$(grep -c "^$TL_PID_srv : ALLOWED\$" "$TL_DIR/answers.out")" $K \
    "every answer is '$TL_PID_srv : ALLOWED'"
! grep -q 'cannot publish' "$TL_DIR/srv.out"
tap_result $? "no answer was dropped"
[ $TAP_FAILED -eq 0 ] || tap_diag "$(grep -v ALLOWED "$TL_DIR/srv.out" | tail -n 5)"
exit "$(tap_status)"
