#!/bin/bash
# mqtt-run.sh TRANSPORT (shm or tcp; run by mqtt-shm.sh, mqtt-tcp.sh).
# Process-wide suspend and resume over MQTT with a real mosquitto: two
# processes stream numbered messages to each other (shm, or tcp with
# PSP_SHM=0 in the first argument) and stop calling pscom halfway, so the
# agent's worker thread must do all of the work. "suspend" is answered
# ALLOWED by both, their status says suspended, sends posted meanwhile
# wait; "resume" is answered COMPLETED, the connections come back on the
# same transport and every message arrives exactly once and in order.
# Then: double suspend, resume without suspend, a pid list, malformed
# payloads, and the broker killed and restarted.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
tl_init
. "$top_srcdir/test/suspend/mqtt-env.sh"
tl_need mosquitto_pub
want=${1:-shm}
[ "$want" = tcp ] && export PSP_SHM=0 PSP_SUSPEND_TCP=1
export PSP_IVSHMEM=0 PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B
export PSP_POSTPONE_FEEDBACK=1
N=3000
tap_plan 18

status_of() { # pid -> the retained status JSON
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -C 1 -W 5 \
        -t "fast/pscom/$H/$1/status" 2>/dev/null
}

tl_start srv "$st" -l -n $N -h $((N / 2)) -g "$TL_DIR/go" -w "$TL_DIR/end"
tl_wait_line "$TL_DIR/srv.out" '^port ' 30 || tap_bail "server did not listen"
port=$(awk '/^port/{print $2}' "$TL_DIR/srv.out")
tl_start cli "$st" -c "127.0.0.1:$port" -n $N -h $((N / 2)) \
    -g "$TL_DIR/go" -w "$TL_DIR/end"
p1=$TL_PID_srv
p2=$TL_PID_cli
for p in srv cli; do
    tl_wait_line "$TL_DIR/$p.out" '^halfway' 60 ||
        tap_bail "$p did not get halfway: $(tail -3 "$TL_DIR/$p.out")"
done
mqtt_wait_agent "$p1" 30 &&
    mqtt_wait_agent "$p2" 30
tap_result $? "both agents subscribed to the request topic"
grep -q "connected type=$want" "$TL_DIR/cli.out"
tap_result $? "the stream runs over $want"

"$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s1" 2>&1
tap_is $? 0 "suspend: both processes answer ALLOWED (applications not calling pscom)"
grep -q "^$p1 : ALLOWED" "$TL_DIR/s1" && grep -q "^$p2 : ALLOWED" "$TL_DIR/s1"
tap_result $? "the answers name both pids"
s=$(status_of $p1)
case $s in *'"state":"suspended"'*'"type":"susp"'*) r=0 ;; *) r=1 ;; esac
tap_result $r "status of $p1: suspended, connection type susp"
tap_diag "$s"

"$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s2" 2>&1
tap_is $? 0 "a second suspend is answered ALLOWED again"

# The applications go on: their sends are accepted and wait.
touch "$TL_DIR/go"
"$mig" resume "$H" -n 2 --broker "$B" >"$TL_DIR/r1" 2>&1
tap_is $? 0 "resume: both answer COMPLETED"
for p in srv cli; do
    tl_wait_line "$TL_DIR/$p.out" '^received' 60
    tap_result $? "$p received all $N messages in order after the resume"
done
s=$(status_of $p2)
case $s in *'"state":"running"'*"\"type\":\"$want\""*) r=0 ;; *) r=1 ;; esac
tap_result $r "status of $p2: running, the connection is $want again"

"$mig" resume "$H" -n 2 --broker "$B" >"$TL_DIR/r2" 2>&1
tap_is $? 0 "resume without suspend is answered COMPLETED"

"$mig" toggle "$H" -n 1 --broker "$B" "$p1" 999999 >"$TL_DIR/t1" 2>&1
tap_is "$?:$(grep -c ALLOWED "$TL_DIR/t1")" "0:1" \
    "a pid list toggles only that process (it suspends)"
"$mig" toggle "$H" -n 1 --broker "$B" "$p1" >"$TL_DIR/t2" 2>&1
grep -q "^$p1 : COMPLETED" "$TL_DIR/t2"
tap_result $? "toggling it again resumes it"

for bad in "" "suspendx" "12abc" "$(head -c 5000 /dev/zero | tr '\0' a)" \
    "$(printf 'sus\001pend')"; do
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" \
        -t "fast/pscom/$H/any_proc/request" -m "$bad"
done
"$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s3" 2>&1
tap_is $? 0 "after malformed payloads the agents still answer"

# Broker gone and back (same port): the agents reconnect by themselves.
mqtt_broker_stop
mqtt_broker_start
mqtt_wait_agent "$p1" 60 &&
    mqtt_wait_agent "$p2" 60
tap_result $? "both agents reconnect to the restarted broker"
"$mig" resume "$H" -n 2 --broker "$B" >"$TL_DIR/r3" 2>&1
tap_is $? 0 "resume through the restarted broker: COMPLETED"

touch "$TL_DIR/end"
rs=0
for p in srv cli; do
    tl_wait_exit "$p" 60 || rs=1
    grep -q "^done ok type=$want" "$TL_DIR/$p.out" || rs=1
done
tap_result $rs "both finish cleanly on $want"
grep -q "unknown request\|ignoring a request" "$TL_DIR/srv.out"
tap_result $? "malformed payloads were warned about"
[ $TAP_FAILED -eq 0 ] || for f in srv cli; do tap_diag "$(tail -15 "$TL_DIR/$f.out")"; done
exit "$(tap_status)"
