#!/usr/bin/env python3
"""backend_seeds.py -- writes the seed inputs of the backend's libFuzzer
targets (tests/fuzz/corpus/fuzz_vhost_ring/ and fuzz_vhost_user/) in the
input layouts their headers describe.  The seeds are in the repository;
run this again after changing a layout:  python3 tests/fuzz/backend_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
F_NEXT, F_WRITE = 1, 2


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def put(mem, off, data):
    mem[off:off + len(data)] = data


# ---- fuzz_vhost_ring ---------------------------------------------------------

def ring_input(num_log2, flags, regions, desc_at, avail_at, used_at, writes, contents,
               base=0):
    out = bytes([num_log2, flags])
    for gpa_page, units in regions:
        out += struct.pack("<HH", gpa_page, units)
    out += struct.pack("<IIIHB", desc_at, avail_at, used_at, base, len(writes))
    for off, value in writes:
        out += struct.pack("<HH", off, value)
    return (out + b"".join(contents)).rstrip(b"\0")  # missing bytes read as 0


def ring_seeds():
    mem = bytearray(65536)  # one region of 64 KiB at gpa 0: units 255
    put(mem, 0, desc(0x4000, 64, F_NEXT, 1) + desc(0x5000, 128, F_WRITE) + desc(0x6000, 44))
    put(mem, 0x1000, struct.pack("<HHHH", 0, 2, 0, 2))
    yield "two-chains", ring_input(4, 0, [(0, 255)], 0, 0x1000, 0x2000, [], [bytes(mem)])

    # Three regions with holes: 0-64K, 64K-68K (adjacent), 128K-136K.  A
    # buffer across the first boundary (two segments), one into the hole.
    mem0 = bytearray(65536)
    put(mem0, 0, desc(0xFF00, 0x200, F_WRITE) + desc(0x11000, 16) + desc(0x20100, 64))
    put(mem0, 0x1000, struct.pack("<HHHHH", 0, 3, 0, 2, 1))
    yield "holes", ring_input(4, 4, [(0, 255), (16, 15), (32, 31)], 0, 0x1000, 0x2000, [],
                              [bytes(mem0), bytes(4096), bytes(8192)])

    mem = bytearray(65536)
    put(mem, 0, desc(0x4000, 8, F_NEXT, 1) + desc(0x4000, 8, F_NEXT, 0))
    put(mem, 0x1000, struct.pack("<HHH", 0, 1, 0))
    yield "loop", ring_input(4, 0, [(0, 255)], 0, 0x1000, 0x2000, [], [bytes(mem)])

    # EVENT_IDX, and a guest that keeps publishing while the device pops.
    mem = bytearray(65536)
    put(mem, 0, desc(0x4000, 44) + desc(0x5000, 4096, F_WRITE))
    put(mem, 0x1000, struct.pack("<HH", 0, 1) + struct.pack("<16H", *([0, 1] * 8)))
    writes = [(0x1002, 2), (0x1002, 4), (0x1002, 9), (0x1002, 30)]
    yield "event-idx-racing", ring_input(4, 1, [(0, 255)], 0, 0x1000, 0x2000, writes,
                                         [bytes(mem)])


# ---- fuzz_vhost_user ---------------------------------------------------------

UVA = 0x7F0000000000
RINGS = {0: (0x0000, 0x0400, 0x0800), 1: (0x1000, 0x1400, 0x1800)}
MEMFD_1M, MEMFD_64K, EVENTFD, EVENTFD_SIGNALLED = 13, 10, 0, 9


def image():
    mem = bytearray(0x4000)
    put(mem, RINGS[0][0], desc(0x2000, 256, F_WRITE) + desc(0x2100, 44, F_WRITE))
    put(mem, RINGS[0][1], struct.pack("<HHHH", 0, 2, 0, 1))
    hdr = struct.pack("<QQIIIHHIII", 3, 2, 1, 7777, 0, 1, 1, 0, 65536, 0)
    put(mem, 0x3000, hdr)
    put(mem, RINGS[1][0], desc(0x3000, 44))
    put(mem, RINGS[1][1], struct.pack("<HHH", 0, 1, 0))
    return bytes(mem)


def msg(req, payload=b"", fds=(), need_reply=False, split=0, size=None):
    flags = (8 if need_reply else 0) | (0x80 if size is not None else 0)
    out = bytes([0, req, flags]) + struct.pack("<H", len(payload))
    if size is not None:
        out += struct.pack("<H", size)
    return out + payload + bytes([len(fds)]) + bytes(fds) + bytes([split])


def loop(rounds=3):
    return bytes([1, rounds])


def session(memfd=MEMFD_1M, region=1 << 20):
    out = msg(1) + msg(2, struct.pack("<Q", (1 << 32) | (1 << 30) | (1 << 29)))
    out += msg(15) + msg(16, struct.pack("<Q", (1 << 3) | (1 << 9))) + msg(3)
    out += msg(24, struct.pack("<III", 0, 8, 0) + bytes(8))
    out += msg(5, struct.pack("<IIQQQQ", 1, 0, 0, region, UVA, 0), fds=[memfd],
               need_reply=True)
    for i, (d, a, u) in RINGS.items():
        out += msg(8, struct.pack("<II", i, 16)) + msg(10, struct.pack("<II", i, 0))
        out += msg(9, struct.pack("<IIQQQQ", i, 0, UVA + d, UVA + u, UVA + a, 0))
        out += msg(13, struct.pack("<Q", i), fds=[EVENTFD])
        out += msg(12, struct.pack("<Q", i), fds=[EVENTFD_SIGNALLED])
        out += msg(18, struct.pack("<II", i, 1), need_reply=True)
    return out + loop()


def user_input(records):
    img = image().rstrip(b"\0")
    return struct.pack("<H", len(img)) + img + records


def user_seeds():
    yield "qemu-session", user_input(session() + msg(11, struct.pack("<II", 1, 0)) +
                                     bytes([4]))
    yield "memfd-too-small", user_input(session(memfd=MEMFD_64K))
    yield "truncated-under-ring", user_input(session() + bytes([3]) +
                                             struct.pack("<I", 0x1000) + loop())
    yield "split-header", user_input(msg(1, split=11) + msg(24, b"\x00" * 20, split=5) +
                                     bytes([2, 5]) + b"\x01\x00\x00\x00\x01")
    yield "oversize", user_input(msg(1, size=0xFFFF) + msg(1))
    yield "reset-and-again", user_input(session() + msg(34) + session())


def main():
    for name, seeds in (("fuzz_vhost_ring", ring_seeds()), ("fuzz_vhost_user", user_seeds())):
        folder = os.path.join(HERE, "corpus", name)
        os.makedirs(folder, exist_ok=True)
        for seed, data in seeds:
            with open(os.path.join(folder, seed), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
