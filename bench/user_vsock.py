#!/usr/bin/env python3
"""user_vsock.py -- AF_VSOCK from user programs (issue 15), ratios in one run.

    /usr/bin/python3 bench/user_vsock.py [--rounds 3] [--rtt 500] [--mib 16]
                                         [--conns 100]

The same static binary, tests/backend/guest/vsockpeer.c built with gcc
-static, serves in both guests on the same QEMU (x86_64, TCG) through the
same backend: as a container of our image (user mode, one child process per
connection) and as the Linux test guest's own peer (Debian's 6.1 kernel,
its virtio-vsock driver).  The image's in-kernel diag services (echo 7,
discard 9, source 19) run beside it, so that the cost of the user/kernel
boundary shows.  Rounds are interleaved: each round measures every figure
on the three servers back to back; the table gives medians.

  rtt      1-byte request/response round trip on one connection, us
  h2g      host -> guest, 64 KiB writes into a sink, MiB/s
  g2h      guest -> host from a source (vsockpeer writes 64 KiB), MiB/s
  conn/s   sequential connect + 1-byte echo + close, per second
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
sys.path.insert(0, os.path.join(TOP, "tests", "agent"))  # its conftest first
from conftest import connect_agent  # noqa: E402  (tests/agent's, before compare's path)
import test_user_programs as up  # noqa: E402
import backend_lib as lib  # noqa: E402
from benchlib import hybrid, time_conns, time_rtt, time_sink, time_source  # noqa: E402
from compare import LinuxGuest, wait_answer  # noqa: E402
from lib.vm import Vm  # noqa: E402

MIB = 1 << 20
CHUNK = 64 << 10
PEER = os.path.join(TOP, "tests", "backend", "guest", "vsockpeer.c")
# server: how to open an echo connection, a sink, a source of n bytes
SERVERS = ("image-user", "linux", "image-diag")


def open_echo(server, uds):
    return hybrid(uds, 7) if server == "image-diag" else lib.command(uds, "echo")


def fig_rtt(server, uds, count):
    return time_rtt(open_echo(server, uds), count)


def fig_h2g(server, uds, mib):
    s = hybrid(uds, 9) if server == "image-diag" else lib.command(uds, "sink nocrc")
    elapsed, rest = time_sink(s, mib, CHUNK)  # diag: discard closes after EOF; vsockpeer: "OK n crc"
    if server != "image-diag" and int(rest.split()[1]) != mib * MIB:
        raise RuntimeError(f"sink got {rest!r}")
    return mib / elapsed


def fig_g2h(server, uds, mib):
    want = mib * MIB
    s = hybrid(uds, 19) if server == "image-diag" else lib.command(uds, f"source {want} 1 nocrc")
    return time_source(s, mib)


def fig_conns(server, uds, count):
    return time_conns(lambda: open_echo(server, uds), count)


def measure(server, uds, args, results):
    r = results.setdefault(server, {})
    r.setdefault("rtt", []).append(fig_rtt(server, uds, args.rtt))
    r.setdefault("h2g", []).append(fig_h2g(server, uds, args.mib))
    r.setdefault("g2h", []).append(fig_g2h(server, uds, args.mib))
    r.setdefault("conn/s", []).append(fig_conns(server, uds, args.conns))


def image_round(work, peer, args, results):
    os.makedirs(work, exist_ok=True)
    sock = tempfile.mkdtemp(prefix="ubench-")
    vhost, uds = os.path.join(sock, "v.sock"), os.path.join(sock, "u.sock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}])
    vm = Vm("x86_64", os.path.join(work, "vm"),
            config="agent.diag_services=1 agent.container_mem_mib=128\n",
            vhost_socket=vhost, boot="disk", bin_files={"vsockpeer": peer})
    os.makedirs(vm.dir, exist_ok=True)
    vm.start()
    try:
        c = connect_agent(uds, 120)
        up.create(c, "peer", ["/bin/vsockpeer", "serve", str(lib.PEER_PORT)])
        out = b""
        while b"VSOCKPEER READY" not in out:
            r = c.call(up.A, "ReadStdout", up.agent_pb2.ReadStreamRequest(
                container_id="peer", exec_id="peer", len=4096), up.agent_pb2.ReadStreamResponse)
            if not r.data:
                raise RuntimeError("vsockpeer ended: " + repr(out))
            out += r.data
        measure("image-user", uds, args, results)
        measure("image-diag", uds, args, results)
        c.close()
    finally:
        vm.stop()
        daemon.stop()


def linux_round(work, args, results):
    os.makedirs(work, exist_ok=True)
    sock = tempfile.mkdtemp(prefix="ubench-")
    vhost, uds = os.path.join(sock, "v.sock"), os.path.join(sock, "u.sock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}])
    guest = None
    try:
        guest = LinuxGuest(os.path.join(work, "vm"), vhost)
        wait_answer(guest, uds, time.monotonic())
        measure("linux", uds, args, results)
    finally:
        if guest:
            guest.stop()
        daemon.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rtt", type=int, default=500)
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--conns", type=int, default=100)
    args = ap.parse_args()
    subprocess.run(["make", "--no-print-directory", "all", "linux-guest"], cwd=TOP, check=True)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        peer = os.path.join(work, "vsockpeer")
        subprocess.run(["gcc", "-static", "-O2", "-o", peer, PEER], check=True)
        for i in range(args.rounds):
            image_round(os.path.join(work, f"image{i}"), peer, args, results)
            linux_round(os.path.join(work, f"linux{i}"), args, results)
    med = {s: {f: statistics.median(v) for f, v in results[s].items()} for s in SERVERS}
    print(f"{'figure':8} {'image user':>12} {'Linux':>12} {'image diag':>12} "
          f"{'user/Linux':>11} {'user/diag':>10}")
    for fig, unit in (("rtt", "us"), ("h2g", "MiB/s"), ("g2h", "MiB/s"), ("conn/s", "1/s")):
        u, lx, d = med["image-user"][fig], med["linux"][fig], med["image-diag"][fig]
        print(f"{fig + ' ' + unit:14} {u:>6.1f} {lx:>12.1f} {d:>12.1f} {u / lx:>11.2f} "
              f"{u / d:>10.2f}")
    print(f"({args.rounds} rounds, medians; rtt: lower is better, the others higher)")


if __name__ == "__main__":
    main()
