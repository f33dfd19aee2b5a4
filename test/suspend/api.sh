#!/bin/bash
# pscom_shutdown_connection() / pscom_resume_connection() while two
# processes stream numbered messages both ways (tcp and shm): the
# connection is suspended (state and type "suspended"), sends posted then
# wait, after the resume every message arrives exactly once and in order;
# the peer, not suspending itself, follows passively and reconnects. Both
# suspending at once; eight connections with one suspended; and
# PSP_SIGSUSPEND toggling the process-wide suspend.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
st=$top_builddir/test/suspend/susp_stream
[ -x "$st" ] || tap_bail "$st is missing (make check builds it)"
tl_init
export PSP_IVSHMEM=0
tap_plan 16

# pair NAME "server options" "client options": run a pair to the end.
pair() {
    tl_start "${1}_s" "$st" -l $2
    tl_wait_line "$TL_DIR/${1}_s.out" '^port ' 30 ||
        tap_bail "$1: server did not listen"
    _port=$(awk '/^port/{print $2}' "$TL_DIR/${1}_s.out")
    tl_start "${1}_c" "$st" -c "127.0.0.1:$_port" $3
    _rc=0
    tl_wait_exit "${1}_s" 120 || _rc=1
    tl_wait_exit "${1}_c" 120 || _rc=1
    [ $_rc -eq 0 ] || tap_diag "$(tail -n 5 "$TL_DIR/${1}_s.out" "$TL_DIR/${1}_c.out")"
    return $_rc
}

for t in tcp shm; do
    if [ $t = tcp ]; then export PSP_SHM=0; else unset PSP_SHM; fi
    pair $t "-n 3000 -a 1700" "-n 3000 -a 300"
    tap_result $? "$t: both finish, every message once and in order"
    grep -q "^api suspended state=suspended type=susp" "$TL_DIR/${t}_c.out" &&
        grep -q "^api suspended state=suspended type=susp" "$TL_DIR/${t}_s.out"
    tap_result $? "$t: after pscom_shutdown_connection() state and type are 'suspended'"
    q=$(awk '/^api queued/{print $3}' "$TL_DIR/${t}_c.out")
    [ "${q:-0}" -gt 0 ]
    tap_result $? "$t: $q sends waited while suspended (none completed)"
    grep -q "^done ok type=$t" "$TL_DIR/${t}_c.out" &&
        grep -q "^done ok type=$t" "$TL_DIR/${t}_s.out"
    tap_result $? "$t: the connection is back on $t"
done
unset PSP_SHM

pair both "-n 2000 -a 500" "-n 2000 -a 500"
tap_result $? "both sides suspend at the same point: no loss, no hang"

pair many "-n 1000 -m 8 -a 400" "-n 1000 -m 8"
tap_result $? "eight connections, one suspended and resumed: all complete"

pair small "-n 4000 -L 64 -a 3999" "-n 4000 -L 64 -a 1"
tap_result $? "suspend right after the first and before the last message"

# Every 8th message 4 MiB: over shm they go through the bulk area in
# chunks, so the suspends land while large messages are in flight.
pair large "-n 400 -L 4194304 -a 201" "-n 400 -L 4194304 -a 97"
tap_result $? "shm: suspend while 4 MiB messages stream (bulk area): no loss"

# PSP_SIGSUSPEND: SIGUSR1 toggles the process-wide suspend; the worker
# does it while the application computes (it waits for a file without
# calling pscom), and the peer follows passively.
PSP_SIGSUSPEND=10 PSP_DEBUG=2 tl_start sig_s "$st" -l -n 2000 -h 1000 \
    -g "$TL_DIR/go"
tl_wait_line "$TL_DIR/sig_s.out" '^port ' 30 || tap_bail "no port"
port=$(awk '/^port/{print $2}' "$TL_DIR/sig_s.out")
tl_start sig_c "$st" -c "127.0.0.1:$port" -n 2000
tl_wait_line "$TL_DIR/sig_s.out" '^halfway' 60 || tap_bail "no halfway"
kill -USR1 "$TL_PID_sig_s"
tl_wait_line "$TL_DIR/sig_s.out" 'process ALLOWED' 30
tap_result $? "SIGUSR1: the process suspends (worker thread, no pscom call)"
grep -q 'via susp: suspended' "$TL_DIR/sig_s.out"
tap_result $? "SIGUSR1: its connection is suspended"
touch "$TL_DIR/go"
kill -USR1 "$TL_PID_sig_s"
tl_wait_line "$TL_DIR/sig_s.out" 'process COMPLETED' 30
tap_result $? "SIGUSR1 again: resumed"
rc=0
tl_wait_exit sig_s 120 || rc=1
tl_wait_exit sig_c 120 || rc=1
grep -q '^done ok type=shm' "$TL_DIR/sig_s.out" || rc=1
tap_result $rc "SIGUSR1: both finish, back on shm"
[ $TAP_FAILED -eq 0 ] || tap_diag "$(tail -n 5 "$TL_DIR/sig_s.out" "$TL_DIR/sig_c.out")"
exit "$(tap_status)"
