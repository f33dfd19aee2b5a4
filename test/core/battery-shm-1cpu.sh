#!/bin/bash
# The transport battery over the built-in shm transport with both
# processes on one CPU (ranks sharing a core): waits must yield the CPU.
export BT_ONE_CPU=1
exec /bin/bash "$top_srcdir/test/core/battery-run.sh" shm
