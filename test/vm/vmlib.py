#!/usr/bin/env python3
"""Harness for the QEMU guest tests (make check-vm).

What it does, and why that way (see shared/VM_TESTING.md):
- The guest kernel is Debian's linux-image of the same version as the
  installed linux-headers-amd64, so modules built against those headers
  (the uio driver) load in the guest. It is fetched once with apt-get
  download into a cache directory and reused; only the uncompressed
  vmlinux (QEMU boots it directly through PVH: ~2 s instead of ~4 s) and
  the few modules the guests need are kept.
- The initramfs is busybox, an /init that loads the modules, sets up the
  network and then runs a command channel on the serial console, plus
  the programs the tests run (copied with their shared libraries).
- Guests are driven through that serial channel (commands in, output up
  to a marker line out) and through QMP (hotplug, migration).
- Every QEMU started is killed when the test ends, also on failure or
  SIGTERM from the test timeout; QEMU also dies with its parent.

Environment: VM_ACCEL (tcg; kvm on hosts with a working KVM), VM_QEMU
(the QEMU binary), VM_QEMU_ARGS (appended to every QEMU command line,
e.g. "-cpu host" with kvm), VM_CACHE
(kernel cache, default $XDG_CACHE_HOME/pscom-ivshmem-vm), top_srcdir and
top_builddir (set by make), VM_KEEP=1 keeps run directories.
Command line (from the build directory test/vm, with top_srcdir and
top_builddir set): vmlib.py kernel-release | prepare | shell
"""

import contextlib
import ctypes
import fcntl
import glob
import hashlib
import json
import lzma
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get('top_srcdir') or os.path.dirname(
    os.path.dirname(HERE))
TOP_BUILDDIR = os.environ.get('top_builddir') or os.getcwd()
VM_BUILDDIR = os.path.join(TOP_BUILDDIR, 'test', 'vm')
ACCEL = os.environ.get('VM_ACCEL', 'tcg')
QEMU = os.environ.get('VM_QEMU', 'qemu-system-x86_64')

# Loaded in this order by /init: there is no modules.dep in the image.
NET_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
               'virtio_pci_modern_dev', 'virtio_pci', 'failover',
               'net_failover', 'virtio_net']
EXTRA_MODULES = ['uio']   # copied, loaded by the tests that need them

BOOT_MARKER = 'VMTEST-BOOT-OK'
SHM_SIZE = 4 << 20


class VmError(Exception):
    """A step of the VM harness failed; the message says which."""


def log(msg):
    """Print a TAP diagnostic line."""
    for line in str(msg).splitlines() or ['']:
        print('# ' + line, flush=True)


def cache_dir():
    """Directory shared by all runs for the downloaded guest kernel."""
    d = os.environ.get('VM_CACHE')
    if not d:
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
            os.path.expanduser('~'), '.cache')
        d = os.path.join(base, 'pscom-ivshmem-vm')
    os.makedirs(d, exist_ok=True)
    return d


