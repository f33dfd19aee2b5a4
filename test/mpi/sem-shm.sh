#!/bin/bash
# The semantics suite over the pscom MTL on shm at 2, 4 and 8 ranks.
exec /bin/bash "$(dirname "$0")/sem-run.sh" pscom-shm:2 pscom-shm:4 pscom-shm:8
