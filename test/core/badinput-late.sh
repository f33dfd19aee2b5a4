#!/bin/bash
# Hostile hand-shakes that cost the listener resources: see
# badinput_handshake.c ("late").
prog=${top_builddir:?top_builddir is not set}/test/core/badinput
[ -x "$prog" ] || { echo "Bail out! $prog is missing ('make check' builds it)"; exit 1; }
PSP_DEBUG=1 PSP_SHM=0 PSP_IVSHMEM=0 BT_TIMEOUT=120 exec "$prog" late
