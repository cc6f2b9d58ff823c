#!/usr/bin/env python3
"""rtt_profile.py -- where a 1-byte round trip to the image's echo service
goes (issue 17: the profile behind the rtt figure).

    /usr/bin/python3 bench/rtt_profile.py [--count 20000] [--rounds 3]
                                          [--option KEY=VALUE]...

One image (agent.diag_services=1, agent.stats_ms=200) behind the backend;
N 1-byte round trips on one hybrid connection to echo (port 7).  Per round
trip it prints:

  wall      the round trip as the client sees it
  guest     the guest's busy time: the image's own clock minus its idle
            task's time, from the stats lines that bracket the run
  qemu      CPU time of the QEMU process (TCG: the guest's instructions,
            device emulation, interrupt delivery, the vhost-user kicks)
  backend   CPU time of the vhost-user-vsock daemon
  client    CPU time of this (Python) client
  the rest  wall minus the CPU of everything above that cannot overlap
            (time spent waking threads and processes up: wall - qemu -
            backend - client, when positive)
  X/rtt     the image's own counters per round trip: interrupts, timer
            interrupts, task switches, rx and tx queue interrupts, packets
            received and sent

Medians over the rounds.  CPU figures come from /proc/PID/stat (clock
ticks, 10 ms), so the runs are long enough for them to be meaningful.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
import backend_lib as lib  # noqa: E402
import compare  # noqa: E402
from benchlib import hybrid  # noqa: E402
from lib.vm import Vm  # noqa: E402

STATS = re.compile(r"^stats: t=(\d+)ms irq=(\d+) timer=(\d+) switches=(\d+) idle=(\d+)ms "
                   r"vsock_irq rx=(\d+) tx=(\d+) .*? rx_packets=(\d+) tx_packets=(\d+)", re.M)
# what each stats line says, per round trip in the report
EVENTS = ["irq", "timer", "switches", "irq_rx", "irq_tx", "rx_packets", "tx_packets"]


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(vm):
    """[(t_ms, idle_ms, {event: count})] for every stats line so far."""
    out = []
    for m in STATS.findall(vm.serial()):
        t, irq, timer, switches, idle, irq_rx, irq_tx, rx, tx = map(int, m)
        out.append((t, idle, dict(zip(EVENTS, (irq, timer, switches, irq_rx, irq_tx, rx, tx)))))
    return out


def one_round(count, options=()):
    work = tempfile.mkdtemp(prefix="rtt-profile-")
    vhost, uds = os.path.join(work, "v.sock"), os.path.join(work, "u.sock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}])
    vm = Vm("x86_64", os.path.join(work, "vm"),
            config="\n".join(["agent.diag_services=1", "agent.stats_ms=200", *options]),
            vhost_socket=vhost)
    vm.start()
    guest = compare.ImageGuest.__new__(compare.ImageGuest)
    guest.vm, guest.proc = vm, vm.proc
    try:
        compare.wait_answer(guest, uds, time.monotonic())
        s = hybrid(uds, 7)
        for _ in range(100):
            s.sendall(b"x")
            s.recv(1)
        time.sleep(0.5)
        before = stats(vm)[-1]
        q0, b0, c0 = cpu_of(vm.proc.pid), daemon.cpu_seconds(), time.process_time()
        t0 = time.monotonic()
        for _ in range(count):
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise RuntimeError("echo lost a byte")
        wall = time.monotonic() - t0
        q1, b1, c1 = cpu_of(vm.proc.pid), daemon.cpu_seconds(), time.process_time()
        n = len(stats(vm))
        while len(stats(vm)) < n + 2:  # a line wholly after the run
            time.sleep(0.05)
        s.close()
        # the stats lines that bracket the run: the last before, the first
        # after; their idle difference is the guest's idle time in between
        after = stats(vm)[n]
        span_ms, idle_ms = after[0] - before[0], after[1] - before[1]
        # scale the guest's busy share of that span to the run itself
        busy = (span_ms - idle_ms) / 1000 * min(1.0, wall * 1000 / max(span_ms, 1))
        us = 1e6 / count
        qemu, backend, client = (q1 - q0) * us, (b1 - b0) * us, (c1 - c0) * us
        # events: the span of the bracketing lines holds the run and a
        # little idle time either side (which has next to no events)
        events = {f"{k}/rtt": (after[2][k] - before[2][k]) / count for k in EVENTS}
        return {"wall": wall * us, "guest": busy * us, "qemu": qemu, "backend": backend,
                "client": client, "the rest": max(0.0, wall * us - qemu - backend - client),
                **events}
    finally:
        vm.stop()
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--option", action="append", default=[],
                    help="one more image option (key=value), e.g. kernel.idle_poll_us=100")
    args = ap.parse_args()
    rounds = [one_round(args.count, args.option) for _ in range(args.rounds)]
    print(f"1-byte round trip to the image's echo, {args.count} per round, "
          f"median of {args.rounds} (us per round trip)")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"  {key:9s} {statistics.median(values):8.1f}   "
              + " ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
