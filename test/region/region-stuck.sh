#!/bin/sh
# A partition whose writer is alive but whose current buffer stays half
# written (both sequence words odd, as region_hostile leaves them): the
# tool must say so within a bounded time instead of "writer too busy,
# retry" for ever (read), a silent hang (watch) or "live" (list).
. "$top_srcdir/test/region/region-lib.sh"
tl_need python3 timeout
region_setup stuck -m 2
tap_plan 7

tl_start w "$RT/region_hostile" stuck jammed
tl_wait_line "$TL_DIR/w.out" '^ready$' ||
    tap_bail "stuck writer did not start: $(cat "$TL_DIR/w.out")"

timeout 60 "$TOOL" read jammed >"$TL_DIR/read.out" 2>&1
tap_is "$?" 7 "read: exit 7 (stuck), not 5 (busy)"
grep -q "never completes a write" "$TL_DIR/read.out"
tap_result $? "read: the message says the writer never completes"
grep -q "never completes" "$TL_DIR/read.out" || tap_diag "$(cat "$TL_DIR/read.out")"

# Bounded by timeout(1) only so that the old hang fails instead of
# blocking the suite; watch must end on its own.
timeout 60 "$TOOL" watch jammed >"$TL_DIR/watch.out" 2>&1
rc=$?
tap_is "$rc" 7 "watch: reports the stuck writer and exits 7 (no hang)"
grep -q "never completes a write" "$TL_DIR/watch.out"
tap_result $? "watch: ... with the same message"

"$TOOL" list >"$TL_DIR/list.out" 2>&1
grep -qE ' jammed .* stuck$' "$TL_DIR/list.out"
tap_result $? "list: the partition's state is stuck, not live"
grep -q ' jammed .* stuck$' "$TL_DIR/list.out" || tap_diag "$(cat "$TL_DIR/list.out")"
"$TOOL" list --json >"$TL_DIR/list.json" 2>&1
python3 -c 'import json, sys
p = [x for x in json.load(open(sys.argv[1])) if x["name"] == "jammed"]
sys.exit(not (len(p) == 1 and p[0]["stuck"] and not p[0]["stale"]))' \
    "$TL_DIR/list.json"
tap_result $? "list --json: stuck true, stale false"
kill -0 "$TL_PID_w" 2>/dev/null
tap_result $? "the writer is alive all along (not stale)"
exit "$(tap_status)"
