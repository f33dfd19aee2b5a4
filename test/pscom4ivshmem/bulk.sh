#!/bin/bash
# Large messages through the bulk area (lib/core/bulk.c) over both memory
# transports: 64 MiB messages, 16 messages in flight on one connection,
# four connections streaming at once through one segment, a segment with
# no room for a bulk area (streams through the ring, says so at
# PSP_DEBUG=2), and a SIGKILL in the middle of a transfer (the server's
# reclaim and the survivor give every frame back). Every run --verify.
. "$top_srcdir/test/common/ivshmem-env.sh"
tap_plan 22

rows_via() { # FILE TYPE: table rows that went over TYPE
    grep -cE "^ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+  $2\$" "$1"
}

# ---- shm (same OS) ----
ivt_pp_server shm PSP_SHM=1 PSP_IVSHMEM=0 PSP_DEBUG=3
PSP_SHM=1 PSP_IVSHMEM=0 "$pp" --minsize 64M --maxsize 64M --loops 4 --verify \
    "$addr" >"$TL_DIR/c1.out" 2>&1
tap_result $? "shm: 64 MiB messages, verified"
tap_is "$(rows_via "$TL_DIR/c1.out" shm)" 1 "... over shm"
PSP_SHM=1 PSP_IVSHMEM=0 "$pp" --window 16 --minsize 4K --maxsize 2M \
    --loops 4 --verify "$addr" >"$TL_DIR/c2.out" 2>&1
tap_result $? "shm: 16 messages in flight, 4 KiB .. 2 MiB, verified"
# A 60000-byte xheader: the header follows the announcement in pieces.
PSP_SHM=1 PSP_IVSHMEM=0 "$pp" --minsize 256K --maxsize 1M --loops 4 \
    --xheader 60000 --verify "$addr" >"$TL_DIR/c2x.out" 2>&1
tap_result $? "shm: 256 KiB .. 1 MiB messages with a 60000-byte xheader, verified"
grep -q "bulk: L2 " "$TL_DIR/shm.out"
tap_result $? "... the server derived its bulk geometry (PSP_DEBUG=3)"
kill -TERM "$TL_PID_shm"
tl_wait_exit shm 30 >/dev/null

# ---- ivshmem ----
ivt_server bulk 16
seg=$PSP_IVSHMEM_DEVICE
ivt_pp_server s1
addr1=$addr
"$pp" --minsize 64M --maxsize 64M --loops 4 --verify "$addr" \
    >"$TL_DIR/c3.out" 2>&1
tap_result $? "ivshmem: 64 MiB messages, verified"
tap_is "$(rows_via "$TL_DIR/c3.out" ivshmem)" 1 "... over ivshmem"
"$pp" --window 16 --minsize 4K --maxsize 2M --loops 4 --verify "$addr" \
    >"$TL_DIR/c4.out" 2>&1
tap_result $? "ivshmem: 16 messages in flight, 4 KiB .. 2 MiB, verified"

# An idle connection gives its bulk area back: after a large message the
# client stays connected; both sides' areas go, the rings stay.
tl_start idle "$pp" --minsize 1M --maxsize 1M --loops 4 --linger 20 "$addr1"
tl_wait_line "$TL_DIR/idle.out" '^lingering' 60 ||
    tap_diag "$(cat "$TL_DIR/idle.out")"
bulk_used() {
    "$(host_info)" --json "$seg" 2>/dev/null | grep -o '"tag": "bulk"' | wc -l
}
n=1
for _ in $(seq 500); do
    n=$(bulk_used)
    [ "$n" = 0 ] && break
    tl_nap
done
tap_is "$n" 0 "idle connection: both bulk areas given back (PSP_SHM_BULK_IDLE_MS)"
rings=$(ivt_used "$seg")
kill -0 "$TL_PID_idle" 2>/dev/null && [ "$rings" -gt 0 ] &&
    [ "$rings" -le 16 ]
tap_result $? "... while connected it keeps its rings only ($rings frames of 4 KiB)"
kill -TERM "$TL_PID_idle"
tl_wait_exit idle 30 >/dev/null

# Four connections (four pairs) through the one segment at once.
for i in 1 2 3 4; do
    ivt_pp_server m$i
    tl_start mc$i "$pp" --window 8 --minsize 16K --maxsize 1M --loops 4 \
        --verify "$addr"
