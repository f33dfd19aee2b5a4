#!/bin/sh
# The end-to-end checks again with PSP_UNEXPECTED_RECEIVES=0 (tcp stops
# reading a connection whose next message has no receive yet).
PSP_UNEXPECTED_RECEIVES=0 exec "${top_builddir:?}/test/core/test_e2e"
