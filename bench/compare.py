#!/usr/bin/env python3
"""compare.py -- `make bench`: our image against a Linux guest, figure by
figure, in one run (issue 17, DESIGN §8).

    /usr/bin/python3 bench/compare.py [--rounds 3] [--mib 32] [--echo-mib 8]
                                      [--rtt 1000] [--conns 300] [--idle 10]

Both guests run on the same QEMU (TCG, x86_64), through the same backend
binary, booted through the same OVMF with -kernel: ours as the EFI
application (agent.diag_services=1: echo 7, discard 9, source 19), Linux
6.1 (Debian's cloud kernel, its own virtio-vsock driver, as an EFI stub)
with the test initramfs whose vsockpeer serves the same roles on port 5000
(tests/backend/guest/vsockpeer.c).  Rounds are interleaved: each round
measures every figure on both guests back to back, so both see the same
machine load; the table shows medians.

  boot      QEMU start -> first answer (ours: Health.Check; Linux: the
            peer's first echo), seconds, lower is better
  rtt       1-byte request/response round trip, microseconds, lower is better
  echo      N MiB sent through echo while reading it back, MiB/s
  h2g       host -> guest, N MiB into a sink, MiB/s
  g2h       guest -> host, N MiB from a source, MiB/s
  conn/s    sequential connect + 1-byte echo + close, per second
  idle      the QEMU process's CPU share while the guest is idle, lower is better

Writes build/bench/bench.json and build/bench/bench.png (ours against
Linux per figure, the target marked).  Targets are issue 17's.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
import backend_lib as lib  # noqa: E402
from agent_image import health_check  # noqa: E402
from benchlib import hybrid, time_conns, time_rtt, time_sink, time_source  # noqa: E402
from lib.vm import Vm  # noqa: E402

MIB = 1 << 20
ALL_CPUS = os.sched_getaffinity(0)
OUT = os.path.join(TOP, "build", "bench")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"

# figure: (unit, higher is better, target ratio ours/Linux, how the target reads)
FIGURES = {
    "boot": ("s", False, 0.45, "<= 0.45"),
    "rtt": ("us", False, 0.30, "<= 0.30"),
    "echo": ("MiB/s", True, 2.0, ">= 2.0"),
    "h2g": ("MiB/s", True, 3.0, ">= 3.0"),
    "g2h": ("MiB/s", True, 3.0, ">= 3.0"),
    "conn/s": ("1/s", True, None, "-"),
    "idle": ("%", False, None, "-"),
}


# ---- the two guests -----------------------------------------------------------

class LinuxGuest:
    """Debian's kernel through OVMF (-kernel: the EFI stub), the test initramfs."""

    def __init__(self, work, vhost):
        os.makedirs(work, exist_ok=True)
        self.serial = os.path.join(work, "linux.serial")
        vars_fd = os.path.join(work, "vars.fd")
        shutil.copy(OVMF_VARS, vars_fd)
        self.log = open(self.serial, "wb")
        self.proc = subprocess.Popen([
            "qemu-system-x86_64", "-M", "q35,i8042=off,memory-backend=mem", "-cpu", "max",
            "-smp", "1,maxcpus=2",  # as ours: real barriers under TCG (tests/lib/vm.py)
            "-m", "256M", "-nodefaults", "-display", "none", "-no-reboot",
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
            "-chardev", f"socket,id=vc,path={vhost}", "-device", "vhost-user-vsock-pci,chardev=vc",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}",
            "-kernel", os.path.join(lib.GUEST_DIR, "vmlinuz"),
            "-initrd", os.path.join(lib.GUEST_DIR, "initramfs.cpio.gz"),
            "-append", "console=ttyS0 quiet panic=-1", "-serial", "stdio",
        ], stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = lib.PEER_PORT

    def answer(self, uds):
        s = lib.command(uds, "echo")
        s.sendall(b"x")
        ok = s.recv(1) == b"x"
        s.close()
        return ok

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class ImageGuest:
    def __init__(self, work, vhost):
        os.makedirs(work, exist_ok=True)
        self.vm = Vm("x86_64", work, config="agent.diag_services=1", vhost_socket=vhost)
        self.vm.start()
        self.proc = self.vm.proc

    def answer(self, uds):
        s = hybrid(uds, 1024, timeout=2)
        try:
            health_check(s, 1)
        finally:
            s.close()
        return True

    def stop(self):
        self.vm.stop()


