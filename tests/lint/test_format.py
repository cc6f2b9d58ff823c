"""Formatting is fixed by .clang-format (issue 11): every tracked C file is
as clang-format leaves it, so that diffs stay about substance.
`make format` rewrites the tree; this test names the files that differ."""
import os
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_c_sources_are_clang_formatted():
    files = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=TOP, capture_output=True,
                           text=True, check=True).stdout.split()
    assert files
    proc = subprocess.run(["clang-format", "--dry-run", "--Werror", "--style=file"] + files,
                          cwd=TOP, capture_output=True, text=True)
    unformatted = sorted({line.split(":", 1)[0] for line in proc.stderr.splitlines()
                          if ": error:" in line})
    assert proc.returncode == 0, (
        "not clang-formatted (run `make format`): " + " ".join(unformatted)
        + ("" if unformatted else "\n" + proc.stderr[-2000:]))
