#!/bin/bash
# mpirun -np 4 --oversubscribe -x PSP_IVSHMEM=1 -x PSP_SHM=0: a full mesh
# of ivshmem connections on one real ivshmem-server segment (the four
# ranks behave like four VMs), then all-to-all with verification, bcast
# from every root and barriers (test/common/mesh.c through
# test/core/mesh_test); blocking connects and on demand. Afterwards every
# frame is back in the segment.
. "$top_srcdir/test/common/ivshmem-env.sh"
NP=4
CHECKS="mesh types alltoall bcast barrier"
prog=$top_builddir/test/core/mesh_test

tl_need mpirun
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
tap_plan $((2 * (2 + NP * 5)))
ivt_server mesh 16

run_mesh() { # LABEL ARGS...
    label=$1
    shift
    dir=$TL_DIR/$label
    mkdir -p "$dir"
    MESH_DIR=$dir timeout -k 5 120 mpirun $(tl_mpirun_opts) -np $NP \
        -x MESH_DIR -x PSP_SHM -x PSP_IVSHMEM -x PSP_IVSHMEM_DEVICE \
        -x PSP_PLUGINDIR "$prog" "$@" >"$dir.out" 2>&1
    rc=$?
    tap_result $rc "$label: mpirun -np $NP exits 0"
    [ $rc -eq 0 ] || tail -n 30 "$dir.out" | sed 's/^/# /'
    for r in $(seq 0 $((NP - 1))); do
        for c in $CHECKS; do
            grep -q "^RESULT $r ok $c\$" "$dir.out"
            tap_result $? "$label: rank $r: $c"
            grep "^WHY $r $c:" "$dir.out" | sed 's/^/# /'
        done
    done
    ivt_wait_free "$PSP_IVSHMEM_DEVICE"
    tap_is "$(ivt_used "$PSP_IVSHMEM_DEVICE")" 0 \
        "$label: every frame is back after the run"
}

run_mesh connect --expect ivshmem
run_mesh ondemand --expect ivshmem --ondemand
exit "$(tap_status)"
