#!/bin/bash
# mtl-run.sh TRANSPORT: test/ompi-mtl/mtl_smoke (every point-to-point
# semantic, collectives, MPI_THREAD_MULTIPLE) under a real mpirun with 2
# and 4 ranks over the pscom MTL, on one transport: tcp (PSP_SHM=0), shm,
# or ivshmem (PSP_SHM=0 on a real ivshmem-server segment). Each rank-0
# TAP line becomes a line here; then: every run exits 0 and its
# connections used the transport asked for.
tr=${1:?usage: mtl-run.sh tcp|shm|ivshmem}
. "$top_srcdir/test/ompi-mtl/mtl-env.sh"
mtl_init "$tr"
prog=$top_builddir/test/ompi-mtl/mtl_smoke
tl_need mpirun
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
tap_plan $((2 * (MTL_CHECKS + 2)))

export PSP_DEBUG=2
case $tr in
tcp) export PSP_SHM=0 PSP_IVSHMEM=0 ;;
shm) export PSP_SHM=1 PSP_IVSHMEM=0 ;;
ivshmem) ivt_server mtl 64 ;;
*) tap_bail "unknown transport $tr" ;;
esac

for np in 2 4; do
    label=$tr-np$np
    mtl_run "$label" "$np" "$prog"
    rc=$?
    tap_result $rc "$label: mpirun -np $np exits 0"
    [ $rc -eq 0 ] || grep -v "^ok\|pscom: .*connected via" \
        "$TL_DIR/$label.out" | tail -n 30 | sed 's/^/# /'
    mtl_tap "$label"
    mtl_via "$label" "$tr"
    tap_result $? "$label: connections via $tr"
done
exit "$(tap_status)"
