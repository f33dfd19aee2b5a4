#!/bin/bash
# Bad input on a listening pscom socket (tcp): see badinput.c.
prog=${top_builddir:?top_builddir is not set}/test/core/badinput
[ -x "$prog" ] || { echo "Bail out! $prog is missing ('make check' builds it)"; exit 1; }
# PSP_DEBUG=1: libpscom reports bad peers as warnings (level 1); at the
# default level 0 it closes them without a word.
PSP_DEBUG=1 PSP_SHM=0 PSP_IVSHMEM=0 BT_TIMEOUT=120 exec "$prog"
