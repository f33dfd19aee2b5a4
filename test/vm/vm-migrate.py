#!/usr/bin/env python3
"""v3: the migration cycle. Guests A and B share a segment. A detaches
its ivshmem device (QEMU refuses to migrate it in peer mode), is
live-migrated to a new QEMU started with -incoming (same devices, no
ivshmem), re-attaches there and reads the pattern B wrote meanwhile; B
reads A's answer. The guest's serial command channel and its state
(a file in its tmpfs) survive the move to the new QEMU, and so does its
user networking (the destination forwards a new host port)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

GUEST_PORT = 5000
STEPS = ['guests A and B boot and share the segment',
         'A detaches its ivshmem device',
         'A migrates to a new QEMU',
         'A runs commands over the new serial channel, state kept',
         'A\'s network works: to the host, and from it on a new port',
         'A re-attaches and reads B\'s newest pattern, B reads A\'s']


def body(tap, s):
    shm = s.new_shm()
    with tap.step():
        a = s.guest('A', shm=shm, hostfwd={GUEST_PORT: vmlib.free_port()})
        b = s.guest('B', shm=shm)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
        p = vmlib.pattern('A-before')
        a.check('bar-rw write 0 %s' % p)
        tap.expect(b.check('bar-rw read 0 64') == p, 'B read')
        state = vmlib.pattern('state')
        a.check('echo %s > /tmp/state' % state)
    with tap.step():
        a.detach_ivshmem()
        a.poll('bar-rw find | wc -l', '0')
        newest = vmlib.pattern('B-while-A-away')
        b.check('bar-rw write 0 %s' % newest)
    with tap.step():
        old = a.proc
        info = a.migrate()
        tap.expect(a.proc is not old and old.poll() is not None,
                   'source QEMU still running')
        vmlib.log('migration %d ms total, %s ms downtime, %d bytes' % (
            info.get('total-time', -1), info.get('downtime', '?'),
            info.get('ram', {}).get('transferred', -1)))
    with tap.step():
        tap.expect(a.check('cat /tmp/state') == state, 'guest state lost')
        tap.expect(a.check('bar-rw find | wc -l') == '0',
                   'device present without device_add')
    with tap.step():
        vmlib.guest_to_host(a)
        vmlib.host_to_guest(a, GUEST_PORT)
    with tap.step():
        a.attach_ivshmem()
        a.poll('bar-rw find | wc -l', '1')
        got = a.check('bar-rw read 0 64')
        tap.expect(got == newest, 'A read %r, want %r' % (got, newest))
        p = vmlib.pattern('A-after')
        a.check('bar-rw write 64 %s' % p)
        tap.expect(b.check('bar-rw read 64 64') == p, 'B read')


vmlib.main_test(STEPS, body)
