#!/bin/sh
# Forged directory entries and scribbled partitions (region_hostile):
# clear errors, no out-of-bounds access, honest writers unaffected.
. "$top_srcdir/test/region/region-lib.sh"
region_setup hostile -m 2
"$RT/region_hostile"
