#!/bin/bash
# An idle MPI rank sleeps on the ivshmem doorbell: two ranks over the
# pscom MTL on a real ivshmem-server segment (PSP_SHM=0), host processes
# with eventfds from the server's socket (PSP_IVSHMEM_SOCKET). Rank 1
# blocks in MPI_Recv for 5 s while rank 0 sleeps before it sends: with
# the doorbell it sleeps (voluntary context switches) and its CPU time is
# under 5 % of a core; with PSP_IVSHMEM_DOORBELL=0 it polls: it never
# sleeps and spends more CPU (its CPU % is reported, not asserted against
# a fixed bound: on a loaded machine a polling rank that yields gets
# only its share). The message arrives verified. A rank that computes
# between MPI_Test calls is never put to sleep and gets its message.
# Round trips after 20 ms idle (rank 1 asleep) are answered, verified.
# Last, the semantics checks of mtl_smoke without MPI threads (so that
# waiting ranks do sleep) with 4 ranks on the doorbell segment.
. "$top_srcdir/test/ompi-mtl/mtl-env.sh"
mtl_init ivshmem
prog=$top_builddir/test/ompi-mtl/mtl_idle
tl_need mpirun
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
tap_plan $((16 + MTL_CHECKS_SINGLE + 1))
ivt_server idle 16
export PSP_IVSHMEM_SOCKET=$HOST_SOCK PSP_DEBUG=2

# idle_run LABEL MODE DOORBELL: sets CPU to rank 1's CPU % and SLEEPS to
# its waiting thread's voluntary context switches ("" if none).
idle_run() {
    PSP_IVSHMEM_DOORBELL=$3 mtl_run "$1" 2 "$prog" "$2" 5
    _rc=$?
    tap_result $_rc "$1: mpirun exits 0"
    [ $_rc -eq 0 ] || tail -n 20 "$TL_DIR/$1.out" | sed 's/^/# /'
    CPU=$(sed -n 's/^cpu \([0-9]*\)$/\1/p' "$TL_DIR/$1.out")
    SLEEPS=$(sed -n 's/^sleeps \([0-9]*\)$/\1/p' "$TL_DIR/$1.out")
    grep -q '^data ok$' "$TL_DIR/$1.out"
    tap_result $? "$1: the message arrives verified (rank 1 at ${CPU:-?}% CPU)"
}

idle_run bell recv auto
bell=${CPU:-100}
mtl_via bell ivshmem && [ "$(grep -c 'ivshmem: doorbell: peer id' \
    "$TL_DIR/bell.out")" -ge 2 ]
tap_result $? "bell: both ranks talk ivshmem with a doorbell"
[ "${SLEEPS:-0}" -gt 0 ]
tap_result $? "MPI_Recv waiting 5 s with doorbell sleeps (${SLEEPS:-?} sleeps)"
[ "$bell" -lt 5 ]
tap_result $? "MPI_Recv waiting 5 s with doorbell: ${bell}% CPU (< 5%)"

idle_run poll recv 0
poll=${CPU:-0}
[ "${SLEEPS:-1}" -eq 0 ]
tap_result $? "MPI_Recv waiting 5 s, PSP_IVSHMEM_DOORBELL=0: polls (${SLEEPS:-?} sleeps)"
[ "$poll" -gt "$bell" ]
tap_result $? "... and costs more CPU: ${poll}% (doorbell: ${bell}%; load $(cut -d' ' -f1 /proc/loadavg))"

# Computing ~200 us between MPI_Test calls: the gaps keep it awake.
idle_run test test auto
[ "${SLEEPS:-1}" -eq 0 ]
tap_result $? "MPI_Test + compute with doorbell: never put to sleep (${SLEEPS:-?} sleeps, ${CPU:-?}% CPU)"

# Wake-ups: 50 round trips, rank 1 asleep before each (the time is a
# diagnostic, the benchmark's business, not asserted).
for bell in auto 0; do
    PSP_IVSHMEM_DOORBELL=$bell mtl_run "wake$bell" 2 "$prog" wake 50
    tap_result $? "wake$bell: mpirun exits 0"
    grep -q '^data ok$' "$TL_DIR/wake$bell.out"
    tap_result $? "wake$bell: 50 round trips after 20 ms idle, answers verified"
    tap_diag "PSP_IVSHMEM_DOORBELL=$bell: $(grep '^wake rtt' "$TL_DIR/wake$bell.out")"
done

smoke=$top_builddir/test/ompi-mtl/mtl_smoke
[ -x "$smoke" ] || tap_bail "$smoke is missing ('make check' builds it)"
PSP_IVSHMEM_DOORBELL=auto mtl_run single 4 "$smoke" --single
rc=$?
tap_result $rc "single: mpirun -np 4 mtl_smoke --single exits 0"
[ $rc -eq 0 ] || grep -v "^ok\|pscom: .*connected via" \
    "$TL_DIR/single.out" | tail -n 30 | sed 's/^/# /'
mtl_tap single "$MTL_CHECKS_SINGLE"
exit "$(tap_status)"
