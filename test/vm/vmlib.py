#!/usr/bin/env python3
"""Harness for the QEMU guest tests (make check-vm), see
shared/VM_TESTING.md: a Session per test (run directory, segments,
servers, guests; leaving it kills every QEMU, also on failure or SIGTERM
from the test timeout), host-side helpers, and TAP output with timings.
Images come from vmimage.py, guests from vmguest.py; the names tests use
are available from here.

Environment: see vmimage.py and vmguest.py; VM_KEEP=1 keeps the run
directories. top_srcdir and top_builddir are set by make.
Command line (from the build directory test/vm, with top_srcdir and
top_builddir set): vmlib.py kernel-release | prepare | shell
"""

import contextlib
import glob
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from vmguest import ACCEL, SHM_SIZE, Guest, free_port  # noqa: F401
from vmguest import _die_with_parent
from vmimage import (TOP_BUILDDIR, TOP_SRCDIR, VM_BUILDDIR,  # noqa: F401
                     VmError, build_initramfs, kernel_release, log)


class Session:
    """Context of one test: run directory, shared memory files, guests.
    Leaving it kills every QEMU and removes what the test created."""

    def __init__(self, name, extra_files=()):
        self.name = name
        self.extra_files = extra_files
        self.procs = []
        self.servers = []
        self.shm_files = []
        self.guests = []
        self.failed = False
        base = os.path.join(VM_BUILDDIR, 'vm-run')
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + '-', dir=base)
        _remove_orphan_segments()
        self.images = None

    def __enter__(self):
        signal.signal(signal.SIGTERM, _sigterm)
        t0 = time.monotonic()
        self.images = build_initramfs(self.extra_files)
        log('images ready in %.1f s (kernel %s, accel %s)'
            % (time.monotonic() - t0, kernel_release()[0], ACCEL))
        return self

    def __exit__(self, etype, exc, tb):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for p in self.servers:
            # SIGTERM: the server removes its socket and (-u) its object.
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in self.shm_files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
        if etype is None and not self.failed and \
                os.environ.get('VM_KEEP') != '1':
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log('run directory kept: ' + self.dir)
        return False

    def new_dir(self, name):
        d = tempfile.mkdtemp(prefix=name + '-', dir=self.dir)
        return d

    def new_shm(self):
        """A fresh zeroed segment file in /dev/shm with a unique name."""
        path = '%s%s-%d-%08x' % (SHM_PREFIX, self.name, os.getpid(),
                                 random.getrandbits(32))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.shm_files.append(path)
        os.ftruncate(fd, SHM_SIZE)
        os.close(fd)
        return path

    def start_server(self, vectors=1, size_mb=SHM_SIZE >> 20, layout=None):
        """Start the project's ivshmem-server on a unique shm object and
        socket; return (socket path, /dev/shm path) once it serves."""
        server = os.path.join(TOP_BUILDDIR, 'vendor', 'ivshmem', 'server',
                              'ivshmem-server')
        if not os.access(server, os.X_OK):
            raise VmError('%s is missing (make builds it)' % server)
        name = '%s%s-%d-%08x' % (os.path.basename(SHM_PREFIX), self.name,
                                 os.getpid(), random.getrandbits(32))
        sock = os.path.join(self.new_dir('server'), 'ivshmem.sock')
        self.shm_files.append('/dev/shm/' + name)
        rfd, wfd = os.pipe()
        logf = open(os.path.join(self.dir, 'server.log'), 'wb')
        argv = [server, '-s', name, '-m', str(size_mb), '-p', sock,
                '-n', str(vectors), '-u', '-R', str(wfd)] + (
                    ['-c', layout] if layout else [])
        self.servers.append(subprocess.Popen(
            argv, stdout=logf, stderr=logf, pass_fds=(wfd,),
            preexec_fn=_die_with_parent))
        os.close(wfd)
        # The server writes "ready" once it listens, or exits (EOF).
        with os.fdopen(rfd) as r:
            ready = select.select([r], [], [], 60)[0] and r.readline()
        if ready != 'ready\n':
            raise VmError('ivshmem-server did not get ready: %s' % open(
                os.path.join(self.dir, 'server.log')).read()[-2000:])
        return sock, '/dev/shm/' + name

    def guest(self, name, **kw):
        g = Guest(self, name, **kw)
        self.guests.append(g)
        return g


SHM_PREFIX = '/dev/shm/pscom-vmtest-'


def _remove_orphan_segments():
    """Remove segments of earlier test processes that were killed before
    their cleanup ran (SIGKILL): the creator's pid is in the name."""
    for path in glob.glob(SHM_PREFIX + '*'):
        m = re.match(re.escape(SHM_PREFIX) + r'.*-(\d+)-[0-9a-f]{8}$', path)
        if m and not os.path.exists('/proc/' + m.group(1)):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _sigterm(signum, frame):
    # The test timeout sends SIGTERM: unwind so Session kills the guests.
    raise SystemExit('terminated by signal %d' % signum)


def shm_write(path, offset, text):
    """Host side: store text and a NUL in the segment file."""
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(text.encode() + b'\0')


