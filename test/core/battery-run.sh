#!/bin/bash
# battery-run.sh TRANSPORT -- run the transport battery over one transport.
# A transport's test is a one-line script naming it (battery-tcp.sh):
#   tcp      PSP_SHM=0 PSP_IVSHMEM=0            expect "tcp"
#   loop     a LOOP connection in one process   expect "loop"
#   shm      PSP_SHM=1 PSP_IVSHMEM=0            expect "shm"
#   ivshmem  PSP_IVSHMEM=1 PSP_SHM=0 (the calling script sets the device)
#                                               expect "ivshmem"
# Extra arguments go to the battery program. Output is TAP.
# BT_ONE_CPU=1 pins both ends to one CPU, as ranks that share a core
# (mpirun --oversubscribe): a memory transport that spins without ever
# yielding then pays a scheduler time slice per ring handoff, and the
# battery's large messages run into BT_TIMEOUT (default 30 s here).
set -u
transport=${1:?usage: battery-run.sh TRANSPORT}
shift
battery=${top_builddir:?top_builddir is not set}/test/core/battery
case $transport in
tcp) export PSP_SHM=0 PSP_IVSHMEM=0 ;;
loop) ;;
shm) export PSP_SHM=1 PSP_IVSHMEM=0 ;;
ivshmem) export PSP_IVSHMEM=1 PSP_SHM=0 ;;
*)
    echo "Bail out! unknown transport '$transport'"
    exit 1
    ;;
esac
if [ ! -x "$battery" ]; then
    echo "Bail out! $battery is missing ('make check' builds it)"
    exit 1
fi
pin=()
if [ "${BT_ONE_CPU:-0}" = 1 ]; then
    # The first CPU this process may run on ("0-1,3" -> 0).
    cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')
    case $cpu in
    '' | *[!0-9]*)
        echo "Bail out! cannot find a CPU to pin to (taskset -pc $$)"
        exit 1
        ;;
    esac
    pin=(taskset -c "$cpu")
    export BT_TIMEOUT=${BT_TIMEOUT:-30}
fi
exec "${pin[@]}" "$battery" --expect "$transport" "$@"
