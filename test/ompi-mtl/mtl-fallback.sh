#!/bin/bash
# The pscom MTL refuses cleanly when libpscom cannot work: with
# failsock.so preloaded into the ranks (listen() on inet sockets fails),
# pscom_listen fails and the component returns no module. Named with
# --mca mtl pscom alone, Open MPI falls back to ob1 and the job runs;
# with --mca pml cm forced too, MPI_Init fails with an error (no hang,
# no crash).
. "$top_srcdir/test/ompi-mtl/mtl-env.sh"
mtl_init tcp
prog=$top_builddir/test/ompi-mtl/mtl_smoke
shim=$top_builddir/test/ompi-mtl/.libs/failsock.so
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
[ -f "$shim" ] || tap_bail "$shim is missing ('make check' builds it)"
tl_need mpirun
tap_plan 5
path=$(tl_builddir)/lib/ompi-mtl/.libs:$OMPI_PKGLIBDIR
touch "$TL_DIR/stop" # one exchange, then the ranks stop

run() { # LABEL MPIRUN-OPTIONS...
    _l=$1
    shift
    # shellcheck disable=SC2046 # option words
    timeout -k 5 120 mpirun $(tl_mpirun_opts) -np 2 -x ASAN_OPTIONS \
        -x LD_PRELOAD="$shim" -x PSP_SHM=0 -x PSP_IVSHMEM=0 \
        --mca mca_base_component_path "$path" --mca btl self,vader \
        "$@" "$prog" --loop "$TL_DIR/stop" >"$TL_DIR/$_l.out" 2>&1
}

run fallback --mca mtl pscom --mca pml_base_verbose 10
tap_is $? 0 "--mca mtl pscom, libpscom cannot listen: the job runs"
[ "$(grep -c 'mtl pscom: pscom_listen failed' "$TL_DIR/fallback.out")" = 2 ]
tap_result $? "both ranks' component said why it declined"
[ "$(grep -c 'select: component ob1 selected' "$TL_DIR/fallback.out")" = 2 ] &&
    [ "$(grep -c '^LOOP [01] done' "$TL_DIR/fallback.out")" = 2 ]
tap_result $? "Open MPI fell back to ob1 and the ranks exchanged"

run forced --mca pml cm --mca mtl pscom
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ]
tap_result $? "--mca pml cm forced as well: mpirun fails (status $rc), no hang or crash"
grep -q 'mtl pscom: pscom_listen failed' "$TL_DIR/forced.out"
tap_result $? "the component said why"
[ "$TAP_FAILED" -eq 0 ] || tap_diag "$(tail -n 20 "$TL_DIR"/*.out)"
exit "$(tap_status)"
