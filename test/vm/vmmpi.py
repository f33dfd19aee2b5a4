#!/usr/bin/env python3
"""Open MPI in the guests for vm-mpi.py: what the initramfs needs to run
orted and MPI ranks (the files of Debian's Open MPI and PMIx, our MTL
component, libpscom and the ivshmem plugin, the ping-pong), and the
remote shell the host's mpirun launches the guests' orted with.

Launch path: the host's mpirun is the HNP; `--mca plm_rsh_agent
"python3 vmrsh.py"` makes its rsh launcher run `vmrsh.py HOST orted ...`;
vmrsh.py hands the command to RshServer (a thread of the test) over a
Unix socket, which starts it in the named guest through the serial
command channel. The orted reaches the HNP through user networking: the
HNP listens on the host's loopback only (oob_tcp_if_include lo), and the
server rewrites the 127.0.0.1 of the HNP's address in the command to
10.0.2.2, the host's loopback as seen from a guest.
"""
import glob
import json
import os
import re
import socket
import subprocess
import threading

import vmlib
import vmpscom as vp

HERE = os.path.dirname(os.path.abspath(__file__))
RSH_AGENT = os.path.join(HERE, 'vmrsh.py')
PP = os.path.join(vmlib.VM_BUILDDIR, 'mpi_vm_pp')
MTL = os.path.join(vmlib.TOP_BUILDDIR, 'lib', 'ompi-mtl', '.libs',
                   'mca_mtl_pscom.so')
# Components whose libraries (verbs, UCX, libfabric, PSM) would only make
# the image bigger: no such hardware in a guest, and Debian's
# openmpi-mca-params.conf excludes most of them anyway.
SKIP_COMPONENTS = re.compile(r'openib|ucx|uct|ofi|psm|verbs|portals|cuda')


def ompi_path(name):
    """A directory of the installed Open MPI (ompi_info --path)."""
    out = subprocess.run(['ompi_info', '--path', name, '--parsable'],
                         stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    m = re.search(r'^path:%s:(.+)$' % name, out, re.M)
    if not m:
        raise vmlib.VmError('ompi_info --path %s: %r' % (name, out))
    return m.group(1)


def _tree(top):
    """(path, path) of every regular file under top."""
    return [(os.path.join(d, f), os.path.join(d, f))
            for d, _, files in os.walk(top) for f in sorted(files)
            if os.path.isfile(os.path.join(d, f))]


def _pmix_dir():
    """The directory of the libpmix Open MPI's pmix component links:
    PMIx's own components and help files are relative to it."""
    comp = os.path.join(ompi_path('pkglibdir'), 'mca_pmix_ext3x.so')
    out = subprocess.run(['ldd', comp], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    m = re.search(r'libpmix\.so\S* => (\S+)', out)
    if not m:
        raise vmlib.VmError('no libpmix in ldd %s' % comp)
    return os.path.dirname(os.path.realpath(m.group(1)))


def guest_files():
    """(host path, guest path) of everything the guests need to run orted
    and MPI ranks over our component; shared libraries come with them."""
    pkglib = ompi_path('pkglibdir')
    files = [(f, f) for f in sorted(glob.glob(os.path.join(pkglib, '*.so')))
             if not SKIP_COMPONENTS.search(os.path.basename(f))]
    files.append((MTL, os.path.join(pkglib, 'mca_mtl_pscom.so')))
    files.append((os.path.join(ompi_path('bindir'), 'orted'), '/usr/bin/orted'))
    # help texts (also for the messages of a failure), MCA parameter files
    files += _tree(ompi_path('pkgdatadir')) + _tree(ompi_path('sysconfdir'))
    pmix = _pmix_dir()
    files += [(f, f) for f in glob.glob(os.path.join(pmix, 'pmix', '*.so'))]
    files += _tree(os.path.join(pmix, '..', 'share')) if os.path.isdir(
        os.path.join(pmix, '..', 'share')) else []
    files = [(os.path.normpath(a), os.path.normpath(b)) for a, b in files]
    return files + [(PP, '/usr/bin/mpi_vm_pp')] + vp.EXTRA


class RshServer:
    """The test's end of vmrsh.py: runs each requested command in the
    guest of that name, in the background, its output in
    /tmp/orted.log; rewrites the HNP's loopback address to 10.0.2.2."""

    def __init__(self, session, guests):
        self.guests = {g.name: g for g in guests}
        self.path = os.path.join(session.new_dir('rsh'), 'rsh.sock')
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.launched = []
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def agent(self):
        """The value of plm_rsh_agent."""
        return 'python3 ' + RSH_AGENT

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return          # closed: the test is over
            with conn:
                req = json.loads(conn.makefile().readline())
                rc, out = self._launch(req['host'], req['argv'])
                conn.sendall(json.dumps({'rc': rc, 'out': out}).encode()
                             + b'\n')

    def _launch(self, host, argv):
        g = self.guests.get(host)
        if not g:
            self.errors.append('unknown host %r' % host)
            return 255, 'vmrsh: no guest %s\n' % host
        # The rsh launcher quotes for a remote shell: join as ssh does.
        cmd = ' '.join(argv).replace('tcp://127.0.0.1:', 'tcp://10.0.2.2:')
        # The orted checks that the agent it was given exists (it would
        # start the next level of a tree spawn with it): a guest has no
        # vmrsh.py and needs none, mpirun launches every orted itself.
        cmd = re.sub(r'(plm_rsh_agent) "[^"]*"', r'\1 "false"', cmd)
        self.launched.append((host, cmd))
        try:
            rc, out = g.run('cd /tmp && (%s) </dev/null >/tmp/orted.log '
                            '2>&1 &' % cmd)
        except vmlib.VmError as e:
            self.errors.append(str(e))
            return 255, 'vmrsh: %s\n' % e
        return rc, out

    def close(self):
        self.sock.close()
