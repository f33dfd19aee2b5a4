#!/bin/bash
# Suspend while large messages stream over ivshmem (a real ivshmem-server
# segment): every 8th message is 4 MiB (MQTT round, real mosquitto) or
# 16 MiB (PSP_SIGSUSPEND round), far above the bulk threshold, so their
# data go through bulk areas. Both sides stop at halfway; then the peer
# streams on alone, at most 24 messages beyond what it received, so its
# second half is under way when the suspend comes and the rest of its
# large messages can only follow the resume. Suspended, every frame goes
# back to the segment (bulk areas included: used frames back to 0,
# ivshmem-info --json); after the resume the stream goes on over
# ivshmem, every message arrives once, in order, intact (susp_stream
# checks sequence and content), and both sides take bulk areas again
# (PSP_DEBUG=3 "bulk area taken" after the resume). Chunks seen waiting
# in a bulk area just before the suspend are reported as a diagnostic:
# the suspending process's worker drains its rings in the background, so
# their number at that instant is a matter of timing.
. "$top_srcdir/test/common/ivshmem-env.sh"
. "$top_srcdir/test/suspend/mqtt-env.sh"
ivt_server bulk 32
seg=$PSP_IVSHMEM_DEVICE
export PSP_MQTT_BROKER=$B PSP_POSTPONE_FEEDBACK=1 PSP_DEBUG=3
# A known geometry for bulk-pending.py (both sides read it).
export PSP_SHM_BULK_SLOTS=16 PSP_SHM_BULK_SLOT=65536
tap_plan 15

# pair NAME N LARGE [VAR=value...]: NAME (listening) and its peer NAMEc
# stream N messages each way; both stop at halfway (-h: neither sends
# more than N/2 before), NAME until $TL_DIR/go-NAME exists, without
# calling pscom, the peer until NAME is there too, still receiving (-s:
# NAME's last sends complete). Then the peer goes on alone, at most 24
# messages (three large ones) beyond what it received (-d 24): large
# messages of its second half are on their way when the suspend comes,
# and the rest of them can only follow after the resume, when NAME's
# second half arrives -- whatever the order the two were scheduled in.
# (NAME's suspend worker drains its rings in the background meanwhile,
# so whether chunks sit in the bulk area at the very instant of the
# suspend is a matter of timing: in_flight reports it as a diagnostic.)
pair() {
    _n=$1 _cnt=$2 _large=$3
    shift 3
    tl_start "$_n" env "$@" "$st" -l -n "$_cnt" -L "$_large" \
        -h $((_cnt / 2)) -g "$TL_DIR/go-$_n"
    tl_wait_line "$TL_DIR/$_n.out" '^port ' 30 || tap_bail "$_n did not listen"
    _port=$(awk '/^port/{print $2}' "$TL_DIR/$_n.out")
    tl_start "${_n}c" "$st" -c "127.0.0.1:$_port" -n "$_cnt" -L "$_large" \
        -h $((_cnt / 2)) -g "$TL_DIR/go-${_n}c" -s -d 24
    tl_wait_line "$TL_DIR/$_n.out" '^halfway' 60 || tap_bail "$_n: no halfway"
    tl_wait_line "$TL_DIR/${_n}c.out" '^halfway' 60 ||
        tap_bail "${_n}c: no halfway"
    touch "$TL_DIR/go-${_n}c"
}

# in_flight PID: wait until the peer's bulk area holds chunks of a large
# message that PID (computing, not calling pscom) has not drained.
in_flight() {
    for _ in $(seq 50); do
        "$(host_info)" --json "$seg" >"$TL_DIR/info.json" 2>/dev/null
        pend=$(python3 "$top_srcdir/test/common/bulk-pending.py" "$seg" \
            "$TL_DIR/info.json" 16 65536 "$1" probe)
        [ "$pend" -ge 1 ] && return 0
        tl_nap
    done
    return 1
}

# sleep_past_idle FILE: wait until the peer (log FILE) has gone on past
# halfway: its log grows after the "halfway" line, or give it 2 s.
sleep_past_idle() {
    for _ in $(seq 100); do
        awk '/^halfway/{r=1; next} r{f=1} END{exit !f}' "$1" && return 0
        tl_nap
    done
    return 0
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
sleep_past_idle "$TL_DIR/mqc.out"
! grep -q '^received' "$TL_DIR/mqc.out"
tap_result $? "mq: the peer is in the middle of its second half (4 MiB messages) when the suspend comes"
in_flight "$TL_PID_mq" && tap_diag "mq: $pend chunks waited in the bulk area just before the suspend"
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
sleep_past_idle "$TL_DIR/sigc.out"
! grep -q '^received' "$TL_DIR/sigc.out"
tap_result $? "sig: the peer is in the middle of its second half (16 MiB messages) when the suspend comes"
in_flight "$TL_PID_sig" && tap_diag "sig: $pend chunks waited in the bulk area just before the suspend"
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
