#!/usr/bin/env python3
"""v2: hot-unplug and hot-plug of the ivshmem device over QMP. After
device_del (and DEVICE_DELETED) the guest no longer lists the device;
after object-add + device_add it finds it again and reads what the host
wrote into the segment while the device was gone. Two rounds, so a
re-plugged device can be removed again."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

ROUNDS = 2
STEPS = ['guest boots with ivshmem-plain and reads the segment']
for r in range(1, ROUNDS + 1):
    STEPS += ['round %d: device_del, the guest sees the device gone' % r,
              'round %d: device_add, the guest finds it and reads the '
              'host\'s newest pattern' % r]


def body(tap, s):
    shm = s.new_shm()
    with tap.step():
        g = s.guest('A', shm=shm)
        vmlib.log('boot %.2f s' % g.wait_boot())
        p = vmlib.pattern('host')
        vmlib.shm_write(shm, 128, p)
        tap.expect(g.check('bar-rw read 128 64') == p, 'guest read')
    for r in range(1, ROUNDS + 1):
        with tap.step():
            g.detach_ivshmem()
            t = g.poll('bar-rw find | wc -l', '0')
            vmlib.log('round %d: gone in the guest %.2f s after '
                      'DEVICE_DELETED' % (r, t))
            rc, out = g.run('bar-rw read 128 64')
            tap.expect(rc != 0, 'read without a device succeeded: ' + out)
        with tap.step():
            p = vmlib.pattern('round%d' % r)
            vmlib.shm_write(shm, 128, p)
            g.attach_ivshmem()
            t = g.poll('bar-rw find | wc -l', '1')
            vmlib.log('round %d: present in the guest %.2f s after '
                      'device_add' % (r, t))
            got = g.check('bar-rw read 128 64')
            tap.expect(got == p, 'guest read %r' % got)


vmlib.main_test(STEPS, body)
