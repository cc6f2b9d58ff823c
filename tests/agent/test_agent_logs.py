"""The log stream's acknowledgement contract in the real image (issue 12,
hole 14; agent/logstream.h).  256 KiB of random bytes go through `cat`,
WriteStdin on one connection and ReadStdout on another -- about 2,500 log
records through a 1,024-record ring -- while the host's log listener:

  * acknowledges lazily (at most every 0.2 s, only when lines arrive) and
    answers the agent's {"ack_request":N}: completes, nothing dropped;
  * does the same but ignores the requests (the listener of the issue):
    completes (agent.log_grace bounds every wait);
  * never acknowledges (plain socat): completes, with "dropped" records;
  * acknowledges every record: nothing dropped, seq contiguous.

agent.log_grace is 1 s here so that the listeners that lose records let
the workload finish quickly; no test asserts a speed."""
import json
import os
import random
import socket
import threading
import time

import ttrpc_client as tc
from test_agent_qemu import create, read_all, remove, start, wait, write_all

import agent_pb2
from google.protobuf import empty_pb2

AGENT_CONFIG = "agent.log_grace=1000\n"
A = "grpc.AgentService"


class Listener:
    """The host's end of the log stream: the Unix socket the backend
    forwards the guest's connection to host port 1025 to."""

    def __init__(self, path, policy):
        self.path, self.policy = path, policy
        self.records, self.dropped, self.requests = [], [], 0
        self.stop = threading.Event()
        if os.path.exists(path):
            os.unlink(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.srv.settimeout(0.05)
        self.thread = threading.Thread(daemon=True, target=self._run)
        self.thread.start()

    def _serve(self, conn):
        buf, last, last_ack, pending = b"", None, 0.0, False
        conn.settimeout(0.05)
        while not self.stop.is_set():
            try:
                data = conn.recv(65536)
                if not data:
                    return
            except socket.timeout:
                data = b""
            buf += data
            *lines, buf = buf.split(b"\n")
            arrived = False
            for line in lines:
                rec = json.loads(line)
                if "ack_request" in rec and "seq" not in rec:
                    self.requests += 1
                    pending = self.policy == "lazy"
                    continue
                self.records.append(rec)
                arrived = True
                if rec.get("msg") == "dropped" and "seq" not in rec:
                    self.dropped.append(rec)
                if "seq" in rec:
                    last = rec["seq"]
                    if self.policy == "every":
                        conn.sendall(f"ACK {last}\n".encode())
            if self.policy in ("lazy", "lazy-deaf") and last is not None and \
                    (arrived or pending) and time.monotonic() - last_ack >= 0.2:
                conn.sendall(f"ACK {last}\n".encode())
                last_ack, pending = time.monotonic(), False

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            try:
                self._serve(conn)
            except OSError:
                pass  # the agent reset the connection: wait for its reconnect
            conn.close()

    def seqs(self):
        return [r["seq"] for r in self.records if "seq" in r]

    def settle(self, timeout=60):
        """Wait until the agent is connected and its replay is over; the
        highest seq so far."""
        deadline = time.monotonic() + timeout
        while not self.seqs():
            assert time.monotonic() < deadline, "the agent's log stream never connected"
            time.sleep(0.05)
        n = -1
        while n != len(self.records):
            n = len(self.records)
            time.sleep(0.5)
        return max(self.seqs())

    def close(self):
        self.stop.set()
        self.thread.join(10)
        self.srv.close()
        os.unlink(self.path)


def cat_256k(agent_vm, cid):
    """256 KiB of random bytes through cat; the bytes that came back."""
    data = random.Random(cid).randbytes(256 << 10)
    reader = tc.Client.hvsock(agent_vm.uds, 1024, timeout=120)
    writer = tc.Client.hvsock(agent_vm.uds, 1024, timeout=120)
    try:
        create(reader, cid, ["cat"])
        start(reader, cid)
        failed = []

        def write():
            try:
                write_all(writer, cid, data)
                writer.call(A, "CloseStdin", agent_pb2.CloseStdinRequest(
                    container_id=cid, exec_id=cid), empty_pb2.Empty)
            except Exception as e:  # noqa: BLE001 -- reported below
                failed.append(e)

        t = threading.Thread(daemon=True, target=write)
        t.start()
        out = read_all(reader, cid)
        t.join(120)
        assert not t.is_alive() and not failed, failed
        assert wait(reader, cid) == 0
        remove(reader, cid)
        return data, out
    finally:
        reader.close()
        writer.close()


def stdout_bytes(listener, cid, base):
    """Bytes of the container's output that reached the listener (newlines
    end records and are not in them)."""
    return sum(len(r["msg"].encode("latin-1")) for r in listener.records
               if r.get("seq", 0) > base and r.get("container_id") == cid
               and r.get("stream") == "stdout")


def run_with(agent_vm, policy, cid):
    listener = Listener(agent_vm.uds + "_1025", policy)
    try:
        base = listener.settle()
        data, out = cat_256k(agent_vm, cid)
        assert out == data, "cat's output differs from its input"
        deadline = time.monotonic() + 60  # the records after the program
        while not any(r.get("container_id") == cid and "removed" in r.get("msg", "")
                      for r in listener.records):
            assert time.monotonic() < deadline, f"the log stream stopped; {listener.records[-2:]}"
            time.sleep(0.1)
        return listener, base, data
    finally:
        listener.close()


def no_loss(listener, base, data, cid):
    assert not [d for d in listener.dropped if d["to"] > base], listener.dropped[:3]
    seqs = sorted(set(s for s in listener.seqs() if s > base))
    assert seqs == list(range(base + 1, seqs[-1] + 1))
    assert stdout_bytes(listener, cid, base) == len(data) - data.count(b"\n")


def test_lazy_listener_answering_requests_loses_nothing(agent_vm):
    listener, base, data = run_with(agent_vm, "lazy", "lazy")
    assert listener.requests > 0
    no_loss(listener, base, data, "lazy")


def test_lazy_listener_that_ignores_requests_does_not_stall(agent_vm):
    run_with(agent_vm, "lazy-deaf", "deaf")


def test_listener_that_never_acknowledges_gets_dropped_records(agent_vm):
    listener, base, _ = run_with(agent_vm, "never", "never")
    assert listener.requests > 0
    assert [d for d in listener.dropped if d["to"] > base]


def test_listener_acknowledging_every_record_loses_nothing(agent_vm):
    listener, base, data = run_with(agent_vm, "every", "every")
    no_loss(listener, base, data, "every")
