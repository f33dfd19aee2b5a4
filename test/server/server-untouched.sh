#!/bin/sh
# A refused existing object is left exactly as it was (issue 21, item 8):
# mode, owner, group, size, contents and mtime, for each refusal (no
# pscom segment, size mismatch, size not a power of two) with -g asking
# for another group and mode; a symlink is never followed.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
SRV=$(host_server)
SECRET="$TL_DIR/secret.txt"
# A group the file is not in, so that a chown would show.
GRP=$(getent group | awk -F: -v g="$(id -g)" '$3 != g { print $1; exit }')
[ -n "$GRP" ] || tap_bail "no second group in /etc/group"
tap_plan 10

snap() { stat -c '%a %u %g %s %y' "$1"; cksum <"$1"; }
# make_secret BYTES: a foreign 0600 file of BYTES bytes, mtime in 2001
make_secret() {
    rm -f "$SECRET"
    head -c "$1" /dev/urandom >"$SECRET"
    chmod 0600 "$SECRET"
    touch -d '2001-02-03 04:05:06' "$SECRET"
}
# untouched "what" MESSAGE args...: exit 1 saying MESSAGE, SECRET (made
# afresh when BYTES is set) unchanged
untouched() {
    _w=$1 _m=$2
    shift 2
    [ -n "$BYTES" ] && make_secret "$BYTES"
    _before=$(snap "$SECRET")
    timeout 30 "$SRV" -p "$TL_DIR/r.sock" -g "$GRP" "$@" >"$TL_DIR/r.out" 2>&1
    _rc=$?
    _after=$(snap "$SECRET")
    if [ $_rc -eq 1 ] && grep -q -- "$_m" "$TL_DIR/r.out" &&
        [ "$_after" = "$_before" ]; then
        tap_result 0 "$_w"
    else
        tap_result 1 "$_w"
        tap_diag "rc $_rc: $(cat "$TL_DIR/r.out")"
        tap_diag "before: $_before"
        tap_diag "after:  $_after"
    fi
}

BYTES=4096
untouched "foreign file, -c pscom: refused, untouched" \
    "holds no usable pscom segment" -f "$SECRET" -c pscom
untouched "foreign file, -c pscom -m 4K: refused, untouched" \
    "holds no usable pscom segment" -f "$SECRET" -c pscom -m 4K
untouched "size mismatch: refused, untouched" \
    "refusing to resize without -t" -f "$SECRET" -m 1
untouched "size mismatch with -c pscom: refused, untouched" \
    "refusing to resize without -t" -f "$SECRET" -m 1 -c pscom
BYTES=1000
untouched "size not a power of two: refused, untouched" \
    "not a power of two" -f "$SECRET"
untouched "...also with -c pscom" "not a power of two" -f "$SECRET" -c pscom

# A symlink to the secret is refused even with -t (which would consent
# to overwriting the object itself, never what a link points to).
BYTES=4096
ln -s "$SECRET" "$TL_DIR/link"
untouched "symlink refused with -t, target untouched" \
    "cannot create or open" -f "$TL_DIR/link" -m 1 -t -c pscom
tap_ok "...and the link is still a link" test -L "$TL_DIR/link"

# The same for a shm object.
SHM="/dev/shm/$HOST_PREFIX-foreign"
head -c 8192 /dev/urandom >"$SHM"
chmod 0600 "$SHM"
touch -d '2001-02-03 04:05:06' "$SHM"
SECRET=$SHM BYTES=
untouched "foreign shm object: refused, untouched" \
    "holds no usable pscom segment" -s "$HOST_PREFIX-foreign" -c pscom

# What is accepted gets the server's mode and group.
host_server_start ok -f "$TL_DIR/seg" -m 1 -c pscom -g "$GRP" ||
    tap_bail "$(cat "$HOST_LOG")"
tap_is "$(stat -c '%a %G' "$TL_DIR/seg")" "660 $GRP" "accepted: 0660 with -g"
host_server_stop ok
exit "$(tap_status)"
