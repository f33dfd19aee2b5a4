#!/bin/bash
# The transport battery over the built-in shm transport (two processes of
# one OS, PSP_IVSHMEM=0).
exec /bin/bash "$top_srcdir/test/core/battery-run.sh" shm
