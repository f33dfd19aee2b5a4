#!/bin/sh
# ivshmem-server at its descriptor limit (issue 21, item 6): clients
# beyond RLIMIT_NOFILE must not spin the accept loop (it logged "accept:
# Too many open files" 262,000 times in 2 s): the log line is rate-limited
# and the server stays idle while the backlog waits, and a good client is
# served once descriptors are free again.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
tl_need python3 prlimit
CLIENT="$top_srcdir/test/server/ivsrv_client.py"
HOLDERS=3
tap_plan 6

host_server_start lim -m 1 -n 1 || tap_bail "$(cat "$HOST_LOG")"
eval "SPID=\$TL_PID_lim"
for i in $(seq 1 $HOLDERS); do
    tl_start "h$i" python3 "$CLIENT" "$HOST_SOCK" hold
done
tl_wait_line "$HOST_LOG" "connected \($HOLDERS peers\)" 60
tap_result $? "$HOLDERS peers connected"
# Lower the limit (like "ulimit -n", but exact) to the lowest descriptor
# number not in use: the next accept fails with EMFILE. The server runs
# under sh -c ... exec: the same pid.
lim=$(ls /proc/"$SPID"/fd | sort -n |
    awk 'BEGIN { n = 0 } $1 == n { n++ } END { print n }')
prlimit --pid "$SPID" --nofile="$lim:$lim" ||
    tap_bail "prlimit --pid $SPID failed"
tap_diag "descriptor limit $lim"
for i in 1 2 3 4; do
    tl_start "p$i" python3 "$CLIENT" "$HOST_SOCK" pend
done
tl_wait_line "$HOST_LOG" "Too many open files" 60
tap_result $? "accept at the limit: EMFILE logged"

# Observe the server for two seconds while the backlog cannot be
# accepted: a bounded number of log lines and of CPU ticks.
ticks() { awk '{ print $14 + $15 }' /proc/"$SPID"/stat; }
l0=$(wc -l <"$HOST_LOG") t0=$(ticks)
sleep 2
l1=$(wc -l <"$HOST_LOG") t1=$(ticks)
hz=$(getconf CLK_TCK)
tap_ok "at most 5 log lines in 2 s at the limit (got $((l1 - l0)))" \
    test $((l1 - l0)) -le 5
tap_ok "server CPU below 25 % of the 2 s (got $((t1 - t0)) of $((2 * hz)) ticks)" \
    test $((t1 - t0)) -lt $((hz / 2))

# Free descriptors: the pending connections and two holders leave; a
# good client then gets the whole set-up (one other peer left).
for i in 1 2 3 4; do
    eval "kill -KILL \$TL_PID_p$i"
    tl_wait_exit "p$i" 60 # gone before a holder leaves and frees room
done
kill -KILL "$TL_PID_h1" "$TL_PID_h2"
tl_wait_line "$HOST_LOG" "disconnected \(1 peer\)" 60
timeout 60 python3 "$CLIENT" "$HOST_SOCK" expect 1 1 >"$TL_DIR/good.out" 2>&1
tap_result $? "a good client is served once descriptors are free"
host_server_stop lim
tap_is $? 0 "server exits 0"
exit "$(tap_status)"
