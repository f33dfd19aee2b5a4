#!/bin/sh
# Concurrent creators of the same name, each its own participant: in
# every round exactly one wins, the others get EEXIST (region_race).
. "$top_srcdir/test/region/region-lib.sh"
region_setup race -m 4
"$RT/region_race"
