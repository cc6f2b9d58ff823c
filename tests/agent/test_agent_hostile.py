"""Hostile ttRPC clients against the real image (issue 12, holes 9 and 10),
over the real backend: frame headers that claim 4 MiB and never send it,
and a client that pipelines requests without ever reading its answers.
(A refused sibling CID needs a second VM: the unit tests cover it,
tests/unit/test_agent_hostile.c.)"""
import select
import struct

import ttrpc_client as tc
from test_agent_qemu import create, read_all, remove, start, wait

import health_pb2
import ttrpc_pb2

# A smaller heap than the default 16 MiB, so that memory pinned by bare
# frame headers (the old agent malloc'd what each header claimed) shows.
AGENT_CONFIG = "agent.heap_mib=12\n"


def check(c):
    r = c.call("grpc.Health", "Check", health_pb2.CheckRequest(), health_pb2.HealthCheckResponse)
    assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_headers_claiming_4_mib_pin_no_heap(agent_vm):
    """Four 10-byte headers claiming 4 MiB each pinned the 16 MiB heap; now
    they claim nothing until their bytes come, and the agent goes on
    running containers beside them."""
    claims = []
    try:
        for _ in range(4):
            c = tc.Client.hvsock(agent_vm.uds, 1024)
            c.sock.sendall(struct.pack(">IIBB", 4 << 20, 1, tc.REQUEST, 0))
            claims.append(c)
        c = tc.Client.hvsock(agent_vm.uds, 1024)
        try:
            check(c)
            for i in range(32):
                create(c, f"heap{i}", ["echo", f"beside the claims {i}"])
            for i in range(32):
                start(c, f"heap{i}")
            for i in range(32):
                assert wait(c, f"heap{i}") == 0
                assert read_all(c, f"heap{i}") == f"beside the claims {i}\n".encode()
                remove(c, f"heap{i}")
        finally:
            c.close()
    finally:
        for c in claims:
            c.close()


def test_client_that_never_reads_is_held_back_and_can_drain(agent_vm):
    """60k pipelined Health.Check from a client that does not read: the
    agent stops reading it (its sends block) instead of queueing answers
    without bound, serves others meanwhile, and every answer arrives once
    the client reads."""
    hog = tc.Client.hvsock(agent_vm.uds, 1024, timeout=60)
    try:
        payload = ttrpc_pb2.Request(service="grpc.Health", method="Check",
                                    payload=health_pb2.CheckRequest().SerializeToString())
        body = payload.SerializeToString()
        hog.sock.setblocking(False)
        sent, pending = 0, b""
        while sent < 60000:
            pending = struct.pack(">IIBB", len(body), 2 * sent + 1, tc.REQUEST, 0) + body
            while pending:
                try:
                    pending = pending[hog.sock.send(pending):]
                except BlockingIOError:
                    if not select.select([], [hog.sock], [], 2.0)[1]:
                        break  # held back: nothing went for 2 s
            if pending:
                break
            sent += 1
        assert sent < 60000, "the agent took 60k requests without their answers being read"
        other = tc.Client.hvsock(agent_vm.uds, 1024)
        try:
            check(other)  # the agent is not wedged by the hog
        finally:
            other.close()
        hog.sock.setblocking(True)
        hog.sock.settimeout(60)
        for i in range(sent):
            stream, mtype, frame = hog.recv_frame()
            assert (stream, mtype) == (2 * i + 1, tc.RESPONSE)
        hog.sock.sendall(pending)
        stream, _, frame = hog.recv_frame()
        assert stream == 2 * sent + 1
        resp = ttrpc_pb2.Response()
        resp.ParseFromString(frame)
        assert resp.status.code == tc.OK
    finally:
        hog.close()
