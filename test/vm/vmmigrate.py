#!/usr/bin/env python3
"""Cases c and d of issue 6: the test plays the migration framework
around the live migration of guest A while A streams numbered messages
with guest B (test/suspend/susp_stream: every message verified, in
order, once). A mosquitto broker runs on the host; A's processes reach
it as 10.0.2.2 (user networking) and run the suspend agent
(PSP_SUSPEND_RESUME=1). B listens on a port forwarded from the host
(hostfwd_add once susp_stream printed it); A connects to 10.0.2.2:that
port, so A is the side that reconnects to the same address after the
move. B does not run the agent: it follows A's suspend passively.

Cycle: A streams half of its messages, then computes (-h/-g) ->
pscom-migrate suspend A (ALLOWED from A's process) -> every frame back in
the segment -> device_del + object-del -> migrate A to a new QEMU ->
device_add on the destination (case c) or nothing (case d) ->
pscom-migrate resume A (COMPLETED once reconnected) -> A streams the
second half -> both received everything over ivshmem (c) or tcp (d)."""
import contextlib
import json
import os
import re
import subprocess
import time

import vmlib
import vmpscom as vp

STREAM = os.path.join(vmlib.TOP_BUILDDIR, 'test', 'suspend', 'susp_stream')
MIGRATE = os.path.join(vmlib.TOP_BUILDDIR, 'bin', 'pscom-migrate')
EXTRA = vp.EXTRA + [(STREAM, '/usr/bin/susp_stream')]
COUNT = 2000


def start_broker(s):
    """mosquitto on 127.0.0.1:port; returns (port, log path)."""
    port = vmlib.free_port()
    d = s.new_dir('mosquitto')
    conf, logp = os.path.join(d, 'mosquitto.conf'), os.path.join(d, 'log')
    # nodelay: answers without a delayed-ACK wait.
    with open(conf, 'w') as f:
        subprocess.check_call(
            ['/bin/bash', os.path.join(os.environ['top_srcdir'], 'test',
                                       'common', 'mqtt-broker-conf.sh'),
             str(port), logp, 'set_tcp_nodelay true'], stdout=f)
    s.procs.append(subprocess.Popen(
        ['mosquitto', '-c', conf], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL))
    wait_log(logp, r'mosquitto version .* running')
    return port, logp


def watch_status(s, broker, blog):
    """mosquitto_sub on A's status topics (what a framework watches);
    returns the file its messages go to."""
    out = os.path.join(s.dir, 'status.log')
    with open(out, 'w') as f:
        s.procs.append(subprocess.Popen(
            ['mosquitto_sub', '-h', '127.0.0.1', '-p', str(broker), '-v',
             '-i', 'vmtest-watch', '-t', 'fast/pscom/A/+/status'],
            stdout=f, stderr=subprocess.STDOUT))
    wait_log(blog, 'Received SUBSCRIBE from vmtest-watch')
    return out


def wait_log(path, regex, timeout=60):
    """Wait until a line of the file matches; return the match."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, errors='replace') if os.path.exists(path) \
                else open(os.devnull) as f:
            m = re.search(regex, f.read())
        if m:
            return m
        if time.monotonic() > deadline:
            raise vmlib.VmError('no %r in %s' % (regex, path))
        time.sleep(0.05)


def migrate_cmd(verb, broker, timeout=10):
    """pscom-migrate VERB A -n 1 on the host: (exit status, output)."""
    p = subprocess.run([MIGRATE, verb, 'A', '-n', '1', '--broker',
                        '127.0.0.1:%d' % broker, '--timeout', str(timeout)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout + 30)
    return p.returncode, p.stdout


def steps(kind, start='ivshmem'):
    """The TAP plan: the stream starts on `start` and ends on `kind`."""
    return ['broker, ivshmem-server; guests A and B boot',
            'B listens, A connects through the host: the stream runs over '
            + start,
            'A streamed half; its agent is subscribed',
            'suspend: ALLOWED from A\'s process; its connection closed' + (
                ', every frame back' if start == 'ivshmem' else
                ' (PSP_SUSPEND_TCP=1)'),
            'device_del + object-del, migrate A to a new QEMU',
            'destination: ' + ('device_add ivshmem-plain' if kind ==
                               'ivshmem' else 'no ivshmem device'),
            'resume: COMPLETED from A\'s process',
            'A streams the second half: all messages verified, type ' + kind,
            'both finish cleanly; no frames in use']


def guest_stream(g, args, env):
    """susp_stream in the background in guest g: /tmp/st.log, /tmp/st.rc
    (its exit status)."""
    g.check('(env %s susp_stream %s >/tmp/st.log 2>/tmp/st.err; '
            'echo $? >/tmp/st.rc) </dev/null >/dev/null 2>&1 &' % (env, args))


@contextlib.contextmanager
def stream_logs_on_error(*guests):
    """A step that fails shows what each guest's stream said last."""
    try:
        yield
    except Exception:
        for g in guests:
            with contextlib.suppress(Exception):
                vmlib.log('%s: %s' % (g.name, g.run(
                    'tail -n 4 /tmp/st.log; tail -n 25 /tmp/st.err; '
                    'cat /proc/net/tcp', timeout=20)[1]))
        raise


def body_for(kind, start='ivshmem'):
    def body(tap, s):
        run_cycle(tap, s, kind, start)
    return body


