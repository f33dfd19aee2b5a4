#!/bin/bash
# The transport battery over the ivshmem plugin: two processes share a
# segment created by the real ivshmem-server (PSP_SHM=0, as two VMs).
. "$top_srcdir/test/common/ivshmem-env.sh"
ivt_server bat 8
/bin/bash "$top_srcdir/test/core/battery-run.sh" ivshmem
