#!/usr/bin/env python3
"""The operator files in vendor/ivshmem are usable as shipped:
- the generated systemd unit passes systemd-analyze verify, and its
  ExecStart, expanded with the example EnvironmentFile, starts the built
  ivshmem-server (which must accept every option the unit passes) until
  it serves;
- the libvirt hotplug XML is well-formed <shmem> of the named model, the
  doorbell one with a server socket, the plain one with a size;
- the udev rule lines parse as udev rules and match uio name ivshmem* and
  the PCI ids; systemd-sysusers creates the group the rule names; the
  module loading files name the module Kbuild builds.
make check runs it (no VM needed)."""
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SRC = os.path.join(os.environ['top_srcdir'], 'vendor', 'ivshmem')
BUILD = os.path.join(os.environ['top_builddir'], 'vendor', 'ivshmem')
SERVER = os.path.join(BUILD, 'server', 'ivshmem-server')
UNIT = os.path.join(BUILD, 'systemd', 'ivshmem-server@.service')
results = []


def check(name):
    def wrap(fn):
        results.append((name, fn))
        return fn
    return wrap


def read_env(path):
    env = {}
    for line in open(path):
        m = re.match(r'([A-Z_]+)=(.*)$', line.strip())
        if m:
            env[m.group(1)] = ' '.join(shlex.split(m.group(2)))
    return env


