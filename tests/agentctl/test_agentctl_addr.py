"""agentctl's agent addresses in Kata's forms (issue 13), against a fake
agent on a Unix socket (no VM): hvsock:// with absolute paths and any-case
schemes, unix:// plain and with --hybrid-vsock[-port], abstract sockets,
and the errors for addresses that cannot work; plus `kill`'s Kata-like
defaults (SIGKILL, empty exec id)."""
import os
import subprocess
import tempfile

import pytest

from fake_agent import FakeAgent

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENTCTL = os.path.join(TOP, "build", "host", "agentctl")


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="actl-")
    yield d
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def agentctl(*args):
    return subprocess.run([AGENTCTL] + list(args), capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("scheme", ["hvsock", "HVSOCK", "HvSock"])
def test_hvsock_absolute_path_any_case(tmpdir_short, scheme):
    path = os.path.join(tmpdir_short, "v.sock")
    agent = FakeAgent(path, hybrid=True)
    try:
        out = agentctl("--addr", f"{scheme}://{path}:1024", "check")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "SERVING"
        assert agent.connect_lines == ["CONNECT 1024\n"]
        assert agent.requests[0][:2] == ("grpc.Health", "Check")
    finally:
        agent.close()


def test_unix_with_hybrid_vsock_and_port(tmpdir_short):
    path = os.path.join(tmpdir_short, "clh.sock")
    agent = FakeAgent(path, hybrid=True)
    try:
        out = agentctl("--server-address", f"unix://{path}", "--hybrid-vsock",
                       "--hybrid-vsock-port", "2048", "check")
        assert out.returncode == 0, out.stderr
        assert agent.connect_lines == ["CONNECT 2048\n"]
        out = agentctl("--addr", f"UNIX://{path}", "--hybrid-vsock", "check")
        assert out.returncode == 0, out.stderr
        assert agent.connect_lines[-1] == "CONNECT 1024\n"
    finally:
        agent.close()


def test_plain_unix_and_abstract_sockets(tmpdir_short):
    path = os.path.join(tmpdir_short, "agent.sock")
    for where in (path, "@" + path + "-abstract"):
        agent = FakeAgent(where)
        try:
            out = agentctl("--addr", f"unix://{where}", "check")
            assert out.returncode == 0, out.stderr
            assert agent.connect_lines == []
            assert agent.requests[0][:2] == ("grpc.Health", "Check")
        finally:
            agent.close()


@pytest.mark.parametrize("addr,why", [
    ("vsock://-1:1024", "any CID"),
    ("vsock://:1024", "any CID"),
    ("vsock://3:4294967295", "port"),
    ("vsock://3:99999999999", "port"),
    ("hvsock:///tmp/x.sock", "port"),
    ("vsock://three:1024", "CID"),
    ("tcp://127.0.0.1:1024", "scheme"),
])
def test_bad_addresses_are_usage_errors(addr, why):
    out = agentctl("--addr", addr, "check")
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert why in out.stderr


def test_kill_defaults_to_sigkill_of_the_whole_container(tmpdir_short):
    path = os.path.join(tmpdir_short, "v.sock")
    agent = FakeAgent(path, hybrid=True)
    try:
        assert agentctl("--addr", f"hvsock://{path}:1024", "kill", "c1").returncode == 0
        assert agentctl("--addr", f"hvsock://{path}:1024", "kill", "-s", "TERM", "c1",
                        "e1").returncode == 0
        kills = [r[2] for r in agent.requests if r[1] == "SignalProcess"]
        assert kills[0] == {1: b"c1", 3: 9}            # exec_id "" is omitted on the wire
        assert kills[1] == {1: b"c1", 2: b"e1", 3: 15}
    finally:
        agent.close()


def test_an_error_message_longer_than_255_bytes_is_shown_cut(tmpdir_short):
    """Kata's agent words its errors with anyhow's Debug output: often over
    255 bytes. agentctl shows the first KiB, then "...", never "malformed"."""
    path = os.path.join(tmpdir_short, "v.sock")
    message = ("no container '" + "c" * 64 + "': " + "context " * 400).encode()
    agent = FakeAgent(path, hybrid=True, errors={"StartContainer": (5, message)})
    try:
        out = agentctl("--addr", f"hvsock://{path}:1024", "start", "c1")
        assert out.returncode == 1
        assert "malformed" not in out.stderr
        assert "NOT_FOUND" in out.stderr and "c" * 64 in out.stderr
        assert out.stderr.rstrip().endswith("...")
        assert 1000 < len(out.stderr) < 1100
    finally:
        agent.close()
