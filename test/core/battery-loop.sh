#!/bin/bash
# The transport battery on a LOOP connection (one process).
exec /bin/bash "$(dirname "$0")/battery-run.sh" loop
