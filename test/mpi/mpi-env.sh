# mpi-env.sh -- the preamble of test/mpi's scripts: ivshmem-env.sh (tap.sh,
# lib.sh, host.sh, host_init, ivt_server), then helpers to run an MPI
# program under one of these modes:
#
#   ob1-vader, ob1-tcp   Open MPI's own transports (--mca pml ob1), to
#                        validate the tests themselves
#   pscom-tcp, pscom-shm, pscom-ivshmem
#                        --mca pml cm --mca mtl pscom, the component loaded
#                        from the build tree (mca_base_component_path),
#                        libpscom told to use only that transport; ivshmem
#                        on a real ivshmem-server segment with PSP_SHM=0
#   default              nothing chosen, the component only on the path
#                        (it must not be selected unless asked)
#
#   mpi_run LABEL MODE NP PROGRAM ARGS...
#           mpirun --oversubscribe -np NP; stdout in $TL_DIR/LABEL.out,
#           stderr in $TL_DIR/LABEL.err; returns mpirun's exit status
#   mpi_check LABEL MODE NP
#           pscom modes: TAP results that every rank selected the pscom
#           MTL (mtl_base_verbose) and that its connections ran over the
#           mode's transport (PSP_DEBUG=2 "connected via"); ob1: nothing
#   mpi_relay LABEL   re-emit the TAP lines of $TL_DIR/LABEL.out, prefixed
#                     with LABEL, plus a result that all planned ran
#   mpi_diag LABEL    the tails of LABEL's output as TAP comments
. "$top_srcdir/test/common/ivshmem-env.sh"
tl_need mpirun ompi_info
MPI_SEM=$top_builddir/test/mpi/mpi_sem
MPI_STREAM=$top_builddir/test/mpi/mpi_stream
MTL_DIR=$top_builddir/lib/ompi-mtl/.libs
# Debian's python3 (mpi4py is a Debian package), not one first in PATH.
SYS_PY=/usr/bin/python3
for _p in "$MPI_SEM" "$MPI_STREAM"; do
    [ -x "$_p" ] || tap_bail "$_p is missing ('make check' builds it)"
done

# Open MPI's own component directories, so that the path we give still
# finds pml cm and the rest.
mpi_default_path() {
    ompi_info --parsable --param mca base --level 9 2>/dev/null |
        sed -n 's/^mca:mca:base:param:mca_base_component_path:value:"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p'
}

# Under --enable-sanitizers the component and libpscom carry ASan and
# UBSan; the programs here (ours from mpicc, python3, hpcc) do not, so the
# ranks get both runtimes preloaded, as ASan wants them first. Open MPI's
# and Python's own leaks at exit are not ours to report.
mpi_san_opts() {
    _san=$(ldd "$MTL_DIR/mca_mtl_pscom.so" 2>/dev/null |
        sed -n 's/^[[:space:]]*lib[a-z]*san\.so[^ ]* => \([^ ]*\) .*/\1/p' |
        paste -s -d: -)
    [ -n "$_san" ] || return 0
    printf '%s ' -x "LD_PRELOAD=$_san" \
        -x "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0"
}

