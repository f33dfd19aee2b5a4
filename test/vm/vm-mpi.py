#!/usr/bin/env python3
"""An MPI job across two guests over ivshmem (issue 17, point 6): the
host's mpirun (the HNP) launches one orted in each guest through
Open MPI's rsh launcher, whose "remote shell" is the guests' serial
command channel (vmmpi.py, vmrsh.py); each orted starts one rank of
mpi_vm_pp, a verified ping-pong, over our MTL component (--mca pml cm
--mca mtl pscom) with PSP_IVSHMEM=1 and PSP_SHM=0.

Networks: eth0 is user networking (slirp): the orted reach the HNP on
the host's loopback as 10.0.2.2. slirp gives both guests 10.0.2.15 and
no way to each other, so the ranks' pscom connections (the tcp
hand-shake before ivshmem takes over) use eth1, a direct link between
the two QEMUs (-netdev socket over UDP on the host's loopback, no root)
with 192.168.77.1 and .2, chosen with PSP_NETWORK. The segment is laid
out by a real ivshmem-server; its frames are free again afterwards."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmmpi  # noqa: E402
import vmpscom as vp  # noqa: E402

LINK_NET = '192.168.77'
# The ranks' environment: the ivshmem plugin, no shm (it never matches
# across VMs, but say so), the direct link for pscom's addresses, and
# PSP_DEBUG=2 to name each connection's transport.
RANK_ENV = {'PSP_PLUGINDIR': '/usr/lib/pscom', 'PSP_IVSHMEM': '1',
            'PSP_SHM': '0', 'PSP_DEBUG': '2',
            'PSP_NETWORK': LINK_NET + '.0'}
MPIRUN_TIMEOUT = 150

STEPS = ['ivshmem-server lays out a pscom segment; the MPI image is built',
         'guests A and B boot with ivshmem-plain, user networking and a '
         'direct link',
         'mpirun on the host launches an orted in A and in B through the '
         'serial channel; one rank runs in each guest',
         'the ping-pong data is verified (0 B .. 1 MiB)',
         'the ranks are connected via ivshmem',
         'mpirun exits 0 and both orted end',
         'the segment has no frames in use afterwards']


def skip_unless_built():
    for f in (vmmpi.PP, vmmpi.MTL):
        if not os.path.isfile(f):
            print('1..0 # SKIP %s is not built (configure found no Open '
                  'MPI?)' % f)
            sys.exit(0)


def link_args(peer_port, my_port, mac):
    """A second NIC: a point-to-point link between two QEMUs as UDP
    datagrams on the host's loopback (no root, no bridge)."""
    return ['-netdev', 'socket,id=link,udp=127.0.0.1:%d,localaddr='
            '127.0.0.1:%d' % (peer_port, my_port),
            '-device', 'virtio-net-pci,netdev=link,mac=52:54:00:77:00:%02x'
            % mac]


def setup_guest(g, host_no):
    g.check('ip link set eth1 up && ip addr add %s.%d/24 dev eth1'
            % (LINK_NET, host_no))
    g.poll('cat /sys/class/net/eth1/carrier', '1')
    # orted wants a user name for its session directory
    g.check('echo root:x:0:0:root:/tmp:/bin/sh >/etc/passwd')


def mpirun(s, rsh, timeout):
    argv = ['mpirun']
    if os.getuid() == 0:
        argv.append('--allow-run-as-root')
    argv += ['-np', '2', '--host', 'A,B', '--map-by', 'node',
             '--mca', 'plm', 'rsh',
             '--mca', 'plm_rsh_agent', rsh.agent(),
             '--mca', 'plm_rsh_no_tree_spawn', '1',
             '--mca', 'oob_tcp_if_include', 'lo',
             '--mca', 'pml', 'cm', '--mca', 'mtl', 'pscom']
    for k, v in sorted(RANK_ENV.items()):
        argv += ['-x', '%s=%s' % (k, v)]
    argv.append('/usr/bin/mpi_vm_pp')
    env = dict(os.environ, VM_RSH_SOCKET=rsh.path)
    log = os.path.join(s.dir, 'mpirun.log')
    t0 = time.monotonic()
    with open(log, 'w') as f:
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                             env=env, preexec_fn=vmlib._die_with_parent)
        s.procs.append(p)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            vmlib.log('mpirun killed after %d s' % timeout)
    with open(log) as f:
        out = f.read()
    vmlib.log('mpirun exit %d after %.1f s' % (rc, time.monotonic() - t0))
    return rc, out


