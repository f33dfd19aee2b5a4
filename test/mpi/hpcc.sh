#!/bin/bash
# Debian's hpcc (HPC Challenge, linked against libopenmpi3) unchanged over
# the pscom MTL on shm and on ivshmem, 2 ranks, with a tiny problem (HPL
# N=400): it must pass its own checks (Success=1, HPL residual PASSED, no
# RandomAccess errors) and give the same verification values as a run
# under Open MPI's ob1/vader (HPL residual norms, PTRANS residual,
# RandomAccess errors, FFT error).
. "$top_srcdir/test/mpi/mpi-env.sh"
tl_need hpcc
NP=2
FIELDS="Success HPL_N HPL_RnormI HPL_Xnorm1 HPL_XnormI PTRANS_residual
MPIRandomAccess_LCG_Errors MPIRandomAccess_Errors MPIFFT_maxErr CommWorldProcs"
for mode in ob1-vader pscom-shm pscom-ivshmem; do
    d=$TL_DIR/hpcc-$mode
    mkdir -p "$d"
    cp "$top_srcdir/test/mpi/hpccinf.txt" "$d/"
    # --wdir, not a subshell: mpi_mode starts the ivshmem-server, which
    # must be this shell's child for the cleanup trap to stop it.
    mpi_run "hpcc-$mode" "$mode" $NP --wdir "$d" hpcc
    rc=$?
    tap_result $rc "hpcc $mode: mpirun exits 0"
    [ $rc -eq 0 ] || mpi_diag "hpcc-$mode"
    mpi_check "hpcc-$mode" "$mode" $NP
    grep -q '^Success=1$' "$d/hpccoutf.txt" 2>/dev/null &&
        grep -q 'N)= *[0-9.e+-]* \.\.\.\.\.\. PASSED' "$d/hpccoutf.txt" &&
        grep -q '^MPIRandomAccess_Errors=0$' "$d/hpccoutf.txt"
    tap_result $? "hpcc $mode: Success=1, HPL PASSED, RandomAccess without errors"
    for f in $FIELDS; do
        sed -n "s/^$f=//p" "$d/hpccoutf.txt" 2>/dev/null | head -n 1
    done >"$d/fields"
    if [ "$mode" != ob1-vader ]; then
        diff "$TL_DIR/hpcc-ob1-vader/fields" "$d/fields" >"$d/fields.diff"
        tap_result $? "hpcc $mode: the same verification values as under ob1/vader"
        sed 's/^/# /' "$d/fields.diff"
    fi
done
tap_plan "$TAP_N"
exit "$(tap_status)"
