#!/bin/bash
# mtl-suspend.sh on a real ivshmem-server segment (PSP_SHM=0).
exec /bin/bash "$(dirname "$0")/mtl-suspend.sh" ivshmem
