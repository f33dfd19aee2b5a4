#!/usr/bin/env python3
"""Guest images for the VM tests: kernel, modules, uio driver, initramfs.

- The guest kernel is Debian's linux-image of the same version as the
  installed linux-headers-amd64, so modules built against those headers
  (the uio driver) load in the guest. It is fetched once with apt-get
  download into a cache directory (VM_CACHE, default
  $XDG_CACHE_HOME/pscom-ivshmem-vm) and reused; only the uncompressed
  vmlinux (QEMU boots it directly through PVH: ~2 s instead of ~4 s) and
  the few modules the guests need are kept.
- The initramfs is busybox, an /init that loads the modules, sets up the
  network and then runs a command channel on the serial console, plus
  the programs the tests run (copied with their shared libraries).
"""

import contextlib
import fcntl
import glob
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get('top_srcdir') or os.path.dirname(
    os.path.dirname(HERE))
TOP_BUILDDIR = os.environ.get('top_builddir') or os.getcwd()
VM_BUILDDIR = os.path.join(TOP_BUILDDIR, 'test', 'vm')

# Loaded in this order by /init: there is no modules.dep in the image.
NET_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
               'virtio_pci_modern_dev', 'virtio_pci', 'failover',
               'net_failover', 'virtio_net']
EXTRA_MODULES = ['uio']   # copied, loaded by the tests that need them

BOOT_MARKER = 'VMTEST-BOOT-OK'


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
    # A separate build: not the jobserver or flags of a calling make.
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    out = run_cmd(['make', '-C', outdir, 'KDIR=' + headers_dir(release)],
                  env=env)
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
                  'etc', 'lib/modules', 'usr/bin', 'usr/sbin', 'usr/lib'):
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
            self.add_lib(m.group(m.lastindex))

    def add_lib(self, lib):
        """A system library at the path ldd names and at its real path:
        one copy at the real path, a symbolic link at the other (Open
        MPI's libraries would otherwise be in the image twice)."""
        real = os.path.realpath(lib)
        self.add_file(lib, real)
        if real == lib:
            return
        full = os.path.join(self.root, lib.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(full)
        os.symlink(real, full)

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
# Applets at their usual paths (/sbin/modprobe is what operators use).
/bin/busybox --install -s
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
