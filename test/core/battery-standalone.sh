#!/bin/bash
# The battery's standalone mode, as used between machines or VMs: one
# process started with --server prints its address, another started with
# --client ADDR connects; each runs the pair cases and prints TAP. Here
# both run over tcp on this host; the test passes when both sides pass.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
battery=$top_builddir/test/core/battery
[ -x "$battery" ] || tap_bail "$battery is missing ('make check' builds it)"
export PSP_SHM=0 PSP_IVSHMEM=0
tl_init
tap_plan 3

tl_start server "$battery" --server --expect tcp
tl_wait_line "$TL_DIR/server.out" '^# Waiting for client: ' ||
    { cat "$TL_DIR/server.out"; tap_bail "the battery server did not start"; }
addr=$(sed -n 's/^# Waiting for client: //p' "$TL_DIR/server.out")
tl_start client "$battery" --client "$addr" --expect tcp
tl_wait_exit client 240
tap_result $? "client side: every pair case passes"
tl_wait_exit server 60
tap_result $? "server side: every pair case passes"
n=$(cat "$TL_DIR/server.out" "$TL_DIR/client.out" | grep -c '^ok ')
want=$(( 2 * $(sed -n 's/^1\.\.//p' "$TL_DIR/server.out") ))
tap_is "$n" "$want" "both sides report every case"
grep -v '^ok ' "$TL_DIR/server.out" "$TL_DIR/client.out" | sed 's/^/# /'
exit "$(tap_status)"
