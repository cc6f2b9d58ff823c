#!/usr/bin/env python3
"""run_fuzz.py -- run libFuzzer targets for a bounded time each.

Usage: run_fuzz.py [--seconds N] [--jobs J] BIN...

For target build/fuzz/NAME:
  * every file in tests/fuzz/regress/NAME/ (inputs that once crashed) runs
    first, once each: a failure there is a regression;
  * then the fuzzer runs for N seconds on a working corpus in
    build/fuzz/corpus/NAME/, seeded from tests/fuzz/corpus/NAME/ (the seeds
    in the repository are read, never written).
A crash leaves its input in build/fuzz/crashes/NAME/; turn it into a file
under tests/fuzz/regress/NAME/ once fixed.  Prints one line per target with
its executions, and "N passed, N failed" at the end (the unit-test format
that run_all.py reads).
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXECS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")


def run_target(binary, seconds):
    name = os.path.basename(binary)
    seeds = os.path.join(TOP, "tests", "fuzz", "corpus", name)
    regress = os.path.join(TOP, "tests", "fuzz", "regress", name)
    work = os.path.join(TOP, "build", "fuzz", "corpus", name)
    crashes = os.path.join(TOP, "build", "fuzz", "crashes", name)
    os.makedirs(work, exist_ok=True)
    os.makedirs(crashes, exist_ok=True)
    log = []
    if not os.access(binary, os.X_OK):
        return name, False, 0, f"{binary} was not built"
    if os.path.isdir(regress):
        inputs = sorted(os.path.join(regress, f) for f in os.listdir(regress))
        if inputs:
            proc = subprocess.run([binary] + inputs, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace",
                                  timeout=300)
            if proc.returncode != 0:
                return name, False, 0, f"regression input failed:\n{proc.stdout[-4000:]}"
            log.append(f"{len(inputs)} regression inputs")
    corpora = [work] + ([seeds] if os.path.isdir(seeds) else [])
    cmd = [binary, f"-max_total_time={seconds}", "-print_final_stats=1",
           "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={crashes}/"] + corpora
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        return name, False, 0, "the fuzzer did not stop on time"
    found = EXECS.findall(proc.stdout)
    execs = int(found[-1]) if found else 0
    ok = proc.returncode == 0
    detail = ", ".join(log)
    if not ok:
        detail = proc.stdout[-6000:]
    return name, ok, execs, detail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = pool.map(lambda b: run_target(b, args.seconds), args.binaries)
        for name, ok, execs, detail in results:
            status = "ok" if ok else "FAILED"
            print(f"fuzz {name}: {execs} executions in {args.seconds} s [{status}]"
                  + (f" ({detail})" if ok and detail else ""), flush=True)
            if not ok:
                print(detail)
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
