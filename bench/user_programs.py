#!/usr/bin/env python3
"""user_programs.py -- programs in user mode (issue 14), ratios in one run.

    /usr/bin/python3 bench/user_programs.py [--runs 10] [--mib 64] [--calls 1000000]

Boots the x86_64 image with its backend and the test programs on the ESP
(\\bin\\), then measures:
  * CreateContainer -> first byte of output: a static glibc hello
    (/bin/hello, user mode) vs the catalogue's echo (a kernel task);
  * the cost of a system call: the same static binary (bench/progs/
    syscall_loop.c, N getpid calls timed by itself) as a container here
    and as /init of the Linux test guest (Debian cloud kernel,
    scripts/deps-linux-guest.sh) under the same QEMU TCG;
  * MIB MiB through busybox sha256sum (user mode) vs the catalogue's
    sha256sum.
"""
import argparse
import gzip
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "agent"))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon, GUEST_DIR  # noqa: E402
from conftest import connect_agent  # noqa: E402
import test_user_programs as t  # noqa: E402
import agent_pb2  # noqa: E402

A = "grpc.AgentService"


def first_byte(c, cid, args):
    t0 = time.monotonic()
    t.create(c, cid, args)
    while True:
        r = c.call(A, "ReadStdout", agent_pb2.ReadStreamRequest(
            container_id=cid, exec_id=cid, len=1), agent_pb2.ReadStreamResponse)
        if r.data:
            dt = time.monotonic() - t0
            break
    t.read_all(c, cid)
    t.wait(c, cid)
    t.remove(c, cid)
    return dt


def through_sha(c, cid, args, data):
    t0 = time.monotonic()
    out, _, status = t.run(c, cid, args, data)
    dt = time.monotonic() - t0
    assert status == 0 and out.split()[0].decode() == hashlib.sha256(data).hexdigest(), out
    return dt


def ns_per_call(text):
    m = re.search(r"SYSCALL_LOOP getpid calls=(\d+) ns_per_call=([\d.]+)", text)
    if not m:
        raise RuntimeError("no SYSCALL_LOOP line in:\n" + text[-2000:])
    return float(m.group(2))


def cpio_newc(files):
    """A newc cpio archive of {path: (mode, bytes)}."""
    out = b""
    for ino, (name, (mode, data)) in enumerate(sorted(files.items()) + [("TRAILER!!!", (0, b""))]):
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
        out += hdr.encode() + name.encode() + b"\0"
        out += b"\0" * ((4 - len(out) % 4) % 4) + data
        out += b"\0" * ((4 - len(out) % 4) % 4)
    return out


def linux_ns_per_call(work, binary):
    with open(binary, "rb") as f:
        init = f.read()
    initrd = os.path.join(work, "syscall-initrd.cpio.gz")
    with open(initrd, "wb") as f:
        f.write(gzip.compress(cpio_newc({"init": (0o100755, init)})))
    log = os.path.join(work, "linux.serial")
    with open(log, "wb") as out:
        subprocess.run(["qemu-system-x86_64", "-M", "q35", "-m", "256M", "-cpu", "max",
                        "-kernel", os.path.join(GUEST_DIR, "vmlinuz"), "-initrd", initrd,
                        "-append", "console=ttyS0 quiet panic=-1", "-nographic",
                        "-no-reboot", "-nodefaults", "-serial", "stdio"],
                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                       timeout=600, check=False)
    with open(log, errors="replace") as f:
        return ns_per_call(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--calls", type=int, default=1000000)
    args = ap.parse_args()
    subprocess.run(["make", "--no-print-directory", "linux-guest"], cwd=TOP, check=True)
    with tempfile.TemporaryDirectory() as work:
        loop = os.path.join(work, "syscall_loop")
        subprocess.run(["gcc", "-static", "-O2", "-o", loop,
                        os.path.join(HERE, "progs", "syscall_loop.c")], check=True)
        files = t.programs("x86_64", work)
        files["syscall_loop"] = loop
        daemon = Daemon(work, [{"cid": 7, "socket": os.path.join(work, "vh.sock"),
                                "uds": os.path.join(work, "vs.sock")}])
        vm = Vm("x86_64", os.path.join(work, "vm"), config="agent.container_mem_mib=256\n",
                vhost_socket=os.path.join(work, "vh.sock"), boot="disk", bin_files=files)
        os.makedirs(vm.dir, exist_ok=True)
        vm.start()
        try:
            c = connect_agent(os.path.join(work, "vs.sock"), 60)
            user = [first_byte(c, f"u{i}", ["/bin/hello"]) for i in range(args.runs)]
            cat = [first_byte(c, f"e{i}", ["echo", "hello"]) for i in range(args.runs)]
            out, _, _ = t.run(c, "loop", ["/bin/syscall_loop", str(args.calls)])
            image_ns = ns_per_call(out.decode())
            data = os.urandom(args.mib << 20)
            bb = through_sha(c, "bb", ["/bin/busybox", "sha256sum"], data)
            cs = through_sha(c, "cs", ["sha256sum"], data)
        finally:
            vm.stop()
            daemon.stop()
        linux_ns = linux_ns_per_call(work, loop)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    print(f"CreateContainer -> first byte of output (median of {args.runs}): static hello "
          f"{med(user) * 1000:.1f} ms, catalogue echo {med(cat) * 1000:.1f} ms, ratio "
          f"{med(user) / med(cat):.2f}")
    print(f"system call (getpid, {args.calls} calls, same static binary): image "
          f"{image_ns:.0f} ns, Linux guest {linux_ns:.0f} ns, ratio {image_ns / linux_ns:.2f}")
    print(f"{args.mib} MiB through sha256sum: busybox (user mode) {bb:.2f} s, catalogue "
          f"{cs:.2f} s, ratio {bb / cs:.2f}")


if __name__ == "__main__":
    main()