@contextlib.contextmanager
def file_lock(path):
    """Serialise preparation steps between tests running in parallel."""
    with open(path, 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_cmd(argv, **kw):
    """Run a host command; raise VmError with its output if it fails."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, **kw)
    if p.returncode != 0:
        raise VmError('%s failed (%d):\n%s' % (' '.join(argv), p.returncode,
                                               p.stdout[-3000:]))
    return p.stdout


def kernel_release():
    """(release, package version) of the kernel whose headers are installed
    through linux-headers-amd64, e.g. ('6.1.0-56-amd64', '6.1.192-2')."""
    p = subprocess.run(['dpkg-query', '-W', '-f', '${Status}\t${Depends}',
                        'linux-headers-amd64'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    if p.returncode != 0 or 'install ok installed' not in p.stdout:
        raise VmError('linux-headers-amd64 is not installed '
                      '(scripts/deps.sh installs it)')
    m = re.search(r'linux-headers-(\S+)\s*\(= ([^)\s]+)\)', p.stdout)
    if not m:
        raise VmError('cannot parse the dependency of linux-headers-amd64: '
                      + p.stdout)
    return m.group(1), m.group(2)


def headers_dir(release):
    """Kbuild directory of the installed headers for release."""
    d = '/usr/src/linux-headers-' + release
    if not os.path.isfile(os.path.join(d, 'Makefile')):
        raise VmError('kernel headers missing: ' + d)
    return d


def extract_vmlinux(vmlinuz, out):
    """Write the ELF kernel inside a bzImage whose payload is xz."""
    data = open(vmlinuz, 'rb').read()
    pos = data.find(b'\xfd7zXZ\x00')
    while pos >= 0:
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(
                data[pos:])
        except lzma.LZMAError:
            elf = b''
        if elf[:4] == b'\x7fELF':
            with open(out + '.tmp', 'wb') as f:
                f.write(elf)
            os.rename(out + '.tmp', out)
            return
        pos = data.find(b'\xfd7zXZ\x00', pos + 1)
    raise VmError('no xz-compressed ELF kernel found in ' + vmlinuz)


def fetch_kernel():
    """Directory with vmlinux and modules/*.ko of the guest kernel, fetched
    on first use and kept in the cache."""
    release, version = kernel_release()
    top = cache_dir()
    d = os.path.join(top, release + '_' + version)
    if os.path.isfile(os.path.join(d, 'complete')):
        return d
    with file_lock(os.path.join(top, '.lock')):
        if os.path.isfile(os.path.join(d, 'complete')):
            return d
        shutil.rmtree(d, ignore_errors=True)
        tmp = tempfile.mkdtemp(dir=top, prefix='fetch-')
        try:
            run_cmd(['apt-get', 'download', '-q',
                     'linux-image-%s=%s' % (release, version)], cwd=tmp)
            debs = glob.glob(os.path.join(tmp, '*.deb'))
            if len(debs) != 1:
                raise VmError('apt-get download gave %r' % debs)
            root = os.path.join(tmp, 'root')
            os.mkdir(root)
            tar = subprocess.Popen(['dpkg', '--fsys-tarfile', debs[0]],
                                   stdout=subprocess.PIPE)
            names = ['*/boot/vmlinuz-*'] + [
                '*/%s.ko*' % m for m in NET_MODULES + EXTRA_MODULES]
            run_cmd(['tar', '-x', '-C', root, '--wildcards'] + names,
                    stdin=tar.stdout)
            if tar.wait() != 0:
                raise VmError('dpkg --fsys-tarfile %s failed' % debs[0])
            os.mkdir(os.path.join(tmp, 'modules'))
            for m in NET_MODULES + EXTRA_MODULES:
                found = glob.glob(os.path.join(
                    root, 'lib/modules', release, 'kernel/**',
                    m + '.ko*'), recursive=True)
                if not found:
                    raise VmError('module %s is not in the image' % m)
                dst = os.path.join(tmp, 'modules', m + '.ko')
                if found[0].endswith('.xz'):
                    with open(dst, 'wb') as f:
                        f.write(lzma.decompress(open(found[0], 'rb').read()))
                else:
                    shutil.copy(found[0], dst)
            extract_vmlinux(os.path.join(root, 'boot', 'vmlinuz-' + release),
                            os.path.join(tmp, 'vmlinux'))
            shutil.rmtree(root)
            for deb in debs:
                os.unlink(deb)
            open(os.path.join(tmp, 'complete'), 'w').close()
            os.rename(tmp, d)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return d


def build_driver(outdir):
    """Build vendor/ivshmem/driver against the guest kernel's headers in
    outdir (the source tree may be read-only); returns the .ko path."""
    release, _ = kernel_release()
    src = os.path.join(TOP_SRCDIR, 'vendor', 'ivshmem', 'driver')
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    for name in ('Kbuild', 'Makefile', 'uio_ivshmem.c'):
        shutil.copy(os.path.join(src, name), outdir)
        os.chmod(os.path.join(outdir, name), 0o644)
    out = run_cmd(['make', '-C', outdir, 'KDIR=' + headers_dir(release)])
    ko = os.path.join(outdir, 'uio_ivshmem.ko')
    if not os.path.isfile(ko):
        raise VmError('driver build produced no uio_ivshmem.ko:\n' + out)
    return ko, out


def libtool_real(path):
    """The real ELF file behind a libtool wrapper script (uninstalled
    programs linked with a shared library of the tree), else path."""
    with open(path, 'rb') as f:
        head = f.read(4096)
    if head.startswith(b'#!') and b'libtool' in head:
        real = os.path.join(os.path.dirname(path), '.libs',
                            os.path.basename(path))
        if not os.path.isfile(real):
            raise VmError('%s is a libtool wrapper without %s'
                          % (path, real))
        return real
    return path


