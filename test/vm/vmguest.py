#!/usr/bin/env python3
"""One QEMU guest of the VM tests, driven through its serial console
(commands in, output up to a marker line out) and QMP (hotplug,
migration). QEMU dies with the test process (PR_SET_PDEATHSIG).

Environment: VM_ACCEL (tcg; kvm on hosts with a working KVM), VM_QEMU
(the QEMU binary), VM_QEMU_ARGS (appended to every QEMU command line,
e.g. "-cpu host" with kvm).
"""

import ctypes
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import threading
import time

from vmimage import BOOT_MARKER, VmError

ACCEL = os.environ.get('VM_ACCEL', 'tcg')
QEMU = os.environ.get('VM_QEMU', 'qemu-system-x86_64')
SHM_SIZE = 4 << 20      # size of every test segment


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: a QEMU must not outlive a killed test.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _tail(path, size=2000):
    """The end of a log file, for error messages."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read().decode(errors='replace').strip()
    except (OSError, TypeError):
        return '(no log)'


class QMP:
    """Minimal QMP client: commands, and events kept for wait_event."""

    def __init__(self, path, proc, timeout=30, log_path=None):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if proc.poll() is not None:
                    raise VmError('QEMU exited (%d) before QMP was up: %s'
                                  % (proc.returncode, _tail(log_path)))
                if time.monotonic() > deadline:
                    raise VmError('QMP socket %s not ready' % path)
                time.sleep(0.02)
        self.buf = b''
        self.events = []
        greeting = self._read(deadline)
        if 'QMP' not in greeting:
            raise VmError('no QMP greeting: %r' % greeting)
        self.cmd('qmp_capabilities')

    def _read(self, deadline):
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VmError('QMP timeout')
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise VmError('QMP connection closed')
                self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, timeout=30, **args):
        """Execute a command; return its result, raise VmError on error."""
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        deadline = time.monotonic() + timeout
        while True:
            r = self._read(deadline)
            if 'event' in r:
                self.events.append(r)
            elif 'error' in r:
                raise VmError('QMP %s: %s' % (name, r['error'].get('desc')))
            elif 'return' in r:
                return r['return']

    def wait_event(self, name, timeout=30, **data):
        """Wait for event name whose data contains data; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e['event'] == name and all(
                        e.get('data', {}).get(k) == v
                        for k, v in data.items()):
                    del self.events[i]
                    return e
            try:
                r = self._read(deadline)
            except VmError:
                raise VmError('QMP event %s %r not seen' % (name, data))
            if 'event' in r:
                self.events.append(r)

    def close(self):
        self.sock.close()


