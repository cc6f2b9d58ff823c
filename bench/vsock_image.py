#!/usr/bin/env python3
"""vsock_image.py -- the image's vsock stack through the vhost-user backend:
bulk throughput each way and 1-byte round trip, against a Linux guest (same
QEMU, same backend, the kernel's own virtio-vsock driver) and a raw
Unix-socket baseline, all in one invocation (issue 6, DESIGN §8).

    /usr/bin/python3 bench/vsock_image.py [--arch x86_64] [--mib 32] [--rtt 1000]

Image side: agent.diag_services=1.  host->guest: N MiB into the discard
service (port 9), then SHUT_WR and wait for its close; guest->host: N MiB
read from the source service (port 19); round trip: 1 byte through echo
(port 7).  The Linux guest and the baseline run bench/backend_linux.py's
methods.  Ratios are image / Linux and image / baseline.
"""
import argparse
import os
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "backend"))
import backend_lib as lib  # noqa: E402
from benchlib import hybrid  # noqa: E402
import backend_linux as linux  # noqa: E402
from lib.vm import Vm  # noqa: E402

MIB = 1 << 20


def image_h2g(uds, mib):
    block = os.urandom(MIB)
    s = hybrid(uds, 9)
    start = time.monotonic()
    for _ in range(mib):
        s.sendall(block)
    s.shutdown(socket.SHUT_WR)
    assert s.recv(1) == b""  # discard closes after our EOF: all consumed
    elapsed = time.monotonic() - start
    s.close()
    return mib / elapsed


def image_g2h(uds, mib):
    s = hybrid(uds, 19)
    buf = bytearray(MIB)
    view = memoryview(buf)
    want, got = mib * MIB, 0
    start = time.monotonic()
    while got < want:
        n = s.recv_into(view[:min(MIB, want - got)])
        if not n:
            raise RuntimeError("source closed early")
        got += n
    elapsed = time.monotonic() - start
    s.close()
    return mib / elapsed


def image_rtt(uds, count):
    s = hybrid(uds, 7)
    for _ in range(20):
        s.sendall(b"x")
        s.recv(1)
    start = time.monotonic()
    for _ in range(count):
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo lost a byte")
    elapsed = time.monotonic() - start
    s.close()
    return elapsed / count * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--rtt", type=int, default=1000)
    args = ap.parse_args()
    lib.build_prerequisites()
    with tempfile.TemporaryDirectory(prefix="bench-vsock-") as work:
        img = {"cid": 3, "socket": os.path.join(work, "img.sock"),
               "uds": os.path.join(work, "img.vsock")}
        lnx = {"cid": 4, "socket": os.path.join(work, "lnx.sock"),
               "uds": os.path.join(work, "lnx.vsock")}
        daemon = lib.Daemon(work, [img, lnx])
        vm = Vm(args.arch, os.path.join(work, "vm"), vhost_socket=img["socket"],
                config="agent.diag_services=1\n")
        os.makedirs(vm.dir)
        guest = lib.Guest(work, "linux", lnx["socket"])
        base_path = os.path.join(work, "base.sock")
        pid = linux.baseline_server(base_path)
        try:
            vm.start()
            vm.wait_for(r"diag: echo on port 7", 120)
            guest.wait_ready()
            base_t, lnx_t = linux.Target(base_path, False), linux.Target(lnx["uds"], True)
            r = {}
            r["h2g"] = (image_h2g(img["uds"], args.mib),
                        linux.host_to_guest(lnx_t, args.mib),
                        linux.host_to_guest(base_t, args.mib))
            r["g2h"] = (image_g2h(img["uds"], args.mib),
                        linux.guest_to_host(lnx_t, args.mib, 7002),
                        linux.guest_to_host(base_t, args.mib, 7001))
            r["rtt"] = (image_rtt(img["uds"], args.rtt),
                        linux.round_trip(lnx_t, args.rtt),
                        linux.round_trip(base_t, args.rtt))
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            vm.stop()
            guest.stop()
            daemon.stop()
    print(f"vsock through vhost-user-vsock, {args.arch} image vs Linux guest (QEMU TCG), "
          f"{args.mib} MiB each way, {args.rtt} round trips")
    print(f"{'':24}{'image':>10}{'linux':>10}{'unix':>10}{'img/linux':>11}{'img/unix':>10}")
    for label, key in (("host->guest MiB/s", "h2g"), ("guest->host MiB/s", "g2h"),
                       ("1-byte round trip us", "rtt")):
        i, l, b = r[key]
        print(f"{label:24}{i:10.1f}{l:10.1f}{b:10.1f}{i / l:11.2f}{i / b:10.3f}")


if __name__ == "__main__":
    main()
