# mtl-env.sh -- sourced by the tests of the pscom MTL (and usable by any
# test that runs MPI programs over it):
#   mtl_init TRANSPORT
#                   the test preamble: tap.sh, lib.sh and tl_init, or for
#                   ivshmem the ivshmem tests' (ivshmem-env.sh)
#   mtl_opts        the mpirun options that select the component from the
#                   build tree: --mca pml cm --mca mtl pscom and a
#                   component path of lib/ompi-mtl/.libs plus Open MPI's
#                   own directory ($OMPI_PKGLIBDIR, set by the Makefile)
#   mtl_run LABEL NP PROG ARGS...
#                   mpirun -np NP PROG with those options and the PSP_*
#                   variables of the environment (PSP_DEBUG=2 to see the
#                   transports); output in $TL_DIR/LABEL.out; exit status
#   mtl_tap LABEL [CHECKS]  re-emit the TAP lines rank 0 of mtl_smoke printed,
#                   prefixed with LABEL (fails if fewer than MTL_CHECKS)
#   mtl_via LABEL TYPE
#                   1 if some connection of the run was set up via TYPE
MTL_CHECKS=17
# mtl_smoke --single (MPI_Init): the two thread checks do not apply.
MTL_CHECKS_SINGLE=15

mtl_init() { # TRANSPORT
    if [ "$1" = ivshmem ]; then
        . "$top_srcdir/test/common/ivshmem-env.sh"
    else
        . "$top_srcdir/test/common/tap.sh"
        . "$top_srcdir/test/common/lib.sh"
        tl_init
    fi
}

mtl_opts() {
    so=$(tl_builddir)/lib/ompi-mtl/.libs/mca_mtl_pscom.so
    [ -f "$so" ] || tap_bail "$so is missing (configure found no Open MPI?)"
    [ -n "$OMPI_PKGLIBDIR" ] || tap_bail "OMPI_PKGLIBDIR is not set"
    printf '%s ' --mca pml cm --mca mtl pscom --mca mca_base_component_path \
        "$(tl_builddir)/lib/ompi-mtl/.libs:$OMPI_PKGLIBDIR"
}

# Under --enable-sanitizers the test programs carry ASan: Open MPI's own
# leaks at exit (of components it has unloaded) are not ours to report,
# and mtl-fallback.sh preloads a (plain) library before the runtime.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0
export ASAN_OPTIONS

mtl_run() { # LABEL NP PROG ARGS...
    _label=$1
    _np=$2
    shift 2
    _x="-x ASAN_OPTIONS"
    for v in $(env | sed -n 's/^\(PSP_[A-Z0-9_]*\)=.*/\1/p'); do
        _x="$_x -x $v"
    done
    # shellcheck disable=SC2046,SC2086 # option words
    timeout -k 5 "${MTL_TIMEOUT:-120}" mpirun $(tl_mpirun_opts) $(mtl_opts) -np "$_np" \
        $_x "$@" >"$TL_DIR/$_label.out" 2>&1
}

mtl_tap() { # LABEL [CHECKS]
    _n=0
    _want=${2:-$MTL_CHECKS}
    while read -r line; do
        case $line in
        "ok "*)
            tap_result 0 "$1: ${line#* - }"
            _n=$((_n + 1))
            ;;
        "not ok "*)
            tap_result 1 "$1: ${line#* - }"
            _n=$((_n + 1))
            ;;
        esac
    done <"$TL_DIR/$1.out"
    while [ "$_n" -lt "$_want" ]; do
        _n=$((_n + 1))
        tap_result 1 "$1: check $_n did not report"
    done
}

mtl_via() { # LABEL TYPE
    grep -q "connected via $2" "$TL_DIR/$1.out"
}
