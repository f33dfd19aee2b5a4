#!/usr/bin/env python3
"""Case c (issue 6): the migration cycle with traffic between guests A
and B and a mosquitto broker on the host; the destination gets the
ivshmem device back and the stream continues over ivshmem. See
vmmigrate.py for the cycle."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmmigrate  # noqa: E402

vmlib.main_test(vmmigrate.steps('ivshmem'), vmmigrate.body_for('ivshmem'),
                vmmigrate.EXTRA)
