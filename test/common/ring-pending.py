#!/usr/bin/env python3
"""ring-pending.py SEGMENT INFO-JSON probe|flip|garbage [N]: a co-tenant that changes
data, not structure. For every ring allocation listed in ivshmem-info's
JSON, walk the chunks from the consumer's published position (the
layout of lib/ring/ring_layout.h: a 64-byte control line of the plugin,
then the ring's metadata, producer and consumer lines, then the data
area) as long as their header words are valid for the lap.

probe: print the largest number of ring bytes such a walk covers in one
       ring (what a stopped consumer has not given back).
flip:  invert one payload byte in the middle of every such chunk of at
       least 64 payload bytes, leaving every header intact (so the ring's
       own checks see nothing), and print how many were changed. The
       chunks behind the published position may have been read already;
       the caller makes sure the walk covers more than the consumer can
       hold back unpublished, so at least one changed chunk is unread.
garbage: fill the data area with 0xa5 (never a valid chunk header).
With N, only ring N modulo their number (the soak's scribbler picks
one at random)."""
import json
import mmap
import struct
import sys

CTL = 64                  # struct ivshmem_ctl
VALID = 1 << 33
PAD = 1 << 32
LAP_SHIFT, LAP_MASK = 34, (1 << 30) - 1


def align(x):
    return (x + 63) & ~63


def walk(m, base):
    """Yield (offset of chunk in the segment, payload length, pad)."""
    magic, _ver, hdr, cap = struct.unpack_from("<QIII", m, base)
    if magic != 0x474E495249564950 or cap == 0:
        return
    pos = struct.unpack_from("<Q", m, base + 128)[0]
    data = base + hdr
    walked = 0
    while walked < cap:
        off, lap = pos % cap, (pos // cap) & LAP_MASK
        w = struct.unpack_from("<Q", m, data + off)[0]
        if not w & VALID or (w >> LAP_SHIFT) & LAP_MASK != lap:
            return
        n = w & 0xFFFFFFFF
        size = align(8 + n)
        if off + size > cap:
            return
        yield data + off, n, bool(w & PAD)
        pos += size
        walked += size


path, info, mode = sys.argv[1], sys.argv[2], sys.argv[3]
j = json.load(open(info))
rings = [a["offset"] + CTL for a in j["allocations"] if a["tag"] == "ring"]
if len(sys.argv) > 4 and rings:
    rings = [rings[int(sys.argv[4]) % len(rings)]]
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    if mode == "probe":
        print(max([sum(align(8 + n) for _, n, _ in walk(m, r))
                   for r in rings] or [0]))
    elif mode == "garbage":
        for r in rings:
            _magic, _ver, hdr, cap = struct.unpack_from("<QIII", m, r)
            if _magic == 0x474E495249564950 and r + hdr + cap <= len(m):
                m[r + hdr:r + hdr + cap] = b"\xa5" * cap
        print(len(rings))
    else:
        flipped = 0
        for r in rings:
            for at, n, pad in list(walk(m, r)):
                if not pad and n >= 64:
                    m[at + 8 + n // 2] ^= 0xFF
                    flipped += 1
        print(flipped)
    m.close()
