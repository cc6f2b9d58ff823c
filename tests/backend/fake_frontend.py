"""fake_frontend.py -- a vhost-user front-end and virtio-vsock "guest" in
Python, for tests that must send what no real guest sends (malformed rings,
spoofed headers, credit violations).  It speaks the message sequence QEMU 7.2
uses (docs/interop/vhost-user.rst) over a memfd "guest memory" of 1 MiB.

Layout (guest-physical = offset in the memfd):
  rx ring (0): desc 0x0000, avail 0x1000, used 0x2000, buffers 0x10000+
  tx ring (1): desc 0x4000, avail 0x5000, used 0x6000, buffers 0x40000+
  event ring (2, only with setup(event_ring=True), as crosvm does):
               desc 0x8000, avail 0x9000, used 0xa000, buffers 0xb000+
Rings have NUM (16) entries unless the constructor asks for up to 256.

A Hammer (see below) plays a guest that keeps its tx ring topped up from a
separate process, as fast as the daemon consumes.
"""
import mmap
import os
import select
import socket
import struct
import subprocess
import time

MEM = 1 << 20
UVA = 0x7F0000000000
NUM = 16
RINGS = {0: (0x0000, 0x1000, 0x2000, 0x10000), 1: (0x4000, 0x5000, 0x6000, 0x40000),
         2: (0x8000, 0x9000, 0xA000, 0xB000)}
HDR = struct.Struct("<QQIIIHHIII")  # virtio_vsock_hdr, 44 bytes
OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE = 1, 2, 3, 4, 5, 6
F_NEXT, F_WRITE = 1, 2


class FakeFrontend:
    def __init__(self, path, cid, num=NUM):
        assert 0 < num <= 256 and num & (num - 1) == 0
        self.cid = cid
        self.num = num
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.memfd = os.memfd_create("guest")
        os.ftruncate(self.memfd, MEM)
        self.mem = mmap.mmap(self.memfd, MEM)
        # Ring indices shared with the daemon are read and written as whole
        # 16-bit words (struct would copy bytes: the daemon could see a torn
        # index such as 0x1ff on the way from 0xff to 0x100).
        self.words = memoryview(self.mem).cast("H")
        self.kick = {i: os.eventfd(0, os.EFD_NONBLOCK) for i in RINGS}
        self.call = {i: os.eventfd(0, os.EFD_NONBLOCK) for i in RINGS}
        self.avail_idx = {i: 0 for i in RINGS}
        self.used_seen = {i: 0 for i in RINGS}
        self.next_buf = {i: RINGS[i][3] for i in RINGS}

    # ---- vhost-user messages -------------------------------------------
    def msg(self, req, payload=b"", fds=(), reply=False, need_reply=False):
        """Sends a message; with reply (or need_reply: REPLY_ACK's status,
        negotiated by setup) returns the reply's payload."""
        flags = 1 | (8 if need_reply else 0)
        reply = reply or need_reply
        data = struct.pack("<III", req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        if reply:
            hdr = self._recv(12)
            _, _, size = struct.unpack("<III", hdr)
            return self._recv(size)
        return None

    def _recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("daemon closed the vhost-user socket")
            out += chunk
        return out

    def setup(self, region_size=MEM, event_ring=False, features=0):
        """QEMU's sequence; region_size is what the memory table claims of
        the 1 MiB memfd.  With event_ring, crosvm's: MQ acknowledged, the
        queue count asked, and ring 2 set up too.  `features` are virtio
        feature bits acknowledged besides VERSION_1 and PROTOCOL_FEATURES.
        Returns SET_MEM_TABLE's REPLY_ACK status."""
        offered = struct.unpack("<Q", self.msg(1, reply=True))[0]
        assert offered & (1 << 32) and offered & (1 << 30)
        assert offered & features == features
        # no EVENT_IDX
        self.msg(2, struct.pack("<Q", (1 << 32) | (1 << 30) | features))
        proto = struct.unpack("<Q", self.msg(15, reply=True))[0]
        want = (1 << 3) | (1 << 9) | ((1 << 0) if event_ring else 0)
        self.msg(16, struct.pack("<Q", proto & want))
        if event_ring:
            assert proto & 1, "PROTOCOL_F_MQ not offered"
            self.queues = struct.unpack("<Q", self.msg(17, reply=True))[0]
            assert self.queues >= 3
        self.msg(3)
        cfg = self.msg(24, struct.pack("<III", 0, 8, 0) + bytes(8), reply=True)
        assert struct.unpack("<Q", cfg[12:20])[0] == self.cid
        region = struct.pack("<IIQQQQ", 1, 0, 0, region_size, UVA, 0)
        status = struct.unpack("<Q", self.msg(5, region, fds=[self.memfd],
                                              need_reply=True))[0]
        for i, (desc, avail, used, _) in RINGS.items():
            if i == 2 and not event_ring:
                continue
            self.msg(8, struct.pack("<II", i, self.num))
            self.msg(10, struct.pack("<II", i, 0))
            self.msg(9, struct.pack("<IIQQQQ", i, 0, UVA + desc, UVA + used,
                                    UVA + avail, 0))
            self.msg(13, struct.pack("<Q", i), fds=[self.call[i]])
            self.msg(12, struct.pack("<Q", i), fds=[self.kick[i]])
            self.msg(18, struct.pack("<II", i, 1))
        # Synchronise: a reply proves all of the above was handled.
        self.msg(1, reply=True)
        return status

    # ---- rings -----------------------------------------------------------
    def set_desc(self, ring, i, addr, length, flags, nxt=0):
        struct.pack_into("<QIHH", self.mem, RINGS[ring][0] + 16 * i, addr, length, flags, nxt)

    def publish(self, ring, head):
        avail = RINGS[ring][1]
        struct.pack_into("<H", self.mem, avail + 4 + 2 * (self.avail_idx[ring] % self.num), head)
        self.avail_idx[ring] += 1
        self.words[(avail + 2) // 2] = self.avail_idx[ring] & 0xFFFF
        os.eventfd_write(self.kick[ring], 1)

    def buffer(self, ring, data_or_len):
        """Space for a buffer in the ring's area, reused round robin."""
        size = data_or_len if isinstance(data_or_len, int) else len(data_or_len)
        end = {0: 0x40000, 1: MEM, 2: 0x10000}[ring]
        if self.next_buf[ring] + size > end:
            self.next_buf[ring] = RINGS[ring][3]
        addr = self.next_buf[ring]
        if not isinstance(data_or_len, int):
            self.mem[addr:addr + size] = data_or_len
        self.next_buf[ring] += (size + 0xFFF) & ~0xFFF
        return addr

    def post_rx(self, count=4, size=4096):
        for _ in range(count):
            head = self.avail_idx[0] % self.num
            self.set_desc(0, head, self.buffer(0, size), size, F_WRITE)
            self.publish(0, head)

    def header(self, op, src_port, dst_port, length=0, dst_cid=2, src_cid=None,
               buf_alloc=65536, fwd_cnt=0, flags=0):
        return HDR.pack(self.cid if src_cid is None else src_cid, dst_cid, src_port,
                        dst_port, length, 1, op, flags, buf_alloc, fwd_cnt)

    def send(self, packet):
        head = self.avail_idx[1] % self.num
        self.set_desc(1, head, self.buffer(1, packet), len(packet), 0)
        self.publish(1, head)

    def used(self, ring):
        return self.words[(RINGS[ring][2] + 2) // 2]

    def recv(self, timeout=10):
        """Next packet the daemon put in the rx ring: (header tuple, payload).
        The buffer it used is posted again."""
        used = RINGS[0][2]
        deadline = time.monotonic() + timeout
        while self.used(0) == self.used_seen[0] & 0xFFFF:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.call[0]], [], [], max(left, 0))
            if not r:
                raise TimeoutError("no rx packet")
            os.eventfd_read(self.call[0])
        i = self.used_seen[0] % self.num
        head, length = struct.unpack_from("<II", self.mem, used + 4 + 8 * i)
        self.used_seen[0] += 1
        addr, size = struct.unpack_from("<QI", self.mem, RINGS[0][0] + 16 * head)
        assert 44 <= length <= size
        hdr = HDR.unpack_from(self.mem, addr)
        payload = bytes(self.mem[addr + 44:addr + length])
        self.publish(0, head)  # same descriptor, same buffer, posted again
        return hdr, payload

    def hammer(self, packet, count=None, chain=1):
        """Starts a Hammer that sends `packet` count times (None: until
        stopped) through the tx ring, each time as a chain of `chain`
        descriptors (the packet, then empty ones: work for the daemon)."""
        return Hammer(self, packet, count, chain)

    def close(self):
        self.sock.close()
        self.words.release()
        self.mem.close()
        os.close(self.memfd)
        for fd in list(self.kick.values()) + list(self.call.values()):
            os.close(fd)


TXFLOOD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "host", "txflood")