def wait_answer(guest, uds, t0, timeout=180):
    while True:
        try:
            if guest.answer(uds):
                return time.monotonic() - t0
        except (OSError, ConnectionError, RuntimeError, AssertionError):
            pass
        if guest.proc.poll() is not None:
            raise RuntimeError("the guest's QEMU exited before answering")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("no answer within %d s" % timeout)
        time.sleep(0.02)


# ---- what each guest serves, as (connect, roles) -------------------------------

def open_echo(kind, uds):
    return hybrid(uds, 7) if kind == "ours" else lib.command(uds, "echo")


def fig_rtt(kind, uds, count):
    s = open_echo(kind, uds)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return time_rtt(s, count)


def fig_echo(kind, uds, mib):
    s = open_echo(kind, uds)
    block = os.urandom(256 << 10)
    total = mib * MIB
    got = [0]

    def reader():
        buf = bytearray(1 << 20)
        while got[0] < total:
            n = s.recv_into(buf)
            if not n:
                break
            got[0] += n

    t = threading.Thread(daemon=True, target=reader)
    t0 = time.monotonic()
    t.start()
    sent = 0
    while sent < total:
        s.sendall(block)
        sent += len(block)
    t.join(300)
    elapsed = time.monotonic() - t0
    s.close()
    if got[0] != total:
        raise RuntimeError(f"echo returned {got[0]} of {total} bytes")
    return mib / elapsed


def fig_h2g(kind, uds, mib):
    s = hybrid(uds, 9) if kind == "ours" else lib.command(uds, "sink nocrc")
    elapsed, rest = time_sink(s, mib, MIB)  # ours: discard closes after EOF; Linux: "OK n crc"
    if kind == "linux" and int(rest.split()[1]) != mib * MIB:
        raise RuntimeError(f"sink got {rest!r}")
    return mib / elapsed


def fig_g2h(kind, uds, mib):
    if kind == "ours":
        return time_source(hybrid(uds, 19), mib)
    return time_source(lib.command(uds, f"source {mib * MIB} 1 nocrc"), mib)


def fig_conns(kind, uds, count):
    return time_conns(lambda: open_echo(kind, uds), count)


def fig_idle(guest, seconds):
    def cpu():
        with open(f"/proc/{guest.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu() - c0) / (time.monotonic() - t0)


# ---- one round -----------------------------------------------------------------

def pin(guest, daemon, on=True):
    """For the throughput figures: QEMU on the last CPU, the backend and
    this client on the others (on=False: everything anywhere again).  Left
    to the host's scheduler, a pause of a second or two in the traffic can
    leave the vCPU, the backend and the client placed so that host -> guest
    runs at a third of its speed until the guest stops (846 -> 246 MiB/s);
    pinned, both guests stream the same way.  The round trip is measured
    unpinned: client and backend sharing one CPU would make it a queue."""
    cpus = sorted(ALL_CPUS)
    if len(cpus) < 2:
        return
    qemu, host = ({cpus[-1]}, set(cpus[:-1])) if on else (ALL_CPUS, ALL_CPUS)
    for pid, where in ((guest.proc.pid, qemu), (daemon.proc.pid, host)):
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), where)
    os.sched_setaffinity(0, host)


