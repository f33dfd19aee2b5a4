#!/usr/bin/env python3
"""Case a (issue 6): two guests with ivshmem-plain on a segment laid out
by ivshmem-server (-c pscom). No PSP_IVSHMEM_DEVICE: the plugin finds the
device through PCI (hwloc's Linux backend reads sysfs, then the BDF's
resource2; no driver is loaded). pscom_pp between the guests runs over
ivshmem, every message verified; the handshake goes over user
networking: the server in A listens on a forwarded port, the client in B
connects to 10.0.2.2 (the host). The segment's frames are free again
after both exited."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmpscom as vp  # noqa: E402

GUEST_PORT = 5000
MAXSIZE = 256 * 1024

STEPS = ['ivshmem-server lays out a pscom segment',
         'guests A and B boot with ivshmem-plain and user networking',
         'pscom_pp server in A listens (no PSP_IVSHMEM_DEVICE)',
         'pscom_pp in B reaches A through the host: all sizes verified, '
         'type ivshmem',
         'the server in A ends successfully, the device came from PCI',
         'the segment has no frames in use afterwards']


def body(tap, s):
    with tap.step():
        vp.require(tap)
        _, shm = s.start_server(layout='pscom')
        used = vp.segment(shm)['used_frames']
    with tap.step():
        a = s.guest('A', shm=shm, hostfwd={GUEST_PORT: vmlib.free_port()})
        b = s.guest('B', shm=shm, net=True)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        vp.guest_pp_server(a, GUEST_PORT)
    with tap.step():
        rc, out = b.run('env %s pscom_pp --verify --json --maxsize %d '
                        '--loops 20 10.0.2.2:%d 2>/tmp/pp.err; r=$?; '
                        'grep -i ivshmem /tmp/pp.err | tail -5 >&2; exit $r'
                        % (vp.GUEST_ENV, MAXSIZE, a.hostfwd[GUEST_PORT]),
                        timeout=180)
        vp.pp_rows(tap, rc, out, MAXSIZE, ['ivshmem'])
    with tap.step():
        a.poll('cat /tmp/pp.rc 2>/dev/null', '0')
        # PSP_DEBUG=2 names the device the plugin opened: a sysfs
        # resource2 of the PCI device, found without a driver.
        _, err = a.run('grep -i -E "resource2|device" /tmp/pp.err')
        vmlib.log('A: ' + err.strip().replace('\n', '\nA: '))
        tap.expect('resource2' in err, 'no resource2 in A\'s log: %s'
                   % a.run('cat /tmp/pp.err')[1])
    with tap.step():
        vp.wait_frames(tap, shm, used)


vmlib.main_test(STEPS, body, vp.EXTRA)
