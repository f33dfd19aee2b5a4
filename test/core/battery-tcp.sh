#!/bin/bash
# The transport battery over tcp (two processes, PSP_SHM=0).
exec /bin/bash "$(dirname "$0")/battery-run.sh" tcp
