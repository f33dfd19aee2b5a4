#!/bin/bash
# mpirun -np 4: a full mesh of pscom tcp connections built from the
# launcher's environment (test/common/mesh.c), then an all-to-all with
# verification, bcast from every root and checked barriers; once with
# blocking connects (lower rank connects) and once on demand.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
NP=4
CHECKS="mesh types alltoall bcast barrier"
prog=$top_builddir/test/core/mesh_test

tl_init
tl_need mpirun python3
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
tap_plan $((2 * (1 + NP * 5)))

run_mesh() { # LABEL ARGS...
    label=$1
    shift
    dir=$TL_DIR/$label
    mkdir -p "$dir"
    MESH_DIR=$dir PSP_SHM=0 PSP_IVSHMEM=0 \
        timeout -k 5 120 mpirun $(tl_mpirun_opts) -np $NP -x MESH_DIR -x PSP_SHM -x PSP_IVSHMEM "$prog" "$@" \
        >"$dir.out" 2>&1
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
}

run_mesh connect --expect tcp
run_mesh ondemand --expect tcp --ondemand
exit "$(tap_status)"
