# host.sh -- helpers for tests that need the host side (source it after
# tap.sh and lib.sh):
#
#   host_init                   tl_init plus removal of every shm object
#                               named $HOST_PREFIX* at exit
#   host_server_start NAME [server options...]
#                               start ivshmem-server on shm object
#                               $HOST_PREFIX-NAME and socket $TL_DIR/NAME.sock
#                               (unless -s/-f/-p are given), wait until it
#                               serves (its --ready-fd, no sleep); sets
#                               HOST_SHM, HOST_SOCK, HOST_LOG; output in
#                               $TL_DIR/NAME.out. Returns 1 if it exited
#                               instead (then cat $HOST_LOG says why).
#   host_server_stop NAME       SIGTERM, wait, return the exit status
#   host_server / host_info     print the paths of the programs
#
# Every name is unique per test process ($$), so tests can run in
# parallel with each other and with a production server.

HOST_PREFIX="pscom-t$$"

host_server() { echo "$(tl_builddir)/vendor/ivshmem/server/ivshmem-server"; }
host_info() { echo "$(tl_builddir)/bin/ivshmem-info"; }

host_cleanup() {
    tl_cleanup
    rm -f /dev/shm/"$HOST_PREFIX"*
}

host_init() {
    tl_init
    trap 'host_cleanup' EXIT
    trap 'host_cleanup; exit 1' INT TERM HUP
}

host_server_start() {
    _hname=$1
    shift
    HOST_SHM="$HOST_PREFIX-$_hname"
    HOST_SOCK="$TL_DIR/$_hname.sock"
    HOST_LOG="$TL_DIR/$_hname.out"
    _hfifo="$TL_DIR/$_hname.ready"
    _hdef="-s $HOST_SHM -p $HOST_SOCK"
    case " $* " in
    *" -f "* | *" -s "* | *" -p "* | *" --file"* | *" --shm"* | *" --socket"*)
        _hdef="" ;;
    esac
    rm -f "$_hfifo"
    mkfifo "$_hfifo" || tap_bail "mkfifo $_hfifo failed"
    # The server writes "ready" to fd 3 only once it listens; if it exits
    # first, the fifo reports end-of-file and the read returns nothing.
    tl_start "$_hname" sh -c 'f=$1; shift; exec "$@" -R 3 3>"$f"' sh \
        "$_hfifo" "$(host_server)" $_hdef "$@"
    _hready=$(timeout 60 head -n 1 "$_hfifo")
    [ "$_hready" = ready ]
}

host_server_stop() {
    eval "_hpid=\$TL_PID_$1"
    kill -TERM "$_hpid" 2>/dev/null
    tl_wait_exit "$1" 60
}
