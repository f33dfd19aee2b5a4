#!/bin/bash
# mtl-suspend.sh [shm|ivshmem] (default shm; mtl-suspend-ivshmem.sh runs
# it on a real ivshmem-server segment with PSP_SHM=0).
# Suspend/resume under MPI: mpirun -np 2 over the pscom MTL with
# PSP_SUSPEND_RESUME=1 and a real mosquitto; the ranks keep exchanging
# numbered messages (mtl_smoke --loop). "suspend" is answered ALLOWED by
# both ranks, "resume" COMPLETED, the connection comes back over the
# same transport,
# the exchange goes on, and the job ends with every message received
# once and in order (each rank checks the sequence; a gap, duplicate or
# reorder fails it). Twice, to see a second cycle work too.
tr=${1:-shm}
. "$top_srcdir/test/ompi-mtl/mtl-env.sh"
mtl_init "$tr"
prog=$top_builddir/test/ompi-mtl/mtl_smoke
mig=$top_builddir/bin/pscom-migrate
[ -x "$prog" ] || tap_bail "$prog is missing ('make check' builds it)"
[ -x "$mig" ] || tap_bail "$mig is missing (make builds it)"
tl_need mpirun mosquitto
start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
case $tr in
shm) export PSP_IVSHMEM=0 PSP_SHM=1 ;;
ivshmem) ivt_server msusp 16 ;;
*) tap_bail "unknown transport $tr" ;;
esac
export PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=$B
export PSP_POSTPONE_FEEDBACK=1 PSP_DEBUG=2
tap_plan 10

# The exchange has run COUNT more rounds on rank 0 than it had at FROM.
loop_passes() { # FROM COUNT
    _want=$(($1 + $2))
    for _ in $(seq 3000); do
        [ "$(loop_now)" -ge "$_want" ] && return 0
        grep -q "^LOOP 0 done" "$TL_DIR/job.out" 2>/dev/null && return 1
        tl_nap
    done
    return 1
}
loop_now() {
    [ -f "$TL_DIR/job.out" ] || { echo 0; return; }
    awk '/^LOOP 0 [0-9]/{n=$3} END{print n+0}' "$TL_DIR/job.out"
}

# shm: a plain MPI_Init job (libpscom's suspend worker is then the only
# other thread); ivshmem: MPI_THREAD_MULTIPLE.
mode=single
[ "$tr" = ivshmem ] && mode=multiple
(mtl_run job 2 "$prog" --loop "$TL_DIR/stop" $mode; echo $? >"$TL_DIR/job.rc") &
loop_passes 0 2000
tap_result $? "the job exchanges messages over the pscom MTL"
for _ in $(seq 1500); do
    [ "$(grep -c "Received SUBSCRIBE from pscom-" "$MQTT_LOG")" -ge 2 ] && break
    tl_nap
done

for cycle in 1 2; do
    "$mig" suspend "$H" -n 2 --broker "$B" >"$TL_DIR/s$cycle" 2>&1
    tap_is "$?:$(grep -c ': ALLOWED' "$TL_DIR/s$cycle")" 0:2 \
        "cycle $cycle: suspend is answered ALLOWED by both ranks"
    [ "$(grep -c ': ALLOWED' "$TL_DIR/s$cycle")" = 2 ] ||
        tap_diag "$(cat "$TL_DIR/s$cycle")"
    "$mig" resume "$H" -n 2 --broker "$B" >"$TL_DIR/r$cycle" 2>&1
    tap_is "$?:$(grep -c ': COMPLETED' "$TL_DIR/r$cycle")" 0:2 \
        "cycle $cycle: resume is answered COMPLETED by both ranks"
    loop_passes "$(loop_now)" 2000
    tap_result $? "cycle $cycle: the exchange goes on after the resume"
done

touch "$TL_DIR/stop"
for _ in $(seq 3000); do
    [ -f "$TL_DIR/job.rc" ] && break
    tl_nap
done
tap_is "$(cat "$TL_DIR/job.rc" 2>/dev/null)" 0 \
    "mpirun exits 0: nothing lost, duplicated or reordered"
[ "$(grep -c '^LOOP [01] done' "$TL_DIR/job.out")" = 2 ]
tap_result $? "both ranks finished the exchange"
# Each rank: set up via $tr at the start and again after each resume.
[ "$(grep -c "connected via $tr\$" "$TL_DIR/job.out")" -ge 6 ]
tap_result $? "the connection came back over $tr after each resume"
[ "$TAP_FAILED" -eq 0 ] || tap_diag "$(grep -v '^LOOP' "$TL_DIR/job.out" | tail -30)"
exit "$(tap_status)"
