#!/usr/bin/env python3
"""agent_image.py -- the agent's figures (issue 7, DESIGN §8), each with a
baseline measured in the same invocation:

    /usr/bin/python3 bench/agent_image.py [--arch x86_64] [--rtt 500] [--lines 20000]

  * boot to ready: QEMU start (firmware start) -> first successful
    Health.Check through the backend; baseline: a Linux guest (Debian cloud
    kernel, -kernel/-initrd, so WITHOUT firmware) -> its first vsock answer.
  * RPC round trip: Health.Check on one ttRPC connection, sequentially;
    baseline: the same frames against a Unix-socket ttRPC responder.
  * log throughput: `logspam N` records (one JSON line each) arriving at a
    host listener on <uds>_1025 that acknowledges them; baseline: the same
    lines through a Unix socket pair.

The ttRPC client here is a minimal one (frame header + hand-encoded
protobuf Request{service, method}), independent of the agent's code.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
import backend_lib as lib  # noqa: E402
from benchlib import hybrid  # noqa: E402
from lib.vm import Vm  # noqa: E402

AGENTCTL = os.path.join(TOP, "build", "host", "agentctl")


def pb_field(num, data):
    """A length-delimited protobuf field (wire type 2)."""
    out, key, n = bytearray(), (num << 3) | 2, len(data)
    out.append(key)
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + data


def ttrpc_request(stream_id, service, method):
    body = pb_field(1, service.encode()) + pb_field(2, method.encode())
    return struct.pack(">IIBB", len(body), stream_id, 1, 0) + body


def read_frame(sock):
    head = b""
    while len(head) < 10:
        chunk = sock.recv(10 - len(head))
        if not chunk:
            raise ConnectionError("connection closed")
        head += chunk
    length, stream_id, typ, _ = struct.unpack(">IIBB", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("connection closed")
        body += chunk
    return stream_id, typ, body


def health_check(sock, stream_id):
    sock.sendall(ttrpc_request(stream_id, "grpc.Health", "Check"))
    sid, typ, body = read_frame(sock)
    if sid != stream_id or typ != 2:
        raise RuntimeError(f"unexpected frame {sid} {typ}")
    return body


def rtt(sock, count):
    for i in range(10):
        health_check(sock, 2 * i + 1)
    start = time.monotonic()
    for i in range(count):
        health_check(sock, 2 * (i + 10) + 1)
    return (time.monotonic() - start) / count * 1e6


def baseline_ttrpc_server(path, response):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        try:
            while True:
                sid, _, _ = read_frame(conn)
                conn.sendall(struct.pack(">IIBB", len(response), sid, 2, 0) + response)
        except (ConnectionError, OSError):
            pass
        conn.close()
        srv.close()

    threading.Thread(daemon=True, target=serve).start()


class LogListener:
    """Listens where the backend forwards the guest's port-1025 connection;
    counts stdout records of one container and acknowledges as it goes."""

    def __init__(self, path, container):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.container = container
        self.count, self.first, self.last = 0, None, None
        self.done = threading.Event()
        self.target = None
        threading.Thread(daemon=True, target=self._run).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            buf, acked, last_seen = b"", 0, None
            while True:
                try:
                    chunk = conn.recv(1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                seq, asked = None, False
                for line in lines:
                    rec = json.loads(line)
                    asked |= "ack_request" in rec  # the agent asks: answer
                    seq = rec.get("seq", seq)
                    if rec.get("container_id") == self.container and \
                            rec.get("stream") == "stdout":
                        now = time.monotonic()
                        self.first = self.first or now
                        self.last = now
                        self.count += 1
                        if self.target and self.count >= self.target:
                            self.done.set()
                seq = seq if seq is not None else (last_seen if asked else None)
                if seq is not None and (seq - acked >= 256 or asked):
                    conn.sendall(f"ACK {seq}\n".encode())
                    acked = seq
                if seq is not None:
                    last_seen = seq

    def close(self):
        self.srv.close()


def measure_image(arch, work, count, lines):
    vhost, uds = os.path.join(work, "img.sock"), os.path.join(work, "img.vsock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}])
    listener = LogListener(f"{uds}_1025", "bench-spam")
    vm = Vm(arch, os.path.join(work, "vm"), vhost_socket=vhost, config="")
    os.makedirs(vm.dir)
    try:
        t0 = time.monotonic()
        vm.start()
        while True:
            try:
                s = hybrid(uds, 1024, timeout=2)
                health_check(s, 1)
                break
            except (OSError, ConnectionError, RuntimeError):
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("the agent never answered:\n" + vm.serial())
                time.sleep(0.05)
        ready = time.monotonic() - t0
        s.settimeout(30)
        rpc = rtt(s, count)
        s.close()
        listener.target = lines
        subprocess.run([AGENTCTL, "--addr", f"hvsock://{uds}:1024", "run", "--id",
                        "bench-spam", "logspam", str(lines)], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        if not listener.done.wait(300):
            raise RuntimeError(f"only {listener.count} of {lines} log records arrived")
        lps = (listener.count - 1) / (listener.last - listener.first)
        return ready, rpc, lps
    finally:
        vm.stop()
        listener.close()
        daemon.stop()


def measure_linux_ready(work):
    vhost, uds = os.path.join(work, "lnx.sock"), os.path.join(work, "lnx.vsock")
    daemon = lib.Daemon(work, [{"cid": 4, "socket": vhost, "uds": uds}])
    t0 = time.monotonic()
    guest = lib.Guest(work, "linux", vhost)
    try:
        while True:
            try:
                s = hybrid(uds, lib.PEER_PORT, timeout=2)
                s.close()
                return time.monotonic() - t0
            except (OSError, ConnectionError):
                if time.monotonic() - t0 > 120:
                    raise
                time.sleep(0.05)
    finally:
        guest.stop()
        daemon.stop()


def baseline_rtt(work, count):
    path = os.path.join(work, "base.sock")
    baseline_ttrpc_server(path, pb_field(2, pb_field(1, b"\x08\x01")))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        return rtt(s, count)
    finally:
        s.close()


def baseline_lines(lines):
    a, b = socket.socketpair()
    record = json.dumps({"msg": "logspam 00000", "level": "info", "ts": "2026-01-01T00:00:00Z",
                         "name": "vsock-agent", "source": "agent", "subsystem": "container",
                         "seq": 1, "boot_id": "x" * 36, "container_id": "bench-spam",
                         "stream": "stdout"}).encode() + b"\n"
    got = {"n": 0}

    def reader():
        buf = b""
        while got["n"] < lines:
            buf += b.recv(1 << 16)
            got["n"] += buf.count(b"\n")
            buf = buf[buf.rfind(b"\n") + 1:]

    t = threading.Thread(daemon=True, target=reader)
    start = time.monotonic()
    t.start()
    for _ in range(lines):
        a.sendall(record)
    t.join()
    return lines / (time.monotonic() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    ap.add_argument("--rtt", type=int, default=500)
    ap.add_argument("--lines", type=int, default=20000)
    args = ap.parse_args()
    lib.build_prerequisites()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as work:
        ready, rpc, lps = measure_image(args.arch, work, args.rtt, args.lines)
        linux_ready = measure_linux_ready(work)
        base_rpc = baseline_rtt(work, args.rtt)
        base_lps = baseline_lines(args.lines)
    print(f"agent on the {args.arch} image through vhost-user-vsock (QEMU TCG)")
    print(f"{'':34}{'image':>12}{'baseline':>12}{'ratio':>8}")
    print(f"{'QEMU start -> ready (s)':34}{ready:12.2f}{linux_ready:12.2f}{ready / linux_ready:8.2f}"
          "   baseline: Linux -kernel (no firmware) -> first vsock answer")
    print(f"{'Health.Check round trip (us)':34}{rpc:12.1f}{base_rpc:12.1f}{rpc / base_rpc:8.2f}"
          "   baseline: same frames over a Unix socket")
    print(f"{'log records/s (logspam)':34}{lps:12.0f}{base_lps:12.0f}{lps / base_lps:8.3f}"
          "   baseline: same JSON lines over a Unix socket pair")


if __name__ == "__main__":
    main()
