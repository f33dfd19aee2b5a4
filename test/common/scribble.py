#!/usr/bin/env python3
"""A hostile VM writing into rings directly in their shared memory.

scribble.py SEGMENT INFO-JSON BYTE: overwrite every ring allocation listed
in ivshmem-info's JSON (INFO-JSON, a file) with BYTE, control line
included. Repeated a few times: a producer writing right behind the first
pass cannot heal it. Prints the number of rings overwritten.

scribble.py SEGMENT INFO-JSON --zero-headers PID SECONDS: for SECONDS,
write zeros into the first word of every line of the data area of the
rings owned by the participant with host pid PID (its receive rings),
stopping early when PID exits: where a published chunk header waits for
the consumer, it disappears. Nothing else is touched. Prints the number
of rings scribbled on.

scribble.py --zero-headers-shm SECONDS OUT CMD...: the same for the
shm transport, on a process it starts (CMD, output to the file OUT) so
that it may write into its memory (/proc/PID/mem, allowed to a parent
without privileges): once CMD maps a connection object, both rings of
every such object, until CMD exits or SECONDS pass; then it waits for
CMD (60 s at most, then kills it). Prints the number of rings and CMD's
exit status (124 if it had to be killed).

scribble.py SEGMENT INFO-JSON --bulk-marks BYTE PID SECONDS: overwrite
the first 4 KiB (header line and slot marks) of every bulk area listed
with BYTE, again and again for SECONDS or until PID exits (a sender's
next mark would heal a single pass). Prints the number of areas."""
import json
import mmap
import os
import subprocess
import sys
import time

LINE = 64
RING_HDR = 3 * LINE       # lib/ring: metadata, producer, consumer lines
IVSHMEM_CTL = LINE        # ivshmem receive area: control line, then ring
SHM_RING_LEN = 8192 - LINE  # lib/core/shm.c: cookie line, ring a, ring b


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def data_lines(ring_off, ring_len):
    """Offsets of the first word of every data line of a ring."""
    return range(ring_off + RING_HDR, ring_off + ring_len, LINE)


def zero_until(lines, pid, seconds):
    """Zero the words at lines, (mapping, offset) pairs, again and again
    for seconds or until pid exits."""
    end = time.monotonic() + seconds
    zero = bytes(8)
    while lines and time.monotonic() < end and alive(pid):
        for m, o in lines:
            m[o:o + 8] = zero


def ivshmem_rings(info, pid=None):
    slots = None
    if pid is not None:
        slots = {p["slot"] for p in info["participants"]
                 if p["pid"] == pid and p["status"] == "live"}
    return [a for a in info["allocations"] if a["tag"] == "ring" and
            (slots is None or a["slot"] in slots)]


def shm_objects(pid):
    """Start addresses of the shm transport's objects PID maps."""
    out = []
    for line in open("/proc/%d/maps" % pid):
        f = line.split()
        if len(f) >= 6 and "/pscom-shm-" in f[5]:
            out.append(int(f[0].split("-")[0], 16))
    return out


def zero_shm_child(seconds, out, cmd):
    child = subprocess.Popen(cmd, stdout=open(out, "w"),
                             stderr=subprocess.STDOUT)
    objs = []
    end = time.monotonic() + 30
    while not objs and child.poll() is None and time.monotonic() < end:
        objs = shm_objects(child.pid)
        time.sleep(0.01)
    if objs:
        with open("/proc/%d/mem" % child.pid, "r+b", buffering=0) as mem:
            lines = [base + o for base in objs
                     for r in (LINE, LINE + SHM_RING_LEN)
                     for o in data_lines(r, SHM_RING_LEN)]
            end = time.monotonic() + seconds
            zero = bytes(8)
            try:
                while child.poll() is None and time.monotonic() < end:
                    for a in lines:
                        os.pwrite(mem.fileno(), zero, a)
            except OSError:
                pass  # it exited (and unmapped) under our writes
    try:
        rc = child.wait(60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        rc = 124
    print(len(objs) * 2, rc)


def main():
    if sys.argv[1] == "--zero-headers-shm":
        zero_shm_child(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
        return
    path, info = sys.argv[1], json.load(open(sys.argv[2]))
    frame = info["frame_size"]
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        if sys.argv[3] == "--bulk-marks":
            junk = bytes([int(sys.argv[4], 0)]) * 4096
            pid, end = int(sys.argv[5]), time.monotonic() + float(sys.argv[6])
            allocs = [a for a in info["allocations"] if a["tag"] == "bulk"]
            while allocs and time.monotonic() < end and alive(pid):
                for a in allocs:
                    m[a["offset"]:a["offset"] + 4096] = junk
        elif sys.argv[3] == "--zero-headers":
            pid = int(sys.argv[4])
            allocs = ivshmem_rings(info, pid)
            lines = [(m, o) for a in allocs for o in
                     data_lines(a["offset"] + IVSHMEM_CTL,
                                a["frames"] * frame - IVSHMEM_CTL)]
            zero_until(lines, pid, float(sys.argv[5]))
        else:
            byte = int(sys.argv[3], 0)
            allocs = ivshmem_rings(info)
            for _ in range(20):
                for a in allocs:
                    n = a["frames"] * frame
                    m[a["offset"]:a["offset"] + n] = bytes([byte]) * n
        m.close()
    print(len(allocs))


main()
