#!/bin/sh
# The API on a real 2 MiB segment made by ivshmem-server: ownership,
# writes, reads, list, delete, bad names/sizes/ids (region_check prints
# the TAP; this script owns the server and its cleanup).
. "$top_srcdir/test/region/region-lib.sh"
region_setup api -m 2
"$RT/region_check"
