"""The tree's layering, checked from its #include lines and from the built
objects' symbols (issue 11), so that it cannot silently return.

  * Portable code (vsock/, agent/, drivers/) reaches the machine only
    through include/: no #include of a kernel/ or arch/ header.
  * No include cycle among the headers of one folder.
  * No call cycle among the files of one folder: file A depends on file B
    when A's object uses a symbol B's object defines (read with nm from the
    image and host objects that `make` built).  A grab-bag header that lets
    every file call every other cannot hide a cycle from this.
"""
import glob
import os
import re
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, "build")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
PORTABLE = ("vsock/", "agent/", "drivers/")
MACHINE = ("kernel/", "arch/")
# Where `make` leaves objects, and the nm that reads them.
OBJECT_TREES = [
    ("x86_64/obj", "nm"),
    ("aarch64/obj", "aarch64-linux-gnu-nm"),
    ("host/obj", "nm"),
]


def sources():
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=TOP,
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def includes(path):
    with open(os.path.join(TOP, path), encoding="utf-8", errors="replace") as f:
        return INCLUDE.findall(f.read())


def resolve(path, name):
    """The tracked file an #include "name" in `path` means, if any."""
    for candidate in (name, os.path.join(os.path.dirname(path), name)):
        candidate = os.path.normpath(candidate)
        if os.path.exists(os.path.join(TOP, candidate)):
            return candidate
    return None


def find_cycle(edges):
    """One cycle of a directed graph {node: set(nodes)} as a list, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def by_folder(edges):
    folders = {}
    for node, targets in edges.items():
        folder = os.path.dirname(node)
        folders.setdefault(folder, {})[node] = {
            t for t in targets if os.path.dirname(t) == folder and t != node}
    return folders


# ---- includes ---------------------------------------------------------------

def test_portable_code_reaches_the_machine_only_through_include():
    bad = []
    for path in sources():
        if path.startswith(PORTABLE):
            for name in includes(path):
                if (resolve(path, name) or name).startswith(MACHINE):
                    bad.append(f"{path} includes {name}")
    assert not bad, "portable code includes kernel/ or arch/:\n" + "\n".join(bad)


def header_graph():
    graph = {}
    for path in sources():
        if path.endswith(".h"):
            graph[path] = {t for t in (resolve(path, n) for n in includes(path)) if t}
    return by_folder(graph)


@pytest.mark.parametrize("folder", sorted(header_graph()))
def test_no_include_cycle_among_headers(folder):
    cycle = find_cycle(header_graph()[folder])
    assert cycle is None, "include cycle: " + " -> ".join(cycle)


# ---- symbols ----------------------------------------------------------------

def symbols(nm, obj):
    out = subprocess.run([nm, obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TDBRCGSV":
            defined.add(fields[2])
        elif len(fields) == 2 and fields[0] == "U":
            used.add(fields[1])
    return defined, used


def call_graph():
    """{folder: {source path without extension: set(paths it calls)}}"""
    defined, used = {}, {}
    for tree, nm in OBJECT_TREES:
        root = os.path.join(BUILD, tree)
        for obj in glob.glob(os.path.join(root, "**", "*.o"), recursive=True):
            node = os.path.relpath(obj, root)[:-2]
            if node.startswith("build/") or node in defined:
                continue  # generated code; or seen in another tree
            defined[node], used[node] = symbols(nm, obj)
    graph = {n: {m for m in defined if m != n and used[n] & defined[m]} for n in defined}
    return by_folder(graph)


CALLS = call_graph()


def test_objects_were_built():
    assert "vsock" in CALLS and "agent" in CALLS and "host/vhost" in CALLS, \
        "run `make` first: the call-graph checks read the built objects"


@pytest.mark.parametrize("folder", sorted(CALLS))
def test_no_call_cycle_within_a_folder(folder):
    cycle = find_cycle(CALLS[folder])
    assert cycle is None, "files that depend on each other: " + " -> ".join(cycle)


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
