"""ttrpc_client.py -- an independent ttRPC client for the agent tests
(containerd/ttrpc PROTOCOL.md), on Python classes that protoc generates
at test time from the same agent/proto/*.proto into build/pyproto.

Typical usage:
    c = Client.hvsock(vm.uds, 1024)
    resp = c.call("grpc.Health", "Check", health_pb2.CheckRequest(),
                  health_pb2.HealthCheckResponse)
"""
import os
import socket
import struct
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(TOP, "agent", "proto")
OUT = os.path.join(TOP, "build", "pyproto")
PROTOS = ["ttrpc.proto", "status.proto", "health.proto", "oci.proto", "types.proto", "agent.proto",
          "agentext.proto"]


def generate():
    """protoc --python_out for every .proto (idempotent) and import path."""
    os.makedirs(OUT, exist_ok=True)
    stamp = os.path.join(OUT, ".stamp")
    newest = max(os.path.getmtime(os.path.join(PROTO_DIR, p)) for p in PROTOS)
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < newest:
        subprocess.run(["protoc", f"-I{PROTO_DIR}", "-I/usr/include", f"--python_out={OUT}"]
                       + PROTOS, check=True)
        open(stamp, "w").close()
    if OUT not in sys.path:
        sys.path.insert(0, OUT)


generate()
import ttrpc_pb2  # noqa: E402

REQUEST, RESPONSE = 1, 2
OK, CANCELLED, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS = 0, 1, 3, 4, 5, 6
PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNIMPLEMENTED = 7, 8, 9, 12
INTERNAL = 13
# Kata's agent answers a read at the end of a stream with this error
# (src/agent/src/rpc.rs read_stream); the agent here does the same.
READ_EOF = "read meet eof"
READS = ("ReadStdout", "ReadStderr")


def is_eof(resp):
    """Is this ttrpc Response Kata's end of a stream?"""
    return resp.status.code == INTERNAL and READ_EOF in resp.status.message


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.next_stream = 1
        self.pending = {}  # stream id -> Response, answered out of order

    @classmethod
    def hvsock(cls, uds, port, timeout=30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(uds)
        s.sendall(f"CONNECT {port}\n".encode())
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)
            if not b:
                raise ConnectionRefusedError(f"no OK for CONNECT {port}")
            line += b
        if not line.startswith(b"OK "):
            raise ConnectionRefusedError(line.decode(errors="replace").strip())
        return cls(s)

    def close(self):
        self.sock.close()

    def send_frame(self, stream, mtype, payload, flags=0):
        self.sock.sendall(struct.pack(">IIBB", len(payload), stream, mtype, flags) + payload)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("agent closed the connection")
            buf += chunk
        return buf

    def recv_frame(self):
        length, stream, mtype, flags = struct.unpack(">IIBB", self._recv_exact(10))
        return stream, mtype, self._recv_exact(length)

    def send(self, service, method, request, timeout_ns=0):
        stream = self.next_stream
        self.next_stream += 2
        req = ttrpc_pb2.Request(service=service, method=method,
                                payload=request.SerializeToString(), timeout_nano=timeout_ns)
        self.send_frame(stream, REQUEST, req.SerializeToString())
        return stream

    def response(self, stream):
        """The ttrpc Response for stream (others are kept for later)."""
        while stream not in self.pending:
            s, mtype, payload = self.recv_frame()
            assert mtype == RESPONSE, mtype
            resp = ttrpc_pb2.Response()
            resp.ParseFromString(payload)
            self.pending[s] = resp
        return self.pending.pop(stream)

    def result(self, stream, resp_type):
        resp = self.response(stream)
        if resp.status.code != OK:
            raise RpcError(resp.status.code, resp.status.message)
        out = resp_type()
        out.ParseFromString(resp.payload)
        return out

    def call(self, service, method, request, resp_type, timeout_ns=0, eof_as_empty=True):
        """The answer, decoded; a read's end of stream is an empty answer
        unless eof_as_empty is False (then it raises RpcError INTERNAL)."""
        stream = self.send(service, method, request, timeout_ns)
        if eof_as_empty and method in READS:
            resp = self.response(stream)
            if is_eof(resp):
                return resp_type()
            self.pending[stream] = resp
        return self.result(stream, resp_type)
