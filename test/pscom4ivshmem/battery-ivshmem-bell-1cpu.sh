#!/bin/bash
# battery-ivshmem-bell.sh with both ends pinned to one CPU (ranks that
# share a core): a waiter that sleeps on its doorbell hands the core to
# the peer it waits for, and every hand-off crosses a sleep and a
# wake-up (PSP_SPIN_US=1). A lost wake-up hangs it (BT_TIMEOUT).
. "$top_srcdir/test/common/ivshmem-env.sh"
ivt_server bell1 8
export PSP_IVSHMEM_SOCKET=$HOST_SOCK PSP_IVSHMEM_DOORBELL=auto PSP_SPIN_US=1
BT_ONE_CPU=1 /bin/bash "$top_srcdir/test/core/battery-run.sh" ivshmem
