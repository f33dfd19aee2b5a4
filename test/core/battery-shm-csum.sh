#!/bin/bash
# The transport battery over the built-in shm transport with the
# per-message checksum on (PSP_IVSHMEM_CHECKSUM=1 covers both memory
# transports).
PSP_IVSHMEM_CHECKSUM=1 exec /bin/bash "$top_srcdir/test/core/battery-run.sh" shm
