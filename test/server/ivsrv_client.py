#!/usr/bin/env python3
"""A raw client of the ivshmem server protocol (version 0) for the host
tests: every message is a little-endian int64, fd-carrying ones with one
descriptor in SCM_RIGHTS.

  ivsrv_client.py SOCKET hold
      read and print every message ("msg VALUE fd|-") until EOF; the
      first line is printed once the id arrived ("id N").
  ivsrv_client.py SOCKET pend
      connect and never read (sits in the listen backlog or fills its
      socket buffer) until killed.
  ivsrv_client.py SOCKET expect VECTORS OTHERS [WAIT_FILE WAIT_RE]
      optionally first wait (reading nothing) until a line of WAIT_FILE
      matches WAIT_RE; then read the whole set-up one message at a time:
      version 0, own id, -1 with the shm fd, VECTORS fds of each of OTHERS
      peers, VECTORS of its own; exit 0 if all of it came in that order.
"""
import array
import os
import re
import socket
import struct
import sys
import time

FDSPACE = socket.CMSG_SPACE(array.array("i").itemsize)


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    return s


def recv_msg(s):
    """One message: (value, fd or None); None at EOF."""
    data, anc, _, _ = s.recvmsg(8, FDSPACE)
    if not data:
        return None
    while len(data) < 8:  # never split in practice; be exact anyway
        more, anc2, _, _ = s.recvmsg(8 - len(data), FDSPACE)
        if not more:
            return None
        data += more
        anc += anc2
    fd = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            for extra in fds[1:]:
                os.close(extra)
            fd = fds[0]
    return struct.unpack("<q", data)[0], fd


def wait_line(path, regex, seconds=120):
    end = time.monotonic() + seconds
    pat = re.compile(regex)
    while time.monotonic() < end:
        try:
            with open(path, errors="replace") as f:
                if any(pat.search(line) for line in f):
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return False


def hold(path):
    s = connect(path)
    s.settimeout(None)
    n = 0
    while True:
        m = recv_msg(s)
        if m is None:
            print("eof", flush=True)
            return 0
        n += 1
        if n == 2:
            print("id %d" % m[0], flush=True)
        if m[1] is not None:
            os.close(m[1])


def pend(path):
    connect(path)
    while True:
        time.sleep(3600)


def expect(path, vectors, others, wait_file=None, wait_re=None):
    s = connect(path)
    if wait_file and not wait_line(wait_file, wait_re):
        print("never saw /%s/ in %s" % (wait_re, wait_file))
        return 1
    seq = [(0, False), (None, False), (-1, True)]
    seq += [(None, True)] * (vectors * others)
    seq += [("own", True)] * vectors
    own = None
    peers = {}
    for i, (want, has_fd) in enumerate(seq):
        m = recv_msg(s)
        if m is None:
            print("EOF after %d of %d messages" % (i, len(seq)))
            return 1
        value, fd = m
        if fd is not None:
            os.close(fd)
        if i == 1:
            own = value
        if want == "own":
            want = own
        if (want is not None and value != want) or (fd is not None) != has_fd:
            print("message %d: %d%s, expected %s%s" %
                  (i, value, " + fd" if fd is not None else "",
                   want, " + fd" if has_fd else ""))
            return 1
        if 3 <= i < 3 + vectors * others:
            peers[value] = peers.get(value, 0) + 1
    if len(peers) != others or any(c != vectors for c in peers.values()):
        print("per-peer vector counts wrong: %s" % peers)
        return 1
    print("complete: id %d, %d messages" % (own, len(seq)))
    return 0


def main(argv):
    path, mode = argv[1], argv[2]
    if mode == "hold":
        return hold(path)
    if mode == "pend":
        return pend(path)
    if mode == "expect":
        return expect(path, int(argv[3]), int(argv[4]), *argv[5:7])
    print("unknown mode %s" % mode)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:  # refused, reset, timed out: say so, fail
        print("%s: %s" % (sys.argv[2], e))
        sys.exit(1)
