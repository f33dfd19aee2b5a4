#!/bin/sh
# PSP_TESTPLUG=0 disables the test plugin: connections use tcp.
exec "${top_srcdir:?}/test/core/test_plugin.sh" disabled
