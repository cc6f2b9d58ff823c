"""vsock STREAM semantics of the image's protocol core through the backend,
modelled on Linux tools/testing/vsock/vsock_test.c: the host drives the
image's built-in diagnostic services (agent.diag_services=1: echo 7,
discard 9, source 19) and its echo-out client (test.echo_out=PORT, which
connects to host CID 2).  One VM per architecture serves the module.
"""
import hashlib
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

ECHO, DISCARD, SOURCE = 7, 9, 19
ECHO_OUT_PORT = 4000
TIMEOUT = 60


def source_byte(i):
    return (i * 31 + 7) & 0xFF


SOURCE_PATTERN = bytes(source_byte(i) for i in range(256))


class Guest:
    def __init__(self, arch, workdir):
        self.sockdir = tempfile.mkdtemp(prefix="vsock-stream-")
        vhost = os.path.join(self.sockdir, "vhost.sock")
        self.uds = os.path.join(self.sockdir, "vsock.sock")
        self.pcap = str(workdir / "vsock.pcap")  # for post-mortems of failures
        self.daemon = Daemon(str(workdir), [{"cid": 3, "socket": vhost, "uds": self.uds}],
                             pcap=self.pcap)
        self.vm = Vm(arch, workdir / "vm", vhost_socket=vhost, monitor=True,
                     config=f"agent.diag_services=1 test.echo_out={ECHO_OUT_PORT}\n")
        os.makedirs(self.vm.dir, exist_ok=True)
        self.vm.start()
        self.vm.wait_for(r"diag: echo on port 7", 120)

    def connect(self, port, timeout=TIMEOUT):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.uds)
        s.sendall(f"CONNECT {port}\n".encode())
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                s.close()
                raise ConnectionRefusedError(
                    f"guest port {port} refused\n--- serial (tail) ---\n"
                    f"{self.vm.serial()[-3000:]}\n--- backend (tail) ---\n"
                    f"{self.daemon.read_log()[-1500:]}")
            line += c
        if line.startswith(b"ERROR "):  # the reason, then the close
            s.close()
            raise ConnectionRefusedError(f"guest port {port} refused: {line!r}")
        # Firecracker / vhost-device-vsock answer with the host-side port
        assert line.startswith(b"OK ") and line[3:-1].isdigit(), line
        return s

    def stop(self):
        self.vm.stop()
        self.daemon.stop()
        shutil.rmtree(self.sockdir, ignore_errors=True)


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def guest(request, tmp_path_factory):
    g = Guest(request.param, tmp_path_factory.mktemp(f"stream-{request.param}"))
    yield g
    g.stop()
    sys.stdout.write("\n--- serial (tail) ---\n" + g.vm.serial()[-4000:] +
                     "\n--- backend ---\n" + g.daemon.read_log()[-2000:] + "\n")


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(65536, n - len(out)))
        if not chunk:
            raise AssertionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def test_connection_reset_with_no_listener(guest):
    with pytest.raises(ConnectionRefusedError, match="guest port 1234 refused"):
        guest.connect(1234)


