#!/bin/bash
# Garbage in the participant table is repaired (issue 21, item 11): a
# hostile or buggy guest overwrites every participant slot with random
# bytes; ivshmem-info shows them "bad" and no process could join (all
# slots taken). The server's reclaim pass must free every slot whose
# state is no valid state, after which new processes join the segment
# and talk over ivshmem.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 5
ivt_server slots 4 -r 50
SEG=$PSP_IVSHMEM_DEVICE

# bad SEGMENT: how many participants ivshmem-info calls "bad"
bad() {
    "$(host_info)" --json "$1" | python3 -c 'import json, sys
print(sum(p["status"] == "bad" for p in json.load(sys.stdin)["participants"]))'
}
# Random bytes over every slot (the table starts at part_off = 256, the
# header holds part_count at byte 56).
python3 - "$SEG" >/dev/null <<'PY'
import mmap, os, struct, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    count = struct.unpack_from("<I", m, 56)[0]
    m[256:256 + 64 * count] = os.urandom(64 * count)
    m.close()
print(count)
PY
tap_result $? "random bytes written over every participant slot"
tl_wait_line "$HOST_LOG" "repaired participant slot" 30
tap_result $? "the server repairs the slots"
n=1
for _ in $(seq 1500); do
    n=$(bad "$SEG")
    [ "$n" = 0 ] && break
    tl_nap
done
tap_is "$n" 0 "ivshmem-info lists no bad slot any more"

export PSP_DEBUG=1
ivt_pp_server srv
"$pp" --maxsize 4K --loops 5 --verify "$addr" >"$TL_DIR/c.out" 2>&1
tap_result $? "a new pair of processes joins and ping-pongs"
tap_is "$(grep -cE '  ivshmem$' "$TL_DIR/c.out")" 14 "... over ivshmem"
exit "$(tap_status)"
