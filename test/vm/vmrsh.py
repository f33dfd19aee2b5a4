#!/usr/bin/env python3
"""The "remote shell" Open MPI's rsh launcher uses in vm-mpi.py
(--mca plm_rsh_agent): `vmrsh.py HOST COMMAND...` asks the test process,
over the Unix socket named in VM_RSH_SOCKET (inherited through mpirun),
to run COMMAND in the guest named HOST through its serial command
channel (vmmpi.RshServer). Exits with the status the test reports; the
command (orted) keeps running in the guest in the background, as after
ssh -f.
"""
import json
import os
import socket
import sys


def main():
    if len(sys.argv) < 3 or not os.environ.get('VM_RSH_SOCKET'):
        sys.exit('usage: VM_RSH_SOCKET=PATH vmrsh.py HOST COMMAND...')
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.environ['VM_RSH_SOCKET'])
        s.sendall(json.dumps({'host': sys.argv[1],
                              'argv': sys.argv[2:]}).encode() + b'\n')
        reply = json.loads(s.makefile().readline() or '{"rc": 255}')
    sys.stderr.write(reply.get('out', ''))
    sys.exit(reply['rc'])


if __name__ == '__main__':
    main()