def test_port_mismatch_is_named_on_both_sides(guest):
    """Issue 16 point 4: the host program reads why, the backend logs the
    4-tuple, the image logs the REQUEST with the ports it does listen on;
    agentctl shows the backend's line to its user."""
    with pytest.raises(ConnectionRefusedError,
                       match="ERROR connection refused: no listener on guest port 1999"):
        guest.connect(1999)
    m = guest.vm.wait_for(r"vsock: REQUEST 2:(\d+) -> 3:1999 refused: no listener on "
                          r"port 1999; listening on ([0-9, ()a-z]+); answered RST", 30)
    assert m.group(2).startswith("7, 9, 19"), m.group(0)
    assert f"host 2:{m.group(1)} -> guest 3:1999: the guest answered RST" in \
        guest.daemon.read_log()
    agentctl = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "build", "host", "agentctl")
    out = subprocess.run([agentctl, "--addr", f"hvsock://{guest.uds}:1999", "check"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode != 0
    assert "CONNECT 1999 refused: ERROR connection refused: no listener on guest port " \
        "1999" in out.stderr, out.stderr


def test_echo_round_trip(guest):
    with guest.connect(ECHO) as s:
        for msg in (b"x", b"hello vsock\n", bytes(range(256)) * 40):
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg


def test_multi_mib_each_way_with_checksums(guest):
    """4 MiB through echo: both directions at once, SHA-256 compared."""
    size = 4 << 20
    data = os.urandom(size)
    got = hashlib.sha256()
    with guest.connect(ECHO) as s:
        def writer():
            view = memoryview(data)
            for off in range(0, size, 65536):
                s.sendall(view[off:off + 65536])
        t = threading.Thread(daemon=True, target=writer)
        t.start()
        received = 0
        while received < size:
            chunk = s.recv(65536)
            assert chunk, f"EOF after {received} bytes"
            got.update(chunk)
            received += len(chunk)
        t.join(TIMEOUT)
    assert received == size
    assert got.hexdigest() == hashlib.sha256(data).hexdigest()


def test_pause_and_cont_keep_a_16_mib_echo(guest):
    """Issue 16 point 1 with the image: `stop` in QEMU's monitor in the
    middle of 16 MiB through echo, 2 s paused, `cont`: every byte comes
    back, in order."""
    size = 16 << 20
    data = os.urandom(size)
    got = hashlib.sha256()
    progress = {"received": 0}
    with guest.connect(ECHO) as s:
        def writer():
            view = memoryview(data)
            for off in range(0, size, 65536):
                s.sendall(view[off:off + 65536])
        t = threading.Thread(daemon=True, target=writer)
        t.start()
        paused = False
        while progress["received"] < size:
            if not paused and progress["received"] >= size // 4:
                guest.vm.hmp("stop")
                time.sleep(2)
                guest.vm.hmp("cont")
                paused = True
            chunk = s.recv(65536)
            assert chunk, f"EOF after {progress['received']} bytes"
            got.update(chunk)
            progress["received"] += len(chunk)
        t.join(TIMEOUT)
    assert paused
    assert got.hexdigest() == hashlib.sha256(data).hexdigest()
    assert "connections kept" in guest.daemon.read_log()


def test_source_stream_is_exact(guest):
    with guest.connect(SOURCE) as s:
        data = recv_exactly(s, 1 << 20)
    expected = (SOURCE_PATTERN * ((1 << 20) // 256))
    assert data == expected


def test_slow_reader_loses_nothing(guest):
    """Read the source 1 byte per ms for a while, then fast: credit stops
    the guest, nothing is dropped or reordered."""
    with guest.connect(SOURCE) as s:
        slow = bytearray()
        for _ in range(600):
            slow += s.recv(1)
            time.sleep(0.001)
        fast = recv_exactly(s, 512 << 10)
    data = bytes(slow) + fast
    assert all(b == source_byte(i) for i, b in enumerate(data))


def test_discard_takes_a_lot(guest):
    with guest.connect(DISCARD) as s:
        block = b"\xa5" * 65536
        for _ in range(64):
            s.sendall(block)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""  # the service closes after our EOF


def test_half_close_client_side(guest):
    """Host shuts down its write side: echo returns the data, then EOF."""
    with guest.connect(ECHO) as s:
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)
        assert recv_exactly(s, 10) == b"last words"
        assert s.recv(16) == b""


def test_client_close_with_pending_data(guest):
    """Close right after sending; the guest must cope and keep serving."""
    for _ in range(10):
        s = guest.connect(ECHO)
        s.sendall(os.urandom(100000))
        s.close()
    with guest.connect(ECHO) as s:
        s.sendall(b"still alive")
        assert recv_exactly(s, 11) == b"still alive"


def test_server_close_with_pending_data(guest):
    """The source closes nothing by itself; the host closes with unread data
    in flight, many times; then a fresh connection works."""
    for _ in range(10):
        s = guest.connect(SOURCE)
        s.recv(100)
        s.close()
    with guest.connect(SOURCE) as s:
        assert recv_exactly(s, 256) == SOURCE_PATTERN


def test_100_concurrent_connections(guest):
    conns = [guest.connect(ECHO) for _ in range(100)]
    try:
        for i, s in enumerate(conns):
            s.sendall(f"conn {i}\n".encode())
        for i, s in enumerate(conns):
            msg = f"conn {i}\n".encode()
            assert recv_exactly(s, len(msg)) == msg
    finally:
        for s in conns:
            s.close()


def test_guest_connects_out_to_host(guest):
    """test.echo_out: the guest connects to host CID 2 port 4000 (the backend
    forwards it to <uds>_4000); 2 MiB go round with a checksum, both ways."""
    path = f"{guest.uds}_{ECHO_OUT_PORT}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(TIMEOUT)
    try:
        conn, _ = srv.accept()
        conn.settimeout(TIMEOUT)
        data = os.urandom(2 << 20)
        t = threading.Thread(daemon=True, target=lambda: (conn.sendall(data), conn.shutdown(socket.SHUT_WR)))
        t.start()
        back = bytearray()
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            back += chunk
        t.join(TIMEOUT)
        conn.close()
        assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    finally:
        srv.close()
        os.unlink(path)