class Guest:
    """One QEMU guest: serial command channel and QMP."""

    def __init__(self, session, name, shm=None, net=False, incoming=None,
                 mem='256M', doorbell=None, hostfwd=None, qemu_args=()):
        self.session = session
        # further devices, after the others (e.g. a second NIC)
        self.qemu_args = list(qemu_args)
        self.name = name
        self.shm = shm
        self.doorbell = doorbell    # (server socket, vectors)
        self.mem = mem
        # guest port -> host port on 127.0.0.1 (user networking)
        self.hostfwd = dict(hostfwd or {})
        self.net = net or bool(self.hostfwd)
        self.cmd_no = 0
        self.proc = None
        self.qmp = None
        self.start(incoming)

    def _argv(self, incoming):
        vmlinux, initrd = self.session.images
        argv = [QEMU, '-machine', 'pc', '-accel', ACCEL, '-m', self.mem,
                '-smp', '1', '-display', 'none', '-vga', 'none',
                '-no-reboot', '-nic', 'none', '-monitor', 'none',
                '-chardev', 'stdio,id=ser0,signal=off',
                '-serial', 'chardev:ser0',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                '-kernel', vmlinux, '-initrd', initrd,
                # no_timer_check: under TCG on a loaded host the timer
                # interrupt can miss the kernel's IO-APIC check, which
                # then panics at boot ("IO-APIC + timer doesn't work").
                '-append', 'console=ttyS0 quiet panic=-1 no_timer_check '
                'vmname=' + self.name]
        if self.net:
            fwd = ''.join(',hostfwd=tcp:127.0.0.1:%d-:%d' % (h, g)
                          for g, h in self.hostfwd.items())
            argv += ['-netdev', 'user,id=n0' + fwd,
                     '-device', 'virtio-net-pci,netdev=n0']
        if self.shm and not incoming:
            argv += ['-object', self.shm_object_arg(),
                     '-device', 'ivshmem-plain,memdev=hostmem,id=ivsh0']
        if self.doorbell and not incoming:
            argv += ['-chardev', 'socket,path=%s,id=iv' % self.doorbell[0],
                     '-device', 'ivshmem-doorbell,chardev=iv,vectors=%d,'
                     'id=ivsh0' % self.doorbell[1]]
        argv += self.qemu_args
        if incoming:
            argv += ['-incoming', incoming]
        return argv + shlex.split(os.environ.get('VM_QEMU_ARGS', ''))

    def shm_object_arg(self):
        return ('memory-backend-file,id=hostmem,share=on,mem-path=%s,'
                'size=%d' % (self.shm, SHM_SIZE))

    def start(self, incoming=None):
        """Start QEMU (a migration destination when incoming is set)."""
        self.run_dir = self.session.new_dir(self.name)
        self.qmp_path = os.path.join(self.run_dir, 'qmp.sock')
        self.log_path = os.path.join(self.run_dir, 'serial.log')
        self.out = b''
        self.eof = False
        self.cond = threading.Condition()
        argv = self._argv(incoming)
        with open(os.path.join(self.run_dir, 'cmdline'), 'w') as f:
            f.write(' '.join(argv) + '\n')
        self.t_start = time.monotonic()
        with open(os.path.join(self.run_dir, 'qemu.log'), 'wb') as qlog:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE,
                                         stderr=qlog,
                                         preexec_fn=_die_with_parent)
        self.session.procs.append(self.proc)
        threading.Thread(target=self._reader, args=(self.proc,),
                         daemon=True).start()
        self.qmp = QMP(self.qmp_path, self.proc,
                       log_path=os.path.join(self.run_dir, 'qemu.log'))

    def _reader(self, proc):
        with open(self.log_path, 'ab') as logf:
            while True:
                data = os.read(proc.stdout.fileno(), 65536)
                logf.write(data)
                logf.flush()
                with self.cond:
                    if proc is not self.proc:
                        return
                    if not data:
                        self.eof = True
                        self.cond.notify_all()
                        return
                    self.out += data
                    self.cond.notify_all()

    def _wait_for(self, pattern, timeout):
        """Wait until pattern matches the unread output; consume up to the
        end of the match and return (text before it, match)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self.cond:
            while True:
                m = rx.search(self.out)
                if m:
                    before = self.out[:m.start()]
                    self.out = self.out[m.end():]
                    return before.decode(errors='replace'), m
                left = deadline - time.monotonic()
                if self.eof or self.proc.poll() is not None:
                    raise VmError('%s: QEMU exited (%s); serial log %s; %s'
                                  % (self.name, self.proc.wait(),
                                     self.log_path, _tail(os.path.join(
                                         self.run_dir, 'qemu.log'))))
                if left <= 0:
                    raise VmError('%s: timeout waiting for %r; serial log '
                                  '%s' % (self.name, pattern, self.log_path))
                self.cond.wait(min(left, 0.5))

    def wait_boot(self, timeout=120):
        """Wait for /init's marker; return the boot time in seconds."""
        self._wait_for(BOOT_MARKER.encode() + rb'\r?\n', timeout)
        return time.monotonic() - self.t_start

    def run(self, command, timeout=60):
        """Run a shell command in the guest; return (status, output)."""
        self.cmd_no += 1
        tag = 'VMTEST-END-%d' % self.cmd_no
        # The marker is split in the command text so that only its output
        # can match, never the command itself.
        text = '(\n%s\n) 2>&1; echo "%s""-%d $?"\n' % (
            command, tag[:-len(str(self.cmd_no)) - 1], self.cmd_no)
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()
        out, m = self._wait_for(tag.encode() + rb' (\d+)\r?\n', timeout)
        return int(m.group(1)), out.replace('\r', '')

    def check(self, command, timeout=60):
        """Run a command that must succeed; return its output stripped."""
        rc, out = self.run(command, timeout)
        if rc != 0:
            raise VmError('%s: `%s` failed (%d): %s'
                          % (self.name, command, rc, out.strip()))
        return out.strip()

    def poll(self, command, expect, timeout=30):
        """Repeat command in the guest until its output is expect (the
        guest reacts to hotplug on its own time); return the time taken."""
        t0 = time.monotonic()
        # Bounded by the guest's clock, not a count of naps: a slow guest
        # gives up before the host stops listening, so the shell is free
        # for the caller's diagnostics.
        script = ('end=$(($(date +%%s) + %d)); while [ "$(%s)" != "%s" ]; '
                  'do [ "$(date +%%s)" -ge "$end" ] && exit 1; sleep 0.02; '
                  'done' % (int(timeout), command, expect))
        rc, out = self.run(script, timeout + 30)
        if rc != 0:
            rc2, now = self.run(command)
            raise VmError('%s: `%s` still gives %r, want %r'
                          % (self.name, command, now.strip(), expect))
        return time.monotonic() - t0

    def kernel_clean(self):
        """Raise VmError if the guest kernel logged a warning, bug or oops
        (e.g. from the uio driver's probe or remove)."""
        rc, out = self.run("dmesg | grep -E 'WARNING|BUG|Oops|Call Trace'")
        if rc == 0:
            raise VmError('%s: kernel log:\n%s' % (self.name, out))

    def detach_ivshmem(self):
        """device_del + DEVICE_DELETED, then object-del of the memory
        backend (plain) or chardev-remove of the server connection
        (doorbell): what a migration needs before it starts."""
        self.qmp.cmd('device_del', id='ivsh0')
        self.qmp.wait_event('DEVICE_DELETED', device='ivsh0')
        if self.doorbell:
            self.qmp.cmd('chardev-remove', id='iv')
        else:
            self.qmp.cmd('object-del', id='hostmem')

    def attach_ivshmem(self, shm=None):
        """object-add the memory backend + device_add ivshmem-plain, or
        for a doorbell guest chardev-add (the server's socket) +
        device_add ivshmem-doorbell."""
        if self.doorbell:
            self.qmp.cmd('chardev-add', id='iv', backend={
                'type': 'socket', 'data': {
                    'addr': {'type': 'unix',
                             'data': {'path': self.doorbell[0]}},
                    'server': False}})
            self.qmp.cmd('device_add', driver='ivshmem-doorbell',
                         chardev='iv', vectors=self.doorbell[1], id='ivsh0')
            return
        self.shm = shm or self.shm
        self.qmp.cmd('object-add', **{
            'qom-type': 'memory-backend-file', 'id': 'hostmem',
            'mem-path': self.shm, 'size': SHM_SIZE, 'share': True})
        self.qmp.cmd('device_add', driver='ivshmem-plain', memdev='hostmem',
                     id='ivsh0')

    def migrate(self, timeout=120):
        """Live-migrate to a new QEMU on this host (same devices without
        ivshmem: detach it first). The guest then runs in the new QEMU;
        the old one is stopped. Returns the query-migrate result."""
        port = free_port()
        old_proc, old_qmp = self.proc, self.qmp
        # The source still holds its forwarded ports until it stops.
        self.hostfwd = {g: free_port() for g in self.hostfwd}
        self.start(incoming='tcp:127.0.0.1:%d' % port)
        status = self.qmp.cmd('query-status')['status']
        if status != 'inmigrate':
            raise VmError('destination is %s, not inmigrate' % status)
        old_qmp.cmd('migrate', uri='tcp:127.0.0.1:%d' % port)
        deadline = time.monotonic() + timeout
        while True:
            info = old_qmp.cmd('query-migrate')
            if info.get('status') == 'completed':
                break
            if info.get('status') in ('failed', 'cancelled'):
                raise VmError('migration %s: %s' % (
                    info['status'], info.get('error-desc', '')))
            if time.monotonic() > deadline:
                raise VmError('migration did not complete: %r' % info)
            time.sleep(0.05)
        self.qmp.wait_event('RESUME', timeout=30)
        old_qmp.close()
        old_proc.kill()
        old_proc.wait()
        return info

    def stop(self):
        """Kill this guest's QEMU now (the session would at its end)."""
        if self.qmp:
            self.qmp.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
