#!/usr/bin/env python3
"""pscom helpers for the guest tests of issue 6 (cases a-d): the programs
and the plugin that go into the initramfs, pscom_pp as a server in a
guest or on the host, its --json rows checked, and the segment's frame
use read on the host with ivshmem-info."""
import json
import os
import subprocess
import time

import vmlib

PP = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'pscom_pp')
INFO = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'ivshmem-info')
PLUGINDIR = os.path.join(vmlib.TOP_BUILDDIR, 'lib', 'pscom4ivshmem',
                         '.libs')
PLUGIN = os.path.join(PLUGINDIR, 'libpscom4ivshmem.so')
EXTRA = [(PP, '/usr/bin/pscom_pp'),
         (PLUGIN, '/usr/lib/pscom/libpscom4ivshmem.so')]
# ivshmem only: shm never matches across VMs, but say so explicitly;
# PSP_DEBUG=2 names the device the plugin opened and every refusal.
GUEST_ENV = 'PSP_PLUGINDIR=/usr/lib/pscom PSP_IVSHMEM=1 PSP_SHM=0 PSP_DEBUG=2'


def require(tap, *files):
    for f in (PP, INFO, PLUGIN) + files:
        tap.expect(os.path.isfile(f), f + ' is not built')


def guest_pp_server(g, port, env=GUEST_ENV, args=''):
    """pscom_pp -l port in guest g, in the background; /tmp/pp.rc gets its
    exit status. Returns once it waits for a client."""
    g.check('(env %s pscom_pp -l %d %s >/tmp/pp.log 2>/tmp/pp.err; '
            'echo $? >/tmp/pp.rc) </dev/null >/dev/null 2>&1 &'
            % (env, port, args))
    g.poll('grep -c "^Waiting for client" /tmp/pp.log', '1')


def host_pp_server(s, shm, **extra_env):
    """pscom_pp -l 0 on the host, mapping the segment's shm object like a
    guest maps its BAR (PSP_IVSHMEM_DEVICE); extra_env adds variables.
    Its stderr goes to host-pp.err in the session's directory. Returns
    (process, port)."""
    env = dict(os.environ, PSP_IVSHMEM_DEVICE=shm, PSP_PLUGINDIR=PLUGINDIR,
               PSP_IVSHMEM='1', PSP_SHM='0', PSP_DEBUG='2', **extra_env)
    err = open(os.path.join(s.dir, 'host-pp.err'), 'wb')
    p = subprocess.Popen([PP, '-l', '0'], stdout=subprocess.PIPE,
                         stderr=err, env=env, universal_newlines=True)
    err.close()
    s.procs.append(p)
    line = p.stdout.readline()
    if not line.startswith('Waiting for client'):
        raise vmlib.VmError('host pscom_pp: %r' % line)
    return p, int(line.rsplit(':', 1)[1])


def pp_rows(tap, rc, out, maxsize, types):
    """Check a pscom_pp --json client's result: success, every size up to
    maxsize, only the given connection types. Returns the rows."""
    tap.expect(rc == 0, 'client failed (%d): %s' % (rc, out))
    rows = [json.loads(line) for line in out.splitlines()
            if line.startswith('{')]
    tap.expect(rows and rows[-1]['size'] == maxsize,
               'sizes: %s' % [r['size'] for r in rows])
    got = set(r['type'] for r in rows)
    tap.expect(got == set(types), 'types %s: %s' % (got, out))
    vmlib.log('%d sizes over %s: 1 byte half-RTT %.0f us, %d KiB %.1f MB/s '
              '(TCG guests, not a benchmark)' % (
                  len(rows), '/'.join(sorted(got)),
                  [r for r in rows if r['size'] == 1][0]['half_rtt_us'],
                  maxsize // 1024, rows[-1]['mb_s']))
    return rows


def segment(shm):
    """ivshmem-info --json of the segment, read on the host."""
    return json.loads(subprocess.run(
        [INFO, '--json', shm], stdout=subprocess.PIPE, check=True,
        universal_newlines=True).stdout)


def wait_frames(tap, shm, used, timeout=30):
    """Wait until the segment has `used` frames in use again: connections
    closed cleanly free their areas at once, the server reclaims those of
    vanished owners within its owner timeout (10 s)."""
    t0 = time.monotonic()
    while (segment(shm)['used_frames'] != used and
           time.monotonic() < t0 + timeout):
        time.sleep(0.2)
    now = segment(shm)['used_frames']
    tap.expect(now == used, 'frames in use %d, expected %d' % (now, used))
    vmlib.log('frames in use %d again after %.1f s'
              % (now, time.monotonic() - t0))