done
ok=0
for i in 1 2 3 4; do
    tl_wait_exit mc$i 60 && ok=$((ok + 1))
done
tap_is "$ok" 4 "ivshmem: four connections streaming at once, verified"
for i in 1 2 3 4; do
    kill -TERM "$(eval echo \$TL_PID_m$i)"
    tl_wait_exit m$i 30 >/dev/null
done

# A segment with no room for a bulk area: the ring carries everything.
ivt_server small 4
small=$PSP_IVSHMEM_DEVICE
ivt_pp_server s2 PSP_IVSHMEM_DEVICE="$small" PSP_SHM_BULK_SLOT=2M \
    PSP_DEBUG=2
PSP_IVSHMEM_DEVICE=$small PSP_SHM_BULK_SLOT=2M PSP_DEBUG=2 "$pp" \
    --minsize 1M --maxsize 4M --loops 4 --verify "$addr" \
    >"$TL_DIR/c5.out" 2>&1
tap_result $? "full segment: 1-4 MiB messages still go, verified"
tap_is "$(rows_via "$TL_DIR/c5.out" ivshmem)" 3 "... over ivshmem"
grep -q "large messages stream through the ring: segment full" \
    "$TL_DIR/c5.out"
tap_result $? "... the sender said so at PSP_DEBUG=2"
kill -TERM "$TL_PID_s2"
tl_wait_exit s2 30 >/dev/null

PSP_IVSHMEM_DEVICE=$seg

# Hostile memory: a third party overwrites the marks of both bulk areas
# in the middle of a transfer. The connection fails with a clear error
# (the client exits with an error, not a signal); the server survives.
tl_start h1 /bin/bash -c \
    'while :; do "$0" --minsize 64M --maxsize 64M "$1" || exit $?; done' \
    "$pp" "$addr1"
for _ in $(seq 1500); do
    "$(host_info)" --json "$seg" >"$TL_DIR/info.json" 2>/dev/null
    [ "$(grep -o '"tag": "bulk"' "$TL_DIR/info.json" | wc -l)" -ge 2 ] && break
    tl_nap
done
n=$(python3 "$top_srcdir/test/common/scribble.py" "$seg" "$TL_DIR/info.json" \
    --bulk-marks 0xa5 "$TL_PID_h1" 20)
tap_is "$n" 2 "hostile: both bulk areas' marks overwritten mid-transfer"
tl_wait_exit h1 60
rc=$?
[ $rc -ge 1 ] && [ $rc -lt 128 ]
tap_result $? "hostile: the client fails with an error (exit $rc), no signal"
kill -0 "$TL_PID_s1" 2>/dev/null
tap_result $? "hostile: the server process survives"
# (Which check trips first depends on the moment: a mark, a length.)
grep -qE "bulk area: .*(impossible|differs)" "$TL_DIR/s1.out" "$TL_DIR/h1.out"
tap_result $? "hostile: the bad mark is logged"
tap_diag "$(grep -h "bulk area" "$TL_DIR/s1.out" "$TL_DIR/h1.out" | head -n 2)"

# SIGKILL in the middle of a transfer: both sides' bulk areas in use.
# (pscom_pp caps the rounds of a size: one client after the other, each
# in its own process group, which the kill takes whole.)
tl_start k1 /bin/bash -c 'while "$0" --minsize 64M --maxsize 64M "$1"; do :; done' \
    "$pp" "$addr1"
n=0
for _ in $(seq 1500); do
    n=$(bulk_used)
    [ "$n" -ge 2 ] && break
    tl_nap
done
tap_result "$([ "$n" -ge 2 ] && echo 0 || echo 1)" \
    "both sides hold a bulk area in the middle of a 64 MiB message"
kill -KILL -- "-$TL_PID_k1"
tl_wait_exit k1 30
tap_is $? 137 "the client died of SIGKILL mid-transfer"
ivt_wait_free "$seg"
tap_is "$(ivt_used "$seg")" 0 "every frame came back after the kill"
"$pp" --minsize 1M --maxsize 1M --loops 4 --verify "$addr1" \
    >"$TL_DIR/c6.out" 2>&1
tap_is "$(rows_via "$TL_DIR/c6.out" ivshmem)" 1 \
    "the surviving server serves the next client over ivshmem"
exit "$(tap_status)"
