#!/bin/sh
# Run instead of the unit tests when configure did not find cmocka.
. "${top_srcdir:?}/test/common/tap.sh"
tap_plan 1
tap_result 1 "cmocka is missing: apt-get install libcmocka-dev (scripts/deps.sh), then re-run configure"
exit 1
