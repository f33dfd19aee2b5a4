#!/bin/sh
# A writer rewrites a partition at full speed (varying lengths, checksummed
# payloads) while three reader processes check every snapshot: none may
# be torn, versions never go backwards, each reader sees thousands of
# distinct versions (so reads really overlapped writes).
. "$top_srcdir/test/region/region-lib.sh"
region_setup tear -m 4
tap_plan 6
tl_start w "$RT/region_tear" writer hot 3000
tl_wait_line "$TL_DIR/w.out" '^ready' 30 ||
    tap_bail "writer did not start: $(cat "$TL_DIR/w.out")"
for i in 1 2 3; do
    tl_start "r$i" "$RT/region_tear" reader hot 3000
done
for i in 1 2 3; do
    tl_wait_exit "r$i" 300
    tap_is $? 0 "reader $i: no torn snapshot, versions monotonic"
    sed 's/^/# /' "$TL_DIR/r$i.out"
done
ok=0
for i in 1 2 3; do
    grep -q '^snapshots [0-9]* distinct 3000 .* torn 0 backwards 0$' \
        "$TL_DIR/r$i.out" || ok=1
done
tap_result $ok "every reader saw 3000 distinct versions, none torn"
kill -TERM "$TL_PID_w"
tl_wait_exit w 60
tap_is $? 0 "writer stops cleanly"
sed 's/^/# /' "$TL_DIR/w.out"
tap_ok "writer wrote more versions than any reader saw" \
    grep -q '^wrote [0-9][0-9][0-9][0-9]' "$TL_DIR/w.out"
exit "$(tap_status)"
