#!/bin/bash
# mpirun -np 4: a full mesh of pscom tcp connections built from the
# launcher's environment (test/common/mesh.c), then an all-to-all with
# verification, bcast from every root and checked barriers; once with
# blocking connects (lower rank connects) and once on demand. Then the
# same without mpirun: 3 processes given PMI_RANK/PMI_SIZE by hand.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
NP=4
CHECKS="mesh types alltoall bcast barrier"
prog=$top_builddir/test/core/mesh_test

tl_init
tl_need mpirun python3
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
PMI_NP=3
tap_plan $((2 * (1 + NP * 5) + PMI_NP * 6))

check_ranks() { # LABEL NP OUTPUT
    for r in $(seq 0 $(($2 - 1))); do
        for c in $CHECKS; do
            grep -q "^RESULT $r ok $c\$" "$3"
            tap_result $? "$1: rank $r: $c"
            grep "^WHY $r $c:" "$3" | sed 's/^/# /'
        done
    done
}

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
    check_ranks "$label" $NP "$dir.out"
}

run_mesh connect --expect tcp
run_mesh ondemand --expect tcp --ondemand

# Without mpirun: the PMI_RANK/PMI_SIZE path of mesh.c.
dir=$TL_DIR/pmi
mkdir -p "$dir"
for r in $(seq 0 $((PMI_NP - 1))); do
    MESH_DIR=$dir PMI_RANK=$r PMI_SIZE=$PMI_NP PSP_SHM=0 PSP_IVSHMEM=0 \
        tl_start "pmi$r" "$prog" --expect tcp
done
for r in $(seq 0 $((PMI_NP - 1))); do
    tl_wait_exit "pmi$r" 120
    tap_result $? "pmi: rank $r exits 0"
done
cat "$TL_DIR"/pmi?.out >"$dir.out"
check_ranks pmi $PMI_NP "$dir.out"
exit "$(tap_status)"
