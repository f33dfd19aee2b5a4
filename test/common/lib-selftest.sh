#!/bin/bash
# Self-test of the shell helpers other tests rely on (lib.sh): free port,
# wait-for-line, wait-for-exit with a timeout, the cleanup trap killing
# what was started, and a real mosquitto broker that relays a message,
# stops and starts again on its port.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
tap_plan 10

tl_init
port=$(tl_free_port)
[ "$port" -gt 0 ] 2>/dev/null && [ "$port" -lt 65536 ]
tap_result $? "tl_free_port prints a port number ($port)"

tl_start echoer bash -c 'echo starting; read -r _; echo never'
tl_wait_line "$TL_DIR/echoer.out" '^starting$' 10
tap_result $? "tl_wait_line sees a line a started process printed"
tl_wait_line "$TL_DIR/echoer.out" '^absent$' 1
[ $? -ne 0 ]
tap_result $? "tl_wait_line gives up on a line that never comes"

tl_start sleeper sleep 600
tl_wait_exit sleeper 1
tap_is $? 124 "tl_wait_exit times out (124) on a process that does not end"

tl_start quick bash -c 'exit 3'
tl_wait_exit quick 10
tap_is $? 3 "tl_wait_exit returns the exit status"

mqtt_broker_start
tl_need mosquitto_sub mosquitto_pub
relays() {
    tl_start "sub$1" mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i "self-$1-$$" \
        -t selftest/topic -C 1 -v
    mqtt_wait_client "self-$1-$$" 30 &&
        mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t selftest/topic -m "$1" &&
        tl_wait_exit "sub$1" 30 &&
        [ "$(cat "$TL_DIR/sub$1.out")" = "selftest/topic $1" ]
}
relays hello
tap_result $? "mqtt_broker_start: a broker on 127.0.0.1:$MQTT_PORT relays a message"
old_port=$MQTT_PORT
mqtt_broker_stop
! kill -0 "$TL_PID_mosquitto" 2>/dev/null && [ -s "$MQTT_LOG.1" ]
tap_result $? "mqtt_broker_stop stops it and keeps its log as $MQTT_LOG.1"
mqtt_broker_start "max_connections 10"
[ "$MQTT_PORT" = "$old_port" ] && grep -q '^max_connections 10$' \
    "$TL_DIR/mosquitto.conf" && relays again
tap_result $? "a restarted broker listens on the same port, with extra settings"

# The trap must kill what tl_start started, also when the test fails:
# run a child test script that starts a process and exits with 1.
child_dir=$(
    bash -c '. "$top_srcdir/test/common/tap.sh"; . "$top_srcdir/test/common/lib.sh"
        tl_init; tl_start long sleep 600; echo "$TL_DIR $TL_PID_long"; exit 1'
)
set -- $child_dir
! kill -0 "$2" 2>/dev/null
tap_result $? "the cleanup trap kills started processes when a test fails"
[ ! -d "$1" ]
tap_result $? "the cleanup trap removes the temporary directory"
exit "$(tap_status)"