def shm_read(path, offset, length=64):
    """Host side: the NUL-terminated string at offset."""
    with open(path, 'rb') as f:
        f.seek(offset)
        return f.read(length).split(b'\0')[0].decode(errors='replace')


def _accept_line(srv, got):
    try:
        conn, _ = srv.accept()
    except OSError:
        return
    with conn:
        conn.settimeout(30)
        got.append(conn.makefile().readline().strip())


def guest_to_host(g):
    """Guest g sends a unique line to a listener on the host, reached as
    10.0.2.2 (user networking); raise VmError unless it arrives."""
    with socket.socket() as srv:
        srv.bind(('127.0.0.1', 0))
        srv.listen(1)
        srv.settimeout(30)
        got = []
        # busybox nc only exits when the peer closes: accept, read one
        # line and close while the guest's command runs.
        t = threading.Thread(target=_accept_line, args=(srv, got))
        t.start()
        p = pattern('to-host-' + g.name)
        rc, out = g.run('echo %s | nc 10.0.2.2 %d'
                        % (p, srv.getsockname()[1]))
        t.join()
    if rc != 0 or got != [p]:
        raise VmError('%s -> host: nc %d %s, host got %r'
                      % (g.name, rc, out.strip(), got))


def host_to_guest(g, guest_port):
    """The host sends a unique line to a listener in guest g through the
    forwarded port of guest_port; raise VmError unless it arrives."""
    g.check('rm -f /tmp/nc.in; (nc -l -p %d >/tmp/nc.in) </dev/null '
            '>/dev/null 2>&1 &' % guest_port)
    # slirp accepts a forwarded connection even with nobody listening in
    # the guest: wait for the listener first.
    g.poll('netstat -ltn | grep -c ":%d "' % guest_port, '1')
    p = pattern('to-%s' % g.name)
    with socket.create_connection(('127.0.0.1', g.hostfwd[guest_port]),
                                  timeout=30) as c:
        c.sendall(p.encode() + b'\n')
    g.poll('cat /tmp/nc.in', p)


def pattern(tag):
    """A unique text to write, so a stale value cannot pass a check."""
    return '%s-%d-%08x' % (tag, os.getpid(), random.getrandbits(32))


class Tap:
    """TAP output with a fixed plan. Each step runs in `with tap.step()`;
    a failed step (a false check or an exception) is "not ok" and ends the
    test: the remaining steps are reported as not ok, not reached."""

    def __init__(self, names):
        self.names = list(names)
        self.n = 0
        self.failed = False
        print('1..%d' % len(self.names), flush=True)

    @contextlib.contextmanager
    def step(self):
        self.n += 1
        name = self.names[self.n - 1]
        t0 = time.monotonic()
        try:
            yield
        except BaseException as e:   # report, then stop the test
            self.failed = True
            print('not ok %d - %s' % (self.n, name), flush=True)
            log('%s: %s' % (type(e).__name__, e))
            if isinstance(e, Exception):
                raise _Stop()
            raise       # SIGTERM (SystemExit): unwind to the cleanup
        print('ok %d - %s (%.2f s)' % (self.n, name, time.monotonic() - t0),
              flush=True)

    def expect(self, cond, what):
        """Fail the current step with what unless cond."""
        if not cond:
            raise VmError(what)

    def finish(self):
        for i in range(self.n + 1, len(self.names) + 1):
            print('not ok %d - %s # not reached' % (i, self.names[i - 1]))
        return 1 if self.failed or self.n < len(self.names) else 0


class _Stop(Exception):
    pass


def main_test(names, body, extra_files=()):
    """Run body(tap, session) as a TAP test; exit status for make.
    extra_files: further (host path, guest path) for the initramfs."""
    tap = Tap(names)
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    t0 = time.monotonic()
    try:
        with Session(name, extra_files) as s:
            try:
                body(tap, s)
            finally:
                s.failed = tap.failed
    except _Stop:
        pass
    except (Exception, SystemExit) as e:
        tap.failed = True
        log('%s: %s' % (type(e).__name__, e))
    log('%s total %.1f s' % (name, time.monotonic() - t0))
    sys.exit(tap.finish())


def _shell():
    """Boot one guest with ivshmem-plain on a fresh segment and run the
    lines read from stdin in it (for debugging the guest setup)."""
    with Session('shell') as s:
        shm = s.new_shm()
        g = s.guest('shell', shm=shm, net=True)
        print('# booted in %.2f s; segment %s; serial log %s; one command '
              'per line, end with EOF' % (g.wait_boot(), shm, g.log_path))
        for line in sys.stdin:
            if line.strip():
                rc, out = g.run(line.rstrip('\n'), timeout=600)
                sys.stdout.write(out)
                print('# exit %d' % rc, flush=True)


def _cli():
    if len(sys.argv) == 2 and sys.argv[1] == 'kernel-release':
        print('%s %s' % kernel_release())
    elif len(sys.argv) == 2 and sys.argv[1] == 'prepare':
        print('%s %s' % build_initramfs())
    elif len(sys.argv) == 2 and sys.argv[1] == 'shell':
        _shell()
    else:
        sys.exit('usage: vmlib.py kernel-release | prepare | shell')


if __name__ == '__main__':
    try:
        _cli()
    except VmError as e:
        sys.exit('vmlib: %s' % e)
