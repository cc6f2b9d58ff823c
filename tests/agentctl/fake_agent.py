"""A fake agent for agentctl's host-only tests: a Unix socket that speaks
just enough ttRPC (containerd PROTOCOL.md framing) to answer, and,
optionally, the hybrid-vsock CONNECT handshake in front of it (what the
backend does).  It records every request it got, decoded to
(service, method, {field number: value}) with a minimal protobuf reader."""
import os
import socket
import struct
import threading


def read_varint(buf, pos):
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def decode_fields(buf):
    """{field: value} for varint and length-delimited fields (last wins)."""
    fields, pos = {}, 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[number], pos = read_varint(buf, pos)
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            fields[number] = bytes(buf[pos:pos + n])
            pos += n
        else:
            raise ValueError(f"wire type {wire}")
    return fields


def frame(stream, payload, msg_type=2):
    return struct.pack(">IIBB", len(payload), stream, msg_type, 0) + payload


class FakeAgent:
    """Listens on `path` ("@name": abstract).  hybrid=True: expects a
    "CONNECT <port>" line first (recorded in .connect_lines) and answers
    "OK 1"."""

    def __init__(self, path, hybrid=False):
        self.path, self.hybrid = path, hybrid
        self.requests, self.connect_lines, self.raw = [], [], []
        self.closing = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = "\0" + path[1:] if path.startswith("@") else path
        self.sock.bind(addr)
        self.sock.listen(4)
        self.thread = threading.Thread(daemon=True, target=self._serve)
        self.thread.start()

    def _serve(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except (OSError, ValueError, IndexError, struct.error):
                    pass

    def _recv(self, conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        self.raw.append(data)
        return data

    def _session(self, conn):
        if self.hybrid:
            line = b""
            while not line.endswith(b"\n"):
                line += self._recv(conn, 1)
            self.connect_lines.append(line.decode())
            conn.sendall(b"OK 1\n")
        while True:
            length, stream, _, _ = struct.unpack(">IIBB", self._recv(conn, 10))
            req = decode_fields(self._recv(conn, length))
            service = req.get(1, b"").decode()
            method = req.get(2, b"").decode()
            self.requests.append((service, method, decode_fields(req.get(3, b""))))
            # Health.Check -> SERVING (1); anything else -> an empty message.
            payload = b"\x08\x01" if method == "Check" else b""
            response = b"\x12" + bytes([len(payload)]) + payload
            conn.sendall(frame(stream, response))

    def close(self):
        # Wake the serving thread and let it finish before the descriptor
        # is freed: a thread that reached accept() on a closed descriptor
        # number could otherwise accept on the next test's socket that
        # reuses it.  shutdown() on a listening socket ends a blocked
        # accept() on Linux.
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=10)
        self.sock.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