def one_round(work, args, results):
    for kind, cls in (("ours", ImageGuest), ("linux", LinuxGuest)):
        sock = tempfile.mkdtemp(prefix="bench-")
        vhost, uds = os.path.join(sock, "v.sock"), os.path.join(sock, "u.sock")
        os.makedirs(os.path.join(work, kind), exist_ok=True)
        daemon = lib.Daemon(os.path.join(work, kind), [{"cid": 3, "socket": vhost, "uds": uds}])
        guest = None
        try:
            t0 = time.monotonic()
            guest = cls(os.path.join(work, kind, "vm"), vhost)
            r = results.setdefault(kind, {})
            r.setdefault("boot", []).append(wait_answer(guest, uds, t0))
            time.sleep(2)  # let boot-time work settle before measuring idle
            r.setdefault("idle", []).append(fig_idle(guest, args.idle))
            r.setdefault("rtt", []).append(fig_rtt(kind, uds, args.rtt))
            pin(guest, daemon)
            r.setdefault("echo", []).append(fig_echo(kind, uds, args.echo_mib))
            r.setdefault("h2g", []).append(fig_h2g(kind, uds, args.mib))
            r.setdefault("g2h", []).append(fig_g2h(kind, uds, args.mib))
            pin(guest, daemon, on=False)
            r.setdefault("conn/s", []).append(fig_conns(kind, uds, args.conns))
        finally:
            os.sched_setaffinity(0, ALL_CPUS)
            if guest:
                guest.stop()
            daemon.stop()
            shutil.rmtree(sock, ignore_errors=True)


# ---- report --------------------------------------------------------------------

def table(results):
    rows = []
    for name, (unit, higher, target, target_text) in FIGURES.items():
        linux = statistics.median(results["linux"][name])
        ours = statistics.median(results["ours"][name])
        ratio = ours / linux if linux else float("inf")
        met = None if target is None else (ratio >= target if higher else ratio <= target)
        rows.append(dict(figure=name, unit=unit, linux=linux, ours=ours, ratio=ratio,
                         target=target, target_text=target_text, met=met,
                         linux_all=results["linux"][name], ours_all=results["ours"][name]))
    return rows


def print_table(rows, rounds):
    print(f"\nmedians of {rounds} interleaved round(s); ratio = ours / Linux")
    print(f"{'figure':8}{'unit':>7}{'Linux':>10}{'ours':>10}{'ratio':>8}  {'target':9}met")
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['figure']:8}{r['unit']:>7}{r['linux']:10.2f}{r['ours']:10.2f}"
              f"{r['ratio']:8.2f}  {r['target_text']:9}{met}")


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = [r["figure"] for r in rows]
    # Every figure as "how many times better than Linux" (>1: ours is better).
    better = [r["ratio"] if FIGURES[r["figure"]][1] else 1 / r["ratio"] for r in rows]
    colors = ["#89a" if r["met"] is None else "#2a7" if r["met"] else "#c44" for r in rows]
    ax.bar(names, better, color=colors)
    for i, r in enumerate(rows):
        if r["target"] is not None:
            goal = r["target"] if FIGURES[r["figure"]][1] else 1 / r["target"]
            ax.plot([i - 0.4, i + 0.4], [goal, goal], color="black", lw=2)
        ax.text(i, better[i], f"{better[i]:.2f}x", ha="center", va="bottom", fontsize=9)
    ax.axhline(1, color="gray", lw=1, ls="--")
    ax.set_ylabel("times better than Linux (1 = equal)")
    ax.set_title("vsock-agent image vs Linux 6.1 guest (same QEMU TCG, backend, OVMF); "
                 "black bar = target; green met, red missed, grey no target", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--echo-mib", type=int, default=8)
    ap.add_argument("--rtt", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=300)
    ap.add_argument("--idle", type=int, default=10, help="seconds of idle measured")
    args = ap.parse_args()
    lib.build_prerequisites()
    work = tempfile.mkdtemp(prefix="bench-compare-")
    results = {}
    try:
        for n in range(args.rounds):
            one_round(os.path.join(work, f"round{n}"), args, results)
            print(f"round {n + 1}/{args.rounds} done", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = table(results)
    print_table(rows, args.rounds)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump({"rounds": args.rounds, "args": vars(args), "figures": rows}, f, indent=1)
    chart(rows, os.path.join(OUT, "bench.png"))
    print(f"wrote {OUT}/bench.json and {OUT}/bench.png")


if __name__ == "__main__":
    main()
