#!/usr/bin/env python3
"""stress.py -- hunt the intermittent stalls of issue 12 ("also seen,
intermittently, under load"): run each scenario many times, under extra
CPU load, with the backend's pcap and the guest's serial log kept for every
run that fails.

    /usr/bin/python3 tests/soak/stress.py [--runs 10] [--load 2]
                                          [--scenario image-bench linux-mixed]

  image-bench   our image (diag services): 1000 1-byte round trips, 8 MiB
                through echo, 32 MiB each way, 100 connections in a row --
                the benchmark round that once timed out on a socket read
  linux-mixed   the Linux test guest: a 16 MiB guest->host stream with its
                checksum while 8 host->guest streams of 4 MiB run at the
                same time -- the transfer that once stalled

Any socket wait longer than --stall seconds (default 60) is a stall: the run
fails, and its directory stays under build/stress/ (serial log, backend log
and pcap).  --load N runs N busy processes beside it.  The closing line is
"stress: N runs, N failed"; the exit status is non-zero when any failed.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "bench"))
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "backend"))
import backend_lib as lib  # noqa: E402
import benchlib  # noqa: E402
import compare  # noqa: E402

MIB = 1 << 20
OUT = os.path.join(TOP, "build", "stress")


def image_bench(work, vhost, uds, stall):
    # the benchmark's own connections, with the stall bound as their timeout
    compare.hybrid = lambda path, port, timeout=stall: benchlib.hybrid(path, port, timeout)
    guest = compare.ImageGuest(os.path.join(work, "vm"), vhost)
    try:
        compare.wait_answer(guest, uds, time.monotonic())
        compare.fig_rtt("ours", uds, 1000)
        compare.fig_echo("ours", uds, 8)
        compare.fig_h2g("ours", uds, 32)
        compare.fig_g2h("ours", uds, 32)
        compare.fig_conns("ours", uds, 100)
    finally:
        guest.stop()


def linux_mixed(work, vhost, uds, stall):
    guest = compare.LinuxGuest(os.path.join(work, "vm"), vhost)
    errors = []
    try:
        compare.wait_answer(guest, uds, time.monotonic())

        def h2g(i):
            try:
                s = lib.command(uds, "sink")
                s.settimeout(stall)
                data = os.urandom(4 * MIB)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                answer = lib.read_all(s).split()
                s.close()
                if answer[:3] != [b"OK", str(len(data)).encode(),
                                  str(zlib.crc32(data)).encode()]:
                    errors.append(f"h2g {i}: {answer!r}")
            except Exception as e:  # noqa: BLE001 -- every failure is a finding
                errors.append(f"h2g {i}: {e!r}")

        streams = [threading.Thread(daemon=True, target=h2g, args=(i,)) for i in range(8)]
        for t in streams:
            t.start()
        s = lib.command(uds, f"source {16 * MIB} 1")
        s.settimeout(stall)
        data = lib.read_all(s)
        s.close()
        for t in streams:
            t.join(stall * 2)
        if len(data) < 16 * MIB:
            errors.append(f"g2h: {len(data)} of {16 * MIB} bytes")
        if any(t.is_alive() for t in streams):
            errors.append("an h2g stream never finished")
    finally:
        guest.stop()
    if errors:
        raise RuntimeError("; ".join(errors))


SCENARIOS = {"image-bench": image_bench, "linux-mixed": linux_mixed}


def one_run(name, n, stall):
    work = tempfile.mkdtemp(prefix=f"stress-{name}-")
    vhost, uds = os.path.join(work, "v.sock"), os.path.join(work, "u.sock")
    daemon = lib.Daemon(work, [{"cid": 3, "socket": vhost, "uds": uds}],
                        pcap=os.path.join(work, "vsock.pcap"))
    t0 = time.monotonic()
    try:
        SCENARIOS[name](work, vhost, uds, stall)
    except Exception as e:  # noqa: BLE001
        keep = os.path.join(OUT, f"fail-{name}-{n}-{int(time.time())}")
        daemon.stop()
        os.makedirs(OUT, exist_ok=True)
        shutil.copytree(work, keep, ignore=shutil.ignore_patterns("*.sock", "*.fd"))
        print(f"{name} #{n}: FAILED after {time.monotonic() - t0:.0f} s: {e!r}; kept {keep}",
              flush=True)
        return False
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{name} #{n}: ok ({time.monotonic() - t0:.0f} s)", flush=True)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--load", type=int, default=2, help="busy processes beside the runs")
    ap.add_argument("--stall", type=float, default=60.0)
    ap.add_argument("--scenario", nargs="*", default=list(SCENARIOS))
    args = ap.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.load)]
    runs = failed = 0
    try:
        for n in range(args.runs):
            for name in args.scenario:
                runs += 1
                failed += not one_run(name, n, args.stall)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    print(f"stress: {runs} runs, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
