#!/usr/bin/env python3
"""Case d, tcp from the start (issue 6): A and B stream over tcp only
(PSP_IVSHMEM=0). A guest-initiated TCP connection through user
networking does not survive a migration (its host socket closes with the
source QEMU; without a suspend the stream stalls), so A's processes run
with PSP_SUSPEND_TCP=1: the tcp connection is suspended with the
process, reconnected after the move, and every message arrives. See
vmmigrate.py for the cycle."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmmigrate  # noqa: E402

vmlib.main_test(vmmigrate.steps('tcp', start='tcp'),
                vmmigrate.body_for('tcp', start='tcp'), vmmigrate.EXTRA)
