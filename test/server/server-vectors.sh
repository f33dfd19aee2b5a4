#!/bin/sh
# ivshmem-server -n 64 with 8 real QEMU guests and a slow raw client
# (issue 21, item 7): each set-up is 3 + 64 * peers + 64 fd-carrying
# messages, far more than a socket buffer holds (about 278); the server
# queues them per peer and sends as the peer reads. Every QEMU must end
# up with the eventfds of all 8 guests (8 * 64), the slow client with
# the complete set-up in order, and nobody "lost during set-up".
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
tl_need qemu-system-x86_64 python3
CLIENT="$top_srcdir/test/server/ivsrv_client.py"
GUESTS=8
NV=64
tap_plan 6

# eventfds PID: how many eventfds the process holds
eventfds() { ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'anon_inode:\[eventfd\]'; }
# wait_eventfds MIN: every QEMU holds at least MIN eventfds (60 s)
wait_eventfds() {
    _end=$(($(date +%s) + 60))
    while :; do
        _short=0
        for _q in $(seq 1 $GUESTS); do
            eval "_p=\$TL_PID_q$_q"
            [ "$(eventfds "$_p")" -ge "$1" ] || _short=1
        done
        [ $_short -eq 0 ] && return 0
        [ "$(date +%s)" -gt "$_end" ] && return 1
        tl_nap
    done
}

host_server_start srv -m 4 -n $NV || tap_bail "$(cat "$HOST_LOG")"
for q in $(seq 1 $GUESTS); do
    # -S: no guest runs; the device is realised and served by QEMU's
    # main loop, which is all the protocol needs.
    tl_start "q$q" qemu-system-x86_64 -machine pc -accel tcg -S \
        -display none -nic none -nodefaults -m 32 \
        -chardev "socket,path=$HOST_SOCK,id=iv" \
        -device "ivshmem-doorbell,chardev=iv,vectors=$NV"
done
tl_wait_line "$HOST_LOG" "connected \($GUESTS peers\)|lost during" 120
tap_ok "$GUESTS QEMU guests with $NV vectors connected" \
    grep -qE "connected \($GUESTS peers\)" "$HOST_LOG"
wait_eventfds $((GUESTS * NV))
tap_result $? "every QEMU holds the $((GUESTS * NV)) eventfds of all guests"
alive=0
for q in $(seq 1 $GUESTS); do
    eval "kill -0 \$TL_PID_q$q" 2>/dev/null && alive=$((alive + 1))
done
tap_is "$alive" $GUESTS "all QEMUs still running"

# A raw client that reads nothing until the server has queued its whole
# set-up (and the guests' copies of its vectors), then one message at a
# time.
timeout 120 python3 "$CLIENT" "$HOST_SOCK" expect $NV $GUESTS \
    "$HOST_LOG" "connected \($((GUESTS + 1)) peers\)|lost during" \
    >"$TL_DIR/slow.out" 2>&1
tap_result $? "slow raw client gets all $((3 + (GUESTS + 1) * NV)) messages in order"
tap_diag "$(cat "$TL_DIR/slow.out")"
if grep -q "lost during\|dropped" "$HOST_LOG"; then r=1; else r=0; fi
tap_result $r "nobody lost during set-up or dropped"
host_server_stop srv
tap_is $? 0 "server exits 0"
exit "$(tap_status)"
