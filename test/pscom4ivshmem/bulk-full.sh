#!/bin/bash
# A segment nearly full for real: named partitions (pscom-region write
# --hold, the region API) take all but a few hundred KiB of a real
# ivshmem-server segment, less than one bulk area. A new connection gets
# its rings but no bulk area: large messages stream through the ring,
# verified, and the sender says so at PSP_DEBUG=2. The bulk area is taken
# lazily (first large message, given back when idle), so it may also
# fail in the middle of a connection's life, and come back: one stream
# of numbered messages (susp_stream: content and sequence checked) goes
# from the ring to a bulk area when the partitions are freed halfway,
# another from bulk areas to the ring when they are taken halfway;
# nothing is lost or reordered. Afterwards new connections get bulk
# areas again and every frame comes back.
. "$top_srcdir/test/common/ivshmem-env.sh"
st=$top_builddir/test/suspend/susp_stream
region=$top_builddir/bin/pscom-region
[ -x "$st" ] && [ -x "$region" ] || tap_bail "susp_stream or pscom-region missing"
tap_plan 17
ivt_server full 8
seg=$PSP_IVSHMEM_DEVICE
# A known area: 16 slots of 64 KiB and the marks, 257 frames of 4 KiB.
export PSP_SHM_BULK_SLOTS=16 PSP_SHM_BULK_SLOT=65536
AREA=257

free_frames() {
    "$(host_info)" --json "$seg" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["free_frames"])'
}

# fill: hold partitions until 40..200 frames are free (rings fit, a bulk
# area does not). A partition takes two buffers of its size.
nfill=0
fill() {
    while f=$(free_frames); [ "$f" -gt 200 ]; do
        [ $nfill -ge 8 ] && return 1
        nfill=$((nfill + 1))
        tl_start "fill$nfill" /bin/sh -c 'exec "$0" --device "$1" write \
            "$2" --size "$3" --hold </dev/null' "$region" "$seg" \
            "fill-$$-$nfill" $(((f - 120) * 4096 / 2))
        tl_wait_line "$TL_DIR/fill$nfill.out" '^holding ' 30 || return 1
    done
    [ "$f" -ge 40 ]
}

unfill() {
    for i in $(seq "$nfill"); do
        eval "kill -TERM \$TL_PID_fill$i"
        tl_wait_exit "fill$i" 30 >/dev/null
    done
    nfill=0
}

# pair SRV CLI [server options]: a susp_stream pair, 800 numbered
# messages each way, every 8th 1 MiB; neither sends more than 400 (-h)
# until both_done: SRV stops halfway until $TL_DIR/go-SRV exists, CLI
# until $TL_DIR/go-CLI, still receiving (-s) so that SRV gets there too.
# So both second halves, large messages among them, come after what the
# test does to the segment meanwhile, however the two were scheduled.
# PSP_DEBUG=3: the areas taken are logged.
pair() {
    PSP_DEBUG=3 tl_start "$1" "$st" -l -n 800 -L 1048576 -h 400 \
        -g "$TL_DIR/go-$1" "${@:3}"
    tl_wait_line "$TL_DIR/$1.out" '^port ' 30 || tap_bail "$1 did not listen"
    PSP_DEBUG=3 tl_start "$2" "$st" -n 800 -L 1048576 -h 400 \
        -g "$TL_DIR/go-$2" -s \
        -c "127.0.0.1:$(awk '/^port/{print $2}' "$TL_DIR/$1.out")"
    tl_wait_line "$TL_DIR/$1.out" '^halfway' 60 || tap_bail "$1: no halfway"
}

# both_done SRV CLI: let both go on; both end with every message checked.
both_done() {
    touch "$TL_DIR/go-$2" "$TL_DIR/go-$1"
    tl_wait_exit "$1" 120 && tl_wait_exit "$2" 120 &&
        grep -q '^done ok type=ivshmem' "$TL_DIR/$1.out" &&
        grep -q '^done ok type=ivshmem' "$TL_DIR/$2.out"
}

rows_via() { # FILE TYPE: table rows that went over TYPE
    grep -cE "^ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+  $2\$" "$1"
}

