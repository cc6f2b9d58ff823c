#!/usr/bin/env python3
"""idle_image.py -- the image at rest (issue 5 closing figures, DESIGN §8).

    /usr/bin/python3 bench/idle_image.py [--seconds 15]

Boots the x86_64 image with its vhost-user backend, then measures while the
guest idles:
  * the QEMU process's CPU share (host /proc accounting), as a ratio
    against an idle Linux guest (Debian cloud kernel, kernel virtio-vsock
    driver, same QEMU, same backend) measured in the same invocation;
  * interrupts per second in the guest (from its stats lines; the stats
    task itself wakes the CPU once per agent.stats_ms);
  * DMA pool pages in use after device bring-up;
  * time from QEMU start to the vsock device being up, and to "boot complete".
The image runs its agent with a log listener attached (agentctl logs).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "backend"))
from lib.vm import Vm  # noqa: E402
import backend_lib as lib  # noqa: E402

STATS_MS = 5000


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_share(pid, seconds):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def wait_line(vm, pattern, timeout=120):
    t0 = time.monotonic()
    vm.wait_for(pattern, timeout)
    return time.monotonic() - t0


def measure_image(workdir, seconds):
    sock = tempfile.mkdtemp(prefix="bench-idle-")
    vhost, uds = os.path.join(sock, "vhost.sock"), os.path.join(sock, "vsock.sock")
    daemon = lib.Daemon(workdir, [{"cid": 3, "socket": vhost, "uds": uds}])
    # the agent's log stream has a listener, as in real use
    logs = subprocess.Popen([os.path.join(HERE, "..", "build", "host", "agentctl"), "logs",
                             "--listen", f"hvsock://{uds}:1025"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    vm = Vm("x86_64", os.path.join(workdir, "image"), config=f"agent.stats_ms={STATS_MS}\n",
            vhost_socket=vhost)
    os.makedirs(vm.dir, exist_ok=True)
    try:
        t0 = time.monotonic()
        vm.start()
        vm.wait_for(r"vsock: virtio-vsock \S+ up", 120)
        t_up = time.monotonic() - t0
        vm.wait_for(r"boot complete", 60)
        t_boot = time.monotonic() - t0
        pool = int(re.search(r"pool: (\d+) pages in use after bring-up", vm.serial()).group(1))
        time.sleep(2)
        share = idle_share(vm.proc.pid, seconds)
        stats = [tuple(map(int, m.groups())) for m in
                 re.finditer(r"^stats: t=(\d+)ms irq=(\d+) timer=(\d+)", vm.serial(), re.M)]
        if len(stats) >= 2:
            (ta, ia, _), (tb, ib, _) = stats[0], stats[-1]
            irq_rate = (ib - ia) / ((tb - ta) / 1000)
        else:
            irq_rate = float("nan")
        return dict(share=share, irq_rate=irq_rate, pool=pool, t_up=t_up, t_boot=t_boot)
    finally:
        vm.stop()
        logs.kill()
        logs.wait()
        daemon.stop()


def measure_linux(workdir, seconds):
    sock = tempfile.mkdtemp(prefix="bench-idle-linux-")
    vhost, uds = os.path.join(sock, "vhost.sock"), os.path.join(sock, "vsock.sock")
    daemon = lib.Daemon(workdir, [{"cid": 3, "socket": vhost, "uds": uds}])
    guest = lib.Guest(workdir, "linux", vhost)
    try:
        t0 = time.monotonic()
        guest.wait_ready(120)
        t_ready = time.monotonic() - t0
        time.sleep(2)
        return dict(share=idle_share(guest.proc.pid, seconds), t_ready=t_ready)
    finally:
        guest.stop()
        daemon.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    lib.build_prerequisites()
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "a"))
        os.makedirs(os.path.join(work, "b"))
        image = measure_image(os.path.join(work, "a"), args.seconds)
        linux = measure_linux(os.path.join(work, "b"), args.seconds)
    print(f"idle QEMU CPU share: image {image['share']:.1%}, Linux guest "
          f"{linux['share']:.1%}, ratio {image['share'] / max(linux['share'], 1e-9):.2f}")
    print(f"guest interrupts per second at idle: {image['irq_rate']:.2f} "
          f"(includes the stats task's wake-up every {STATS_MS} ms)")
    print(f"DMA pool pages in use after bring-up: {image['pool']} "
          f"({image['pool'] * 4} KiB)")
    print(f"QEMU start -> vsock device up: {image['t_up']:.2f} s; -> boot complete: "
          f"{image['t_boot']:.2f} s; Linux guest (-kernel, no firmware) ready: "
          f"{linux['t_ready']:.2f} s")


if __name__ == "__main__":
    main()
