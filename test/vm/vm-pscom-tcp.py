#!/usr/bin/env python3
"""v7: the project's pscom_pp (linked with libpscom.so; the initramfs gets
it with its libraries) between two guests over user networking: the
server in guest A listens on a port forwarded from the host, guest B
connects through 10.0.2.2 (the host). Every message is verified
(--verify) and the connection type is tcp. This is the path the ivshmem
handshake of the later cases takes."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

PP = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'pscom_pp')
GUEST_PORT = 5000
MAXSIZE = 64 * 1024

STEPS = ['guests A and B boot with user networking',
         'pscom_pp server listens in A',
         'pscom_pp in B reaches A through the host, all sizes verified, tcp',
         'the server in A ends successfully with the client']


def body(tap, s):
    with tap.step():
        tap.expect(os.path.isfile(PP), PP + ' is not built')
        a = s.guest('A', net=True, hostfwd={GUEST_PORT: vmlib.free_port()})
        b = s.guest('B', net=True)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        a.check('(pscom_pp -l %d >/tmp/pp.log 2>&1; echo $? >/tmp/pp.rc) '
                '</dev/null >/dev/null 2>&1 &' % GUEST_PORT)
        a.poll('grep -c "^Waiting for client" /tmp/pp.log', '1')
    with tap.step():
        rc, out = b.run('pscom_pp --verify --json --maxsize %d --loops 20 '
                        '10.0.2.2:%d' % (MAXSIZE, a.hostfwd[GUEST_PORT]),
                        timeout=120)
        tap.expect(rc == 0, 'client failed (%d): %s' % (rc, out))
        rows = [json.loads(line) for line in out.splitlines()
                if line.startswith('{')]
        tap.expect(rows and rows[-1]['size'] == MAXSIZE,
                   'sizes: %s' % [r['size'] for r in rows])
        types = set(r['type'] for r in rows)
        tap.expect(types == {'tcp'}, 'types %s' % types)
        vmlib.log('%d sizes, %s: 1 byte half-RTT %.0f us, %d KiB %.1f MB/s '
                  '(TCG guests, not a benchmark)' % (
                      len(rows), types.pop(),
                      [r for r in rows if r['size'] == 1][0]['half_rtt_us'],
                      MAXSIZE // 1024, rows[-1]['mb_s']))
    with tap.step():
        a.poll('cat /tmp/pp.rc 2>/dev/null', '0')


vmlib.main_test(STEPS, body, [(PP, '/usr/bin/pscom_pp')])