class Initramfs:
    """An initramfs tree: busybox, /init, modules, and programs copied
    with the shared libraries they need."""

    def __init__(self, root):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        for d in ('bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'run',
                  'etc', 'lib/modules', 'usr/bin', 'usr/lib'):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    def add_file(self, src, dst=None, mode=None):
        """Copy src to dst (a guest path; default: the same path)."""
        dst = dst or os.path.realpath(src)
        full = os.path.join(self.root, dst.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        shutil.copyfile(src, full)
        os.chmod(full, mode if mode is not None else
                 os.stat(src).st_mode & 0o777)

    def add_binary(self, src, dst):
        """Copy a program or shared object and, if it is dynamic, the
        libraries it needs and the dynamic loader. A libtool wrapper is
        replaced by the real program in .libs; libraries of the build tree
        go to /usr/lib (searched by default), system libraries keep their
        paths."""
        src = libtool_real(src)
        self.add_file(src, dst, 0o755)
        env = dict(os.environ, LD_LIBRARY_PATH=':'.join(
            glob.glob(os.path.join(TOP_BUILDDIR, 'lib', '*', '.libs'))))
        p = subprocess.run(['ldd', src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           env=env)
        if p.returncode != 0:
            return          # static: "not a dynamic executable"
        for line in p.stdout.splitlines():
            if 'not found' in line:
                raise VmError('%s: %s' % (src, line.strip()))
            m = re.match(r'\s*(\S+) => (/\S+)', line)
            if m and os.path.realpath(m.group(2)).startswith(
                    os.path.realpath(TOP_BUILDDIR) + os.sep):
                self.add_file(m.group(2), '/usr/lib/' + m.group(1))
                continue
            m = m or re.match(r'\s*(/\S+) \(0x', line)
            if not m:
                continue
            lib = m.group(m.lastindex)
            self.add_file(lib, lib)
            self.add_file(lib, os.path.realpath(lib))

    def add_text(self, dst, text, mode=0o644):
        full = os.path.join(self.root, dst.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as f:
            f.write(text)
        os.chmod(full, mode)

    def write_cpio(self, out):
        """Pack the tree as newc cpio (the host has no cpio program)."""
        names = []
        for d, dirs, files in os.walk(self.root):
            rel = os.path.relpath(d, self.root)
            for n in sorted(dirs) + sorted(files):
                names.append(os.path.normpath(os.path.join(rel, n)))
        with open(out + '.tmp', 'wb') as f:
            p = subprocess.run(['busybox', 'cpio', '-o', '-H', 'newc'],
                               input=('\n'.join(names) + '\n').encode(),
                               cwd=self.root, stdout=f,
                               stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise VmError('busybox cpio failed: ' + p.stderr.decode())
        os.rename(out + '.tmp', out)


INIT = r'''#!/bin/busybox sh
# /init of the test guests: mounts, modules, network, then the serial
# command channel the harness drives.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname "${vmname:-guest}"
ip link set lo up
if [ -e /sys/bus/pci/drivers ] && grep -q 0x1af4 /sys/bus/pci/devices/*/vendor 2>/dev/null; then
    for m in @NET_MODULES@; do
        insmod /lib/modules/$m.ko || echo "init: insmod $m failed"
    done
fi
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    # slirp: fixed address, the host is 10.0.2.2. Traffic needs carrier.
    i=0
    while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 200 ]; do
        sleep 0.05; i=$((i + 1))
    done
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
fi
# Raw mode without echo: the harness's input reaches sh byte for byte and
# is not mirrored into the output it parses.
stty raw -echo
echo @BOOT_MARKER@
while :; do
    dd bs=4096 2>/dev/null | sh 2>&1
done
'''


def build_initramfs(extra_files=()):
    """Build (once per build tree, rebuilt when an input changed) the
    initramfs shared by the VM tests. extra_files: (host path, guest
    path) of further programs or libraries, copied with the libraries
    they link; tests with the same set share one image.
    Returns (vmlinux, initramfs path)."""
    kdir = fetch_kernel()
    work = os.path.join(VM_BUILDDIR, 'vm-work')
    os.makedirs(work, exist_ok=True)
    extra_files = sorted(extra_files)
    key = hashlib.sha1(repr(extra_files).encode()).hexdigest()[:12]
    out = os.path.join(work, 'initramfs-%s.cpio' % key)
    bar_rw = os.path.join(VM_BUILDDIR, 'bar-rw')
    if not os.path.isfile(bar_rw):
        raise VmError('%s is missing (make check-vm builds it)' % bar_rw)
    drv_src = os.path.join(TOP_SRCDIR, 'vendor', 'ivshmem', 'driver')
    inputs = [bar_rw, os.path.abspath(__file__), '/bin/busybox'] + \
        glob.glob(os.path.join(drv_src, '*')) + \
        [libtool_real(p) for p, _ in extra_files]
    with file_lock(os.path.join(work, '.lock')):
        if os.path.isfile(out) and all(
                os.path.getmtime(i) <= os.path.getmtime(out) for i in inputs):
            return os.path.join(kdir, 'vmlinux'), out
        ko, _ = build_driver(os.path.join(work, 'driver'))
        fs = Initramfs(os.path.join(work, 'root-' + key))
        fs.add_file('/bin/busybox', '/bin/busybox', 0o755)
        init = INIT.replace('@NET_MODULES@', ' '.join(NET_MODULES)) \
            .replace('@BOOT_MARKER@', BOOT_MARKER)
        fs.add_text('/init', init, 0o755)
        for m in NET_MODULES + EXTRA_MODULES:
            fs.add_file(os.path.join(kdir, 'modules', m + '.ko'),
                        '/lib/modules/%s.ko' % m, 0o644)
        fs.add_file(ko, '/lib/modules/uio_ivshmem.ko', 0o644)
        fs.add_binary(bar_rw, '/bin/bar-rw')
        for src, dst in extra_files:
            fs.add_binary(src, dst)
        fs.write_cpio(out)
        shutil.rmtree(fs.root)
    return os.path.join(kdir, 'vmlinux'), out


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: a QEMU must not outlive a killed test.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class QMP:
    """Minimal QMP client: commands, and events kept for wait_event."""

    def __init__(self, path, proc, timeout=30):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if proc.poll() is not None:
                    raise VmError('QEMU exited (%d) before QMP was up'
                                  % proc.returncode)
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
                 mem='256M', doorbell=None, hostfwd=None):
        self.session = session
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

    def _argv(self, incoming, run):
        vmlinux, initrd = self.session.images
        argv = [QEMU, '-machine', 'pc', '-accel', ACCEL, '-m', self.mem,
                '-smp', '1', '-display', 'none', '-vga', 'none',
                '-no-reboot', '-nic', 'none', '-monitor', 'none',
                '-chardev', 'stdio,id=ser0,signal=off',
                '-serial', 'chardev:ser0',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                '-kernel', vmlinux, '-initrd', initrd,
                '-append', 'console=ttyS0 quiet panic=-1 vmname=' +
                self.name]
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
        argv = self._argv(incoming, self.run_dir)
        with open(os.path.join(self.run_dir, 'cmdline'), 'w') as f:
            f.write(' '.join(argv) + '\n')
        self.qemu_log = open(os.path.join(self.run_dir, 'qemu.log'), 'wb')
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.qemu_log,
                                     preexec_fn=_die_with_parent)
        self.session.procs.append(self.proc)
        threading.Thread(target=self._reader, args=(self.proc,),
                         daemon=True).start()
        self.qmp = QMP(self.qmp_path, self.proc)

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
                    raise VmError('%s: QEMU exited; serial log %s'
                                  % (self.name, self.log_path))
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
        script = ('i=0; while [ "$(%s)" != "%s" ]; do '
                  'i=$((i+1)); [ $i -gt %d ] && exit 1; sleep 0.02; done'
                  % (command, expect, int(timeout / 0.02)))
        rc, out = self.run(script, timeout + 10)
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
        if self.qmp:
            self.qmp.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
        path = '/dev/shm/pscom-vmtest-%s-%d-%08x' % (
            self.name, os.getpid(), random.getrandbits(32))
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
        name = 'pscom-vmtest-%s-%d-%08x' % (self.name, os.getpid(),
                                             random.getrandbits(32))
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
        except Exception as e:   # noqa: report, then stop the test
            self.failed = True
            print('not ok %d - %s' % (self.n, name), flush=True)
            log('%s: %s' % (type(e).__name__, e))
            raise _Stop()
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
