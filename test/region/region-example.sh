#!/bin/sh
# The example program of doc/region.md runs and prints what it wrote.
. "$top_srcdir/test/region/region-lib.sh"
region_setup example
tap_plan 3
"$RT/example" >"$TL_DIR/ex.out" 2>&1
tap_is $? 0 "example exits 0"
cat "$TL_DIR/ex.out" | sed 's/^/# /'
tap_ok "example reads back its own value" \
    grep -qx 'temperature=21.5 unit=C (version 2, owner slot [0-9]*)' \
    "$TL_DIR/ex.out"
tap_ok "example lists its partition" \
    grep -qx 'partition example.status: 23 of 256 bytes' "$TL_DIR/ex.out"
exit "$(tap_status)"
