"""benchlib.py -- what the image benchmarks share."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "backend"))
import backend_lib as lib  # noqa: E402


def hybrid(uds, port, timeout=120):
    """A hybrid-vsock connection to guest `port` through the backend's
    uds-path (CONNECT/OK handshake); ConnectionRefusedError if refused."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(f"CONNECT {port}\n".encode())
    line = lib.recv_line(s)
    if not line.startswith(b"OK"):
        s.close()
        raise ConnectionRefusedError(f"CONNECT {port}: {line!r}")
    return s


# ---- timing on an open connection (the callers open it; each closes it) ----

def time_rtt(s, count):
    """1 byte out and back `count` times after 20 to warm up: us each."""
    for _ in range(20):
        s.sendall(b"x")
        s.recv(1)
    t0 = time.monotonic()
    for _ in range(count):
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo lost a byte")
    elapsed = time.monotonic() - t0
    s.close()
    return elapsed / count * 1e6


def time_sink(s, mib, chunk):
    """`mib` MiB into a sink in writes of `chunk` bytes, then EOF and
    whatever the sink answers: (seconds, its answer)."""
    block = os.urandom(chunk)
    t0 = time.monotonic()
    for _ in range(mib * (1 << 20) // chunk):
        s.sendall(block)
    s.shutdown(socket.SHUT_WR)
    rest = lib.read_all(s)
    elapsed = time.monotonic() - t0
    s.close()
    return elapsed, rest


def time_source(s, mib):
    """`mib` MiB read from a source: MiB/s."""
    want = mib << 20
    buf = bytearray(1 << 20)
    got = 0
    t0 = time.monotonic()
    while got < want:
        n = s.recv_into(buf, min(len(buf), want - got))
        if not n:
            raise RuntimeError("source closed early")
        got += n
    elapsed = time.monotonic() - t0
    s.close()
    return mib / elapsed


def time_conns(open_echo, count):
    """Connect (open_echo()), 1-byte echo, close, `count` times: per second."""
    t0 = time.monotonic()
    for _ in range(count):
        s = open_echo()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo lost a byte")
        s.close()
    return count / (time.monotonic() - t0)
