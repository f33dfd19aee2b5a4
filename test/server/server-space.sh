#!/bin/sh
# The server reserves the memory it promises (issue 21, item 3): a
# segment larger than its filesystem is refused with a clear message and
# nothing left behind (a 2 MiB tmpfs; -m 1T and 16T on /dev/shm), what it
# accepts is fully allocated, and a client never faults (SIGBUS) on a
# sparse segment whose filesystem is full: it reserves or rejects it.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
tl_need mount umount
SRV=$(host_server)
OWNER="$(tl_builddir)/test/shmseg/seg_owner"
MNT="$TL_DIR/small"
trap 'umount "$MNT" 2>/dev/null; host_cleanup' EXIT
trap 'umount "$MNT" 2>/dev/null; host_cleanup; exit 1' INT TERM HUP
tap_plan 9

mkdir "$MNT" && mount -t tmpfs -o size=2m tmpfs "$MNT" ||
    tap_bail "cannot mount a 2 MiB tmpfs on $MNT (the test needs root)"

# refused "what" args...: exits 1 (not serving: bounded by timeout)
# saying the filesystem cannot hold it.
refused() {
    _w=$1
    shift
    timeout 30 "$SRV" -p "$TL_DIR/r.sock" "$@" -c pscom >"$TL_DIR/r.out" 2>&1
    _rc=$?
    if [ $_rc -eq 1 ] && grep -q "cannot hold" "$TL_DIR/r.out"; then
        tap_result 0 "$_w"
    else
        tap_result 1 "$_w"
        tap_diag "rc $_rc: $(cat "$TL_DIR/r.out")"
    fi
}

refused "-m 64 on a 2 MiB tmpfs refused" -f "$MNT/seg" -m 64
tap_ok "...and no file left behind" test ! -e "$MNT/seg"
refused "-m 1T on /dev/shm refused" -s "$HOST_PREFIX-1t" -m 1T
refused "-m 16T on /dev/shm refused" -s "$HOST_PREFIX-16t" -m 16T
tap_is "$(ls /dev/shm | grep -c "$HOST_PREFIX-1")" 0 "...no shm object left"

# What fits is reserved: every block allocated at start.
host_server_start fit -f "$MNT/seg" -m 1 -c pscom ||
    tap_bail "$(cat "$HOST_LOG")"
tap_ok "-m 1 on the 2 MiB tmpfs: fully allocated" \
    test "$(($(stat -c '%b * %B' "$MNT/seg")))" -ge 1048576
host_server_stop fit
tap_is $? 0 "server exits 0"

# A sparse 4 MiB segment (a valid header, the rest holes) on the full
# tmpfs: what an older server or another tool could leave. A client
# that writes its frames must not die of SIGBUS.
host_server_start big -f "$TL_DIR/seg4" -m 4 -c pscom ||
    tap_bail "$(cat "$HOST_LOG")"
host_server_stop big
rm -f "$MNT/seg"
truncate -s 4M "$MNT/sparse"
dd if="$TL_DIR/seg4" of="$MNT/sparse" bs=65536 count=1 conv=notrunc \
    2>/dev/null
dd if=/dev/zero of="$MNT/fill" bs=65536 2>/dev/null # until ENOSPC
PSP_IVSHMEM_DEVICE="$MNT/sparse" PSP_DEBUG=1 "$OWNER" -n 16 -k 8 \
    >"$TL_DIR/o.out" 2>&1 </dev/null &
opid=$!
wait $opid
rc=$?
tap_is "$rc" 1 "client on a sparse segment of a full fs: error, no SIGBUS"
tap_ok "...saying it cannot reserve the backing" \
    grep -q "cannot reserve" "$TL_DIR/o.out"
exit "$(tap_status)"
