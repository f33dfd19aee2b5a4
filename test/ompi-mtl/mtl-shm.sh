#!/bin/bash
# The pscom MTL semantics smoke test over shm (see mtl-run.sh).
exec /bin/bash "$(dirname "$0")/mtl-run.sh" shm
