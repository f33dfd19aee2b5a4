#!/bin/bash
# The transport battery over the ivshmem plugin with both processes on one
# CPU (ranks sharing a core; the server runs anywhere): waits must yield.
. "$top_srcdir/test/common/ivshmem-env.sh"
ivt_server bat1 8
BT_ONE_CPU=1 /bin/bash "$top_srcdir/test/core/battery-run.sh" ivshmem
