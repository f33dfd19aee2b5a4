#!/bin/bash
# The transport battery over the ivshmem plugin with doorbell waits: both
# processes get their eventfds from the real ivshmem-server's socket
# (PSP_IVSHMEM_SOCKET, QEMU's protocol) and sleep on them after
# PSP_SPIN_US without progress, so every hand-off the battery makes may
# cross a sleep: a lost wake-up hangs it (BT_TIMEOUT). PSP_SPIN_US=1
# makes almost every wait sleep.
. "$top_srcdir/test/common/ivshmem-env.sh"
ivt_server bell 8
export PSP_IVSHMEM_SOCKET=$HOST_SOCK PSP_IVSHMEM_DOORBELL=auto PSP_SPIN_US=1
/bin/bash "$top_srcdir/test/core/battery-run.sh" ivshmem