# ---- a new connection on a nearly full segment ----
fill
tap_result $? "partitions take the segment: $(free_frames) frames free (a bulk area needs $AREA)"
ivt_pp_server s1 PSP_DEBUG=2
PSP_DEBUG=2 "$pp" --minsize 1M --maxsize 4M --loops 4 --verify "$addr" \
    >"$TL_DIR/c1.out" 2>&1
tap_result $? "nearly full: 1-4 MiB messages go, verified"
tap_is "$(rows_via "$TL_DIR/c1.out" ivshmem)" 3 "... over ivshmem (the rings fit)"
grep -q "large messages stream through the ring: segment full" "$TL_DIR/c1.out" &&
    grep -q "large messages stream through the ring: segment full" "$TL_DIR/s1.out"
tap_result $? "... both senders said so at PSP_DEBUG=2"
! "$(host_info)" --json "$seg" | grep -q '"tag": "bulk"'
tap_result $? "... and no bulk area was allocated"

# ---- mid-life: from the ring to a bulk area ----
# Halfway the server stops (computing); the partitions go; it goes on.
export PSP_DEBUG=2
pair srv cli
grep -q "stream through the ring: segment full" "$TL_DIR/srv.out"
tap_result $? "ring to bulk: the first half streams through the ring"
unfill
both_done srv cli
tap_result $? "ring to bulk: every message once, in order, intact"
awk '/^halfway/{h=1} h && /go through a bulk area again/{f=1} END{exit !f}' \
    "$TL_DIR/srv.out"
tap_result $? "ring to bulk: after the partitions went, the bulk area again (PSP_DEBUG=2)"
grep -q "go through a bulk area again" "$TL_DIR/cli.out"
tap_result $? "ring to bulk: ... on the other side too"
[ $TAP_FAILED -eq 0 ] || tap_diag "$(tail -n 4 "$TL_DIR/srv.out" "$TL_DIR/cli.out")"
ivt_wait_free "$seg"
tap_result $? "every frame is back"

# ---- mid-life: from bulk areas to the ring ----
# Halfway the server keeps serving (-s) until both sides idle and give
# their areas back (PSP_SHM_BULK_IDLE_MS); then the partitions take the
# segment and the next large message finds no room for its area.
pair srv2 cli2 -s
grep -q "bulk area taken" "$TL_DIR/srv2.out" &&
    grep -q "bulk area taken" "$TL_DIR/cli2.out" &&
    ! grep -q "segment full" "$TL_DIR/srv2.out" "$TL_DIR/cli2.out"
tap_result $? "bulk to ring: the first half goes through bulk areas"
for _ in $(seq 1500); do
    [ "$("$(host_info)" --json "$seg" | grep -c '"tag": "bulk"')" = 0 ] && break
    tl_nap
done
fill
tap_result $? "bulk to ring: idle areas given back, partitions take the segment ($(free_frames) frames free)"
both_done srv2 cli2
tap_result $? "bulk to ring: every message once, in order, intact"
# (The client's sends were all taken in while the server served: the
# server's second half is what meets the full segment.)
awk '/^halfway/{h=1} h && /given back/{g=1} g && /stream through the ring: segment full/{f=1} END{exit !f}' \
    "$TL_DIR/srv2.out"
tap_result $? "bulk to ring: the server's area, given back when idle, found no room again (PSP_DEBUG=2)"
[ $TAP_FAILED -eq 0 ] || tap_diag "$(grep -E 'bulk|ring|halfway|received' \
    "$TL_DIR/srv2.out" "$TL_DIR/cli2.out")"

# ---- the space is back: a later connection gets its bulk area ----
unfill
PSP_DEBUG=3 "$pp" --minsize 1M --maxsize 4M --loops 4 --verify "$addr" \
    >"$TL_DIR/c2.out" 2>&1
tap_result $? "freed: 1-4 MiB messages verified"
grep -q "bulk area taken" "$TL_DIR/c2.out" &&
    ! grep -q "segment full" "$TL_DIR/c2.out"
tap_result $? "... a new connection takes a bulk area again (PSP_DEBUG=3)"
kill -TERM "$TL_PID_s1"
tl_wait_exit s1 30 >/dev/null
ivt_wait_free "$seg"
tap_result $? "every frame is back"
exit "$(tap_status)"
