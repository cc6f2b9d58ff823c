"""A static Go program in the image (issue 15), on both architectures:
built here with Debian's golang-go (CGO_ENABLED=0, GOPATH mode, with
golang.org/x/sys/unix from golang-golang-x-sys-dev), it listens on a vsock
port, serves 100 concurrent connections with a goroutine each and answers
SIGTERM by exiting 0.  Go's runtime needs threads, futexes, signals on an
alternate stack with Linux's frame, and mmap's hints."""
import os
import socket
import subprocess
import sys

import pytest

import ttrpc_client as tc
import test_user_programs as up
from test_user_vsock import wait_for_output

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from backend.backend_lib import hybrid_connect  # noqa: E402
from backend import backend_lib as lib  # noqa: E402

GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def build_go(arch, d):
    out = os.path.join(d, f"govsock-{arch}")
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", CGO_ENABLED="0",
               GOOS="linux", GOARCH=GOARCH[arch], GOCACHE=os.path.join(d, "gocache"),
               GOFLAGS="")
    subprocess.run(["go", "build", "-o", out, os.path.join(up.PROGS, "govsock", "main.go")],
                   check=True, env=env, cwd=d)
    return out


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def vm(request, tmp_path_factory):
    arch = request.param
    workdir = tmp_path_factory.mktemp(f"govm-{arch}")
    with up.agent_vm(arch, workdir, "ugo-", {"govsock": build_go(arch, str(workdir))}, mem_mib=96) as v:
        yield v


@pytest.fixture
def c(vm):
    client = tc.Client.hvsock(vm.uds, 1024)
    yield client
    client.close()


def test_go_server_100_goroutines_then_sigterm_exits_0(c, vm):
    up.create(c, "go", ["/bin/govsock", "5400"])
    wait_for_output(c, "go", b"READY 5400")
    conns = [hybrid_connect(vm.uds, 5400) for _ in range(100)]
    sent = [os.urandom(2000 + 131 * i) for i in range(100)]
    for s, d in zip(conns, sent):  # 100 connections open at once
        s.sendall(d)
    for s, d in zip(conns, sent):
        s.shutdown(socket.SHUT_WR)
        assert lib.read_all(s) == d
        s.close()
    up.signal(c, "go", 15)
    assert up.wait(c, "go") == 0
    out = up.read_all(c, "go")
    assert b"SERVED 100" in out, out
    up.remove(c, "go")
    up.healthy(c)

