#!/bin/sh
# ivshmem-server command line: every option, bad values, security
# (modes, no symlink followed), refusal of a second server, daemon mode
# with pidfile, clean shutdown on SIGTERM and SIGINT.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
SRV=$(host_server)
tap_plan 42

# run_bad "what" WANT_RC WANT_MESSAGE args...: must exit WANT_RC, say why
run_bad() {
    _w=$1 _rc=$2 _msg=$3
    shift 3
    "$SRV" "$@" >"$TL_DIR/bad.out" 2>&1
    _got=$?
    if [ $_got -eq "$_rc" ] && grep -q -- "$_msg" "$TL_DIR/bad.out"; then
        tap_result 0 "$_w"
    else
        tap_result 1 "$_w"
        tap_diag "rc $_got (want $_rc): $(cat "$TL_DIR/bad.out")"
    fi
}
mode_of() { stat -c %a "$1"; }

"$SRV" -h >"$TL_DIR/help" 2>&1
tap_ok "-h prints every option" grep -q -- "--owner-timeout" "$TL_DIR/help"
"$SRV" --help | grep -q -- "-c, --layout"
tap_result $? "--help too"

B="-s $HOST_PREFIX-bad -p $TL_DIR/bad.sock"
run_bad "-m 0 refused" 2 "bad size" $B -m 0
run_bad "-m abc refused" 2 "bad size" $B -m abc
run_bad "-m 5X refused" 2 "bad size" $B -m 5X
run_bad "-m overflow refused" 2 "bad size" $B -m 99999999999T
run_bad "-m 3 (not a power of two) refused" 1 "not a power of two" $B -m 3
run_bad "-n 0 refused" 2 "bad vectors" $B -n 0
run_bad "-n 65 refused" 2 "bad vectors" $B --vectors 65
run_bad "-c unknown refused" 2 "bad layout" $B -c foo
run_bad "-F non power of two refused" 2 "bad frame size" $B -F 3000
run_bad "-r 0 refused" 2 "bad reclaim period" $B -r 0
run_bad "-T -5 refused" 2 "bad owner timeout" $B -T -5
run_bad "-g unknown group refused" 2 "no such group" $B -g no-such-grp-x
run_bad "-R 1 refused" 2 "bad ready fd" $B -R 1
run_bad "stray argument refused" 2 "no arguments" $B extra
S="-p $TL_DIR/bad.sock"
run_bad "uncreatable file" 1 "cannot create" -f /nonexistent/dir/seg $S
run_bad "shm name with a slash" 1 "invalid" -s a/b $S
run_bad "socket in a missing directory" 1 "cannot bind" \
    -s "$HOST_PREFIX-b2" -p /nonexistent/dir/s
long=$TL_DIR/$(printf '%0120d' 0)
run_bad "socket path too long" 1 "too long" -s "$HOST_PREFIX-b3" -p "$long"
tap_is "$(ls /dev/shm | grep -c "$HOST_PREFIX-b")" 0 \
    "failures leave no object behind"

# -l creates the log 0640 whatever the umask (issue 21, item 16).
(umask 000 && "$SRV" -l "$TL_DIR/u.log" -s a/b $S >/dev/null 2>&1)
tap_is "$(mode_of "$TL_DIR/u.log")" 640 "-l under umask 000: log is 0640"
tap_ok "...and holds the message" grep -q "invalid" "$TL_DIR/u.log"

# A symlink planted where the backing file goes is never followed.
echo keep >"$TL_DIR/victim"
ln -s "$TL_DIR/victim" "$TL_DIR/link"
run_bad "symlink as -f refused" 1 "cannot create or open" \
    -f "$TL_DIR/link" $S -m 1 -t
tap_is "$(cat "$TL_DIR/victim")" keep "symlink target untouched"

# A real server: modes, second server refused on name and on socket.
host_server_start main -m 2 -c pscom -n 3 -v || tap_diag "$(cat "$HOST_LOG")"
tap_is "$(mode_of /dev/shm/$HOST_SHM)" 600 "shm object is 0600"
tap_is "$(stat -c %a "$HOST_SOCK")" 600 "socket is 0600"
run_bad "second server on the same name" 1 "another ivshmem-server" \
    -s "$HOST_SHM" -p "$TL_DIR/other.sock"
run_bad "second server on the same socket" 1 "another server is listening" \
    -s "$HOST_PREFIX-b4" -p "$HOST_SOCK"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
sys.exit(s.recv(8) != bytes(8))' "$HOST_SOCK"
tap_result $? "a client first receives protocol version 0"
tap_ok "-v logs protocol messages" grep -q "send 0 to socket" "$HOST_LOG"
host_server_stop main
tap_is $? 0 "SIGTERM: clean exit"

tap_ok "socket removed at shutdown" test ! -e "$HOST_SOCK"
tap_ok "shm object kept without -u" test -e "/dev/shm/$HOST_SHM"

# A stale socket (nobody listening) is replaced; a non-socket is not.
python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TL_DIR/stale.sock"
host_server_start stale -m 1 -p "$TL_DIR/stale.sock" -s "$HOST_PREFIX-st" -u
tap_ok "stale socket replaced" grep -q "replacing a stale socket" "$HOST_LOG"
host_server_stop stale
echo data >"$TL_DIR/file.sock"
run_bad "a regular file as socket path refused" 1 "is not a socket" \
    -s "$HOST_PREFIX-b5" -p "$TL_DIR/file.sock"
tap_is "$(cat "$TL_DIR/file.sock")" data "...and left alone"

# Group access, unlink at exit, SIGINT.
grp=$(id -gn)
host_server_start grp -m 1 -g "$grp" -u -c migration-framework
tap_is "$(mode_of /dev/shm/$HOST_SHM)/$(mode_of "$HOST_SOCK")" 660/660 \
    "-g: object and socket are 0660"
eval "kill -INT \$TL_PID_grp"
tl_wait_exit grp 60
tap_is $? 0 "SIGINT: clean exit"
tap_ok "-u removed the shm object" test ! -e "/dev/shm/$HOST_SHM"

# Daemon: returns once serving, pidfile names the daemon, -l logs.
"$SRV" -d -P "$TL_DIR/pid" -l "$TL_DIR/daemon.log" -s "$HOST_PREFIX-d" \
    -p "$TL_DIR/d.sock" -m 1 -c pscom -u
rc=$?
pid=$(cat "$TL_DIR/pid" 2>/dev/null)
TL_PIDS="$TL_PIDS $pid"
tap_ok "-d -P: returns 0 with a live pid in the pidfile" \
    sh -c "[ $rc -eq 0 ] && kill -0 $pid && [ -S $TL_DIR/d.sock ]"
kill -TERM "$pid"
timeout 30 sh -c "while [ -e $TL_DIR/pid ]; do sleep 0.05; done"
tap_ok "daemon: SIGTERM removes pidfile and socket" \
    sh -c "[ ! -e $TL_DIR/d.sock ] &&
           grep -q 'shutting down' $TL_DIR/daemon.log"
exit "$(tap_status)"
