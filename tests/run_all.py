#!/usr/bin/env python3
"""run_all.py -- run every test suite and print one closing line.

Usage: run_all.py --unit BIN... [--fuzz BIN... [--fuzz-seconds N]] [--pytest DIR...]

Unit-test binaries print "N passed, N failed" as their last line; a binary
that dies (a sanitizer report, a signal) counts as one more failure.  The
pytest suites run in one pytest invocation with a JUnit report, from which
the totals are read.  The last line printed is
"total: N passed, N failed[, N skipped]", and the exit status is non-zero
when anything failed or was skipped.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = re.compile(r"^(\d+) passed, (\d+) failed", re.M)


# A hung test fails instead of blocking CI (seconds): each unit binary, each
# pytest test (pytest-timeout, setup and teardown included), and the whole
# pytest run, which is killed with everything it started.
UNIT_TIMEOUT = 300
TEST_TIMEOUT = 600
PYTEST_TIMEOUT = 3000


def run_unit(binaries):
    passed = failed = 0
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            print(f"unit {os.path.basename(binary)}: not built [FAILED]")
            failed += 1
            continue
        try:
            proc = subprocess.run([binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=UNIT_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            proc = subprocess.CompletedProcess(
                e.cmd, -9, out + f"\n{binary}: no result within {UNIT_TIMEOUT} s (killed)\n")
        found = COUNTS.findall(proc.stdout)
        p, f = (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)
        if proc.returncode != 0 and f == 0:
            f = 1  # died before it could report
        passed += p
        failed += f
        status = "ok" if f == 0 else "FAILED"
        print(f"unit {os.path.basename(binary)}: {p} passed, {f} failed [{status}]")
        if f:
            print(proc.stdout)
    return passed, failed


def run_fuzz(binaries, seconds):
    """Each libFuzzer target's regression inputs, then `seconds` of fuzzing."""
    if not binaries:
        return 0, 0
    proc = subprocess.run([sys.executable, os.path.join(TOP, "tests", "run_fuzz.py"),
                           "--seconds", str(seconds)] + binaries, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace")
    found = COUNTS.findall(proc.stdout)
    p, f = (int(found[-1][0]), int(found[-1][1])) if found else (0, 1)
    print(COUNTS.sub("", proc.stdout).rstrip())
    return p, f


def run_pytest(dirs):
    dirs = [d for d in dirs if os.path.isdir(d)]
    if not dirs:
        return 0, 0, 0
    report = os.path.join(TOP, "build", "test-results", "pytest.xml")
    os.makedirs(os.path.dirname(report), exist_ok=True)
    if os.path.exists(report):
        os.unlink(report)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE",
           f"--timeout={TEST_TIMEOUT}", f"--junitxml={report}"] + dirs
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=TOP, start_new_session=True)
    try:
        proc.wait(timeout=PYTEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"pytest: no result within {PYTEST_TIMEOUT} s; killing it and what it "
              "started", flush=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return 0, 1, 0
    except KeyboardInterrupt:  # its own session: pass ^C on, let it clean up
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait()
        raise
    if not os.path.exists(report):
        return 0, 1, 0
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = fails = skips = 0
    for s in suites:
        total += int(s.get("tests", 0))
        fails += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skips += int(s.get("skipped", 0))
    if proc.returncode not in (0, 1, 5) and fails == 0:
        fails = 1  # pytest itself failed (usage or internal error)
    return total - fails - skips, fails, skips


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--fuzz", nargs="*", default=[])
    ap.add_argument("--fuzz-seconds", type=int, default=30)
    ap.add_argument("--pytest", nargs="*",
                    default=["tests/lint", "tests/agentctl", "tests/qemu", "tests/backend", "tests/agent"])
    args = ap.parse_args()
    up, uf = run_unit(args.unit)
    fp, ff = run_fuzz(args.fuzz, args.fuzz_seconds)
    qp, qf, qs = run_pytest(args.pytest)
    passed, failed = up + fp + qp, uf + ff + qf
    line = f"total: {passed} passed, {failed} failed"
    if qs:
        line += f", {qs} skipped"
    print(line)
    if qs:
        # Every tool a test needs is installed by scripts/deps.sh, so a skip
        # means a test did not run: that fails the suite (issue 10).
        print(f"error: {qs} test(s) skipped; no test may skip", file=sys.stderr)
    return 1 if failed or qs or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
