#!/usr/bin/env python3
"""backend_linux.py -- throughput and round trip of a Linux guest through the
vhost-user-vsock daemon, as ratios against a raw Unix-socket baseline run in
the same invocation (issue 4 "Done when"; DESIGN §8).

    /usr/bin/python3 bench/backend_linux.py [--mib 64] [--rtt 2000]

Guest side: Debian's cloud kernel under QEMU TCG with the kernel's own
virtio-vsock driver and tests/backend/guest/vsockpeer; host side: this script
over hybrid vsock (CONNECT through uds-path, or <uds-path>_P for the guest's
connections).  The baseline runs the same protocol against a forked Unix
socket server on the host.  Numbers depend on the machine; the ratios show
what the guest path costs.
"""
import argparse
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "backend"))
import backend_lib as lib  # noqa: E402

MIB = 1 << 20


def drain_count(sock):
    """Reads until EOF into one reused buffer; returns the byte count."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    while True:
        n = sock.recv_into(view)
        if not n:
            return total
        total += n


# ---- baseline: a forked Unix-socket server speaking vsockpeer's lines -----
def baseline_server(path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    pid = os.fork()
    if pid:
        srv.close()
        return pid
    try:
        while True:
            conn, _ = srv.accept()
            line = lib.recv_line(conn).decode().split()
            if line[0] == "sink":
                n = drain_count(conn)
                conn.sendall(f"OK {n} 0 0\n".encode())
            elif line[0] == "echo":
                while True:
                    d = conn.recv(65536)
                    if not d:
                        break
                    conn.sendall(d)
            elif line[0] == "dial":  # dial 2 PORT source N SEED
                n = int(line[4])
                out = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                out.connect(f"{path}_{line[2]}")
                block = os.urandom(1 << 20)
                left = n
                while left:
                    chunk = block[:min(left, len(block))]
                    out.sendall(chunk)
                    left -= len(chunk)
                out.shutdown(socket.SHUT_WR)
                lib.read_all(out)
                out.close()
                conn.sendall(f"RESULT 0 {n} 0 0 0\n".encode())
            conn.close()
    finally:
        os._exit(0)


class Target:
    """Opens command connections either through the daemon or to the
    baseline server."""

    def __init__(self, uds, hybrid):
        self.uds, self.hybrid = uds, hybrid

    def command(self, line):
        if self.hybrid:
            return lib.command(self.uds, line)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(lib.TIMEOUT)
        sock.connect(self.uds)
        sock.sendall(line.encode() + b"\n")
        return sock


def host_to_guest(target, mib):
    block = os.urandom(MIB)
    sock = target.command("sink nocrc")
    start = time.monotonic()
    for _ in range(mib):
        sock.sendall(block)
    sock.shutdown(socket.SHUT_WR)
    answer = lib.read_all(sock).split()
    elapsed = time.monotonic() - start
    sock.close()
    assert int(answer[1]) == mib * MIB, answer
    return mib / elapsed


def guest_to_host(target, mib, port):
    got = {}

    def sink(conn):
        got["n"] = drain_count(conn)

    listener = lib.HostListener(target.uds, port, sink)
    try:
        start = time.monotonic()
        ctl = target.command(f"dial 2 {port} source {mib * MIB} 1 nocrc")
        lib.result(ctl)
        elapsed = time.monotonic() - start
        ctl.close()
    finally:
        listener.close()
    assert got.get("n") == mib * MIB, got
    return mib / elapsed


def round_trip(target, count):
    sock = target.command("echo")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    for _ in range(20):  # warm up
        sock.sendall(b"x")
        sock.recv(1)
    start = time.monotonic()
    for _ in range(count):
        sock.sendall(b"x")
        if sock.recv(1) != b"x":
            raise RuntimeError("echo lost a byte")
    elapsed = time.monotonic() - start
    sock.close()
    return elapsed / count * 1e6


def measure(base, vsock, mib, rtt):
    """Each metric on the baseline, then on the guest path, back to back, so
    both see the same machine load."""
    results = {"base": {}, "vsock": {}}
    for key, fn in (("h2g", lambda t, port: host_to_guest(t, mib)),
                    ("g2h", lambda t, port: guest_to_host(t, mib, port)),
                    ("rtt", lambda t, port: round_trip(t, rtt))):
        results["base"][key] = fn(base, 7001)
        results["vsock"][key] = fn(vsock, 7002)
    return results["base"], results["vsock"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=64, help="MiB per direction")
    ap.add_argument("--rtt", type=int, default=2000, help="1-byte round trips")
    args = ap.parse_args()
    lib.build_prerequisites()
    with tempfile.TemporaryDirectory() as work:
        vm = {"cid": 3, "socket": os.path.join(work, "vhost.sock"),
              "uds": os.path.join(work, "vm.vsock")}
        daemon = lib.Daemon(work, [vm])
        guest = lib.Guest(work, "guest", vm["socket"])
        base_path = os.path.join(work, "baseline.sock")
        pid = baseline_server(base_path)
        try:
            guest.wait_ready()
            base, vsock = measure(Target(base_path, False), Target(vm["uds"], True),
                                  args.mib, args.rtt)
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            guest.stop()
            daemon.stop()
    print(f"vhost-user-vsock with a Linux guest (QEMU TCG), {args.mib} MiB each way, "
          f"{args.rtt} round trips")
    print(f"{'':24}{'guest path':>14}{'unix baseline':>16}{'ratio':>10}")
    rows = (("host->guest MiB/s", "h2g"), ("guest->host MiB/s", "g2h"),
            ("1-byte round trip us", "rtt"))
    for label, key in rows:
        print(f"{label:24}{vsock[key]:14.1f}{base[key]:16.1f}{vsock[key] / base[key]:10.3f}")


if __name__ == "__main__":
    main()
