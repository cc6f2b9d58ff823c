"""SEQPACKET between the image and a host program through the backend (issue
16): the image's diag SEQPACKET echo (agent.diag_services=1, port 1007)
answers every message with the same message; the host program uses the
backend's SOCK_SEQPACKET hybrid socket (<uds-path>.seqpacket, first record
"CONNECT <port>").  One VM per architecture serves the module; the backend
captures everything (--pcap) for tshark."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon  # noqa: E402

SEQ_ECHO = 1007
TIMEOUT = 120
SEQ_MAX = 65536
MASK = (1 << 64) - 1
PATTERN = bytes((k * 7) & 0xFF for k in range(SEQ_MAX + 256))


def seq_size(i, seed):
    """0 and 64 KiB first, then mostly up to 4 KiB, one in eight up to 64 KiB
    (the generator of tests/backend/guest/vsockpeer.c)."""
    if i == 0:
        return 0
    if i == 1:
        return SEQ_MAX
    x = ((i + 1) * 0x9E3779B97F4A7C15 & MASK) ^ seed
    x ^= (x << 13) & MASK
    x ^= x >> 7
    x ^= (x << 17) & MASK
    return (x >> 8) % (SEQ_MAX + 1) if x % 8 == 0 else (x >> 8) % 4097


def seq_message(i, seed):
    base = (i * 131 + seed) % 256
    return PATTERN[base:base + seq_size(i, seed)]


class Guest:
    def __init__(self, arch, workdir):
        self.sockdir = tempfile.mkdtemp(prefix="vsock-seq-")
        vhost = os.path.join(self.sockdir, "vhost.sock")
        self.uds = os.path.join(self.sockdir, "vsock.sock")
        self.pcap = str(workdir / "vsock.pcap")
        self.daemon = Daemon(str(workdir), [{"cid": 3, "socket": vhost, "uds": self.uds}],
                             pcap=self.pcap)
        self.vm = Vm(arch, workdir / "vm", vhost_socket=vhost,
                     config="agent.diag_services=1\n")
        os.makedirs(self.vm.dir, exist_ok=True)
        self.vm.start()
        self.vm.wait_for(r"diag: seqpacket echo on port 1007", TIMEOUT)

    def connect(self, port):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(TIMEOUT)
        s.connect(self.uds + ".seqpacket")
        s.send(f"CONNECT {port}\n".encode())
        answer = s.recv(256)
        assert answer.startswith(b"OK "), answer
        return s

    def stop(self):
        self.vm.stop()
        self.daemon.stop()
        shutil.rmtree(self.sockdir, ignore_errors=True)


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def guest(request, tmp_path_factory):
    g = Guest(request.param, tmp_path_factory.mktemp(f"seq-{request.param}"))
    yield g
    g.stop()
    sys.stdout.write("\n--- serial (tail) ---\n" + g.vm.serial()[-3000:] +
                     "\n--- backend ---\n" + g.daemon.read_log()[-2000:] + "\n")


def test_seqpacket_echo_keeps_10000_message_boundaries(guest):
    """10,000 messages of 0..64 KiB (empty ones too) to the image's echo and
    back: every record returns whole, in order, one per recv."""
    count, seed = 10000, 5
    s = guest.connect(SEQ_ECHO)
    errors = []

    def sender():
        try:
            for i in range(count):
                s.send(seq_message(i, seed))
        except OSError as e:
            errors.append(repr(e))

    t = threading.Thread(daemon=True, target=sender)
    started = time.monotonic()
    t.start()
    for i in range(count):
        record = s.recv(SEQ_MAX + 1)
        assert record == seq_message(i, seed), (i, len(record), seq_size(i, seed))
    t.join(TIMEOUT)
    s.close()
    assert not errors
    print(f"\n{count} messages each way in {time.monotonic() - started:.1f} s")


def test_seqpacket_longer_than_the_echo_buffer_comes_back_cut(guest):
    """The echo reads into 64 KiB: a longer message is cut (MSG_TRUNC in the
    image), the next one is whole again."""
    s = guest.connect(SEQ_ECHO)
    s.send(PATTERN[:SEQ_MAX] + b"!")
    s.send(b"after")
    assert s.recv(SEQ_MAX + 2) == PATTERN[:SEQ_MAX]
    assert s.recv(16) == b"after"
    s.close()
    guest.vm.wait_for(r"a message longer than 65536 bytes comes back cut", 30)


def test_seqpacket_record_the_guest_cannot_take_resets(guest):
    """A record over the guest's buffer (256 KiB) can never be delivered: the
    connection ends, and the backend says why."""
    s = guest.connect(SEQ_ECHO)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)  # room for the record
    s.send(b"x" * (300 * 1024))
    try:
        assert s.recv(16) == b""
    except ConnectionResetError:
        pass  # closed with the record unread: also the end
    s.close()
    assert "a 307200-byte record is larger than the guest takes" in guest.daemon.read_log()


def test_seqpacket_capture_is_dissected_by_tshark(guest):
    guest.daemon.stop()  # flush the capture (the module's last test)
    out = subprocess.run(
        ["tshark", "-r", guest.pcap, "-Y", "vsock.virtio.type == 2 && vsock.virtio.op == 5",
         "-T", "fields", "-e", "vsock.virtio.src_cid", "-e", "vsock.virtio.flags",
         "-e", "vsock.virtio.len"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.strip()]
    for src in ("2", "3"):
        mine = [(int(f, 0), int(n)) for s, f, n in rows if s == src]
        eom = [f for f, _ in mine if f & 1]
        assert len(eom) >= 10000, (src, len(eom))
        # Host records are whole records (EOR); the echo keeps it.
        assert all(f & 2 for f in eom), src
        assert any(n == 0 for f, n in mine if f & 1), "an empty message"
        # The image's rx buffers are 16432 bytes, header included (16 KiB of
        # payload, rounded up); it sends up to 32 KiB a packet.
        assert all(n <= (16432 - 44 if src == "2" else 32768) for _, n in mine), src
