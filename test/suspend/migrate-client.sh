#!/bin/bash
# bin/pscom-migrate against a real mosquitto broker, with mosquitto_sub /
# mosquitto_pub playing the processes: one request is published on
# .../any_proc/request with the right payload, N answers end it with
# status 0, missing or malformed answers with 1 after the per-answer
# timeout, a broker that is not there or a malformed address with 2; watch
# prints retained status messages.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
mig=$top_builddir/bin/pscom-migrate
[ -x "$mig" ] || tap_bail "$mig is missing (make builds it)"
tl_init
tl_need mosquitto_sub mosquitto_pub
start_mosquitto
H=mig$$
B=127.0.0.1:$MQTT_PORT
tap_plan 17

# fake_proc NAME PID ANSWER: answers one request like a process would and
# records the payload it got.
fake_proc() {
    tl_start "$1" sh -c "
        req=\$(mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -i $1-$H \
            -t 'fast/pscom/$H/+/request' -C 1 -v) || exit 1
        echo \"\$req\" >'$TL_DIR/$1.req'
        mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT \
            -t 'fast/pscom/$H/$2/response' -m '$2 : $3'"
    mqtt_wait_client "$1-$H" 30 ||
        tap_bail "fake process $1 did not subscribe"
}

fake_proc p1 4101 ALLOWED
fake_proc p2 4102 ALLOWED
"$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s.out" 2>&1
tap_is $? 0 "suspend: both processes answered ALLOWED, exit 0"
grep -q '^4101 : ALLOWED  (' "$TL_DIR/s.out" &&
    grep -q '^4102 : ALLOWED  (' "$TL_DIR/s.out"
tap_result $? "each answer is printed with the elapsed time"
grep -q '^2 of 2 answered' "$TL_DIR/s.out"
tap_result $? "a summary line counts the answers"
tap_is "$(cat "$TL_DIR/p1.req")" "fast/pscom/$H/any_proc/request suspend" \
    "the request went to .../any_proc/request with payload 'suspend'"

fake_proc p3 4103 COMPLETED
"$mig" resume "$H" -n 2 --timeout 1 --broker "$B" >"$TL_DIR/r.out" 2>&1
tap_is $? 1 "resume with one of two answers: exit 1 after the timeout"
grep -q '^1 of 2 answered' "$TL_DIR/r.out"
tap_result $? "the summary says 1 of 2"
tap_is "$(cat "$TL_DIR/p3.req")" "fast/pscom/$H/any_proc/request resume" \
    "payload 'resume'"

fake_proc p4 4104 ALLOWED
"$mig" resume "$H" -n 1 --timeout 1 --broker "$B" >"$TL_DIR/w.out" 2>&1
tap_is $? 1 "an ALLOWED does not count as an answer to resume"

# A malformed answer (lib/mqttproto: exactly "<pid> : WORD") is ignored.
fake_proc p6 4106 'ALLOWED and more'
"$mig" suspend "$H" -n 1 --timeout 1 --broker "$B" >"$TL_DIR/m.out" 2>&1
tap_is $? 1 "a malformed answer does not count"
grep -q "ignored answer on fast/pscom/$H/4106/response: '4106 : ALLOWED and more'" \
    "$TL_DIR/m.out"
tap_result $? "... and is reported"

fake_proc p5 4105 ALLOWED
"$mig" toggle "$H" -n 1 --broker "$B" 4105 77 >/dev/null 2>&1
tap_is "$?:$(cat "$TL_DIR/p5.req")" \
    "0:fast/pscom/$H/any_proc/request 4105 77" "toggle sends the pid list"

mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -r \
    -t "fast/pscom/$H/999/status" -m '{"state":"suspended"}'
"$mig" watch "$H" -n 1 --broker "$B" >"$TL_DIR/watch.out" 2>&1
tap_result $? "watch exits after -n status messages"
grep -q "fast/pscom/$H/999/status  {\"state\":\"suspended\"}" \
    "$TL_DIR/watch.out"
tap_result $? "watch prints the retained status with its topic"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -r -n -t "fast/pscom/$H/999/status"

port=$(tl_free_port)
"$mig" suspend "$H" -n 1 --timeout 2 --broker "127.0.0.1:$port" \
    >"$TL_DIR/nb.out" 2>&1
tap_is $? 2 "no broker: exit 2"
grep -q "cannot connect" "$TL_DIR/nb.out"
tap_result $? "no broker: a message says so"

rc=0
for args in "" "suspend" "suspend $H" "bogus $H -n 1" "suspend $H -n 0" \
    "toggle $H -n 1 notapid" "resume $H -n 1 extra"; do
    # shellcheck disable=SC2086 # word splitting wanted
    "$mig" $args >/dev/null 2>&1
    [ $? -eq 2 ] || { tap_diag "'$args' did not exit 2"; rc=1; }
done
tap_result $rc "bad command lines exit 2"

# Malformed broker addresses and host names: refused before connecting.
rc=0
for args in "-b 127.0.0.1:0" "-b 127.0.0.1:x" "-b ::1" "-b tcp://" \
    "-b [::1" "a/b" "a#" "a+"; do
    case $args in -b*) h=$H ;; *) h=$args args="" ;; esac
    # shellcheck disable=SC2086 # word splitting wanted
    "$mig" suspend "$h" -n 1 $args >"$TL_DIR/bad.out" 2>&1
    [ $? -eq 2 ] && grep -q "bad broker address\|bad host name" \
        "$TL_DIR/bad.out" ||
        { tap_diag "'$h $args': $(cat "$TL_DIR/bad.out")"; rc=1; }
done
tap_result $rc "malformed broker addresses and host names exit 2, named"
exit "$(tap_status)"
