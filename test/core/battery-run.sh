#!/bin/bash
# battery-run.sh TRANSPORT -- run the transport battery over one transport.
# A transport's test is a one-line script naming it (battery-tcp.sh):
#   tcp      PSP_SHM=0 PSP_IVSHMEM=0            expect "tcp"
#   loop     a LOOP connection in one process   expect "loop"
#   shm      PSP_SHM=1 PSP_IVSHMEM=0            expect "shm"
#   ivshmem  PSP_IVSHMEM=1 PSP_SHM=0 (the calling script sets the device)
#                                               expect "ivshmem"
# Extra arguments go to the battery program. Output is TAP.
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
exec "$battery" --expect "$transport" "$@"
