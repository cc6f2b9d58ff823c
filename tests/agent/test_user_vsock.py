"""Programs in the image use AF_VSOCK with the standard socket calls (issue 15),
on both architectures: static C programs built here (an epoll echo server,
checks of Linux's errors and of poll/select readiness) serve and dial
through the real backend; the host side connects through the backend's
hybrid socket (CONNECT PORT) or listens at <uds>_PORT."""
import errno
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest

import ttrpc_client as tc
import test_user_programs as up

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from backend.backend_lib import HostListener, hybrid_connect  # noqa: E402
from backend import backend_lib as lib  # noqa: E402

A = up.A
PROGS = up.PROGS


PEER = os.path.join(os.path.dirname(up.HERE), "backend", "guest", "vsockpeer.c")
MIB = 1 << 20


def programs(arch, d):
    files = {name: up.build(arch, f"{name}.c", os.path.join(d, f"{name}-{arch}"), "-static")
             for name in ("vsock_echo", "vsock_misc")}
    # the Linux test guest's peer, the same source unmodified
    files["vsockpeer"] = up.build(arch, PEER, os.path.join(d, f"vsockpeer-{arch}"), "-static")
    return files


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def vm(request, tmp_path_factory):
    arch = request.param
    workdir = tmp_path_factory.mktemp(f"vsockvm-{arch}")
    with up.agent_vm(arch, workdir, "uvsock-", programs(arch, str(workdir))) as v:
        yield v


@pytest.fixture
def c(vm):
    client = tc.Client.hvsock(vm.uds, 1024)
    yield client
    client.close()


def wait_for_output(c, cid, text, timeout=30):
    out = b""
    deadline = time.monotonic() + timeout
    while text not in out:
        assert time.monotonic() < deadline, f"no {text!r} in {out!r}"
        r = c.call(A, "ReadStdout", up.agent_pb2.ReadStreamRequest(
            container_id=cid, exec_id=cid, len=4096), up.agent_pb2.ReadStreamResponse)
        out += r.data
    return out


def fields(out):
    """{"name": "value"} of every "name=value" on the lines."""
    return dict(re.findall(r"(\w+)=(-?\d+)", out.decode()))


def echo_one(uds, port, data, chunk=65536):
    s = hybrid_connect(uds, port)
    got = bytearray()

    def reader():
        while True:
            b = s.recv(1 << 16)
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
    s.shutdown(socket.SHUT_WR)
    t.join(120)
    s.close()
    return bytes(got)


def test_epoll_echo_100_concurrent_and_a_slow_reader(c, vm):
    up.create(c, "echo", ["/bin/vsock_echo", "5000", "101"])
    wait_for_output(c, "echo", b"READY 5000")
    # 100 connections open at once, each with its own bytes
    conns = [hybrid_connect(vm.uds, 5000) for _ in range(100)]
    sent = [os.urandom(4096 + 97 * i) for i in range(100)]
    for s, d in zip(conns, sent):
        s.sendall(d)
        s.shutdown(socket.SHUT_WR)
    for s, d in zip(conns, sent):
        got = bytearray()
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            got.extend(b)
        s.close()
        assert bytes(got) == d
    # a reader slower than the writer: backpressure, nothing lost
    data = os.urandom(4 << 20)
    s = hybrid_connect(vm.uds, 5000)
    got = bytearray()
    done = threading.Event()

    def writer():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while True:
        b = s.recv(16384)
        if not b:
            break
        got.extend(b)
        if len(got) < (1 << 20):
            time.sleep(0.01)  # the first MiB trickles out
    t.join(60)
    s.close()
    assert zlib.crc32(got) == zlib.crc32(data) and len(got) == len(data)
    assert up.wait(c, "echo") == 0
    out = up.read_all(c, "echo")
    assert b"SERVED 101" in out, out
    up.remove(c, "echo")
    up.healthy(c)


def test_bad_use_gives_linux_errors(c, vm):
    out, err, status = up.run(c, "verr", ["/bin/vsock_misc", "errors"])
    assert status == 0, (out, err)
    f = fields(out)
    expect = {
        "devvsock_ioctl": "0", "cid": "7",
        "dgram": "94",               # ESOCKTNOSUPPORT
        "inet": "97",                # EAFNOSUPPORT
        "bind1024": "98",            # EADDRINUSE: the agent's port
        "accept_unbound": "22",      # EINVAL: not listening
        "listen_unbound": "22",
        "read_unconnected": "107",   # ENOTCONN
        "write_unconnected": "107",
        "bind": "0", "bind_again": "22", "accept_bound": "22",
        "bind_taken": "98", "bind_other_cid": "99", "bind_any": "0",
        "any_port_high": "1", "len": "16", "peername_unconnected": "107",
        "so_type": "1", "buffer_size": "262144", "buffer_size_set": "65536",
        "buffer_max": "262144", "rcvlowat": "0",
        # Linux's virtio transport answers an RST to a connect with
        # ECONNRESET (virtio_transport_recv_connecting; tests/backend sees
        # the same from the Linux guest)
        "connect_timeout_set": "0", "connect_nolistener": "104",
        "connect_nonblock": "115",   # EINPROGRESS
        "poll_err": "1", "so_error": "104", "so_error_again": "0",
        "close_bad": "9", "notsock": "88",
    }
    assert {k: f.get(k) for k in expect} == expect, out.decode()


def test_write_after_peer_shutdown_is_epipe_then_sigpipe(c, vm):
    lst = HostListener(vm.uds, 6100, lambda conn: conn.close())
    try:
        out, err, status = up.run(c, "vpipe", ["/bin/vsock_misc", "sigpipe", "6100"])
    finally:
        lst.close()
    assert fields(out).get("epipe") == "32", (out, err)
    assert b"survived" not in out
    assert status == 128 + 13  # SIGPIPE, no handler


