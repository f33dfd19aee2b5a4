#!/bin/bash
# soak.sh -- the bounded soak test (make check-soak; not in make check).
#
# On one real ivshmem-server segment, with a real mosquitto broker and
# every process running the MQTT agent and PSP_IVSHMEM_CHECKSUM=1:
#   - two long-lived pscom_pp --forever servers (the survivors), each
#     with a client slot that runs pscom_pp --verify again and again;
#   - a slot that runs susp_stream pairs (numbered, verified messages in
#     both directions) again and again;
# and for SOAK_SECONDS (default 120) a chaos loop picks at random:
#   suspend or resume of the whole host, or a toggle of one process, over
#   MQTT; SIGSTOP of any process for up to 1.5 s, then SIGCONT, or one
#   time in eight for SOAK_LONG_STOP seconds (default 12: past the
#   suspend's 10 s drain limit, below the owner timeout of 30 s, so a
#   suspend meets a peer that cannot answer); SIGKILL of a client or
#   stream process; a
#   scribbler inverting unread payload bytes of one ring, or filling one
#   ring with garbage.
# Then everything is resumed and continued, the slots finish their runs
# and stop, and the servers are stopped.
#
# Pass criteria (one TAP line each):
#   1 no process died of a signal the soak did not send, and no
#     sanitizer reported an error (no crash)
#   2 every run ended within SOAK_DRAIN seconds (default 120) after the
#     chaos stopped (no hang past the timeouts)
#   3 no run saw wrong data (--verify, susp_stream's checks): corruption
#     must become a connection error
#   4 both servers survived, each answered a clean client at the end
#   5,6 no fd growth and no memory growth of the servers: fd count and
#     VmRSS when idle after the warm-up and when idle at the end
#     (SOAK_RSS_SLACK_KB, default 16384, for allocator caches)
#   7 every frame is free once the last process exited (ivshmem-info)
#   8 the soak did something: every slot completed clean runs over
#     ivshmem
# Runs that end in an error exit are fine: a killed, stopped or
# scribbled peer must give an error, which is the point.
#
# SOAK_SEED repeats a run's random choices (printed at the start).
. "$top_srcdir/test/common/ivshmem-env.sh"
st=$top_builddir/test/suspend/susp_stream
mig=$top_builddir/bin/pscom-migrate
rp=$top_srcdir/test/common/ring-pending.py
[ -x "$st" ] && [ -x "$mig" ] || tap_bail "susp_stream or pscom-migrate missing"
tl_need mosquitto mosquitto_sub
tap_plan 8

secs=${SOAK_SECONDS:-120}
long=${SOAK_LONG_STOP:-12}
drain=${SOAK_DRAIN:-120}
rss_slack=${SOAK_RSS_SLACK_KB:-16384}
seed=${SOAK_SEED:-$$}
RANDOM=$seed
tap_diag "soak: $secs s of chaos, seed $seed (SOAK_SEED=$seed repeats it)"

start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
# The owner timeout well above the long stops: eviction is not soaked.
ivt_server soak 16 -T 30000
seg=$PSP_IVSHMEM_DEVICE
export PSP_MQTT_BROKER=$B PSP_SUSPEND_RESUME=1 PSP_IVSHMEM_CHECKSUM=1
export PSP_DEBUG=1
K=$TL_DIR/killed # "NAME RUN" of every run the soak SIGKILLed

