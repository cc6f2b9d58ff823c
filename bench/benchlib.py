"""benchlib.py -- what the image benchmarks share."""
import socket
import sys
import os

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
