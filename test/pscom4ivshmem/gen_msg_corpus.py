#!/usr/bin/env python3
"""Write the fuzz seeds for fuzz_msg.c into the directory given (the
checked-in test/pscom4ivshmem/msg-corpus was made with it)."""
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def msg(magic=0x4D485649, ver=3, ringver=3, uuid=b"\0" * 16, owner=5,
        res=0, off=4096 * 4, length=8192):
    return struct.pack("<IHH16sIIQQ", magic, ver, ringver, uuid, owner, res,
                       off, length)


seeds = {
    "valid-colocated": msg() + b"\1",
    "valid-other-uuid": msg(uuid=b"\x55" * 16),
    "bad-magic": msg(magic=1),
    "bad-version": msg(ver=1),
    "reserved": msg(res=7),
    "huge-len": msg(length=1 << 40) + b"\1",
    "wrap": msg(off=2**64 - 4096, length=8192) + b"\1",
    "end-of-seg": msg(off=1 << 20, length=4096) + b"\1",
    "short": msg()[:20],
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
