# ivshmem-env.sh -- the preamble of the ivshmem tests: sources tap.sh,
# lib.sh and host.sh, runs host_init, checks for pscom_pp ($pp) and
# python3; then helpers to start a real ivshmem-server with the pscom
# layout and point the plugin at it.
#
#   ivt_server NAME [MB] [server options]
#           start the server on shm object $HOST_PREFIX-NAME; sets
#           PSP_IVSHMEM_DEVICE to it (the host view: processes mapping the
#           object behave like VMs sharing a BAR), PSP_PLUGINDIR to the
#           build tree, PSP_SHM=0 and PSP_IVSHMEM=1 (exported)
#   ivt_info NAME    ivshmem-info --json of that segment
#   ivt_used PATH    used frames of the segment at PATH
#   ivt_wait_free PATH
#                    wait (bounded: 30 s) until no frame is used: dead
#                    owners are reclaimed by the server every 500 ms,
#                    deferred areas by their owner's heartbeat thread

#   ivt_pp_server NAME [VAR=value...]
#           pscom_pp -l 0 --forever with that environment; sets addr
#   ivt_csum_verdict on|off RC FILE REGEX
#           the verdicts of a csum-corrupt attack on a pscom_pp --verify
#           client (exit status RC, output FILE): with the checksum on it
#           fails with "checksum mismatch" before wrong data arrive; off,
#           only --verify notices, and nothing matching REGEX (the
#           transport's complaints) is logged

. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
pp=$top_builddir/bin/pscom_pp
[ -x "$pp" ] || tap_bail "$pp is missing (make builds it)"
tl_need python3
host_init

ivt_server() {
    _iname=$1
    _imb=${2:-4}
    shift
    [ $# -gt 0 ] && shift
    host_server_start "$_iname" -m "$_imb" -c pscom "$@" ||
        tap_bail "ivshmem-server: $(cat "$HOST_LOG")"
    PSP_IVSHMEM_DEVICE=/dev/shm/$HOST_SHM
    PSP_PLUGINDIR=$(tl_builddir)/lib/pscom4ivshmem/.libs/
    PSP_SHM=0
    PSP_IVSHMEM=1
    export PSP_IVSHMEM_DEVICE PSP_PLUGINDIR PSP_SHM PSP_IVSHMEM
    [ -f "$PSP_PLUGINDIR/libpscom4ivshmem.so" ] ||
        tap_bail "$PSP_PLUGINDIR/libpscom4ivshmem.so is missing (make)"
}

ivt_info() {
    "$(host_info)" --json "/dev/shm/$HOST_PREFIX-$1"
}

ivt_used() {
    "$(host_info)" --json "$1" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["used_frames"])'
}

ivt_wait_free() {
    for _ in $(seq 1500); do
        [ "$(ivt_used "$1")" = 0 ] && return 0
        tl_nap
    done
    return 1
}

ivt_pp_server() {
    _n=$1
    shift
    tl_start "$_n" env "$@" "$pp" -l 0 --forever
    tl_wait_line "$TL_DIR/$_n.out" '^Waiting for client: ' ||
        tap_bail "pscom_pp server did not start: $(cat "$TL_DIR/$_n.out")"
    addr=$(sed -n 's/^Waiting for client: //p' "$TL_DIR/$_n.out" | head -n1)
}

ivt_csum_verdict() {
    if [ "$1" = on ]; then
        tap_is "$2" 1 "on: the client fails with an error, no signal"
        grep -q "checksum mismatch" "$3"
        tap_result $? "on: the client logs the checksum mismatch"
        ! grep -qE "verify(:| failed)" "$3"
        tap_result $? "on: no wrong data reached the application"
    else
        tap_is "$2" 1 "off: the stream ends in the application's check"
        grep -qE "verify(:| failed)" "$3"
        tap_result $? "off: only --verify notices the changed byte"
        ! grep -qE "$4" "$3"
        tap_result $? "off: the transport saw nothing"
    fi
    tap_diag "$(tail -n 3 "$3")"
}
