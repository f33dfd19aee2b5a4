# lib.sh -- shell helpers for multi-process tests (source it after tap.sh).
#
#   tl_init                 temp dir $TL_DIR, cleanup trap (kills every
#                           process started with tl_start, removes the dir)
#   tl_start NAME cmd...    start cmd in the background; output in
#                           $TL_DIR/NAME.out; pid in TL_PID_<NAME>
#   tl_wait_line FILE RE [SECONDS]   wait until a line of FILE matches RE
#   tl_wait_file FILE [SECONDS]      wait until FILE exists
#   tl_wait_exit NAME [SECONDS]      wait for a started process, return
#                                    its exit status (124 on timeout)
#   tl_free_port            print a free TCP port on 127.0.0.1
#   tl_need PROGRAM...      fail (not skip) naming a missing program
#   tl_mpirun ARGS...       mpirun --oversubscribe (+ --allow-run-as-root)
#   tl_mpirun_opts          just those options (for timeout mpirun ...)
#
# The MQTT test broker (a real mosquitto; every test and bench uses these):
#   mqtt_broker_start [CONF_LINE...]   mosquitto on 127.0.0.1:$MQTT_PORT
#                           with extra mosquitto.conf lines; returns once
#                           it listens; the cleanup trap stops it. Exports
#                           MQTT_PORT and MQTT_LOG (its log: every
#                           CONNECT, SUBSCRIBE, PUBLISH); bails out if it
#                           does not start
#   start_mosquitto         the same (older name)
#   mqtt_broker_port        pick $MQTT_PORT now (a random free port) for a
#                           broker started later; mqtt_broker_start keeps it
#   mqtt_broker_stop        stop it; its log moves to $MQTT_LOG.N and a
#                           later mqtt_broker_start listens on the same port
#   mqtt_wait_client ID [SECONDS]  wait until the client whose id starts
#                           with ID has subscribed (pass -i ID to
#                           mosquitto_sub)
#   mqtt_wait_agent PID [SECONDS]  the same for the pscom agent of PID
#   tl_builddir / tl_srcdir paths of the build and source trees
#
# Waiting polls for the condition itself (a line, a file, an exit), never
# for a fixed time; SECONDS is only the give-up limit (default 60).

TL_DIR=""
TL_PIDS=""
MQTT_PORT=""
MQTT_LOG=""
MQTT_STOPS=0

tl_builddir() { echo "${top_builddir:?top_builddir is not set}"; }
tl_srcdir() { echo "${top_srcdir:?top_srcdir is not set}"; }

tl_cleanup() {
    for _p in $TL_PIDS; do
        # Each process was started in its own process group: kill the
        # group so that helpers it forked die with it.
        kill -KILL -- "-$_p" 2>/dev/null || kill -KILL "$_p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "$TL_DIR" ] && [ -d "$TL_DIR" ]; then
        if [ "${TL_KEEP:-0}" = 1 ]; then
            echo "# kept $TL_DIR" >&2
        else
            rm -rf "$TL_DIR"
        fi
    fi
}

tl_init() {
    TL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pscom-test.XXXXXX") ||
        tap_bail "mktemp failed"
    trap 'tl_cleanup' EXIT
    trap 'tl_cleanup; exit 1' INT TERM HUP
    # Job control puts every background job in its own process group.
    set -m
}

tl_start() {
    _name=$1
    shift
    "$@" >"$TL_DIR/$_name.out" 2>&1 &
    _pid=$!
    TL_PIDS="$TL_PIDS $_pid"
    eval "TL_PID_$_name=$_pid"
}

tl_nap() { sleep 0.02; }

tl_wait_file() {
    _end=$(($(date +%s) + ${2:-60}))
    while [ ! -e "$1" ]; do
        [ "$(date +%s)" -gt "$_end" ] && return 1
        tl_nap
    done
}

tl_wait_line() {
    _end=$(($(date +%s) + ${3:-60}))
    while ! grep -qE -- "$2" "$1" 2>/dev/null; do
        [ "$(date +%s)" -gt "$_end" ] && return 1
        tl_nap
    done
}

tl_wait_exit() {
    eval "_pid=\$TL_PID_$1"
    _end=$(($(date +%s) + ${2:-60}))
    while kill -0 "$_pid" 2>/dev/null; do
        if [ "$(date +%s)" -gt "$_end" ]; then
            kill -KILL -- "-$_pid" 2>/dev/null
            wait "$_pid" 2>/dev/null
            return 124
        fi
        # A zombie still answers kill -0; reap it through wait below.
        [ "$(ps -o stat= -p "$_pid" 2>/dev/null | cut -c1)" = Z ] && break
        tl_nap
    done
    wait "$_pid"
}

tl_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

tl_need() {
    for _prog in "$@"; do
        command -v "$_prog" >/dev/null 2>&1 ||
            tap_bail "$_prog is missing: run scripts/deps.sh"
    done
}

tl_mpirun_opts() {
    [ "$(id -u)" -eq 0 ] && printf '%s ' --allow-run-as-root
    # Keep Open MPI to the loopback so tests do not depend on the host's
    # network interfaces.
    printf '%s ' --oversubscribe --mca btl_tcp_if_include lo \
        --mca oob_tcp_if_include lo
}

tl_mpirun() {
    tl_need mpirun
    # shellcheck disable=SC2046 # the options are words
    mpirun $(tl_mpirun_opts) "$@"
}

mqtt_broker_port() {
    [ -n "$MQTT_PORT" ] || MQTT_PORT=$(tl_free_port)
    export MQTT_PORT
}

mqtt_broker_start() {
    tl_need mosquitto
    mqtt_broker_port
    MQTT_LOG=$TL_DIR/mosquitto.log
    export MQTT_LOG
    /bin/bash "$(tl_srcdir)/test/common/mqtt-broker-conf.sh" "$MQTT_PORT" \
        "$MQTT_LOG" "$@" >"$TL_DIR/mosquitto.conf"
    tl_start mosquitto mosquitto -c "$TL_DIR/mosquitto.conf"
    tl_wait_line "$MQTT_LOG" "mosquitto version .* running" 30 ||
        { cat "$TL_DIR/mosquitto.out" "$MQTT_LOG" >&2
          tap_bail "mosquitto did not start"; }
}

start_mosquitto() { mqtt_broker_start "$@"; }

mqtt_broker_stop() {
    kill "$TL_PID_mosquitto" 2>/dev/null
    tl_wait_exit mosquitto 30 >/dev/null
    MQTT_STOPS=$((MQTT_STOPS + 1))
    mv "$MQTT_LOG" "$MQTT_LOG.$MQTT_STOPS"
}

mqtt_wait_client() {
    tl_wait_line "$MQTT_LOG" "Received SUBSCRIBE from $1" "${2:-60}"
}

mqtt_wait_agent() { mqtt_wait_client "pscom-$1-" "${2:-60}"; }
