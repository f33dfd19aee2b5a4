#!/bin/sh
# Backing objects: shm and file, persistence of file contents and of the
# segment (same UUID) across a restart, a different size refused without
# -t, -t re-initialising, an existing object with a wrong magic or version
# refused and left untouched.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
SRV=$(host_server)
INFO=$(host_info)
IMG="$TL_DIR/seg.img"
tap_plan 20

uuid() { "$INFO" --json "$1" | sed -n 's/.*"uuid": "\([^"]*\)".*/\1/p'; }
sum() { cksum <"$1"; }
# refused "what" MESSAGE args: exit 1 with MESSAGE, IMG unchanged
refused() {
    _w=$1 _m=$2
    shift 2
    _before=$(sum "$IMG")
    "$SRV" -p "$TL_DIR/r.sock" "$@" >"$TL_DIR/r.out" 2>&1
    _rc=$?
    if [ $_rc -eq 1 ] && grep -q -- "$_m" "$TL_DIR/r.out" &&
        [ "$(sum "$IMG")" = "$_before" ]; then
        tap_result 0 "$_w"
    else
        tap_result 1 "$_w"
        tap_diag "rc $_rc: $(cat "$TL_DIR/r.out")"
    fi
}

# File backing, then contents and layout survive a restart.
host_server_start f1 -f "$IMG" -m 2 -c pscom || tap_bail "$(cat "$HOST_LOG")"
tap_is "$(stat -c %s "$IMG")" 2097152 "-f -m 2: file of 2 MiB"
tap_is "$(stat -c %a "$IMG")" 600 "file is 0600"
u1=$(uuid "$IMG")
tap_ok "file holds a valid segment" test -n "$u1"
printf 'persist-me' | dd of="$IMG" bs=1 seek=1048576 conv=notrunc 2>/dev/null
host_server_stop f1
host_server_start f2 -f "$IMG" -c pscom || tap_bail "$(cat "$HOST_LOG")"
tap_ok "restart reuses the segment" grep -q "reusing segment" "$HOST_LOG"
tap_is "$(uuid "$IMG")" "$u1" "same UUID after restart"
tap_is "$(dd if="$IMG" bs=1 skip=1048576 count=10 2>/dev/null)" persist-me \
    "file contents kept across restart"
host_server_stop f2

refused "different size refused without -t" "refusing to resize without -t" \
    -f "$IMG" -m 4 -c pscom
host_server_start f3 -f "$IMG" -m 4 -t -c pscom || tap_bail "$(cat "$HOST_LOG")"
tap_is "$(stat -c %s "$IMG")" 4194304 "-t resizes to -m"
u2=$(uuid "$IMG")
tap_ok "-t re-initialises (new UUID)" test -n "$u2" -a "$u2" != "$u1"
host_server_stop f3

# Never overwrite a foreign object without -t.
head -c 1048576 /dev/urandom >"$IMG"
refused "wrong magic refused, object untouched" "no pscom segment" \
    -f "$IMG" -c pscom
host_server_start f4 -f "$IMG" -m 1 -t -c pscom || tap_bail "$(cat "$HOST_LOG")"
tap_ok "wrong magic accepted with -t" test -n "$(uuid "$IMG")"
host_server_stop f4
printf '\002' | dd of="$IMG" bs=1 seek=8 conv=notrunc 2>/dev/null
refused "wrong layout version refused, object untouched" "layout version 2" \
    -f "$IMG" -c pscom
# Header claims more than the object holds (hostile or truncated).
printf '\001\000\000\000' | dd of="$IMG" bs=1 seek=8 conv=notrunc 2>/dev/null
printf '\000\000\000\000\000\001\000\000' |
    dd of="$IMG" bs=1 seek=16 conv=notrunc 2>/dev/null
refused "header size beyond the object refused" "> mapping" -f "$IMG" -c pscom

# Without -c the object is plain shared memory, left as it is.
host_server_start plain -m 1 || tap_bail "$(cat "$HOST_LOG")"
tap_is "$(stat -c %s /dev/shm/$HOST_SHM)" 1048576 "shm backing, 1 MiB"
"$INFO" "$HOST_SHM" >"$TL_DIR/plain.out" 2>&1
tap_is $? 1 "no layout without -c"
host_server_stop plain
# shm object persistence (kept at exit, reused with the same UUID).
host_server_start s1 -m 1 -c pscom || tap_bail "$(cat "$HOST_LOG")"
u3=$(uuid "/dev/shm/$HOST_SHM")
host_server_stop s1
host_server_start s1 -c pscom || tap_bail "$(cat "$HOST_LOG")"
tap_is "$(uuid "/dev/shm/$HOST_SHM")" "$u3" "shm segment reused after restart"
tap_ok "shm restart says reusing" grep -q "reusing segment" "$HOST_LOG"
host_server_stop s1

# Size suffixes (the file is reserved in full: 1 GiB for a moment); -F
# frame size shows in the header.
host_server_start big -f "$TL_DIR/big.img" -m 1G ||
    tap_bail "$(cat "$HOST_LOG")"
tap_is "$(stat -c %s "$TL_DIR/big.img")" 1073741824 "-m 1G"
host_server_stop big
rm -f "$TL_DIR/big.img"
host_server_start fs -m 1 -c pscom -F 65536 || tap_bail "$(cat "$HOST_LOG")"
tap_ok "-F 65536 frame size" sh -c \
    "'$INFO' --json $HOST_SHM | grep -q '\"frame_size\": 65536'"
host_server_stop fs
tap_is $? 0 "server exits 0"
exit "$(tap_status)"
