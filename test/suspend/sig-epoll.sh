#!/bin/bash
# PSP_SIGSUSPEND signals to a process asleep in epoll_wait (a listener
# waiting for its first connection): each one interrupts epoll_wait
# (EINTR, no error) and toggles the suspend. The wake-up read that follows
# an interrupted epoll_wait used to overwrite errno with EAGAIN, and every
# signal logged "pscom: epoll_wait: Resource temporarily unavailable".
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
st=$top_builddir/test/suspend/susp_stream
[ -x "$st" ] || tap_bail "susp_stream missing"
tl_init
K=8
tap_plan 3

export PSP_SIGSUSPEND=10 PSP_DEBUG=2 PSP_SUSPEND_RESUME=0
tl_start srv "$st" -l -n 1
tl_wait_line "$TL_DIR/srv.out" '^port ' 30 || tap_bail "srv did not listen"
answers() { grep -cE 'pscom: process (ALLOWED|COMPLETED)' "$TL_DIR/srv.out"; }
rc=0
for i in $(seq $K); do
    # One signal at a time, each once the previous one was handled: the
    # main thread is asleep in epoll_wait in between (nothing to do).
    kill -USR1 "$TL_PID_srv"
    end=$(($(date +%s) + 30))
    while [ "$(answers)" -lt "$i" ]; do
        [ "$(date +%s)" -gt "$end" ] && { rc=1; break 2; }
        tl_nap
    done
done
tap_result $rc "$K signals toggled the suspend $K times"
! grep -q 'epoll_wait' "$TL_DIR/srv.out"
tap_result $? "no epoll_wait error was logged"
kill -0 "$TL_PID_srv"
tap_result $? "the listener is alive"
[ $TAP_FAILED -eq 0 ] || tap_diag "$(tail -n 20 "$TL_DIR/srv.out")"
exit "$(tap_status)"