# Also on failure: the slots' programs, whatever group they are in.
soak_cleanup() {
    for f in "$TL_DIR"/*.pids; do
        [ -f "$f" ] && read -r -a _p <"$f" && kill -KILL "${_p[@]:1}" 2>/dev/null
    done
    host_cleanup
}
trap 'soak_cleanup' EXIT
trap 'soak_cleanup; exit 1' INT TERM HUP

# ---- the long-lived servers ---------------------------------------------
srv_addr=()
for s in 0 1; do
    ivt_pp_server "srv$s"
    srv_addr[$s]=$addr
done

# A clean client run against server S (prints pscom_pp's table).
pp_client() { # S [extra pscom_pp options]
    _s=$1
    shift
    "$pp" --minsize 0 --maxsize 256K --loops 200 --verify "$@" "${srv_addr[$_s]}"
}

# fd count and VmRSS (kB) of a server.
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }
# Wait until server S waits for a client again (idle): its output has
# one more "Waiting for client" line than it has served connections.
srv_idle() { # S
    for _ in $(seq 3000); do
        _w=$(grep -c '^Waiting for client' "$TL_DIR/srv$1.out")
        _c=$(grep -c '^New connection' "$TL_DIR/srv$1.out")
        [ "$_w" -gt "$_c" ] && return 0
        tl_nap
    done
    return 1
}

# Warm-up: one clean run each, then the baseline when idle.
declare -A fd0 rss0
for s in 0 1; do
    pp_client $s >"$TL_DIR/warm$s.out" 2>&1 ||
        tap_bail "warm-up client of server $s failed: $(tail -n 3 "$TL_DIR/warm$s.out")"
    srv_idle $s || tap_bail "server $s did not become idle"
    eval "p=\$TL_PID_srv$s"
    fd0[$s]=$(fds "$p")
    rss0[$s]=$(rss "$p")
done
tap_diag "baseline: server 0 ${fd0[0]} fds ${rss0[0]} kB, server 1 ${fd0[1]} fds ${rss0[1]} kB"

# ---- the slots -------------------------------------------------------------
# A slot runs its command again and again until $TL_DIR/stop exists;
# run I's pids are in NAME.pids (for the chaos), its exit status goes to
# NAME.runs as "I RC", its output to NAME.I.out.
slot_pp() { # NAME S
    _i=0
    while [ ! -e "$TL_DIR/stop" ]; do
        pp_client "$2" >"$TL_DIR/$1.$_i.out" 2>&1 &
        echo "$_i $!" >"$TL_DIR/$1.pids"
        wait $!
        echo "$_i $?" >>"$TL_DIR/$1.runs"
        _i=$((_i + 1))
    done
}

slot_stream() { # NAME
    _i=0
    while [ ! -e "$TL_DIR/stop" ]; do
        _o=$TL_DIR/$1.$_i
        "$st" -l -n 400 -L 65536 >"$_o.l.out" 2>&1 &
        _lp=$!
        for _ in $(seq 1500); do
            grep -q '^port ' "$_o.l.out" 2>/dev/null && break
            kill -0 $_lp 2>/dev/null || break
            tl_nap
        done
        _port=$(awk '/^port/{print $2}' "$_o.l.out")
        if [ -n "$_port" ]; then
            "$st" -c "127.0.0.1:$_port" -n 400 -L 65536 >"$_o.c.out" 2>&1 &
            _cp=$!
            echo "$_i $_lp $_cp" >"$TL_DIR/$1.pids"
            wait $_cp
            _crc=$?
        else
            _crc=255 # no port: the listener failed, its rc tells
        fi
        wait $_lp
        _lrc=$?
        echo "$_i $_lrc" >>"$TL_DIR/$1.runs"
        [ "$_crc" != 255 ] && echo "$_i $_crc" >>"$TL_DIR/$1.runs"
        _i=$((_i + 1))
    done
}

slots="pp0 pp1 stream"
tl_start pp0 slot_pp pp0 0
tl_start pp1 slot_pp pp1 1
tl_start stream slot_stream stream

# ---- chaos -------------------------------------------------------------------
# A random pid of the running slot programs (and with 1 as argument the
# servers too).
pick() { # [1: servers too]
    _all=()
    for n in $slots; do
        [ -f "$TL_DIR/$n.pids" ] && read -r -a _p <"$TL_DIR/$n.pids" &&
            _all+=("$n:${_p[0]}:${_p[1]}" "${_p[2]:+$n:${_p[0]}:${_p[2]}}")
    done
    if [ "${1:-0}" = 1 ]; then
        _all+=("srv0:-:$TL_PID_srv0" "srv1:-:$TL_PID_srv1")
    fi
    _ok=()
    for e in "${_all[@]}"; do [ -n "$e" ] && _ok+=("$e"); done
    [ ${#_ok[@]} -gt 0 ] || return 1
    echo "${_ok[$((RANDOM % ${#_ok[@]}))]}"
}

declare -A did
end=$(($(date +%s) + secs))
while [ "$(date +%s)" -lt "$end" ]; do
    case $((RANDOM % 7)) in
    0 | 1)
        a=$([ $((RANDOM % 2)) = 0 ] && echo suspend || echo resume)
        "$mig" "$a" "$H" -n 1 -t 3 --broker "$B" >>"$TL_DIR/mig.out" 2>&1
        did[mqtt-$a]=$((${did[mqtt-$a]:-0} + 1))
        ;;
    2)
        e=$(pick 1) || continue
        "$mig" toggle "$H" -n 1 -t 3 --broker "$B" "${e##*:}" \
            >>"$TL_DIR/mig.out" 2>&1
        did[mqtt-toggle]=$((${did[mqtt-toggle]:-0} + 1))
        ;;
    3 | 4)
        e=$(pick 1) || continue
        p=${e##*:}
        if [ $((RANDOM % 8)) = 0 ]; then
            # In the background: the chaos goes on meanwhile.
            (kill -STOP "$p" 2>/dev/null; sleep "$long"; kill -CONT "$p" 2>/dev/null) &
            echo "$p" >>"$TL_DIR/longstops"
            did[sigstop-long]=$((${did[sigstop-long]:-0} + 1))
            continue
        fi
        kill -STOP "$p" 2>/dev/null
        ms=$((RANDOM % 1500 + 50))
        sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
        kill -CONT "$p" 2>/dev/null
        did[sigstop]=$((${did[sigstop]:-0} + 1))
        ;;
    5)
        e=$(pick) || continue
        IFS=: read -r n i p <<<"$e"
        echo "$n $i $p" >>"$K"
        kill -KILL "$p" 2>/dev/null
        did[sigkill]=$((${did[sigkill]:-0} + 1))
        ;;
    6)
        "$(host_info)" --json "$seg" >"$TL_DIR/scr.json" 2>/dev/null || continue
        m=$([ $((RANDOM % 2)) = 0 ] && echo flip || echo garbage)
        python3 "$rp" "$seg" "$TL_DIR/scr.json" "$m" "$RANDOM" \
            >>"$TL_DIR/scribble.out" 2>&1
        did[scribble-$m]=$((${did[scribble-$m]:-0} + 1))
        ;;
    esac
    sleep "0.$((RANDOM % 5))"
done
tap_diag "chaos: $(for k in "${!did[@]}"; do printf '%s=%s ' "$k" "${did[$k]}"; done)"

# ---- drain -----------------------------------------------------------------
touch "$TL_DIR/stop"
# Whatever is suspended or stopped goes on.
for _ in 1 2 3; do
    "$mig" resume "$H" -n 1 -t 2 --broker "$B" >>"$TL_DIR/mig.out" 2>&1
    for n in $slots; do
        [ -f "$TL_DIR/$n.pids" ] && read -r -a _p <"$TL_DIR/$n.pids" &&
            kill -CONT "${_p[@]:1}" 2>/dev/null
    done
    kill -CONT "$TL_PID_srv0" "$TL_PID_srv1" 2>/dev/null
    [ -f "$TL_DIR/longstops" ] && kill -CONT $(cat "$TL_DIR/longstops") 2>/dev/null
done
hung=""
for n in $slots; do
    tl_wait_exit "$n" "$drain"
    if [ $? = 124 ]; then
        i=$(cut -d' ' -f1 "$TL_DIR/$n.pids")
        hung="$hung $n(run $i)"
        tap_diag "$n run $i hangs: $(tail -n 4 "$TL_DIR/$n.$i".*out 2>/dev/null)"
    fi
done

# ---- verdicts ----------------------------------------------------------------
crash="" data="" clean=""
for n in $slots; do
    ok=0 ivs=0
    while read -r i rc; do
        if [ "$rc" = 0 ]; then
            ok=$((ok + 1))
            grep -qE "via ivshmem|done ok type=ivshmem" "$TL_DIR/$n.$i".*out &&
                ivs=$((ivs + 1))
        elif [ "$rc" -ge 128 ] && ! grep -q "^$n $i " "$K" 2>/dev/null; then
            crash="$crash $n.$i(rc $rc)"
            tap_diag "$n run $i died of signal $((rc - 128)):"
            tap_diag "$(tail -n 5 "$TL_DIR/$n.$i".*out 2>/dev/null)"
        fi
    done <"$TL_DIR/$n.runs"
    runs=$(wc -l <"$TL_DIR/$n.runs")
    tap_diag "$n: $runs run(s), $ok clean, $(grep -c "^$n " "$K" 2>/dev/null) killed by the soak, $ivs clean over ivshmem"
    [ "$ivs" -gt 0 ] || clean="$clean $n"
    # Wrong data that reached the application; a sanitizer's report (it
    # exits 1, like an error: --enable-sanitizers builds) is a crash.
    for f in "$TL_DIR/$n".*out; do
        if grep -qE "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$f"; then
            crash="$crash $(basename "$f")(sanitizer)"
            tap_diag "$(basename "$f"): $(grep -E -A6 "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$f" | head -n 8)"
        fi
        if grep -qE "verify(:| failed)|out of order|bad length|bad data|fin before" "$f"; then
            data="$data $(basename "$f")"
            tap_diag "$(basename "$f"): $(grep -E "verify|FAIL" "$f" | head -n 2)"
        fi
    done
done
for s in 0 1; do
    eval "p=\$TL_PID_srv$s"
    kill -0 "$p" 2>/dev/null || crash="$crash srv$s(gone)"
    grep -qE "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" \
        "$TL_DIR/srv$s.out" && crash="$crash srv$s(sanitizer)"
done
tap_result "$([ -z "$crash" ] && echo 0 || echo 1)" "no crash${crash:+:$crash}"
tap_result "$([ -z "$hung" ] && echo 0 || echo 1)" "no hang past ${drain} s${hung:+:$hung}"
tap_result "$([ -z "$data" ] && echo 0 || echo 1)" "no wrong data delivered${data:+:$data}"

alive=0
for s in 0 1; do
    pp_client $s >"$TL_DIR/final$s.out" 2>&1 && srv_idle $s && alive=$((alive + 1))
done
tap_is "$alive" 2 "both servers serve a clean client at the end"

fdgrow="" rssgrow=""
for s in 0 1; do
    eval "p=\$TL_PID_srv$s"
    f=$(fds "$p")
    r=$(rss "$p")
    tap_diag "server $s: fds ${fd0[$s]} -> $f, VmRSS ${rss0[$s]} -> $r kB"
    [ -n "$f" ] && [ "$f" -le "${fd0[$s]}" ] || fdgrow="$fdgrow srv$s(${fd0[$s]}->$f)"
    [ -n "$r" ] && [ "$r" -le $((${rss0[$s]} + rss_slack)) ] ||
        rssgrow="$rssgrow srv$s(${rss0[$s]}->$r kB)"
done
tap_result "$([ -z "$fdgrow" ] && echo 0 || echo 1)" "no fd growth of the servers${fdgrow:+:$fdgrow}"
tap_result "$([ -z "$rssgrow" ] && echo 0 || echo 1)" "no memory growth of the servers${rssgrow:+:$rssgrow}"

kill -TERM "$TL_PID_srv0" "$TL_PID_srv1" 2>/dev/null
tl_wait_exit srv0 30 >/dev/null
tl_wait_exit srv1 30 >/dev/null
ivt_wait_free "$seg"
rc=$?
tap_result $rc "every frame is free after the last process exited"
[ $rc = 0 ] || tap_diag "$(ivt_info soak | head -c 2000)"
tap_result "$([ -z "$clean" ] && echo 0 || echo 1)" "every slot completed clean runs over ivshmem${clean:+ (none:$clean)}"
exit "$(tap_status)"
