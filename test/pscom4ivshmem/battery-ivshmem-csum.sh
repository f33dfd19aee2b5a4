#!/bin/bash
# The transport battery over the ivshmem plugin with the per-message
# checksum on (PSP_IVSHMEM_CHECKSUM=1): every message carries its CRC32C
# trailer, and nothing of the battery may notice.
. "$top_srcdir/test/common/ivshmem-env.sh"
ivt_server batc 8
PSP_IVSHMEM_CHECKSUM=1 /bin/bash "$top_srcdir/test/core/battery-run.sh" ivshmem