def test_poll_select_over_socket_pipe_and_stdin(c, vm):
    def host(conn):
        buf = b""
        while b"go" not in buf:
            buf += conn.recv(16)
        time.sleep(0.3)
        conn.sendall(b"x")
        while b"end" not in buf:
            buf += conn.recv(16)
        return True

    lst = HostListener(vm.uds, 6101, host)
    try:
        out, err, status = up.run(c, "vready", ["/bin/vsock_misc", "ready", "6101"])
    finally:
        lst.close()
    assert status == 0, (out, err)
    f = fields(out)
    assert f == {"poll_none": "0", "poll_pipe": "1", "pipe_in": "1", "sock_in": "0",
                 "select_sock": "1", "isset": "1", "pipe_isset": "0",
                 "pselect_timeout": "0", "ppoll_stdin": "1", "poll_out": "1",
                 "hup_in": "1", "read_eof": "0"}, out.decode()


def test_client_to_the_host_and_sockets_closed_at_kill(c, vm):
    def sink(conn):
        n = 0
        while True:
            b = conn.recv(65536)
            if not b:
                break
            n += len(b)
        conn.sendall(b"y" * 1000)
        return n

    lst = HostListener(vm.uds, 6102, sink)
    try:
        out, err, status = up.run(c, "vclient", ["/bin/vsock_misc", "client", "6102", "1000000"])
        assert (fields(out), status) == ({"sent": "1000000", "got": "1000"}, 0), err
        # a program killed while it serves: its peer sees the end
        up.create(c, "echo-k", ["/bin/vsock_echo", "5001"])
        wait_for_output(c, "echo-k", b"READY 5001")
        s = hybrid_connect(vm.uds, 5001)
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
        up.signal(c, "echo-k", 9)
        assert up.wait(c, "echo-k") == 137
        s.settimeout(10)
        assert s.recv(16) == b""  # SHUTDOWN/RST reached the host as EOF
        s.close()
        up.remove(c, "echo-k")
        # and its port is free again
        up.create(c, "echo-k2", ["/bin/vsock_echo", "5001", "1"])
        wait_for_output(c, "echo-k2", b"READY 5001")
        assert echo_one(vm.uds, 5001, b"again") == b"again"
        assert up.wait(c, "echo-k2") == 0
        up.remove(c, "echo-k2")
    finally:
        lst.close()
    assert lst.results == [1000000]


@pytest.fixture
def peer(c, vm):
    """The Linux guest's vsockpeer serving port 5300 (and SEQPACKET 5301),
    one child process per connection."""
    up.create(c, "peer", ["/bin/vsockpeer", "serve", "5300"])
    wait_for_output(c, "peer", b"VSOCKPEER READY")
    yield 5300
    up.signal(c, "peer", 9)
    assert up.wait(c, "peer") == 137
    up.remove(c, "peer")


def command(vm, port, line):
    s = hybrid_connect(vm.uds, port)
    s.sendall(line.encode() + b"\n")
    return s


def test_linux_peer_program_takes_16_mib_from_the_host(c, vm, peer):
    data = os.urandom(16 * MIB)
    s = command(vm, peer, "sink")
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    answer = lib.read_all(s).split()
    s.close()
    assert answer[:3] == [b"OK", str(len(data)).encode(), str(lib.crc(data)).encode()], answer


def test_linux_peer_program_dials_the_host_16_mib_each_way(c, vm, peer):
    received = {}

    def sink(conn):
        received["data"] = lib.read_all(conn)
        conn.sendall(b"thanks")  # after the image's half-close
        return True

    data = os.urandom(16 * MIB)

    def source(conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        return lib.read_all(conn)

    one, two = HostListener(vm.uds, 6200, sink), HostListener(vm.uds, 6201, source)
    try:
        ctl = command(vm, peer, f"dial 2 6200 source {16 * MIB} 7")
        err, sent, sent_crc, got, got_crc = lib.result(ctl)
        ctl.close()
        # the image as the client again, the host's bytes coming in
        ctl = command(vm, peer, "dial 2 6201 sink")
        err2, sent2, sent_crc2, got2, got_crc2 = lib.result(ctl)
        ctl.close()
    finally:
        one.close()
        two.close()
    assert (err, sent, got, got_crc) == (0, 16 * MIB, 6, lib.crc(b"thanks"))
    assert lib.crc(received["data"]) == sent_crc and len(received["data"]) == sent
    assert (err2, sent2, got2, got_crc2) == (0, 0, 16 * MIB, lib.crc(data))
    assert not one.errors and not two.errors and two.results == [b""]
    # nobody listening: the error Linux's guest gets (test_backend_linux)
    ctl = command(vm, peer, "dial 2 6999 none")
    assert lib.result(ctl)[0] == errno.ECONNRESET
    ctl.close()


def test_forking_server_serves_50_concurrent_connections(c, vm, peer):
    conns = [command(vm, peer, "echo") for _ in range(50)]
    sent = [os.urandom(1000 + 311 * i) for i in range(50)]
    for s, d in zip(conns, sent):  # all 50 children alive at once
        s.sendall(d)
    for s, d in zip(conns, sent):
        s.shutdown(socket.SHUT_WR)
        assert lib.read_all(s) == d
        s.close()
    # the children are gone (SIGCHLD ignored: no zombies) and the server
    # still serves
    more = b"once more\n" * 10
    assert echo_one(vm.uds, peer, b"echo\n" + more, chunk=7) == more