class Hammer:
    """A guest that keeps its tx ring topped up: build/host/txflood
    (tests/backend/txflood.c) re-publishes one descriptor (holding `packet`)
    in every avail entry the daemon has consumed, and kicks, as fast as a
    guest written in C would.  The tx ring is the hammer's until stop() or
    wait() returns."""

    def __init__(self, fe, packet, count=None, chain=1):
        assert 1 <= chain <= fe.num
        self.fe = fe
        head = 0
        addr = fe.buffer(1, packet)
        fe.set_desc(1, head, addr, len(packet), F_NEXT if chain > 1 else 0, 1)
        for i in range(1, chain):
            fe.set_desc(1, i, addr, 0, F_NEXT if i < chain - 1 else 0, i + 1)
        avail = RINGS[1][1]
        for i in range(fe.num):
            struct.pack_into("<H", fe.mem, avail + 4 + 2 * i, head)
        self.stop_r, self.stop_w = os.pipe()
        args = [TXFLOOD, str(fe.memfd), str(fe.kick[1]), str(self.stop_r), str(fe.num),
                str(RINGS[1][1]), str(RINGS[1][2]), str(fe.avail_idx[1]),
                str(-1 if count is None else count)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                     pass_fds=[fe.memfd, fe.kick[1], self.stop_r])
        os.close(self.stop_r)
        self.result = None

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits for the count to be consumed; the packets consumed."""
        out, _ = self.proc.communicate(timeout=timeout)
        return self._finish(out)

    def stop(self):
        """Stops publishing; the packets the daemon consumed."""
        if self.result is None:
            try:
                os.write(self.stop_w, b"x")
            except OSError:
                pass
            out, _ = self.proc.communicate(timeout=30)
            self._finish(out)
        return self.result

    def _finish(self, out):
        os.close(self.stop_w)
        published, consumed = (int(x) for x in out.split())
        self.fe.avail_idx[1] = published
        self.result = consumed
        return consumed
