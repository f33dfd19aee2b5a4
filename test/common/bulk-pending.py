#!/usr/bin/env python3
"""bulk-pending.py SEGMENT INFO-JSON NSLOTS SLOT_BYTES NOT_PID probe|flip:
a co-tenant that changes the data of a bulk area (lib/ring/ring_bulk.h),
not its marks. For every bulk allocation in ivshmem-info's JSON whose
owner is not the process NOT_PID (the stopped receiver's own area holds
what it sends, which its peer drains meanwhile), find the slots whose
chunk is published but not drained yet (producer line: length, full
mark; consumer line: empty mark) in an area of NSLOTS slots of
SLOT_BYTES (the test fixes PSP_SHM_BULK_SLOTS and PSP_SHM_BULK_SLOT).

probe: print the number of such slots.
flip:  invert the byte in the middle of each such chunk (marks and
       lengths intact: the area's own checks see nothing) and print how
       many were changed."""
import json
import mmap
import struct
import sys

LINE = 64
PAGE = 4096
MAGIC = 0x4B4C554249564950  # "PIVIBULK"


def data_off(n):
    return ((1 + 2 * n) * LINE + PAGE - 1) & ~(PAGE - 1)


def pending(m, base, n, slot):
    """Yield (offset of the chunk's middle byte) of every undrained slot."""
    if struct.unpack_from("<Q", m, base)[0] != MAGIC:
        return
    for k in range(n):
        length, full = struct.unpack_from("<QQ", m, base + LINE * (1 + k))
        empty = struct.unpack_from("<Q", m, base + LINE * (1 + n + k))[0]
        if full and empty != full and 0 < length <= slot:
            yield base + data_off(n) + k * slot + length // 2


def main():
    path, info = sys.argv[1], json.load(open(sys.argv[2]))
    n, slot, not_pid, mode = (int(sys.argv[3]), int(sys.argv[4], 0),
                              int(sys.argv[5]), sys.argv[6])
    skip = {p["slot"] for p in info["participants"] if p["pid"] == not_pid}
    areas = [a["offset"] for a in info["allocations"]
             if a["tag"] == "bulk" and a["slot"] not in skip]
    count = 0
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        for base in areas:
            for off in pending(m, base, n, slot):
                if mode == "flip":
                    m[off] ^= 0xff
                count += 1
        m.close()
    print(count)


main()
