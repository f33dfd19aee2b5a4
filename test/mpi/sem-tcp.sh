#!/bin/bash
# The semantics suite over the pscom MTL on tcp at 2, 4 and 8 ranks.
exec /bin/bash "$(dirname "$0")/sem-run.sh" pscom-tcp:2 pscom-tcp:4 pscom-tcp:8