# mpi_mode MODE: MPI_OPTS (words) and the PSP_ environment of MODE.
mpi_mode() {
    case $1 in
    ob1-vader) MPI_OPTS="--mca pml ob1 --mca btl self,vader"; return 0 ;;
    ob1-tcp) MPI_OPTS="--mca pml ob1 --mca btl self,tcp"; return 0 ;;
    default) ;;
    pscom-tcp) PSP_SHM=0 PSP_IVSHMEM=0 ;;
    pscom-shm) PSP_SHM=1 PSP_IVSHMEM=0 ;;
    pscom-ivshmem)
        # One segment per test: ivt_server exports PSP_SHM=0 PSP_IVSHMEM=1.
        [ -n "${PSP_IVSHMEM_DEVICE:-}" ] || ivt_server mpi 64
        ;;
    *) tap_bail "mpi_mode: unknown mode $1" ;;
    esac
    [ -f "$MTL_DIR/mca_mtl_pscom.so" ] ||
        tap_bail "$MTL_DIR/mca_mtl_pscom.so is missing (configure found no libopenmpi-dev? make)"
    [ -n "${MPI_DEFPATH:-}" ] || MPI_DEFPATH=$(mpi_default_path)
    [ -n "$MPI_DEFPATH" ] || tap_bail "ompi_info shows no mca_base_component_path"
    export PSP_SHM PSP_IVSHMEM PSP_DEBUG=2
    MPI_OPTS="--mca mca_base_component_path $MTL_DIR:$MPI_DEFPATH"
    MPI_OPTS="$MPI_OPTS $(mpi_san_opts)"
    if [ "$1" = default ]; then
        MPI_OPTS="$MPI_OPTS --mca pml_base_verbose 10 --mca mtl_base_verbose 10"
        return 0
    fi
    MPI_OPTS="$MPI_OPTS --mca pml cm --mca mtl pscom --mca mtl_base_verbose 10"
    MPI_OPTS="$MPI_OPTS -x PSP_SHM -x PSP_IVSHMEM -x PSP_DEBUG"
    if [ "$1" = pscom-ivshmem ]; then
        MPI_OPTS="$MPI_OPTS -x PSP_IVSHMEM_DEVICE -x PSP_PLUGINDIR"
    fi
    for _v in PSP_SUSPEND_RESUME PSP_MQTT_BROKER PSP_POSTPONE_FEEDBACK \
        PSP_SUSPEND_TCP; do
        eval "[ -n \"\${$_v:-}\" ]" && MPI_OPTS="$MPI_OPTS -x $_v"
    done
    return 0
}

mpi_run() {
    _label=$1 _mode=$2 _np=$3
    shift 3
    mpi_mode "$_mode"
    # shellcheck disable=SC2046,SC2086 # the options are words
    timeout -k 5 "${MPI_TIMEOUT:-100}" mpirun $(tl_mpirun_opts) -np "$_np" \
        $MPI_OPTS "$@" >"$TL_DIR/$_label.out" 2>"$TL_DIR/$_label.err"
}

mpi_check() {
    _label=$1 _mode=$2 _np=$3
    case $_mode in pscom-*) ;; *) return 0 ;; esac
    _want=${_mode#pscom-}
    _err=$TL_DIR/$_label.err
    _sel=$(grep -c 'mtl) Selected component \[pscom\]' "$_err")
    tap_is "$_sel" "$_np" "$_label: every rank selected the pscom MTL"
    _other=$(grep -o 'connected via [a-z]*' "$_err" |
        grep -v -e "via $_want\$" -e 'via loop$' | sort | uniq -c)
    grep -q "connected via $_want\$" "$_err" && [ -z "$_other" ]
    tap_result $? "$_label: the ranks' pscom connections are $_want"
    [ -z "$_other" ] || tap_diag "other connections: $_other"
}

mpi_relay() {
    _label=$1
    _out=$TL_DIR/$_label.out
    _plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$_out" | head -n 1)
    _got=0
    while read -r _line; do
        case $_line in
        "ok "*) tap_result 0 "$_label: ${_line#ok [0-9]* - }" ;;
        "not ok "*) tap_result 1 "$_label: ${_line#not ok [0-9]* - }" ;;
        *) continue ;;
        esac
        _got=$((_got + 1))
    done <<EOT
$(grep -E '^(not )?ok [0-9]+ - ' "$_out")
EOT
    tap_is "$_got" "${_plan:-none}" "$_label: every planned case reported"
    grep '^# rank' "$_out" | head -n 20 | sed 's/^/# /'
}

mpi_diag() {
    tail -n 15 "$TL_DIR/$1.out" | sed 's/^/# out: /'
    grep -v -e 'mca: base' -e 'mca:base' -e 'connected via' "$TL_DIR/$1.err" |
        tail -n 15 | sed 's/^/# err: /'
}
