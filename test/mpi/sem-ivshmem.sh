#!/bin/bash
# The semantics suite over the pscom MTL on ivshmem (a real ivshmem-server segment, PSP_SHM=0) at 2, 4 and 8 ranks.
exec /bin/bash "$(dirname "$0")/sem-run.sh" pscom-ivshmem:2 pscom-ivshmem:4 pscom-ivshmem:8
