#!/usr/bin/env python3
"""scribble.py SEGMENT INFO-JSON BYTE: a hostile VM. Overwrite every ring
allocation listed in ivshmem-info's JSON (INFO-JSON, a file) with BYTE,
control line included, directly in the segment's memory. Repeated a few
times: a producer writing right behind the first pass cannot heal it."""
import json
import mmap
import sys

path, info, byte = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
allocs = [a for a in json.load(open(info))["allocations"]
          if a["tag"] == "ring"]
frame = json.load(open(info))["frame_size"]
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    for _ in range(20):
        for a in allocs:
            n = a["frames"] * frame
            m[a["offset"]:a["offset"] + n] = bytes([byte]) * n
    m.close()
print(len(allocs))
