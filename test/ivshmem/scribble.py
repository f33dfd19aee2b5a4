#!/usr/bin/env python3
"""A hostile VM writing into the segment's rings directly in its memory.

scribble.py SEGMENT INFO-JSON BYTE: overwrite every ring allocation listed
in ivshmem-info's JSON (INFO-JSON, a file) with BYTE, control line
included. Repeated a few times: a producer writing right behind the first
pass cannot heal it. Prints the number of rings overwritten.

scribble.py SEGMENT INFO-JSON --zero-headers PID SECONDS: for SECONDS,
write zeros into the first word of every line of the data area of the
rings owned by the participant with host pid PID (its receive rings),
stopping early when PID exits: where a published chunk header waits for
the consumer, it disappears. Nothing else is touched. Prints the number of rings scribbled on."""
import json
import mmap
import os
import sys
import time

# Receive area: control line (64 bytes), ring header (3 lines), data.
DATA_OFF = 64 + 3 * 64
LINE = 64


def rings(info, pid=None):
    slots = None
    if pid is not None:
        slots = {p["slot"] for p in info["participants"]
                 if p["pid"] == pid and p["status"] == "live"}
    return [a for a in info["allocations"] if a["tag"] == "ring" and
            (slots is None or a["slot"] in slots)]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main():
    path, info = sys.argv[1], json.load(open(sys.argv[2]))
    frame = info["frame_size"]
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        if sys.argv[3] == "--zero-headers":
            pid = int(sys.argv[4])
            allocs = rings(info, pid)
            end = time.monotonic() + float(sys.argv[5])
            zero = bytes(8)
            lines = [o for a in allocs for o in
                     range(a["offset"] + DATA_OFF,
                           a["offset"] + a["frames"] * frame, LINE)]
            while allocs and time.monotonic() < end and alive(pid):
                for o in lines:
                    m[o:o + 8] = zero
        else:
            byte = int(sys.argv[3], 0)
            allocs = rings(info)
            for _ in range(20):
                for a in allocs:
                    n = a["frames"] * frame
                    m[a["offset"]:a["offset"] + n] = bytes([byte]) * n
        m.close()
    print(len(allocs))


main()
