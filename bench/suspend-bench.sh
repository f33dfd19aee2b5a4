#!/bin/bash
# suspend-bench.sh [--quick] [--ivshmem] [BUILDDIR]: how long the
# process-wide suspend and resume take, driven over MQTT as the migration
# framework does it.
# Two processes (PSP_SUSPEND_RESUME=1) stream to each other over C
# connections each (C = 1, 16, 64; shm, or with --ivshmem over the
# segment of an ivshmem-server started here, as two VMs would) and
# stop calling pscom halfway; pscom-migrate publishes "suspend" and
# reports the time to the last ALLOWED, then "resume" and the time to the
# last COMPLETED (PSP_POSTPONE_FEEDBACK=1: connections up again). Goals:
# <= 20 ms and <= 100 ms at 64 connections. Needs mosquitto.
set -u
quick=0 ivshmem=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --ivshmem) ivshmem=1 ;;
    -*) echo "suspend-bench: unknown option '$1'" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
b=$(cd "${1:-${top_builddir:-.}}" && pwd)
top_builddir=$b
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_builddir top_srcdir
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
make -s -C "$b/test/suspend" susp_stream >/dev/null ||
    { echo "cannot build susp_stream" >&2; exit 1; }
st=$b/test/suspend/susp_stream
mig=$b/bin/pscom-migrate
host_init
if [ $ivshmem = 1 ]; then
    # 64 connections x 2 directions x 8 KiB rings, with room to spare.
    host_server_start seg -m 16 -c pscom ||
        { echo "ivshmem-server: $(cat "$HOST_LOG")" >&2; exit 1; }
    export PSP_IVSHMEM_DEVICE=/dev/shm/$HOST_SHM PSP_SHM=0 PSP_IVSHMEM=1
    export PSP_PLUGINDIR=$b/lib/pscom4ivshmem/.libs/
fi
# set_tcp_nodelay: without it the broker's small writes wait for delayed
# ACKs (about 40 ms per answer).
mqtt_broker_start "set_tcp_nodelay true"
H=$(hostname)
export PSP_SUSPEND_RESUME=1 PSP_POSTPONE_FEEDBACK=1
export PSP_MQTT_BROKER=127.0.0.1:$MQTT_PORT
counts="${SB_COUNTS:-1 16 64}"
reps=${SB_REPS:-5}
[ $quick = 1 ] && { counts="1 4"; reps=1; }

printf '%6s %5s %8s %14s %14s %14s %14s\n' conns reps via "suspend ms" \
    "(max)" "resume ms" "(max)"
for c in $counts; do
    n=$((200 + 10 * reps))
    rm -f "$TL_DIR/go"
    tl_start "s$c" "$st" -l -m "$c" -n $n -L 4096 -h 100 -g "$TL_DIR/go"
    tl_wait_line "$TL_DIR/s$c.out" '^port ' 30 || { echo "no server" >&2; exit 1; }
    port=$(awk '/^port/{print $2}' "$TL_DIR/s$c.out")
    tl_start "c$c" "$st" -c "127.0.0.1:$port" -m "$c" -n $n -L 4096 \
        -h 100 -g "$TL_DIR/go"
    tl_wait_line "$TL_DIR/s$c.out" '^halfway' 120 &&
        tl_wait_line "$TL_DIR/c$c.out" '^halfway' 120 ||
        { echo "no halfway" >&2; exit 1; }
    for p in "s$c" "c$c"; do
        eval "pid=\$TL_PID_$p"
        mqtt_wait_agent "$pid" 30 ||
            { echo "agent $pid did not subscribe" >&2; exit 1; }
    done
    ssum=0 rsum=0 smax=0 rmax=0
    for _ in $(seq $reps); do
        out=$("$mig" suspend "$H" -n 2 --broker "127.0.0.1:$MQTT_PORT")
        ms=$(echo "$out" | awk '/answered/{print $(NF-1)}')
        [ -n "${SB_VERBOSE:-}" ] && echo "$out" >&2
        out2=$("$mig" resume "$H" -n 2 --broker "127.0.0.1:$MQTT_PORT")
        mr=$(echo "$out2" | awk '/answered/{print $(NF-1)}')
        ssum=$(echo "$ssum + $ms" | bc) rsum=$(echo "$rsum + $mr" | bc)
        smax=$(echo "if ($ms > $smax) $ms else $smax" | bc)
        rmax=$(echo "if ($mr > $rmax) $mr else $rmax" | bc)
    done
    via=$(sed -n 's/^connected type=//p' "$TL_DIR/c$c.out")
    printf '%6d %5d %8s %14.1f %14.1f %14.1f %14.1f\n' "$c" "$reps" "$via" \
        "$(echo "$ssum / $reps" | bc -l)" "$smax" \
        "$(echo "$rsum / $reps" | bc -l)" "$rmax"
    touch "$TL_DIR/go"
    tl_wait_exit "s$c" 120 >/dev/null
    tl_wait_exit "c$c" 120 >/dev/null
done
