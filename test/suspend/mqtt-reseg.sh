#!/bin/bash
# Resume into another segment: processes stream over ivshmem; the
# migrating one is suspended over MQTT; meanwhile its "host" changes: the
# segment is replaced by a new one (another ivshmem-server run, another
# UUID) under the same device path, as after a migration to another host
# whose server has a segment of the same name. On resume the process
# re-probes the device, finds the new segment, the peer still sees the
# old one: not co-located, so the connection comes back over tcp -- and
# every message still arrives exactly once and in order.
. "$top_srcdir/test/common/ivshmem-env.sh"
. "$top_srcdir/test/suspend/stream-pair.sh"
. "$top_srcdir/test/suspend/mqtt-env.sh"
info=$(host_info)
ivt_server a 8
seg=$PSP_IVSHMEM_DEVICE
export PSP_MQTT_BROKER=$B PSP_POSTPONE_FEEDBACK=1 PSP_DEBUG=2
N=2000
tap_plan 7

uuid_of() { "$info" --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])'; }
uuid1=$(uuid_of "$seg")

# The peer runs no agent: it keeps calling pscom (blocked in its waits).
stream_pair $N
grep -q "connected type=ivshmem" "$TL_DIR/cli.out"
tap_result $? "the stream runs over ivshmem (segment $uuid1)"

"$mig" suspend "$H" -n 1 --broker "$B" >"$TL_DIR/s1" 2>&1
tap_result $? "suspend: ALLOWED"

# The new host's segment: same path, new server, new UUID. The peer keeps
# its mapping of the old (now unlinked) object, as a VM that did not move.
host_server_stop a
rm -f "$seg"
ivt_server a 8
[ "$PSP_IVSHMEM_DEVICE" = "$seg" ] || tap_bail "the device path changed"
uuid2=$(uuid_of "$seg")
[ -n "$uuid2" ] && [ "$uuid2" != "$uuid1" ]
tap_result $? "a new segment with another UUID ($uuid2) is in place"

touch "$TL_DIR/go"
"$mig" resume "$H" -n 1 --broker "$B" >"$TL_DIR/r1" 2>&1
tap_result $? "resume: COMPLETED once the connection is up again"
tl_wait_line "$TL_DIR/srv.out" '^received type=tcp' 60
tap_result $? "all $N messages in order, the connection now over tcp"
grep -q "not co-located: segment" "$TL_DIR/srv.out" "$TL_DIR/cli.out"
tap_result $? "the refusal of ivshmem says why (PSP_DEBUG=2)"
touch "$TL_DIR/end"
rc=0
tl_wait_exit srv 60 || rc=1
tl_wait_exit cli 60 || rc=1
grep -q '^done ok type=tcp' "$TL_DIR/cli.out" || rc=1
tap_result $rc "both finish cleanly over tcp"
[ $TAP_FAILED -eq 0 ] ||
    tap_diag "$(tail -n 15 "$TL_DIR/srv.out" "$TL_DIR/cli.out")"
exit "$(tap_status)"
