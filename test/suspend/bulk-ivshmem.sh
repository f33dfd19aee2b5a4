#!/bin/bash
# Suspend in the middle of a large transfer over ivshmem (a real
# ivshmem-server segment): every 8th message is 4 MiB (MQTT round, real
# mosquitto) or 16 MiB (PSP_SIGSUSPEND round), far above the bulk
# threshold, so their data go through bulk areas. Halfway the suspending
# side stops calling pscom (an application that computes) while its peer
# still sends: a large message sits in a bulk area when the suspend
# comes. Suspended, every frame goes back to the segment (bulk areas
# included: used frames back to 0, ivshmem-info --json); after the resume
# the stream goes on over ivshmem, every message arrives once, in order,
# intact (susp_stream checks sequence and content), and large messages
# take bulk areas again (PSP_DEBUG=3 "bulk area taken" after the resume).
. "$top_srcdir/test/common/ivshmem-env.sh"
st=$top_builddir/test/suspend/susp_stream
mig=$top_builddir/bin/pscom-migrate
[ -x "$st" ] && [ -x "$mig" ] || tap_bail "susp_stream or pscom-migrate missing"
tl_need mosquitto_sub
start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
ivt_server bulk 32
seg=$PSP_IVSHMEM_DEVICE
export PSP_MQTT_BROKER=$B PSP_POSTPONE_FEEDBACK=1 PSP_DEBUG=3
# A known geometry for bulk-pending.py (both sides read it).
export PSP_SHM_BULK_SLOTS=16 PSP_SHM_BULK_SLOT=65536
tap_plan 15

# pair NAME N LARGE [VAR=value...]: NAME (listening, stops halfway until
# $TL_DIR/go-NAME exists, sends its second half after that: -h) and its
# peer NAMEc, streaming N messages.
pair() {
    _n=$1 _cnt=$2 _large=$3
    shift 3
    tl_start "$_n" env "$@" "$st" -l -n "$_cnt" -L "$_large" \
        -h $((_cnt / 2)) -g "$TL_DIR/go-$_n"
    tl_wait_line "$TL_DIR/$_n.out" '^port ' 30 || tap_bail "$_n did not listen"
    _port=$(awk '/^port/{print $2}' "$TL_DIR/$_n.out")
    tl_start "${_n}c" "$st" -c "127.0.0.1:$_port" -n "$_cnt" -L "$_large"
    tl_wait_line "$TL_DIR/$_n.out" '^halfway' 60 || tap_bail "$_n: no halfway"
}

# in_flight PID: wait until the peer's bulk area holds chunks of a large
# message that PID (computing, not calling pscom) has not drained.
in_flight() {
    for _ in $(seq 500); do
        "$(host_info)" --json "$seg" >"$TL_DIR/info.json" 2>/dev/null
        pend=$(python3 "$top_srcdir/test/common/bulk-pending.py" "$seg" \
            "$TL_DIR/info.json" 16 65536 "$1" probe)
        [ "$pend" -ge 1 ] && return 0
        tl_nap
    done
    return 1
}

# finish NAME MARK: wait for both, check the stream and the bulk areas
# taken after the resume (after the line with MARK: nothing is taken
# while suspended).
finish() {
    _rc=0
    tl_wait_exit "$1" 120 || _rc=1
    tl_wait_exit "${1}c" 120 || _rc=1
    grep -q '^done ok type=ivshmem' "$TL_DIR/$1.out" &&
        grep -q '^done ok type=ivshmem' "$TL_DIR/${1}c.out" || _rc=1
    tap_result $_rc "$1: every message once, in order, intact; back on ivshmem"
    awk -v m="$2" 'index($0, m){r=1} r && /bulk area taken/{f=1} END{exit !f}' \
        "$TL_DIR/$1.out"
    tap_result $? "$1: large messages take a bulk area again after the resume"
    awk -v m="$2" 'index($0, m){r=1} r && /bulk area taken/{f=1} END{exit !f}' \
        "$TL_DIR/${1}c.out"
    tap_result $? "$1: ... the peer's too"
    [ $TAP_FAILED -eq 0 ] ||
        tap_diag "$(grep -E 'bulk|process|suspend|resum|done|FAIL' \
            "$TL_DIR/$1.out" "$TL_DIR/${1}c.out")"
}

# ---- MQTT: pscom-migrate suspend / resume, 4 MiB messages ----
pair mq 400 4194304 PSP_SUSPEND_RESUME=1
mqtt_wait_agent "$TL_PID_mq" 30 || tap_bail "the agent did not subscribe"
in_flight "$TL_PID_mq"
tap_result $? "mq: $pend chunks of a 4 MiB message wait in a bulk area when the suspend comes"
"$mig" suspend "$H" -n 1 --broker "$B" >"$TL_DIR/s1" 2>&1
tap_result $? "mq: suspend: ALLOWED"
ivt_wait_free "$seg"
tap_result $? "mq: suspended: every frame back in the segment, bulk areas too"
grep -q "suspending (asked by the peer)" "$TL_DIR/mqc.out"
tap_result $? "mq: the peer, in the middle of its send, suspended passively"
touch "$TL_DIR/go-mq"
"$mig" resume "$H" -n 1 --broker "$B" >"$TL_DIR/r1" 2>&1
tap_result $? "mq: resume: COMPLETED"
finish mq "via susp: suspended"

# ---- PSP_SIGSUSPEND: SIGUSR1 toggles the suspend, 16 MiB messages ----
ivt_wait_free "$seg"
pair sig 160 16777216 PSP_SIGSUSPEND=10
in_flight "$TL_PID_sig"
tap_result $? "sig: $pend chunks of a 16 MiB message wait in a bulk area when the suspend comes"
kill -USR1 "$TL_PID_sig"
tl_wait_line "$TL_DIR/sig.out" 'process ALLOWED' 30
tap_result $? "sig: SIGUSR1: the process suspends"
ivt_wait_free "$seg"
tap_result $? "sig: suspended: every frame back in the segment, bulk areas too"
touch "$TL_DIR/go-sig"
kill -USR1 "$TL_PID_sig"
tl_wait_line "$TL_DIR/sig.out" 'process COMPLETED' 30
tap_result $? "sig: SIGUSR1 again: resumed"
finish sig "via susp: suspended"
exit "$(tap_status)"
