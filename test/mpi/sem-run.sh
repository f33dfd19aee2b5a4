#!/bin/bash
# sem-run.sh MODE:NP... (run by sem-*.sh): the semantics suite mpi_sem
# under mpirun in each MODE (see mpi-env.sh) with NP ranks, at 2 ranks
# with the 64 MiB case; every case of the suite becomes a result here,
# plus mpirun's exit status and, over the component, that it was really
# selected and ran over the wanted transport; on ivshmem, that the job
# gave every frame back to the segment. The plan is printed last.
. "$top_srcdir/test/mpi/mpi-env.sh"
for run in "$@"; do
    mode=${run%:*} np=${run#*:}
    label=$mode-np$np
    args=""
    [ "$np" = 2 ] && args=--big
    mpi_run "$label" "$mode" "$np" "$MPI_SEM" $args
    rc=$?
    tap_result $rc "$label: mpirun exits 0"
    mpi_check "$label" "$mode" "$np"
    mpi_relay "$label"
    [ $rc -eq 0 ] || mpi_diag "$label"
    if [ "$mode" = pscom-ivshmem ]; then
        ivt_wait_free "$PSP_IVSHMEM_DEVICE"
        tap_is "$(ivt_used "$PSP_IVSHMEM_DEVICE")" 0 \
            "$label: every frame is back in the segment after the job"
    fi
done
tap_plan "$TAP_N"
exit "$(tap_status)"
