#!/usr/bin/env python3
"""Case a (issue 6): two guests with ivshmem-plain on a segment laid out
by ivshmem-server (-c pscom). No PSP_IVSHMEM_DEVICE: the plugin finds the
device through PCI (hwloc's Linux backend reads sysfs, then the BDF's
resource2; no driver is loaded). pscom_pp between the guests runs over
ivshmem, every message verified; the handshake goes over user
networking: the server in A listens on a forwarded port, the client in B
connects to 10.0.2.2 (the host). The server reports the frames both
guests allocated, and free again after they exited."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

PP = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'pscom_pp')
INFO = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'ivshmem-info')
PLUGIN = os.path.join(vmlib.TOP_BUILDDIR, 'lib', 'pscom4ivshmem', '.libs',
                      'libpscom4ivshmem.so')
EXTRA = [(PP, '/usr/bin/pscom_pp'),
         (PLUGIN, '/usr/lib/pscom/libpscom4ivshmem.so')]
# ivshmem only: shm never matches across VMs, but say so explicitly.
ENV = 'PSP_PLUGINDIR=/usr/lib/pscom PSP_IVSHMEM=1 PSP_SHM=0 PSP_DEBUG=2'
GUEST_PORT = 5000
MAXSIZE = 256 * 1024

STEPS = ['ivshmem-server lays out a pscom segment',
         'guests A and B boot with ivshmem-plain and user networking',
         'pscom_pp server in A listens (no PSP_IVSHMEM_DEVICE)',
         'pscom_pp in B reaches A through the host: all sizes verified, '
         'type ivshmem',
         'the server in A ends successfully, the device came from PCI',
         'the segment has no frames in use afterwards']


def frames(shm):
    out = subprocess.run([INFO, '--json', shm], stdout=subprocess.PIPE,
                         check=True, universal_newlines=True).stdout
    return json.loads(out)


def body(tap, s):
    with tap.step():
        for f in (PP, INFO, PLUGIN):
            tap.expect(os.path.isfile(f), f + ' is not built')
        _, shm = s.start_server(layout='pscom')
        before = frames(shm)
    with tap.step():
        a = s.guest('A', shm=shm, hostfwd={GUEST_PORT: vmlib.free_port()})
        b = s.guest('B', shm=shm, net=True)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        a.check('(env %s pscom_pp -l %d >/tmp/pp.log 2>/tmp/pp.err; '
                'echo $? >/tmp/pp.rc) </dev/null >/dev/null 2>&1 &'
                % (ENV, GUEST_PORT))
        a.poll('grep -c "^Waiting for client" /tmp/pp.log', '1')
    with tap.step():
        rc, out = b.run('env %s pscom_pp --verify --json --maxsize %d '
                        '--loops 20 10.0.2.2:%d 2>/tmp/pp.err; r=$?; '
                        'grep -i ivshmem /tmp/pp.err | tail -5 >&2; exit $r'
                        % (ENV, MAXSIZE, a.hostfwd[GUEST_PORT]), timeout=180)
        tap.expect(rc == 0, 'client failed (%d): %s' % (rc, out))
        rows = [json.loads(line) for line in out.splitlines()
                if line.startswith('{')]
        tap.expect(rows and rows[-1]['size'] == MAXSIZE,
                   'sizes: %s' % [r['size'] for r in rows])
        types = set(r['type'] for r in rows)
        tap.expect(types == {'ivshmem'}, 'types %s: %s' % (types, out))
        vmlib.log('%d sizes over ivshmem: 1 byte half-RTT %.0f us, %d KiB '
                  '%.1f MB/s (TCG guests, not a benchmark)' % (
                      len(rows),
                      [r for r in rows if r['size'] == 1][0]['half_rtt_us'],
                      MAXSIZE // 1024, rows[-1]['mb_s']))
    with tap.step():
        a.poll('cat /tmp/pp.rc 2>/dev/null', '0')
        # PSP_DEBUG=2 names the device the plugin opened: a sysfs
        # resource2 of the PCI device, found without a driver.
        _, err = a.run('grep -i -E "resource2|device" /tmp/pp.err')
        vmlib.log('A: ' + err.strip().replace('\n', '\nA: '))
        tap.expect('resource2' in err, 'no resource2 in A\'s log: %s'
                   % a.run('cat /tmp/pp.err')[1])
    with tap.step():
        # Both closed cleanly: their receive areas are freed at once, or
        # by the server's reclaim within its owner timeout (10 s).
        t0 = time.monotonic()
        deadline = t0 + 30
        while (frames(shm)['used_frames'] != before['used_frames'] and
               time.monotonic() < deadline):
            time.sleep(0.2)
        after = frames(shm)
        tap.expect(after['used_frames'] == before['used_frames'],
                   'frames in use %d, before %d' % (
                       after['used_frames'], before['used_frames']))
        vmlib.log('frames in use %d again after %.1f s' % (
            after['used_frames'], time.monotonic() - t0))

vmlib.main_test(STEPS, body, EXTRA)
