#!/usr/bin/env python3
"""v1: two guests and the host on one ivshmem-plain segment
(memory-backend-file in /dev/shm). Each side writes a unique pattern into
the shared memory (guests through sysfs resource2 of the PCI device found
by vendor/device scan) and the other two read it back. Guest A also has
user networking and reaches a listener on the host at 10.0.2.2."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

STEPS = ['guests A and B boot with ivshmem-plain',
         'each guest finds one ivshmem device with the segment size',
         'A writes, B and the host read it',
         'B writes, A and the host read it',
         'the host writes, A and B read it',
         'A reaches a listener on the host over user networking']


def body(tap, s):
    shm = s.new_shm()
    with tap.step():
        a = s.guest('A', shm=shm, net=True)
        b = s.guest('B', shm=shm)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        for g in (a, b):
            devs = g.check('bar-rw find').split()
            tap.expect(len(devs) == 1, '%s: devices %r' % (g.name, devs))
            size = g.check('bar-rw size')
            tap.expect(size == str(vmlib.SHM_SIZE),
                       '%s: size %s' % (g.name, size))
    with tap.step():
        p = vmlib.pattern('from-A')
        a.check('bar-rw write 4096 %s' % p)
        tap.expect(b.check('bar-rw read 4096 64') == p, 'B read')
        tap.expect(vmlib.shm_read(shm, 4096) == p, 'host read')
    with tap.step():
        p = vmlib.pattern('from-B')
        b.check('bar-rw write %d %s' % (vmlib.SHM_SIZE - 64, p))
        tap.expect(a.check('bar-rw read %d 64' % (vmlib.SHM_SIZE - 64)) == p,
                   'A read')
        tap.expect(vmlib.shm_read(shm, vmlib.SHM_SIZE - 64) == p,
                   'host read')
    with tap.step():
        p = vmlib.pattern('from-host')
        vmlib.shm_write(shm, 0, p)
        for g in (a, b):
            got = g.check('bar-rw read 0 64')
            tap.expect(got == p, '%s read %r' % (g.name, got))
    with tap.step():
        vmlib.guest_to_host(a)

vmlib.main_test(STEPS, body)
