#!/usr/bin/env python3
"""v4: the uio driver of vendor/ivshmem/driver, built against the headers
of the guest's kernel, loads in a guest (after the guest kernel's own
uio.ko), binds the ivshmem-plain device as /dev/uio0 named "ivshmem",
exports BAR0 as map 0 (the page holding it; offset inside) and BAR2 as
map 1 with the BAR's address and size, and the shared memory is read and
written through /dev/uio0 at offset 1 * pagesize. Unloading removes
/dev/uio0 and loading again brings it back; so do hot-unplug and re-plug
with the driver bound. Installed the way `make install` places it, the
driver is loaded (with uio, through modules.dep) by the sysconfig
script that vendor/ivshmem ships."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

STEPS = ['guest boots with ivshmem-plain',
         'insmod uio.ko and uio_ivshmem.ko',
         '/dev/uio0 appears, its name starts with ivshmem',
         'map 0 covers BAR0 (page-sized), map 1 is BAR2 (address, size)',
         'the registers map (map 0) can be mapped and read',
         'shared memory through /dev/uio0: host to guest and back',
         'rmmod removes /dev/uio0, insmod brings it back',
         'hot-unplug with the driver bound, re-plug binds again',
         'installed like make install does (+ depmod), the sysconfig '
         'script loads uio and the driver with modprobe',
         'no kernel warnings']


def sysfs_hex(g, path):
    return int(g.check('cat %s' % path), 16)


def body(tap, s):
    shm = s.new_shm()
    uio = '/sys/class/uio/uio0'
    with tap.step():
        g = s.guest('A', shm=shm)
        vmlib.log('boot %.2f s' % g.wait_boot())
    with tap.step():
        g.check('insmod /lib/modules/uio.ko')
        g.check('insmod /lib/modules/uio_ivshmem.ko')
    with tap.step():
        tap.expect(g.check('ls /dev/uio*') == '/dev/uio0', 'no /dev/uio0')
        name = g.check('cat %s/name' % uio)
        tap.expect(name.startswith('ivshmem'), 'name %r' % name)
    with tap.step():
        bdf = g.check('bar-rw find')
        # resource: one "start end flags" line per BAR.
        bars = g.check('cat /sys/bus/pci/devices/%s/resource' % bdf)
        bars = [[int(x, 16) for x in line.split()]
                for line in bars.splitlines()]
        page = int(g.check('getconf PAGESIZE || echo 4096').split()[-1])
        m0 = [sysfs_hex(g, '%s/maps/map0/%s' % (uio, k))
              for k in ('addr', 'offset', 'size')]
        m1 = [sysfs_hex(g, '%s/maps/map1/%s' % (uio, k))
              for k in ('addr', 'offset', 'size')]
        vmlib.log('BAR0 %#x-%#x, BAR2 %#x-%#x; map0 %s, map1 %s' % (
            bars[0][0], bars[0][1], bars[2][0], bars[2][1],
            [hex(x) for x in m0], [hex(x) for x in m1]))
        tap.expect(m0[0] + m0[1] == bars[0][0], 'map0 start')
        tap.expect(m0[2] == page and bars[0][1] < m0[0] + m0[2],
                   'map0 size %#x' % m0[2])
        tap.expect(m1[0] == bars[2][0] and m1[1] == 0, 'map1 address')
        tap.expect(m1[2] == vmlib.SHM_SIZE and
                   bars[2][1] - bars[2][0] + 1 == vmlib.SHM_SIZE,
                   'map1 size %#x' % m1[2])
    with tap.step():
        # ivshmem-plain has no interrupts: the driver leaves IntrMask 0.
        tap.expect(g.check('bar-rw -u /dev/uio0 reg 0') == '0', 'IntrMask')
    with tap.step():
        p = vmlib.pattern('host-to-uio')
        vmlib.shm_write(shm, 8192, p)
        got = g.check('bar-rw -u /dev/uio0 read 8192 64')
        tap.expect(got == p, 'guest read %r' % got)
        tap.expect(g.check('bar-rw -u /dev/uio0 size') == str(vmlib.SHM_SIZE),
                   'size through uio')
        p = vmlib.pattern('uio-to-host')
        g.check('bar-rw -u /dev/uio0 write 12288 %s' % p)
        tap.expect(vmlib.shm_read(shm, 12288) == p, 'host read')
    with tap.step():
        g.check('rmmod uio_ivshmem')
        tap.expect(g.run('ls /dev/uio0')[0] != 0, '/dev/uio0 still there')
        g.check('insmod /lib/modules/uio_ivshmem.ko')
        tap.expect(g.check('cat %s/name' % uio).startswith('ivshmem'),
                   'not back')
        p = vmlib.pattern('again')
        vmlib.shm_write(shm, 0, p)
        tap.expect(g.check('bar-rw -u /dev/uio0 read 0 64') == p, 'read')
    with tap.step():
        g.detach_ivshmem()
        g.poll('ls /sys/class/uio | wc -l', '0')
        g.attach_ivshmem()
        g.poll('cat %s/name 2>/dev/null' % uio, 'ivshmem')
        tap.expect(g.check('bar-rw -u /dev/uio0 read 0 64') == p, 'read')
    with tap.step():
        g.check('rmmod uio_ivshmem && rmmod uio')
        tap.expect(g.run('ls /sys/class/uio/uio0')[0] != 0, 'not unloaded')
        # The layout of modules_install: driver in extra/, uio where the
        # kernel package has it; modprobe resolves uio via modules.dep.
        g.check('d=/lib/modules/$(uname -r); '
                'mkdir -p $d/kernel/drivers/uio $d/extra && '
                'cp /lib/modules/uio.ko $d/kernel/drivers/uio/ && '
                'cp /lib/modules/uio_ivshmem.ko $d/extra/ && depmod')
        g.check('/etc/sysconfig/modules/ivshmem-uio.modules')
        g.poll('cat %s/name 2>/dev/null' % uio, 'ivshmem')
        tap.expect(g.check('bar-rw -u /dev/uio0 read 0 64') == p, 'read')
    with tap.step():
        g.kernel_clean()


MODULES_SCRIPT = os.path.join(vmlib.TOP_SRCDIR, 'vendor', 'ivshmem',
                              'sysconfig', 'ivshmem-uio.modules')
vmlib.main_test(STEPS, body, [(MODULES_SCRIPT,
                               '/etc/sysconfig/modules/ivshmem-uio.modules')])
