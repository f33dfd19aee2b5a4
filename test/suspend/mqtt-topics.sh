#!/bin/bash
# The agent's settings: the broker given as a URI is not there when the
# process starts (a warning, the process runs on, the agent connects once
# the broker appears); topic templates with <hostname> and <pid> are
# expanded; answers and the retained status use them; pscom_info lists
# the variables; SIGKILL makes the broker publish the last will; a
# malformed broker address or template is named once.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
st=$top_builddir/test/suspend/susp_stream
info=$top_builddir/bin/pscom_info
[ -x "$st" ] || tap_bail "$st is missing"
tl_init
tl_need mosquitto mosquitto_sub mosquitto_pub
H=$(hostname)
tap_plan 9

mqtt_broker_port
export PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=tcp://127.0.0.1:$MQTT_PORT
export PSP_MQTT_REQUEST_TOPIC='t/<hostname>/<pid>/in'
export PSP_MQTT_RESPONSE_TOPIC='t/<pid>/out'
export PSP_MQTT_STATUS_TOPIC='t/<pid>/state'
# A listening process with nothing to do: only the agent works.
tl_start p "$st" -l
tl_wait_line "$TL_DIR/p.out" '^port ' 30 || tap_bail "no port"
pid=$TL_PID_p
tl_wait_line "$TL_DIR/p.out" 'unreachable.*communication continues' 30
tap_result $? "no broker at start: one warning, the process runs on"

mqtt_broker_start
mqtt_wait_agent "$pid" 60
tap_result $? "the agent connects when the broker appears and subscribes"
grep -q "SUBSCRIBE from pscom-$pid-" "$MQTT_LOG" &&
    grep -A1 "SUBSCRIBE from pscom-$pid-" "$MQTT_LOG" |
    grep -q "t/$H/$pid/in"
tap_result $? "it subscribed to the expanded template t/$H/$pid/in"

tl_start sub mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i "sub-$pid" \
    -t "t/$pid/out" -C 1
mqtt_wait_client "sub-$pid" 30 ||
    tap_bail "mosquitto_sub did not subscribe"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t "t/$H/$pid/in" -m suspend
tl_wait_exit sub 30
tap_is "$(cat "$TL_DIR/sub.out")" "$pid : ALLOWED" "the answer comes on t/$pid/out"
s=$(mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "t/$pid/state" -C 1 -W 5)
case $s in *'"state":"suspended"'*) r=0 ;; *) r=1 ;; esac
tap_result $r "the retained status on t/$pid/state says suspended"

kill -KILL "$pid"
tl_wait_exit p 30 >/dev/null
r=1
for _ in $(seq 100); do
    s=$(mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "t/$pid/state" -C 1 -W 2)
    case $s in *'"state":"dead"'*) r=0; break ;; esac
    tl_nap
done
tap_result $r "killed: the last will sets the status to dead"

# Malformed settings: said once at start, the process runs on without
# the agent.
long=$(head -c 600 /dev/zero | tr '\0' t)
i=0
for bad in "PSP_MQTT_BROKER=127.0.0.1:x|bad broker address '127.0.0.1:x'" \
    "PSP_MQTT_STATUS_TOPIC=$long|PSP_MQTT_STATUS_TOPIC='t*[.][.][.]' is too long"; do
    i=$((i + 1))
    tl_start "bad$i" env "${bad%%|*}" "$st" -l
    tl_wait_line "$TL_DIR/bad$i.out" '^port ' 30 &&
        [ "$(grep -c "pscom: mqtt: ${bad#*|}" "$TL_DIR/bad$i.out")" = 1 ]
    tap_result $? "${bad%%=*} malformed: named once, the process runs on"
    eval "kill \$TL_PID_bad$i"
    tl_wait_exit "bad$i" 30 >/dev/null
done

[ -x "$info" ] || tap_bail "$info is missing"
n=$("$info" 2>&1 | grep -cE 'PSP_(MQTT_BROKER|MQTT_REQUEST_TOPIC|MQTT_RESPONSE_TOPIC|MQTT_STATUS_TOPIC|SUSPEND_TCP|SUSPEND_RESUME|SIGSUSPEND|POSTPONE_FEEDBACK)')
[ "$n" -ge 8 ]
tap_result $? "pscom_info lists the suspend/resume variables ($n)"
exit "$(tap_status)"
