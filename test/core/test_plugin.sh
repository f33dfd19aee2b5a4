#!/bin/sh
# Plugin loader and negotiation with the test-only plugin: loaded from
# PSP_PLUGINDIR, refusals logged at PSP_DEBUG=2 (into PSP_DEBUG_OUT).
# With "disabled": PSP_TESTPLUG=0 turns it off.
set -u
b=${top_builddir:?}/test/core
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pscom-plugin.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -f "$b/.libs/libpscom4testplug.so" ]; then
    . "$top_srcdir/test/common/tap.sh"
    tap_plan 1
    tap_result 1 "$b/.libs/libpscom4testplug.so was not built"
    exit 1
fi
PSP_PLUGINDIR="$b/.libs" PSP_DEBUG=2 PSP_DEBUG_OUT="$tmp/debug.log"
export PSP_PLUGINDIR PSP_DEBUG PSP_DEBUG_OUT
if [ "${1:-}" = disabled ]; then
    PSP_TESTPLUG=0 "$b/test_plugin" disabled
else
    "$b/test_plugin"
fi
rc=$?
[ $rc -eq 0 ] || { echo "# debug log:"; sed 's/^/# /' "$tmp/debug.log"; }
exit $rc
