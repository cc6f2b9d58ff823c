"""--forward-cid and --forward-listen (vhost-device-vsock's "vsock backend",
issue 16 point 3): guest connections to host port P go on to AF_VSOCK
forward-cid:P, host programs connecting to a --forward-listen port reach
that guest port, and nothing (no CONNECT/OK line) is said on either.

This host has no vsock transport to forward to (no /dev/vhost-vsock, no
vsock_loopback), so the daemon's ASan build runs with its test hook: AF_VSOCK
port P is TCP 127.0.0.1:P (host/vhost/forward.h).  What that leaves
untested: the AF_VSOCK socket calls themselves (socket/connect/bind with a
sockaddr_vm) and the forward CID, which TCP cannot carry."""
import os
import socket
import time

import pytest

import backend_lib as lib
from fake_frontend import HDR, OP_REQUEST, OP_RESPONSE, OP_RST, OP_RW, FakeFrontend


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def forwarding(request, prerequisites, tmp_path):
    work = str(tmp_path)
    listen = free_port()
    vm = {"cid": 9, "socket": os.path.join(work, "vhost9.sock"),
          "extra": f"forward-cid=1,forward-listen={listen},tx-buffer-size=65536"}
    d = lib.Daemon(work, [vm], binary=lib.DAEMON_ASAN,
                   env={"VHOST_USER_VSOCK_FORWARD_TO_TCP": "1"})
    d.listen_port = listen
    yield d
    code = d.stop()
    if request.node.name in request.module.__dict__.get("_failed", []) or code != 0:
        lib.dump_logs(request, d, [], code)
    assert code == 0


def connect(daemon):
    vm = daemon.vms[0]
    fe = FakeFrontend(vm["socket"], vm["cid"])
    fe.setup()
    fe.post_rx(8)
    return fe


def test_guest_connection_goes_on_to_the_forward_cid(forwarding):
    port = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    listener.settimeout(10)
    fe = connect(forwarding)
    fe.send(fe.header(OP_REQUEST, 1500, port))
    hdr, _ = fe.recv()
    assert hdr[6] == OP_RESPONSE
    conn, _ = listener.accept()
    conn.settimeout(10)
    fe.send(fe.header(OP_RW, 1500, port, length=7) + b"forward")
    assert conn.recv(7) == b"forward"  # no CONNECT line in front
    conn.sendall(b"back")
    hdr, payload = fe.recv()
    assert hdr[6] == OP_RW and payload == b"back"
    conn.close()
    listener.close()
    fe.close()


def test_guest_connection_to_nobody_is_refused_with_a_reason(forwarding):
    port = free_port()  # nobody listens
    fe = connect(forwarding)
    fe.send(fe.header(OP_REQUEST, 1501, port))
    hdr, _ = fe.recv()
    while hdr[6] != OP_RST:
        hdr, _ = fe.recv()
    assert hdr[3] == 1501
    lib.wait_for(lambda: f"port {port}" in forwarding.read_log(), 10, "the log line")
    assert "AF_VSOCK connect to cid 1" in forwarding.read_log()
    fe.close()


def test_forward_listen_port_reaches_the_guest(forwarding):
    fe = connect(forwarding)
    port = forwarding.listen_port
    host = socket.create_connection(("127.0.0.1", port), timeout=10)
    hdr, _ = fe.recv()
    src_cid, dst_cid, src_port, dst_port, _, _, op = hdr[:7]
    assert (op, src_cid, dst_cid, dst_port) == (OP_REQUEST, 2, 9, port)
    fe.send(fe.header(OP_RESPONSE, port, src_port))
    fe.send(fe.header(OP_RW, port, src_port, length=5) + b"hello")
    assert host.recv(5) == b"hello"  # no "OK" line in front
    host.sendall(b"guest")
    hdr, payload = fe.recv()
    while hdr[6] != OP_RW:
        hdr, payload = fe.recv()
    assert payload == b"guest" and hdr[3] == port
    host.close()
    fe.close()


def test_forward_listen_without_a_guest_answer_is_closed(forwarding):
    fe = connect(forwarding)
    host = socket.create_connection(("127.0.0.1", forwarding.listen_port), timeout=10)
    hdr, _ = fe.recv()
    assert hdr[6] == OP_REQUEST
    fe.send(fe.header(OP_RST, hdr[3], hdr[2]))  # nobody listens in the guest
    host.settimeout(10)
    assert lib.read_all(host) == b""
    host.close()
    fe.close()
    time.sleep(0.1)
    assert forwarding.proc.poll() is None


def test_seqpacket_is_not_forwarded(forwarding):
    """SEQPACKET over --forward-cid is refused with a reason: Linux's
    non-blocking AF_VSOCK SEQPACKET send can send part of a message and
    still say EAGAIN."""
    vm = forwarding.vms[0]
    fe = FakeFrontend(vm["socket"], vm["cid"])
    fe.setup(features=1 << 1)  # F_SEQPACKET acknowledged
    fe.post_rx(8)
    fe.send(HDR.pack(9, 2, 1600, free_port(), 0, 2, OP_REQUEST, 0, 65536, 0))
    hdr, _ = fe.recv()
    assert hdr[6] == OP_RST and hdr[5] == 2
    lib.wait_for(lambda: "SEQPACKET is not forwarded" in forwarding.read_log(), 10, "log")
    fe.close()
