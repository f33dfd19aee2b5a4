#!/usr/bin/env python3
"""v6: device discovery inside guests, with the project's ivshmem-info
(dynamically linked: it goes into the initramfs with its libraries).
ivshmem-server lays out a pscom segment; two ivshmem-plain guests map
that shm object. Without a driver (guest A) the segment is found through
PCI (hwloc, sysfs resource2); with the uio driver (guest B) through
/dev/uio0. Both report the segment the host sees (same UUID and name),
with no PSP_IVSHMEM_DEVICE set.
hwloc's optional PCI plugin (hwloc_pci.so, libpciaccess) is left out of
the guests: hwloc's Linux backend finds PCI devices through sysfs alone,
and the plugin leaks memory in hwloc_topology_load, which LeakSanitizer
reports in --enable-sanitizers builds."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

INFO = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'ivshmem-info')
EXTRA = [(INFO, '/usr/bin/ivshmem-info')]

STEPS = ['ivshmem-server lays out a pscom segment, the host reads it',
         'guests A and B boot with ivshmem-plain on the server\'s object',
         'A (no driver) finds the segment through PCI',
         'B (uio driver) finds the segment through /dev/uio0']


def guest_info(tap, g):
    rc, out = g.run('PSP_DEBUG=2 ivshmem-info --json 2>/tmp/info.err; '
                    'r=$?; cat /tmp/info.err >&2; exit $r')
    tap.expect(rc == 0, '%s: ivshmem-info failed (%d): %s'
               % (g.name, rc, out))
    start = out.index('{')
    info, _ = json.JSONDecoder().raw_decode(out[start:])
    vmlib.log('%s: %s' % (g.name, (out[:start] + out[start:].split('}')[-1])
                          .strip()))
    vmlib.log('%s: device %s, kind %s' % (g.name, info.get('device'),
                                          info.get('kind')))
    return info


def body(tap, s):
    with tap.step():
        tap.expect(os.access(INFO, os.X_OK), INFO + ' is not built')
        sock, shm = s.start_server(layout='pscom')
        host = json.loads(subprocess.run(
            [INFO, '--json', shm], stdout=subprocess.PIPE, check=True,
            universal_newlines=True).stdout)
        vmlib.log('segment %s uuid %s' % (host['name'], host['uuid']))
    with tap.step():
        a = s.guest('A', shm=shm)
        b = s.guest('B', shm=shm)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        info = guest_info(tap, a)
        tap.expect(info['uuid'] == host['uuid'] and
                   info['name'] == host['name'], 'other segment')
        tap.expect(info['device'].startswith('/sys/') and
                   info['device'].endswith('/resource2'),
                   'device %s' % info['device'])
    with tap.step():
        b.check('insmod /lib/modules/uio.ko && '
                'insmod /lib/modules/uio_ivshmem.ko')
        info = guest_info(tap, b)
        tap.expect(info['uuid'] == host['uuid'] and
                   info['name'] == host['name'], 'other segment')
        tap.expect(info['device'] == '/dev/uio0',
                   'device %s' % info['device'])


vmlib.main_test(STEPS, body, EXTRA)
