#!/usr/bin/env python3
"""v5: two ivshmem-doorbell guests connected to the project's
ivshmem-server (vendor/ivshmem/server; 2 vectors per peer). In each guest
the uio driver binds the device with MSI-X (one interrupt per vector).
Each guest reads its IVPosition (BAR0 offset 8) and rings the other's
doorbell (BAR0 offset 12: peer << 16 | vector); the ringing is seen by
the other guest as a uio event (read() on /dev/uio0 returns the count).
The segment the server hands out is shared by both guests and the host.
Then the migration cycle with a doorbell device: A's device is unplugged
while the driver holds its MSI-X vectors (/dev/uio0 goes), A migrates to a
new QEMU, the device is plugged there (chardev-add + device_add), the
driver binds it, the server gives it a new IVPosition and B's doorbell
reaches it.
Not tested: plugging a doorbell device again into the same QEMU. QEMU 7.2
(TCG) leaves the unplugged device's eventfd handlers registered and can
crash (SIGSEGV in object_dynamic_cast_assert from aio_dispatch) when a
new descriptor reuses their numbers; the migration cycle plugs into the
new QEMU and is not affected."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

VECTORS = 2
# The server lays out a pscom segment (ivshmem-info reads it); the raw
# reads and writes of this test use the last frame, which is free.
FREE = vmlib.SHM_SIZE - 4096
INFO = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'ivshmem-info')
STEPS = ['ivshmem-server serves a segment with %d vectors' % VECTORS,
         'guests A and B boot with ivshmem-doorbell on its socket',
         'the uio driver binds both devices with %d MSI-X vectors' % VECTORS,
         'the server\'s segment is shared by A, B and the host',
         'A and B read distinct IVPositions; the discovery library '
         '(ivshmem-info) reports the same peer ids',
         'B rings A (vector 0): A sees the interrupt through /dev/uio0',
         'A rings B (vector 1): B sees the interrupt through /dev/uio0',
         'A\'s device hot-unplugged with the driver bound: /dev/uio0 goes',
         'A migrates, its device is plugged on the destination: driver '
         'binds, new IVPosition, B rings it there',
         'no kernel warnings in A and B']


def peer_id(g):
    """The peer id the project's discovery library reads (through the
    uio device's register map) in guest g."""
    return json.loads(g.check('ivshmem-info --json'))['peer_id']


def arm(g):
    """Start a waiter for one interrupt in the background; return once it
    is armed (has unmasked and opened the device)."""
    g.check('rm -f /tmp/armed /tmp/irq /tmp/irq.rc; '
            '(bar-rw -u /dev/uio0 wait 60 /tmp/armed >/tmp/irq 2>&1; '
            'echo $? >/tmp/irq.rc) </dev/null >/dev/null 2>&1 &')
    g.poll('test -e /tmp/armed && echo armed', 'armed')


def seen(tap, g):
    """The waiter armed by arm(g) got an interrupt; return the count."""
    g.poll('cat /tmp/irq.rc 2>/dev/null', '0')
    count = g.check('cat /tmp/irq')
    tap.expect(count.isdigit() and int(count) >= 1,
               '%s: event count %r' % (g.name, count))
    return int(count)


def body(tap, s):
    with tap.step():
        sock, shm = s.start_server(VECTORS, layout='pscom')
    with tap.step():
        a = s.guest('A', doorbell=(sock, VECTORS))
        b = s.guest('B', doorbell=(sock, VECTORS))
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        for g in (a, b):
            g.check('insmod /lib/modules/uio.ko && '
                    'insmod /lib/modules/uio_ivshmem.ko')
            n = g.check('grep -c ivshmem /proc/interrupts')
            tap.expect(n == str(VECTORS), '%s: %s vectors' % (g.name, n))
    with tap.step():
        p = vmlib.pattern('A-doorbell')
        a.check('bar-rw -u /dev/uio0 write %d %s' % (FREE, p))
        tap.expect(b.check('bar-rw -u /dev/uio0 read %d 64' % FREE) == p,
                   'B read')
        tap.expect(vmlib.shm_read(shm, FREE) == p, 'host read')
    with tap.step():
        ida = int(a.check('bar-rw -u /dev/uio0 reg 8'))
        idb = int(b.check('bar-rw -u /dev/uio0 reg 8'))
        vmlib.log('IVPosition A %d, B %d' % (ida, idb))
        tap.expect(peer_id(a) == ida and peer_id(b) == idb,
                   'ivshmem-info peer_id differs from IVPosition')
        tap.expect(0 <= ida < 65536 and 0 <= idb < 65536 and ida != idb,
                   'IVPositions %d %d' % (ida, idb))
    with tap.step():
        arm(a)
        tap.expect(a.run('test -e /tmp/irq.rc')[0] != 0,
                   'A saw an interrupt before B rang')
        b.check('bar-rw -u /dev/uio0 ring %d 0' % ida)
        vmlib.log('A: event count %d' % seen(tap, a))
    with tap.step():
        arm(b)
        a.check('bar-rw -u /dev/uio0 ring %d 1' % idb)
        vmlib.log('B: event count %d' % seen(tap, b))
    with tap.step():
        a.detach_ivshmem()
        a.poll('ls /sys/class/uio | wc -l', '0')
        tap.expect(a.run('test -e /dev/uio0')[0] != 0, '/dev/uio0 stays')
    with tap.step():
        info = a.migrate()
        vmlib.log('migration %d ms total, %s ms downtime' % (
            info.get('total-time', -1), info.get('downtime', '?')))
        a.attach_ivshmem()
        a.poll('cat /sys/class/uio/uio0/name 2>/dev/null', 'ivshmem')
        n = a.check('grep -c ivshmem /proc/interrupts')
        tap.expect(n == str(VECTORS), 'A: %s vectors' % n)
        new = int(a.check('bar-rw -u /dev/uio0 reg 8'))
        vmlib.log('A: IVPosition %d on the destination' % new)
        tap.expect(new not in (ida, idb), 'IVPosition %d reused' % new)
        arm(a)
        b.check('bar-rw -u /dev/uio0 ring %d 0' % new)
        vmlib.log('A: event count %d' % seen(tap, a))
        p = vmlib.pattern('B-to-migrated-A')
        b.check('bar-rw -u /dev/uio0 write %d %s' % (FREE, p))
        tap.expect(a.check('bar-rw -u /dev/uio0 read %d 64' % FREE) == p,
                   'A read')
        tap.expect(peer_id(a) == new, 'ivshmem-info peer_id')
    with tap.step():
        a.kernel_clean()
        b.kernel_clean()


vmlib.main_test(STEPS, body, [(INFO, '/usr/bin/ivshmem-info')])
