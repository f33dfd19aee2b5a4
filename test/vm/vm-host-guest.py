#!/usr/bin/env python3
"""Case b (issue 6): a guest and a host process on the same segment talk
over ivshmem. The host process maps the server's shm object
(PSP_IVSHMEM_DEVICE=/dev/shm/NAME), the guest its ivshmem-plain BAR found
through PCI. Both directions of the handshake: the guest connects to a
pscom_pp server on the host (10.0.2.2), then the host connects to a
server in the guest through a forwarded port. Every message verified,
type ivshmem on both sides, the frames free afterwards."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmpscom as vp  # noqa: E402

GUEST_PORT = 5000
MAXSIZE = 256 * 1024

STEPS = ['ivshmem-server lays out a pscom segment, guest G boots on it',
         'G connects to pscom_pp on the host: all sizes verified, ivshmem',
         'the host server ends successfully',
         'the host connects to pscom_pp in G: all sizes verified, ivshmem',
         'the server in G ends successfully',
         'the segment has no frames in use afterwards']


def body(tap, s):
    with tap.step():
        vp.require(tap)
        _, shm = s.start_server(layout='pscom')
        used = vp.segment(shm)['used_frames']
        g = s.guest('G', shm=shm, hostfwd={GUEST_PORT: vmlib.free_port()})
        vmlib.log('boot G %.2f s' % g.wait_boot())
    with tap.step():
        host, port = vp.host_pp_server(s, shm)
        rc, out = g.run('env %s pscom_pp --verify --json --maxsize %d '
                        '--loops 20 10.0.2.2:%d 2>/tmp/pp.err; r=$?; '
                        'grep -i ivshmem /tmp/pp.err | tail -3 >&2; exit $r'
                        % (vp.GUEST_ENV, MAXSIZE, port), timeout=180)
        vp.pp_rows(tap, rc, out, MAXSIZE, ['ivshmem'])
    with tap.step():
        tap.expect(host.wait(30) == 0, 'host server exit %s' % host.poll())
    with tap.step():
        vp.guest_pp_server(g, GUEST_PORT)
        env = dict(os.environ, PSP_IVSHMEM_DEVICE=shm,
                   PSP_PLUGINDIR=vp.PLUGINDIR, PSP_IVSHMEM='1', PSP_SHM='0')
        p = subprocess.run(
            [vp.PP, '--verify', '--json', '--maxsize', str(MAXSIZE),
             '--loops', '20', '127.0.0.1:%d' % g.hostfwd[GUEST_PORT]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            universal_newlines=True, timeout=180)
        vp.pp_rows(tap, p.returncode, p.stdout, MAXSIZE, ['ivshmem'])
    with tap.step():
        g.poll('cat /tmp/pp.rc 2>/dev/null', '0')
    with tap.step():
        vp.wait_frames(tap, shm, used)


vmlib.main_test(STEPS, body, vp.EXTRA)
