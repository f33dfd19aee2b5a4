#!/bin/bash
# The migration cycle under MPI with a real mosquitto: an MPI job over the
# pscom MTL (mpi_stream: verified numbered messages around a ring, any
# loss, duplicate or reordering aborts it) runs with PSP_SUSPEND_RESUME=1;
# pscom-migrate suspend is answered ALLOWED by every rank, the retained
# status says suspended, resume is answered COMPLETED by every rank, the
# job then goes on for 500 more rounds and every rank ends "done ok";
# libpscom's debug output shows its connections were suspended.
# On shm with 4 ranks, on ivshmem (PSP_SHM=0, a real server segment) and
# on tcp (PSP_SUSPEND_TCP=1) with 2.
. "$top_srcdir/test/mpi/mpi-env.sh"
mig=$top_builddir/bin/pscom-migrate
[ -x "$mig" ] || tap_bail "$mig is missing (make)"
tl_need mosquitto mosquitto_sub
start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
export PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B PSP_POSTPONE_FEEDBACK=1

cycle() { # MODE NP
    mode=$1 np=$2 label=stream-$1
    d=$TL_DIR/$label.d
    mkdir -p "$d"
    mpi_mode "$mode"
    # shellcheck disable=SC2046,SC2086 # the options are words
    timeout -k 5 100 mpirun $(tl_mpirun_opts) -np "$np" $MPI_OPTS \
        "$MPI_STREAM" "$d" >"$TL_DIR/$label.out" 2>"$TL_DIR/$label.err" &
    pid=$!
    TL_PIDS="$TL_PIDS $pid"
    ok=0
    for _ in $(seq 3000); do
        [ "$(grep -c ' running$' "$TL_DIR/$label.out" 2>/dev/null)" = "$np" ] &&
            ok=1 && break
        kill -0 $pid 2>/dev/null || break
        tl_nap
    done
    tap_result $((1 - ok)) "$mode: all $np ranks are streaming"
    # Every rank's agent subscribed to the request topic (by pid: agents
    # of earlier jobs subscribe again after a resume, so a count of
    # SUBSCRIBE lines can be reached before this job's ranks are there).
    for p in $(sed -n 's/^rank [0-9]* pid \([0-9]*\) running$/\1/p' \
        "$TL_DIR/$label.out"); do
        mqtt_wait_agent "$p" || tap_diag "rank pid $p: its agent never subscribed"
    done
    "$mig" suspend "$H" -n "$np" --broker "$B" >"$d/suspend" 2>&1
    tap_result $? "$mode: suspend is answered ALLOWED by all $np ranks"
    tap_is "$(grep -c ' : ALLOWED' "$d/suspend")" "$np" \
        "$mode: $np different pids answered ALLOWED"
    p1=$(sed -n 's/^\([0-9]*\) : ALLOWED.*/\1/p' "$d/suspend" | head -n 1)
    s=$(mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -C 1 -W 5 \
        -t "fast/pscom/$H/$p1/status" 2>/dev/null)
    case $s in *'"state":"suspended"'*) r=0 ;; *) r=1 ;; esac
    tap_result $r "$mode: the status of rank pid $p1 says suspended"
    [ $r -eq 0 ] || tap_diag "status: $s"
    "$mig" resume "$H" -n "$np" --broker "$B" >"$d/resume" 2>&1
    tap_result $? "$mode: resume is answered COMPLETED by all $np ranks"
    touch "$d/resumed"
    wait $pid
    rc=$?
    tap_result $rc "$mode: mpirun exits 0 after 500 more rounds"
    tap_is "$(grep -c ' done ok ' "$TL_DIR/$label.out")" "$np" \
        "$mode: every rank's messages arrived once, in order, intact"
    mpi_check "$label" "$mode" "$np"
    grep -q "via ${mode#pscom-}: suspending" "$TL_DIR/$label.err"
    tap_result $? "$mode: the ranks' pscom connections were suspended underneath"
    [ $rc -eq 0 ] || { mpi_diag "$label"; sed 's/^/# /' "$d/suspend" "$d/resume"; }
}

cycle pscom-shm 4
cycle pscom-ivshmem 2
# tcp connections take part in a suspend only when asked to.
export PSP_SUSPEND_TCP=1
cycle pscom-tcp 2
tap_plan "$TAP_N"
exit "$(tap_status)"
