#!/bin/sh
# The server reclaims what owners leave behind: a SIGKILLed host process
# (pid gone), a stalled remote owner (heartbeat timeout) that then learns
# it was evicted, and nothing of an owner that left cleanly.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
OWNER="$(tl_builddir)/test/shmseg/seg_owner"
INFO=$(host_info)
tap_plan 11

used() { "$INFO" --json "$1" | sed -n 's/.*"used_frames": \([0-9]*\).*/\1/p'; }

host_server_start pid -m 2 -c pscom -r 50 || tap_bail "$(cat "$HOST_LOG")"
export PSP_IVSHMEM_DEVICE="/dev/shm/$HOST_SHM"
tl_start o1 "$OWNER" -n 2 -k 5 -l victim
tl_wait_line "$TL_DIR/o1.out" "allocated 5" 30
tap_is "$(used "$PSP_IVSHMEM_DEVICE")" 10 "owner holds 10 frames"
"$INFO" "$PSP_IVSHMEM_DEVICE" | grep -q "'victim' pid $TL_PID_o1 (alive)"
tap_result $? "ivshmem-info shows the owner alive with its pid"
"$INFO" --json "$PSP_IVSHMEM_DEVICE" | python3 -c 'import json, sys
d = json.load(sys.stdin)
a = d["allocations"]
sys.exit(not (len(a) == 5 and all(x["owner_live"] and x["frames"] == 2
                                  for x in a) and
              d["participants"][0]["pid_state"] == "alive"))'
tap_result $? "--json is valid JSON listing 5 live allocations"
kill -KILL "$TL_PID_o1"
tl_wait_line "$HOST_LOG" "reclaimed 10 frames .*'victim'.*process gone" 30
tap_result $? "SIGKILL: server reclaims 10 frames (process gone)"
tap_is "$(used "$PSP_IVSHMEM_DEVICE")" 0 "no frame left in use"

# Clean leave: frames freed by the owner itself, nothing to reclaim.
tl_start o2 "$OWNER" -n 3 -k 2 -l polite
tl_wait_line "$TL_DIR/o2.out" "allocated 2" 30
kill -TERM "$TL_PID_o2"
tl_wait_exit o2 30
tap_is $? 0 "clean leave exits 0"
tap_ok "leave freed its 6 frames" grep -q "freed 6 frames" "$TL_DIR/o2.out"
if grep -q "'polite'" "$HOST_LOG"; then r=1; else r=0; fi
tap_result $r "nothing reclaimed for an owner that left"
host_server_stop pid

# A remote owner (no pid) that stops heartbeating is evicted after the
# timeout, and notices when it runs again.
host_server_start hb -m 2 -c pscom -r 50 -T 500 || tap_bail "$(cat "$HOST_LOG")"
export PSP_IVSHMEM_DEVICE="/dev/shm/$HOST_SHM"
tl_start o3 "$OWNER" -r -n 4 -k 1 -b 20 -l stalled
tl_wait_line "$TL_DIR/o3.out" "allocated 1" 30
kill -STOP "$TL_PID_o3"
tl_wait_line "$HOST_LOG" "reclaimed 4 frames .*'stalled'.*heartbeat timeout" 30
tap_result $? "stalled remote owner reclaimed after the heartbeat timeout"
kill -CONT "$TL_PID_o3"
tl_wait_exit o3 30
tap_is $? 3 "resumed owner learns it was evicted"
tap_is "$(used "$PSP_IVSHMEM_DEVICE")" 0 "its frames are free"
host_server_stop hb
exit "$(tap_status)"
