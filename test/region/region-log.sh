#!/bin/sh
# One copy of lib/shmseg and lib/ring in the process, with one log sink:
# libpscom.so exports them, the ivshmem plugin defines none of their
# symbols, and a region message of an application that called pscom_init
# goes to PSP_DEBUG_OUT, not to raw stderr.
set -u
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"

tl_need nm
tl_init
B=$(tl_builddir)
LIB="$B/lib/core/.libs/libpscom.so"
PLUGIN="$B/lib/pscom4ivshmem/.libs/libpscom4ivshmem.so"
tap_plan 6

# helper_defs FILE [nm options]: the helper libraries' symbols (text or
# data) FILE defines.
helper_defs() {
    _f=$1
    shift
    nm "$@" --defined-only "$_f" 2>/dev/null |
        awk '$2 ~ /^[TtDdBbRr]$/ && $3 ~ /^(shmseg|ring)_/ { print $3 }'
}

tap_is "$(helper_defs "$PLUGIN" | wc -l)" 0 \
    "the plugin defines no shmseg_/ring_ symbol"
tap_is "$(helper_defs "$LIB" -D | grep -cxE 'shmseg_log_set|ring_init')" 2 \
    "libpscom.so exports shmseg_log_set and ring_init"
tap_is "$(helper_defs "$LIB" -D | sort | uniq -d | wc -l)" 0 \
    "each helper symbol is exported once"

PSP_PLUGINDIR="$B/lib/pscom4ivshmem/.libs/"
PSP_DEBUG=1
PSP_DEBUG_OUT="$TL_DIR/debug.out"
PSP_IVSHMEM_DEVICE="$TL_DIR/no-such-segment"
export PSP_PLUGINDIR PSP_DEBUG PSP_DEBUG_OUT PSP_IVSHMEM_DEVICE
"$B/test/region/region_log" "$TL_DIR/no-such-segment" \
    >"$TL_DIR/stdout" 2>"$TL_DIR/stderr"
tap_result $? "pscom_init, then the region refuses a missing device"
grep -q "region: .*no-such-segment: no usable segment" "$TL_DIR/debug.out" \
    2>/dev/null
tap_result $? "the region's message is in PSP_DEBUG_OUT"
tap_is "$(grep -c 'region:' "$TL_DIR/stderr")" 0 \
    "no region message on stderr"
if [ "$TAP_FAILED" -ne 0 ]; then
    for f in debug.out stderr; do
        tap_diag "$f:"
        tap_diag "$(cat "$TL_DIR/$f" 2>/dev/null)"
    done
fi
exit "$(tap_status)"
