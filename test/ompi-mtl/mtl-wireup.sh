#!/bin/bash
# Wire-up without a full mesh: mpirun -np 8 over the pscom MTL (tcp,
# PSP_DEBUG=2 logs every connection set-up). MPI_Init and MPI_Finalize
# alone open no connection to another rank; a ring (each rank sends to its right
# neighbour, receives from MPI_ANY_SOURCE) opens exactly the 8 neighbour
# connections (each logged by both ends), not the 28 of a full mesh, and
# every receive gets its left neighbour's message though that rank never
# sent to it before.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
tl_init
. "$top_srcdir/test/ompi-mtl/mtl-env.sh"
prog=$top_builddir/test/ompi-mtl/mtl_smoke
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
tl_need mpirun
NP=8
tap_plan 5
export PSP_DEBUG=2 PSP_SHM=0 PSP_IVSHMEM=0

mtl_run init $NP "$prog" --init-only
tap_is "$?:$(grep -c '^INIT' "$TL_DIR/init.out")" "0:$NP" \
    "MPI_Init/MPI_Finalize with $NP ranks"
tap_is "$(grep 'connected via' "$TL_DIR/init.out" | grep -vc 'via loop$')" 0 \
    "MPI_Init opens no connection to another rank (only each one's loop)"

mtl_run ring $NP "$prog" --ring
tap_is $? 0 "ring of $NP ranks exits 0"
tap_is "$(grep -c '^RING [0-9]* ok' "$TL_DIR/ring.out")" $NP \
    "every rank received its left neighbour's message from MPI_ANY_SOURCE"
tap_is "$(grep -c 'connected via tcp' "$TL_DIR/ring.out")" $((2 * NP)) \
    "the ring opened $NP connections (both ends log each)"
[ "$TAP_FAILED" -eq 0 ] || tap_diag "$(tail -30 "$TL_DIR/ring.out")"
exit "$(tap_status)"
