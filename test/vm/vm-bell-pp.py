#!/usr/bin/env python3
"""Doorbell waits between guests (issue 22): two ivshmem-doorbell guests
on our ivshmem-server (2 vectors per peer), uio_ivshmem bound with MSI-X.
pscom_pp between them over ivshmem with PSP_SPIN_US=1 (almost every wait
sleeps on the uio interrupt and is woken by the peer's Doorbell write),
every message verified. A second pair inside A (PSP_SHM=0) takes A's
second vector and finds none left for the fourth process, which polls
and says so. While B's client lingers (polling), A's server waits for a
message that does not come: its CPU time over 5 s (/proc/PID/stat
utime + stime) is under 5 % of one core. A timing (logged, make
check-vm prints it): the half-RTT with both sides idle 2 ms before
every message and an idle server's CPU, with doorbells and with
PSP_IVSHMEM_DOORBELL=0. Then B's device is hot-unplugged while A's
server sleeps on it: A's server ends with an error instead of sleeping
for ever (B's process loses its mapping: it dies of SIGBUS, or its
heartbeat stops reaching the segment and the server evicts it; either
reaches A). Last, a host process with eventfds from the server's socket
and a process in A ring each other."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import vmpscom as vp  # noqa: E402

VECTORS = 2
GUEST_PORT = 5000
MAXSIZE = 64 * 1024
ENV = vp.GUEST_ENV + ' PSP_SPIN_US=1'

STEPS = ['ivshmem-server serves a pscom segment with %d vectors' % VECTORS,
         'guests A and B boot with ivshmem-doorbell, uio_ivshmem binds it',
         'pscom_pp server in A (doorbell: uio interrupt)',
         'pscom_pp in B: all sizes verified over ivshmem, both sides '
         'report a doorbell vector',
         'more processes than vectors: a second pair inside A (vector 1 '
         'and none) ping-pongs verified; the one without a vector says it '
         'polls',
         'A\'s idle waiting server uses < 5 % CPU over 5 s',
         'check-vm timing: wake-up half-RTT (both sides idle 2 ms before '
         'every message) and idle CPU, doorbell beside polling',
         'B\'s device hot-unplugged while A sleeps on it: A\'s server '
         'ends with an error, no hang',
         'a host process (eventfds from the server\'s socket) and a guest '
         'ring each other: pscom_pp verified, both report a doorbell']


def cpu_ticks(g, pid):
    return int(g.check("awk '{ print $14 + $15 }' /proc/%s/stat" % pid))


def bg(g, cmd, name):
    """Run cmd in guest g in the background; its pid in /tmp/NAME.pid,
    output in /tmp/NAME.log and .err. Returns the pid."""
    g.check('%s >/tmp/%s.log 2>/tmp/%s.err </dev/null & echo $! >/tmp/%s.pid'
            % (cmd, name, name, name))
    return g.check('cat /tmp/%s.pid' % name)


def wait_live(tap, shm, n, timeout=60):
    """Wait until n participants are live: a guest process that exited
    while its peer still held its area keeps its slot -- and vector --
    until the server reclaims it (owner timeout, 10 s)."""
    t0 = time.monotonic()
    live = -1
    while time.monotonic() < t0 + timeout:
        live = sum(1 for p in vp.segment(shm)['participants']
                   if p['status'] == 'live')
        if live == n:
            break
        time.sleep(0.2)
    tap.expect(live == n, '%d live participants, expected %d' % (live, n))
    vmlib.log('%d live participants after %.1f s' % (
        live, time.monotonic() - t0))


def timing(tap, a, b, shm):
    """Wake-up latency and idle CPU in A, doorbell beside polling (logged:
    TCG guests on a shared host are no benchmark)."""
    # A's first server and B's lingering client: the second pair's
    # vectors are free again.
    wait_live(tap, shm, 2)
    res = {}
    for port, mode, bell in ((GUEST_PORT + 2, 'bell', 'auto'),
                             (GUEST_PORT + 3, 'poll', '0')):
        env = '%s PSP_IVSHMEM_DOORBELL=%s' % (ENV, bell)
        spid = bg(a, 'env %s pscom_pp -l %d' % (env, port), 'ts_' + mode)
        a.poll('grep -c "^Waiting for client" /tmp/ts_%s.log' % mode, '1')
        cpid = bg(b, 'env %s pscom_pp --json --minsize 64 --maxsize 64 '
                  '--loops 30 --gap 2000 --linger 600 10.0.2.2:%d'
                  % (env, a.hostfwd[port]), 'tc_' + mode)
        b.poll('grep -c "^lingering" /tmp/tc_%s.log' % mode, '1',
               timeout=120)
        row = json.loads([ln for ln in b.check('cat /tmp/tc_%s.log'
                                                % mode).splitlines()
                          if ln.startswith('{')][-1])
        b.check('kill -STOP %s' % cpid)
        t0 = cpu_ticks(a, spid)
        time.sleep(5)  # the measurement interval
        t1 = cpu_ticks(a, spid)
        b.check('kill -KILL %s' % cpid)
        a.poll('kill -0 %s 2>/dev/null || echo gone' % spid, 'gone')
        _, err = a.run('grep -h doorbell /tmp/ts_%s.err' % mode)
        vmlib.log('A, %s server: %s' % (mode, err.strip()))
        res[mode] = (row['half_rtt_us'], (t1 - t0) * 100.0 / (5 * 100))
    vmlib.log('wake-up half-RTT (idle 2 ms before every message): doorbell '
              '%.0f us, polling %.0f us; idle CPU: doorbell %.1f %%, '
              'polling %.1f %% (TCG guests)' % (
                  res['bell'][0], res['poll'][0], res['bell'][1],
                  res['poll'][1]))
    tap.expect(res['bell'][1] < 5, 'idle CPU with doorbell %.1f %%'
               % res['bell'][1])


def host_guest(tap, s, g, sock, shm):
    """pscom_pp server on the host (PSP_IVSHMEM_SOCKET: the same server
    socket the guests' QEMUs use), client in guest g: the host rings g's
    vector through g's eventfd, g rings the host through its Doorbell
    register."""
    p, port = vp.host_pp_server(s, shm, PSP_SPIN_US='1',
                                PSP_IVSHMEM_SOCKET=sock)
    rc, out = g.run('env %s pscom_pp --verify --json --maxsize 65536 '
                    '--loops 20 10.0.2.2:%d 2>/tmp/hc.err' % (ENV, port),
                    timeout=180)
    vp.pp_rows(tap, rc, out, 65536, ['ivshmem'])
    tap.expect(p.wait(timeout=30) == 0, 'host server failed')
    host = open(os.path.join(s.dir, 'host-pp.err')).read()
    _, guest = g.run('grep "doorbell" /tmp/hc.err')
    vmlib.log('host: %s' % '; '.join(
        ln for ln in host.splitlines() if 'doorbell' in ln))
    vmlib.log('%s: %s' % (g.name, guest.strip()))
    tap.expect('doorbell: peer id' in host, 'host: no doorbell: %s' % host)
    tap.expect('uio interrupt' in guest, '%s: no doorbell: %s'
               % (g.name, guest))
    tap.expect('no doorbell we can ring' not in host + guest,
               'one side cannot ring the other')


def body(tap, s):
    with tap.step():
        vp.require(tap)
        sock, shm = s.start_server(VECTORS, layout='pscom')
    with tap.step():
        a = s.guest('A', doorbell=(sock, VECTORS),
                    hostfwd={p: vmlib.free_port()
                             for p in (GUEST_PORT, GUEST_PORT + 2,
                                       GUEST_PORT + 3)})
        b = s.guest('B', doorbell=(sock, VECTORS), net=True)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
        for g in (a, b):
            g.check('insmod /lib/modules/uio.ko && '
                    'insmod /lib/modules/uio_ivshmem.ko')
            g.poll('cat /sys/class/uio/uio0/name 2>/dev/null', 'ivshmem')
    with tap.step():
        vp.guest_pp_server(a, GUEST_PORT, env=ENV)
    with tap.step():
        b.check('(env %s pscom_pp --verify --json --maxsize %d --loops 20 '
                '--linger 600 10.0.2.2:%d >/tmp/cli.log 2>/tmp/cli.err; '
                'echo $? >/tmp/cli.rc) </dev/null >/dev/null 2>&1 &'
                % (ENV, MAXSIZE, a.hostfwd[GUEST_PORT]))
        b.poll('grep -c "^lingering" /tmp/cli.log', '1', timeout=300)
        out = b.check('cat /tmp/cli.log')
        vp.pp_rows(tap, 0, out, MAXSIZE, ['ivshmem'])
        for g, f in ((a, '/tmp/pp.err'), (b, '/tmp/cli.err')):
            _, err = g.run('grep "ivshmem: doorbell\\|no doorbell" %s' % f)
            vmlib.log('%s: %s' % (g.name, err.strip()))
            tap.expect('doorbell: peer id' in err and 'uio interrupt' in err,
                       '%s has no doorbell: %s' % (g.name, err))
    with tap.step():
        # Two more processes in A (PSP_SHM=0: ivshmem inside one VM):
        # the server takes vector 1, the client finds both taken.
        a.check('(env %s pscom_pp -l %d >/tmp/s2.log 2>/tmp/s2.err; '
                'echo $? >/tmp/s2.rc) </dev/null >/dev/null 2>&1 &'
                % (ENV, GUEST_PORT + 1))
        a.poll('grep -c "^Waiting for client" /tmp/s2.log', '1')
        rc, out = a.run('env %s pscom_pp --verify --json --maxsize 4096 '
                        '--loops 20 127.0.0.1:%d 2>/tmp/c2.err'
                        % (ENV, GUEST_PORT + 1), timeout=180)
        vp.pp_rows(tap, rc, out, 4096, ['ivshmem'])
        a.poll('cat /tmp/s2.rc 2>/dev/null', '0')
        # Whichever of the two opens the segment first (the client: the
        # server joins at its accept) takes vector 1, the other none.
        _, err = a.run('grep -h "doorbell" /tmp/c2.err /tmp/s2.err')
        vmlib.log('A, second pair: %s' % err.strip())
        tap.expect('vector 1 of 2' in err, 'no vector 1: %s' % err)
        tap.expect('all 2 vectors of peer id' in err,
                   'no "all vectors held" message: %s' % err)
    with tap.step():
        # B's client lingers (polling, heartbeating); A's server waits for
        # a message that does not come.
        pid = a.check('pidof pscom_pp')
        hz = int(a.check('getconf CLK_TCK 2>/dev/null || echo 100'))
        t0 = cpu_ticks(a, pid)
        time.sleep(5)  # the measurement interval
        t1 = cpu_ticks(a, pid)
        pct = (t1 - t0) * 100.0 / (5 * hz)
        vmlib.log('idle waiting server in A: %.1f %% CPU over 5 s' % pct)
        tap.expect(pct < 5, 'idle server used %.1f %% CPU' % pct)
    with tap.step():
        timing(tap, a, b, shm)
    with tap.step():
        # B's client lives on (polling) and loses its device: A, asleep
        # on B's ring, must learn it from the segment or the socket.
        b.detach_ivshmem()
        t0 = time.monotonic()
        a.poll('cat /tmp/pp.rc 2>/dev/null', '0', timeout=120)
        _, err = a.run('cat /tmp/pp.err')
        tap.expect('error' in err.lower() or 'end of file' in err,
                   'A ended without an error: %s' % err)
        vmlib.log('A\'s server ended %.1f s after the unplug: %s' % (
            time.monotonic() - t0,
            a.run('tail -n 3 /tmp/pp.err')[1].strip()))
    with tap.step():
        # Every guest process gone (their slots, and vectors, reclaimed).
        wait_live(tap, shm, 0)
        host_guest(tap, s, a, sock, shm)


vmlib.main_test(STEPS, body, vp.EXTRA)