def body(tap, s):
    with tap.step():
        vp.require(tap, vmmpi.PP, vmmpi.MTL)
        _, shm = s.start_server(layout='pscom')
        used = vp.segment(shm)['used_frames']
    with tap.step():
        pa, pb = vmlib.free_port(), vmlib.free_port()
        a = s.guest('A', shm=shm, net=True, mem='512M',
                    qemu_args=link_args(pb, pa, 1))
        b = s.guest('B', shm=shm, net=True, mem='512M',
                    qemu_args=link_args(pa, pb, 2))
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
        setup_guest(a, 1)
        setup_guest(b, 2)
        a.check('ping -c 1 -W 5 %s.2' % LINK_NET)
    rsh = vmmpi.RshServer(s, [a, b])
    try:
        with tap.step():
            rc, out = mpirun(s, rsh, MPIRUN_TIMEOUT)
            for host, cmd in rsh.launched:
                vmlib.log('launched in %s: %s' % (host, cmd))
            ranks = sorted(re.findall(r'^rank (\d) of 2 on (\S+)$', out,
                                      re.M))
            if ranks != [('0', 'A'), ('1', 'B')]:
                # an orted that fails before it daemonizes says why here
                for g in (a, b):
                    vmlib.log('%s: /tmp/orted.log:\n%s' % (g.name, g.run(
                        'tail -20 /tmp/orted.log')[1]))
            tap.expect(ranks == [('0', 'A'), ('1', 'B')],
                       'ranks %r, rsh errors %r; mpirun (%d):\n%s'
                       % (ranks, rsh.errors, rc, out[-4000:]))
        with tap.step():
            m = re.search(r'^verified (\d+) messages$', out, re.M)
            tap.expect(m and int(m.group(1)) == 48 and
                       'bad message' not in out,
                       'no verification:\n%s' % out[-4000:])
            times = {size: (float(mean), float(median)) for size, mean, median
                     in re.findall(r'^time (\d+) \d+ ([\d.]+) ([\d.]+)$',
                                   out, re.M)}
            tap.expect(set(times) == {'0', '1048576'}, 'times %r' % times)
            big = times['1048576']
            vmlib.log('mpi ping-pong A-B over ivshmem, half round-trip '
                      'median (mean): 0 B %.1f us (%.1f), 1 MiB %.0f us '
                      '(%.0f), %.0f MB/s (TCG guests, not a benchmark)' % (
                          times['0'][1], times['0'][0], big[1], big[0],
                          1048576 / big[1]))
        with tap.step():
            via = re.findall(r'connected via (\w+)', out)
            vmlib.log('connections: %s' % ', '.join(via))
            tap.expect(via and set(via) <= {'ivshmem', 'loop'} and
                       via.count('ivshmem') >= 2,
                       'transports %r:\n%s' % (via, out[-4000:]))
        with tap.step():
            tap.expect(rc == 0, 'mpirun exit %d:\n%s' % (rc, out[-4000:]))
            for g in (a, b):
                g.poll('pidof orted mpi_vm_pp | wc -w', '0')
    finally:
        rsh.close()
    with tap.step():
        vp.wait_frames(tap, shm, used)


skip_unless_built()
vmlib.main_test(STEPS, body, vmmpi.guest_files())
