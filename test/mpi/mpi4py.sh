#!/bin/bash
# Debian's mpi4py (python3-mpi4py, the system python3) unchanged over the
# pscom MTL on tcp, shm and ivshmem, 4 ranks: "python3 -m mpi4py.bench
# helloworld" must print the same lines as under Open MPI's ob1/vader,
# "ringtest" (64 KiB around the ring, 20 loops) must finish and print its
# line. Then helloworld with the component only on the component path:
# Open MPI must not select it unless asked (ob1 runs).
. "$top_srcdir/test/mpi/mpi-env.sh"
[ -x "$SYS_PY" ] && "$SYS_PY" -c 'import mpi4py' 2>/dev/null ||
    tap_bail "python3-mpi4py is missing: run scripts/deps.sh"
NP=4
for mode in ob1-vader pscom-tcp pscom-shm pscom-ivshmem; do
    mpi_run "hello-$mode" "$mode" $NP "$SYS_PY" -m mpi4py.bench helloworld
    rc=$?
    tap_result $rc "helloworld $mode: mpirun exits 0"
    [ $rc -eq 0 ] || mpi_diag "hello-$mode"
    mpi_check "hello-$mode" "$mode" $NP
    sort "$TL_DIR/hello-$mode.out" >"$TL_DIR/hello-$mode.sorted"
    if [ "$mode" = ob1-vader ]; then
        n=$(grep -c "^Hello, World! I am process [0-9] of $NP on " \
            "$TL_DIR/hello-$mode.sorted")
        tap_is "$n" $NP "helloworld $mode: a line from every rank"
    else
        cmp -s "$TL_DIR/hello-ob1-vader.sorted" "$TL_DIR/hello-$mode.sorted"
        tap_result $? "helloworld $mode: the same lines as under ob1/vader"
    fi
    mpi_run "ring-$mode" "$mode" $NP "$SYS_PY" -m mpi4py.bench ringtest \
        -n 65536 -l 20
    rc=$?
    tap_result $rc "ringtest $mode: mpirun exits 0"
    [ $rc -eq 0 ] || mpi_diag "ring-$mode"
    mpi_check "ring-$mode" "$mode" $NP
    grep -qE "^time for 20 loops = [0-9.e-]+ seconds \($NP processes, 65536 bytes\)" \
        "$TL_DIR/ring-$mode.out"
    tap_result $? "ringtest $mode: prints its result line"
done
mpi_run hello-default default 2 "$SYS_PY" -m mpi4py.bench helloworld
tap_result $? "helloworld, nothing asked: mpirun exits 0"
! grep -q 'Selected component \[pscom\]' "$TL_DIR/hello-default.err" &&
    [ "$(grep -c 'select: component ob1 selected' "$TL_DIR/hello-default.err")" = 2 ]
tap_result $? "helloworld, nothing asked: every rank runs ob1, not the pscom MTL"
tap_plan "$TAP_N"
exit "$(tap_status)"
