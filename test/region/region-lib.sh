# region-lib.sh -- shared setup of the region test scripts (source it):
# TAP, process and server helpers, then a running ivshmem-server with the
# pscom layout on a unique shm object, PSP_IVSHMEM_DEVICE pointing at it.
#   region_setup NAME [server options...]
#   region_start NAME INPUT cmd...
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"

RT="$(tl_builddir)/test/region"
TOOL="$(tl_builddir)/bin/pscom-region"

# region_start NAME INPUT cmd...: tl_start with stdin from INPUT (a plain
# `cmd <file &` would get /dev/null: no job control in sh scripts).
region_start() {
    _rsname=$1
    _rsin=$2
    shift 2
    tl_start "$_rsname" sh -c 'f=$1; shift; exec "$@" <"$f"' sh "$_rsin" "$@"
}

region_setup() {
    host_init
    _rname=$1
    shift
    host_server_start "$_rname" -c pscom "$@" ||
        tap_bail "ivshmem-server did not start: $(cat "$HOST_LOG")"
    PSP_IVSHMEM_DEVICE="/dev/shm/$HOST_SHM"
    export PSP_IVSHMEM_DEVICE
}
