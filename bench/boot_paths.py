#!/usr/bin/env python3
"""boot_paths.py -- QEMU start -> first answer of the agent, for each way of
handing the image to the firmware (issue 17), on both architectures:

    /usr/bin/python3 bench/boot_paths.py [--rounds 3] [--arch x86_64 aarch64]

  folder     the folder ESP as QEMU's emulated FAT (fat:rw:) with QEMU's
             default devices (the path every test used before)   = baseline
  folder+nd  the same with -nodefaults (no DVD or network boot attempts)
  disk       a prebuilt FAT image on virtio-blk, bootindex=0, -nodefaults
  kernel     the image through fw_cfg: -kernel, options as -append, -nodefaults
  kernel-4M  (x86_64) the same with OVMF's 4 MiB build (OVMF_CODE_4M.fd), which
             the tests used before; the 2 MiB build (OVMF_CODE.fd) boots
             about 0.6 s sooner

Where OVMF's time goes (x86_64, -kernel, 2.5 s to the image here): most of
it is its PEI phase probing for a TPM at 0xFED40000.  With no TPM, QEMU
reads those registers as 0, not 0xFF, so the firmware takes a TPM to be
there and waits out the 750 ms TIS access timeout twice (TPM 1.2, then
2.0; both builds, counted with a gdb breakpoint), each wait a loop of
30 us delays on the ACPI PM timer that runs long under TCG: 1.4-1.9 s in
all.  Nothing on the QEMU command line removes it short of giving the VM a
TPM (swtpm), and then measured boot costs more than the probe saved (4.9 s).
The q35 machine runs with i8042=off: OVMF's PS/2 keyboard driver otherwise
probes the controller with delays of its own (about 0.1 s).  sata=off was
tried and dropped: two boots in fifteen took 7-8 s.

"First answer" is the first successful Health.Check through the backend's
hybrid socket.  The image's own share is the time from its first serial line
to the agent's start record, as the image itself reports it in `boot: ...
ms` (see kernel/main.c).  Rounds are interleaved (each round boots every
path once) and the medians are printed with their ratio to the baseline.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
import backend_lib as lib  # noqa: E402
from agent_image import health_check  # noqa: E402
from benchlib import hybrid  # noqa: E402
from lib.vm import Vm  # noqa: E402

PATHS = ["folder", "folder+nd", "disk", "kernel", "kernel-4M"]
ARCH_PATHS = {"kernel-4M": ["x86_64"]}
OVMF_4M = {"code": "/usr/share/OVMF/OVMF_CODE_4M.fd", "vars": "/usr/share/OVMF/OVMF_VARS_4M.fd"}


class BenchVm(Vm):
    """A Vm whose folder mode can drop QEMU's default devices."""

    def __init__(self, *args, nodefaults=False, firmware=None, **kw):
        super().__init__(*args, **kw)
        self.nodefaults = nodefaults
        if firmware:
            self.spec = dict(self.spec, **firmware)

    def _boot_args(self):
        args = super()._boot_args()
        if self.boot == "folder" and self.nodefaults:
            args = ["-nodefaults"] + [a for a in args if a not in ("-nic", "none")]
        return args


def boot_once(arch, path, work):
    os.makedirs(work)
    vhost, uds = os.path.join(work, "v.sock"), os.path.join(work, "u.sock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}])
    mode = path.split("+")[0].split("-")[0]
    vm = BenchVm(arch, os.path.join(work, "vm"), vhost_socket=vhost, config="",
                 boot=mode, nodefaults=path == "folder+nd",
                 firmware=OVMF_4M if path == "kernel-4M" else None)
    os.makedirs(vm.dir)
    try:
        t0 = time.monotonic()
        vm.start()
        while True:
            try:
                s = hybrid(uds, 1024, timeout=2)
                health_check(s, 1)
                s.close()
                break
            except (OSError, ConnectionError, RuntimeError):
                if time.monotonic() - t0 > 180:
                    raise RuntimeError(f"{arch}/{path}: no answer:\n" + vm.serial())
                time.sleep(0.02)
        ready = time.monotonic() - t0
        m = re.search(r"boot: agent started (\d+) ms after the image was entered", vm.serial())
        own = int(m.group(1)) / 1000 if m else None
        return ready, own
    finally:
        vm.stop()
        daemon.stop()


def paths(arch):
    return [p for p in PATHS if arch in ARCH_PATHS.get(p, [arch])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--arch", nargs="+", default=["x86_64", "aarch64"])
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-boot-")
    results = {}
    try:
        for r in range(args.rounds):
            for arch in args.arch:
                for path in paths(arch):
                    ready, own = boot_once(arch, path, os.path.join(work, f"{arch}-{path}-{r}"))
                    results.setdefault((arch, path), []).append((ready, own))
                    print(f"round {r + 1}: {arch:7} {path:9} {ready:6.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {}
    print(f"\n{'arch':8}{'path':11}{'start->answer':>14}{'vs folder':>11}{'image own':>11}")
    for arch in args.arch:
        base = statistics.median(x[0] for x in results[(arch, "folder")])
        for path in paths(arch):
            vals = results[(arch, path)]
            med = statistics.median(x[0] for x in vals)
            owns = [x[1] for x in vals if x[1] is not None]
            own = statistics.median(owns) if owns else None
            out[f"{arch}/{path}"] = {"ready_s": med, "ratio": med / base, "image_s": own}
            print(f"{arch:8}{path:11}{med:12.2f} s{med / base:10.2f}x"
                  + (f"{own:9.3f} s" if own is not None else "        -"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