def run_cycle(tap, s, kind, start):
    with tap.step():
        vp.require(tap, STREAM, MIGRATE)
        broker, blog = start_broker(s)
        status = watch_status(s, broker, blog)
        _, shm = s.start_server(layout='pscom')
        used = vp.segment(shm)['used_frames']
        a = s.guest('A', shm=shm, net=True)
        b = s.guest('B', shm=shm, net=True)
        vmlib.log('boot A %.2f s, B %.2f s' % (a.wait_boot(), b.wait_boot()))
    with tap.step():
        # A tcp stream (ivshmem off) is suspended only when asked for:
        # its slirp connection would not survive the move.
        env = vp.GUEST_ENV + ('' if start == 'ivshmem' else
                              ' PSP_IVSHMEM=0 PSP_SUSPEND_TCP=1')
        guest_stream(b, '-l -n %d -w /tmp/end' % COUNT, env)
        b.poll('grep -c "^port " /tmp/st.log', '1')
        gport = int(b.run('sed -n "s/^port //p" /tmp/st.log')[1])
        hport = vmlib.free_port()
        b.qmp.cmd('human-monitor-command', **{
            'command-line': 'hostfwd_add n0 tcp:127.0.0.1:%d-:%d'
                            % (hport, gport)})
        env_a = ('%s PSP_SUSPEND_RESUME=1 PSP_MQTT_BROKER=10.0.2.2:%d '
                 'PSP_POSTPONE_FEEDBACK=1' % (env, broker))
        guest_stream(a, '-c 10.0.2.2:%d -n %d -h %d -g /tmp/go '
                           '-w /tmp/end' % (hport, COUNT, COUNT // 2), env_a)
        a.poll('grep -c "^connected type=%s" /tmp/st.log' % start, '1')
    with tap.step():
        a.poll('grep -c "^halfway" /tmp/st.log', '1', timeout=120)
        # Only A's process runs the agent; its client id names its pid.
        pid = int(wait_log(blog, r'Received SUBSCRIBE from pscom-(\d+)-')
                  .group(1))
        tap.expect((vp.segment(shm)['used_frames'] > used) ==
                   (start == 'ivshmem'), 'frames in use: %d'
                   % vp.segment(shm)['used_frames'])
    with tap.step():
        t0 = time.monotonic()
        rc, out = migrate_cmd('suspend', broker)
        tap.expect(rc == 0 and '%d : ALLOWED' % pid in out,
                   'suspend (%d): %s' % (rc, out))
        vmlib.log('suspend -> ALLOWED %.0f ms' % ((time.monotonic() - t0)
                                                  * 1000))
        vp.wait_frames(tap, shm, used)
        # PSP_DEBUG=2: "<connection>: suspended" once its transport closed.
        rc, out = a.run('grep -c ": suspended$" /tmp/st.err')
        tap.expect(rc == 0, 'A: connection not suspended: %s'
                   % a.run('tail -5 /tmp/st.err')[1])
    with tap.step():
        t0 = time.monotonic()
        a.detach_ivshmem()
        t1 = time.monotonic()
        info = a.migrate()
        vmlib.log('migration of A: detach %.2f s, migrate %.2f s '
                  '(downtime %s ms)' % (t1 - t0, time.monotonic() - t1,
                           info.get('downtime')))
    with tap.step():
        if kind == 'ivshmem':
            a.attach_ivshmem(shm)
            a.poll('grep -l 0x1110 /sys/bus/pci/devices/*/device | wc -l',
                   '1')
        else:
            rc, out = a.run('grep -l 0x1110 /sys/bus/pci/devices/*/device')
            tap.expect(rc != 0, 'an ivshmem device: %s' % out)
    with tap.step():
        t0 = time.monotonic()
        # Exactly as the framework: publish once, wait up to 10 s. A's
        # broker link died with the source QEMU (user-mode networking);
        # the agent's persistent session makes the broker keep the
        # resume until the agent is back.
        rc, out = migrate_cmd('resume', broker, timeout=10)
        tap.expect(rc == 0 and '%d : COMPLETED' % pid in out,
                   'resume (%d): %s' % (rc, out))
        vmlib.log('resume -> COMPLETED %.0f ms' % ((time.monotonic() - t0)
                                                   * 1000))
        states = []
        with open(status, errors='replace') as f:
            for line in f:
                with contextlib.suppress(ValueError, IndexError):
                    states.append(json.loads(line.split(' ', 1)[1])['state'])
        vmlib.log('states of A\'s process on its status topic: %s'
                  % ' '.join(states))
    with tap.step(), stream_logs_on_error(a, b):
        a.check('touch /tmp/go')
        for g in (a, b):
            g.poll('grep -c "^received type=%s" /tmp/st.log' % kind, '1',
                   timeout=120)
    with tap.step(), stream_logs_on_error(a, b):
        for g in (a, b):
            g.check('touch /tmp/end')
        for g in (a, b):
            g.poll('cat /tmp/st.rc 2>/dev/null', '0', timeout=60)
            rc, out = g.run('grep "^done ok type=%s" /tmp/st.log' % kind)
            tap.expect(rc == 0, '%s: %s' % (g.name, g.run(
                'cat /tmp/st.log; tail -5 /tmp/st.err')[1]))
        vp.wait_frames(tap, shm, used)
