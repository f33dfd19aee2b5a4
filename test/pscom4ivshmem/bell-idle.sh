#!/bin/bash
# Doorbell waits on the host (PSP_IVSHMEM_DOORBELL=auto, eventfds from
# the real ivshmem-server's socket): a pscom_pp server that waits for a
# message which does not come (its client stopped) sleeps instead of
# polling -- its CPU time over 5 s (utime + stime of /proc/PID/stat) is
# under 5 % of one core; the same wait with PSP_IVSHMEM_DOORBELL=0 polls
# (reported, not asserted: the machine is shared). Then the client is
# killed while the server sleeps on it: the server gets an error and
# exits instead of sleeping for ever.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 9
ivt_server idle 4
export PSP_IVSHMEM_SOCKET=$HOST_SOCK PSP_DEBUG=2

# cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15; the
# command name in field 2 has no spaces here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# idle_cpu NAME DOORBELL: a connected pair, the client stopped while the
# server waits for its next message; sets CPU to the server's CPU % over
# 5 s (not in a subshell: the pids stay known).
idle_cpu() {
    tl_start "s$1" env PSP_IVSHMEM_DOORBELL="$2" "$pp" -l 0
    tl_wait_line "$TL_DIR/s$1.out" '^Waiting for client: ' ||
        tap_bail "pscom_pp server did not start: $(cat "$TL_DIR/s$1.out")"
    _addr=$(sed -n 's/^Waiting for client: //p' "$TL_DIR/s$1.out")
    tl_start "c$1" env PSP_IVSHMEM_DOORBELL="$2" "$pp" --minsize 0 \
        --maxsize 4K --loops 200 --verify --linger 120 "$_addr"
    tl_wait_line "$TL_DIR/c$1.out" '^lingering' ||
        tap_bail "client did not finish: $(cat "$TL_DIR/c$1.out")"
    eval "kill -STOP \$TL_PID_c$1"
    eval "_spid=\$TL_PID_s$1"
    # The server's own pid (env exec'ed it: the same process).
    _t0=$(cpu_ticks "$_spid")
    sleep 5 # the measurement interval, not a wait for readiness
    _t1=$(cpu_ticks "$_spid")
    CPU=$(((_t1 - _t0) * 100 / (5 * hz)))
}

idle_cpu b auto
bell=$CPU
tap_is "$(cat "$TL_DIR/sb.out" "$TL_DIR/cb.out" |
    grep -c 'ivshmem: doorbell: peer id')" 2 "both processes got a doorbell"
tap_is "$(grep -c 'via ivshmem\|ivshmem' "$TL_DIR/cb.out" | tr -d ' ' |
    awk '{ print ($1 > 0) }')" 1 "the pair talks ivshmem"
[ "$bell" -lt 5 ]
tap_result $? "idle waiting server with doorbell: ${bell}% CPU over 5 s (< 5%)"
grep -q 'verify failed\|is wrong' "$TL_DIR/cb.out"
tap_result $((!$?)) "ping-pong data verified with doorbell waits"

# The client dies while the server sleeps on it: an error, not a hang.
kill -KILL "$TL_PID_cb"
tl_wait_exit sb 30
rc=$?
[ "$rc" != 124 ]
tap_result $? "server sleeping on a killed peer wakes and exits (exit $rc)"
grep -q 'via ivshmem: end of file (read)' "$TL_DIR/sb.out"
tap_result $? "... reporting the connection's end (EOF on the control socket)"

idle_cpu p 0
poll=$CPU
tap_diag "idle waiting server polling (PSP_IVSHMEM_DOORBELL=0): ${poll}% CPU"
grep -q 'doorbell off (PSP_IVSHMEM_DOORBELL=0)' "$TL_DIR/sp.out"
tap_result $? "PSP_IVSHMEM_DOORBELL=0 says so at PSP_DEBUG=2"
[ "$poll" -gt "$bell" ]
tap_result $? "polling costs more CPU than sleeping (${poll}% > ${bell}%)"
kill -KILL "$TL_PID_cp"
tl_wait_exit sp 30
[ $? != 124 ]
tap_result $? "the polling server exits too (no hang)"