@check('systemd-analyze verify accepts the generated unit')
def unit_verify(tmp):
    if not shutil.which('systemd-analyze'):
        return 'systemd-analyze missing (scripts/deps.sh installs systemd)'
    text = open(UNIT).read()
    m = re.search(r'^ExecStart=(\S+)', text, re.M)
    # Verify the instance with the built server in place of the installed
    # path (verify insists that the program exists).
    inst = os.path.join(tmp, 'ivshmem-server@vmtest0.service')
    with open(inst, 'w') as f:
        f.write(text.replace(m.group(1), SERVER))
    p = subprocess.run(['systemd-analyze', 'verify', '--man=no', inst],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0 or p.stdout.strip():
        return 'verify: %d %s' % (p.returncode, p.stdout)
    return None


@check('the unit\'s ExecStart with the example settings starts the server')
def unit_execstart(tmp):
    text = open(UNIT).read()
    cmd = re.search(r'^ExecStart=(.*)$', text, re.M).group(1)
    env = {}
    for d in re.findall(r'^Environment=(.*)$', text, re.M):
        env.update(dict(kv.split('=', 1) for kv in shlex.split(d)))
    env.update(read_env(os.path.join(SRC, 'systemd',
                                     'ivshmem-server.conf')))
    for want in ('-s %i', '-m ${IVSHMEM_SIZE}', '-c pscom',
                 '-p ${IVSHMEM_SOCKET}'):
        if want not in cmd:
            return 'ExecStart lacks %r: %s' % (want, cmd)
    name = 'pscom-opfiles-%d' % os.getpid()
    env['IVSHMEM_SIZE'] = '4'      # keep the test small
    env['IVSHMEM_SOCKET'] = os.path.join(tmp, 'sock')
    argv = []
    for word in shlex.split(cmd.replace('%i', name)):
        if word.startswith('$'):
            argv += env[word.strip('${}')].split()
        else:
            argv.append(re.sub(r'\$\{(\w+)\}', lambda m: env[m.group(1)],
                               word))
    argv[0] = SERVER
    rfd, wfd = os.pipe()
    proc = subprocess.Popen(argv + ['-u', '-R', str(wfd)], pass_fds=(wfd,),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    os.close(wfd)
    try:
        with os.fdopen(rfd) as r:
            ready = select.select([r], [], [], 30)[0] and r.readline()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
        if os.path.exists('/dev/shm/' + name):     # -u failed to remove it
            os.unlink('/dev/shm/' + name)
            out += '\n(shm object left behind)'
    if ready != 'ready\n':
        return '%s did not serve:\n%s' % (' '.join(argv), out)
    if not re.search(r'pscom layout', out):
        return 'no pscom layout: ' + out
    return None


@check('libvirt hotplug XML: ivshmem-plain and ivshmem-doorbell')
def hotplug_xml(tmp):
    for model in ('ivshmem-plain', 'ivshmem-doorbell'):
        root = ET.parse(os.path.join(SRC, 'hotplug', model + '.xml'))
        root = root.getroot()
        if root.tag != 'shmem' or not root.get('name'):
            return '%s: root %s' % (model, root.tag)
        if root.find('model').get('type') != model:
            return '%s: model %s' % (model, root.find('model').get('type'))
        if model.endswith('doorbell'):
            srv = root.find('server')
            if srv is None or not srv.get('path', '').startswith('/'):
                return 'doorbell without server path'
            if int(root.find('msi').get('vectors')) < 1:
                return 'doorbell without vectors'
        elif root.find('size') is None:
            return 'plain without size'
        if not root.find('alias').get('name', '').startswith('ua-'):
            return '%s: libvirt user aliases start with ua-' % model
    return None


RULE_KEY = re.compile(r'\s*([A-Z]+(?:\{[^}]+\})?)\s*(==|!=|\+=|=)\s*'
                      r'"([^"]*)"\s*(?:,|$)')


@check('udev rule: syntax, uio name ivshmem*, PCI 1af4:1110')
def udev_rule(tmp):
    text = open(os.path.join(SRC, 'udev',
                             'ivshmem-uio-device.rules')).read()
    rules = [r for r in text.replace('\\\n', ' ').splitlines()
             if r.strip() and not r.lstrip().startswith('#')]
    seen = set()
    for rule in rules:
        pos, keys = 0, {}
        while pos < len(rule):
            m = RULE_KEY.match(rule, pos)
            if not m:
                return 'cannot parse at %r' % rule[pos:pos + 30]
            keys[m.group(1)] = (m.group(2), m.group(3))
            pos = m.end()
        if keys.get('SUBSYSTEM') == ('==', 'uio'):
            ok = keys.get('ATTR{name}') == ('==', 'ivshmem*') and \
                keys.get('GROUP', ('',))[0] == '=' and \
                keys.get('MODE') == ('=', '0660')
            seen.add('uio' if ok else 'bad uio rule')
        if keys.get('SUBSYSTEM') == ('==', 'pci'):
            ok = keys.get('ATTR{vendor}') == ('==', '0x1af4') and \
                keys.get('ATTR{device}') == ('==', '0x1110') and \
                'resource2' in rule
            seen.add('pci' if ok else 'bad pci rule')
    return None if seen == {'uio', 'pci'} else 'rules: %s' % seen


@check('module loading files name the module that Kbuild builds')
def modules_files(tmp):
    kbuild = open(os.path.join(SRC, 'driver', 'Kbuild')).read()
    mod = re.search(r'obj-m\s*:?=\s*(\w+)\.o', kbuild).group(1)
    script = os.path.join(SRC, 'sysconfig', 'ivshmem-uio.modules')
    if not os.access(script, os.X_OK):
        return script + ' is not executable'
    p = subprocess.run(['sh', '-n', script], stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        return 'sh -n: ' + p.stderr
    if 'modprobe %s ' % mod not in open(script).read():
        return 'the .modules script does not load ' + mod
    conf = open(os.path.join(SRC, 'sysconfig', 'uio_ivshmem.conf')).read()
    if mod not in conf.split():
        return 'modules-load.d file does not name ' + mod
    return None


@check('sysusers.d file creates the group the udev rule names')
def sysusers(tmp):
    rules = open(os.path.join(SRC, 'udev', 'ivshmem-uio-device.rules')).read()
    group = re.search(r'GROUP="([^"]+)"', rules).group(1)
    root = os.path.join(tmp, 'sysroot')
    os.makedirs(os.path.join(root, 'etc'))
    p = subprocess.run(['systemd-sysusers', '--root=' + root,
                        os.path.join(SRC, 'systemd', 'ivshmem.sysusers')],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    groups = [line.split(':')[0] for line in
              open(os.path.join(root, 'etc', 'group'))] \
        if p.returncode == 0 else []
    if group not in groups:
        return 'systemd-sysusers %d: %s; groups %s' % (p.returncode,
                                                       p.stdout, groups)
    return None


def main():
    print('1..%d' % len(results))
    failed = 0
    tmp = tempfile.mkdtemp(prefix='operator-files-')
    try:
        for i, (name, fn) in enumerate(results, 1):
            try:
                err = fn(tmp)
            except Exception as e:   # a crash is a failure of this check
                err = '%s: %s' % (type(e).__name__, e)
            print('%sok %d - %s' % ('not ' if err else '', i, name))
            for line in (err or '').splitlines():
                print('# ' + line)
            failed += bool(err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


sys.exit(main())
