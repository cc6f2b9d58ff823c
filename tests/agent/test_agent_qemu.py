"""The agent in the real image through the real backend (issue 7): every
method, the catalogue's exact outputs, 1 MiB through cat, 32 containers,
spin vs Health.Check, out-of-order answers, malformed frames, agentctl,
and the log stream across a listener restart.  One VM for the module."""
import hashlib
import os
import socket
import subprocess
import threading
import time

import pytest

import ttrpc_client as tc
from ttrpc_client import RpcError

import agent_pb2
import agentext_pb2
import health_pb2
import oci_pb2
from google.protobuf import empty_pb2

TOP = tc.TOP
AGENTCTL = os.path.join(TOP, "build", "host", "agentctl")
A = "grpc.AgentService"


def create(c, cid, args, env=("PATH=/bin",)):
    spec = oci_pb2.Spec(Process=oci_pb2.Process(Args=list(args), Env=list(env), Cwd="/"))
    c.call(A, "CreateContainer", agent_pb2.CreateContainerRequest(
        container_id=cid, exec_id=cid, OCI=spec), empty_pb2.Empty)


def start(c, cid):
    c.call(A, "StartContainer", agent_pb2.StartContainerRequest(container_id=cid),
           empty_pb2.Empty)


def read_all(c, cid, method="ReadStdout", exec_id=None):
    out = b""
    while True:
        r = c.call(A, method, agent_pb2.ReadStreamRequest(
            container_id=cid, exec_id=exec_id or cid, len=32768), agent_pb2.ReadStreamResponse)
        if not r.data:
            return out
        out += r.data


def write_all(c, cid, data):
    while data:
        r = c.call(A, "WriteStdin", agent_pb2.WriteStreamRequest(
            container_id=cid, exec_id=cid, data=data[:32768]), agent_pb2.WriteStreamResponse)
        assert 0 < r.len <= len(data[:32768])
        data = data[r.len:]


def wait(c, cid, exec_id=None):
    return c.call(A, "WaitProcess", agent_pb2.WaitProcessRequest(
        container_id=cid, exec_id=exec_id or cid), agent_pb2.WaitProcessResponse).status


def remove(c, cid):
    c.call(A, "RemoveContainer", agent_pb2.RemoveContainerRequest(container_id=cid),
           empty_pb2.Empty)


def run(c, cid, args, stdin=None):
    create(c, cid, args)
    start(c, cid)
    if stdin is not None:
        write_all(c, cid, stdin)
    c.call(A, "CloseStdin", agent_pb2.CloseStdinRequest(container_id=cid, exec_id=cid),
           empty_pb2.Empty)
    out = read_all(c, cid)
    err = read_all(c, cid, "ReadStderr")
    status = wait(c, cid)
    remove(c, cid)
    return out, err, status


def test_health_version_details(client):
    r = client.call("grpc.Health", "Check", health_pb2.CheckRequest(),
                    health_pb2.HealthCheckResponse)
    assert r.status == health_pb2.HealthCheckResponse.SERVING
    v = client.call("grpc.Health", "Version", health_pb2.CheckRequest(),
                    health_pb2.VersionCheckResponse)
    assert v.agent_version
    d = client.call(A, "GetGuestDetails", agent_pb2.GuestDetailsRequest(),
                    agent_pb2.GuestDetailsResponse)
    assert d.agent_details.version == v.agent_version


@pytest.mark.parametrize("args,stdin,out,status", [
    (["echo", "hello", "world"], None, b"hello world\n", 0),
    (["cat"], b"abc\x00def", b"abc\x00def", 0),
    (["sleep", "0.2"], None, b"", 0),
    (["logspam", "3"], None, b"logspam 1\nlogspam 2\nlogspam 3\n", 0),
    (["sha256sum"], b"abc",
     b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n", 0),
    (["exit", "42"], None, b"", 42),
    (["true"], None, b"", 0),
    (["false"], None, b"", 1),
    (["env"], None, b"PATH=/bin\n", 0),
    (["head", "-c", "4"], b"abcdefgh", b"abcd", 0),
    (["wc", "-c"], b"12345", b"5\n", 0),
])
def test_catalogue_exact_output(client, args, stdin, out, status):
    got, err, st = run(client, "cat-" + args[0], args, stdin)
    assert (got, st) == (out, status), err


def test_sysinfo(client):
    out, _, status = run(client, "si", ["sysinfo"])
    assert status == 0 and b"guest_cid 7\n" in out and b"arch x86_64" in out


def test_megabyte_through_cat(client, agent_vm):
    data = os.urandom(1 << 20)
    create(client, "big", ["cat"])
    start(client, "big")
    writer = tc.Client.hvsock(agent_vm.uds, 1024)
    t = threading.Thread(daemon=True, target=lambda: (write_all(writer, "big", data), writer.call(
        A, "CloseStdin", agent_pb2.CloseStdinRequest(container_id="big", exec_id="big"),
        empty_pb2.Empty)))
    t.start()
    out = read_all(client, "big")
    t.join(60)
    writer.close()
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()
    assert wait(client, "big") == 0
    remove(client, "big")


def test_32_containers_at_once(client):
    for i in range(32):
        create(client, f"m{i}", ["echo", f"container {i}"])
    for i in range(32):
        start(client, f"m{i}")
    for i in range(32):
        assert wait(client, f"m{i}") == 0
        assert read_all(client, f"m{i}") == f"container {i}\n".encode()
        remove(client, f"m{i}")


def test_spin_does_not_delay_health_check(client):
    create(client, "spin", ["spin"])
    start(client, "spin")
    time.sleep(0.5)
    t0 = time.monotonic()
    client.call("grpc.Health", "Check", health_pb2.CheckRequest(), health_pb2.HealthCheckResponse)
    assert time.monotonic() - t0 < 1.0
    client.call(A, "SignalProcess", agent_pb2.SignalProcessRequest(
        container_id="spin", exec_id="spin", signal=15), empty_pb2.Empty)
    assert wait(client, "spin") == 143
    remove(client, "spin")


def test_out_of_order_and_deadline(client):
    create(client, "slow", ["sleep", "30"])
    start(client, "slow")
    w = client.send(A, "WaitProcess", agent_pb2.WaitProcessRequest(container_id="slow",
                                                                   exec_id="slow"))
    h = client.send("grpc.Health", "Check", health_pb2.CheckRequest())
    assert client.result(h, health_pb2.HealthCheckResponse).status == 1
    with pytest.raises(RpcError) as e:
        client.call(A, "WaitProcess", agent_pb2.WaitProcessRequest(
            container_id="slow", exec_id="slow"), agent_pb2.WaitProcessResponse,
            timeout_ns=200_000_000)
    assert e.value.code == tc.DEADLINE_EXCEEDED
    client.call(A, "SignalProcess", agent_pb2.SignalProcessRequest(
        container_id="slow", exec_id="slow", signal=9), empty_pb2.Empty)
    assert client.result(w, agent_pb2.WaitProcessResponse).status == 137
    remove(client, "slow")


def test_exec_and_failure_codes(client):
    def code_of(fn):
        with pytest.raises(RpcError) as e:
            fn()
        return e.value.code

    assert code_of(lambda: start(client, "nope")) == tc.NOT_FOUND
    assert code_of(lambda: create(client, "x", ["bash"])) == tc.NOT_FOUND
    assert code_of(lambda: create(client, "bad id", ["echo"])) == tc.INVALID_ARGUMENT
    create(client, "ex", ["sleep", "30"])
    assert code_of(lambda: create(client, "ex", ["echo"])) == tc.ALREADY_EXISTS
    exec_req = agent_pb2.ExecProcessRequest(container_id="ex", exec_id="e1",
                                            process=oci_pb2.Process(Args=["echo", "hi"]))
    assert code_of(lambda: client.call(A, "ExecProcess", exec_req, empty_pb2.Empty)) == \
        tc.FAILED_PRECONDITION
    start(client, "ex")
    assert code_of(lambda: start(client, "ex")) == tc.FAILED_PRECONDITION
    client.call(A, "ExecProcess", exec_req, empty_pb2.Empty)
    assert wait(client, "ex", "e1") == 0
    assert read_all(client, "ex", exec_id="e1") == b"hi\n"
    assert code_of(lambda: client.call(A, "SignalProcess", agent_pb2.SignalProcessRequest(
        container_id="ex", exec_id="ex", signal=77), empty_pb2.Empty)) == tc.INVALID_ARGUMENT
    assert code_of(lambda: client.call(A, "PauseContainer", agent_pb2.StartContainerRequest(
        container_id="ex"), empty_pb2.Empty)) == tc.UNIMPLEMENTED
    remove(client, "ex")  # kills the sleeping init and waits
    assert code_of(lambda: wait(client, "ex")) == tc.NOT_FOUND
    ps = client.call("vsockagent.Extras", "ListContainers",
                     agentext_pb2.ListContainersRequest(), agentext_pb2.ListContainersResponse)
    assert all(p.container_id != "ex" for p in ps.processes)


def test_malformed_and_oversized_frames(client):
    client.send_frame(3, tc.REQUEST, b"\x0a\x7f\x01")
    assert client.response(3).status.code == tc.INVALID_ARGUMENT
    client.send_frame(5, tc.REQUEST, b"\x00" * (4 * 1024 * 1024 + 1))
    assert client.response(5).status.code == tc.RESOURCE_EXHAUSTED
    client.send_frame(6, tc.REQUEST, b"")
    assert client.response(6).status.code == tc.INVALID_ARGUMENT
    client.next_stream = 7
    client.call("grpc.Health", "Check", health_pb2.CheckRequest(), health_pb2.HealthCheckResponse)


def test_agentctl_run_exit_code_and_output(agent_vm):
    addr = f"hvsock://{agent_vm.uds}:1024"
    p = subprocess.run([AGENTCTL, "--addr", addr, "run", "echo", "via", "agentctl"],
                       capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"via agentctl\n"), p.stderr
    p = subprocess.run([AGENTCTL, "--addr", addr, "run", "exit", "7"], capture_output=True,
                       timeout=60)
    assert p.returncode == 7
    p = subprocess.run([AGENTCTL, "--addr", addr, "run", "-i", "sha256sum"], input=b"abc",
                       capture_output=True, timeout=60)
    assert p.stdout.startswith(b"ba7816bf"), p.stderr
    p = subprocess.run([AGENTCTL, "--addr", addr, "start", "nope"], capture_output=True,
                       timeout=60)
    assert p.returncode == 1 and b"NOT_FOUND" in p.stderr and p.stderr.count(b"\n") == 1


def collect_logs(path, records, stop, ack=True):
    """A log listener on the Unix socket the backend forwards port 1025 to:
    acknowledges after each read, and answers the agent's {"ack_request":N}
    (agent/logstream.h), which is not a record."""
    import json
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(0.2)
    conn, buf, last = None, b"", None
    while not stop.is_set():
        try:
            if conn is None:
                conn, _ = srv.accept()
                conn.settimeout(0.2)
                last = None
            data = conn.recv(65536)
            if not data:
                conn.close()
                conn, buf = None, b""
                continue
            buf += data
            *lines, buf = buf.split(b"\n")
            due = False
            for line in lines:
                rec = json.loads(line)
                if "ack_request" in rec and "seq" not in rec:
                    due = True
                    continue
                records.append(rec)
                if "seq" in rec:
                    last, due = rec["seq"], True
            if ack and due and last is not None:
                conn.sendall(f"ACK {last}\n".encode())
        except socket.timeout:
            continue
        except OSError:
            # the agent dropped the connection (reset): wait for its reconnect
            if conn:
                conn.close()
            conn, buf = None, b""
    if conn:
        conn.close()
    srv.close()
    os.unlink(path)


def test_log_stream_contiguous_across_listener_restart(agent_vm):
    """logspam 100000 through `agentctl run` (stdout streamed live); the
    host's log listener goes away for a second in the middle and comes
    back: every seq arrives (replay after reconnect), no dropped record,
    the stdout records are exactly the program's lines, in order."""
    path = agent_vm.uds + "_1025"
    records, stop = [], threading.Event()
    t = threading.Thread(daemon=True, target=collect_logs, args=(path, records, stop))
    t.start()
    # The stream must be up before the program runs: with no listener ever
    # connected, output is not held back and the ring overwrites (with an
    # explicit "dropped" record) -- that is the design, not this test.
    deadline = time.monotonic() + 60
    while not any("seq" in r for r in records):
        assert time.monotonic() < deadline, "the agent's log stream never connected"
        time.sleep(0.05)
    time.sleep(0.5)  # let the replay of earlier tests' records finish
    base = max(r["seq"] for r in records if "seq" in r)

    def spam_lines():
        return {r["seq"] for r in records
                if r.get("container_id") == "spam" and r.get("stream") == "stdout"}

    addr = f"hvsock://{agent_vm.uds}:1024"
    run = subprocess.Popen([AGENTCTL, "--addr", addr, "run", "--id", "spam", "logspam",
                            "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Whatever fails below, the client and the listener do not outlive the test.
    try:
        out = []
        drain = threading.Thread(daemon=True, target=lambda: out.append(run.communicate(timeout=300)))
        drain.start()
        deadline = time.monotonic() + 120
        while len(spam_lines()) < 5000:
            assert time.monotonic() < deadline, "the log stream did not start"
            time.sleep(0.05)
        stop.set()
        t.join()
        time.sleep(1.0)  # the listener is away for a while
        stop = threading.Event()
        t = threading.Thread(daemon=True, target=collect_logs, args=(path, records, stop))
        t.start()
        drain.join(300)
        assert run.returncode == 0, (out, agent_vm.serial()[-3000:])
        assert out[0][0].count(b"\n") == 100000
        deadline = time.monotonic() + 120
        while len(spam_lines()) < 100000:
            if time.monotonic() > deadline:
                seqs = sorted({r["seq"] for r in records if "seq" in r})
                gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1][:5]
                pytest.fail(f"log lines missing: {len(spam_lines())} of 100000 stdout "
                            f"records; seq {seqs[:1]}..{seqs[-1:]}, gaps {gaps}, "
                            f"dropped {[r for r in records if r.get('msg') == 'dropped'][:2]}, "
                            f"last {records[-1:]}\n" + agent_vm.serial()[-2000:])
            time.sleep(0.2)
        stop.set()
        t.join()
        assert not any(r.get("msg") == "dropped" and r["to"] > base for r in records)
        seqs = sorted({r["seq"] for r in records if r.get("seq", 0) > base})
        assert seqs == list(range(base + 1, seqs[-1] + 1))
        assert len({r["boot_id"] for r in records}) == 1
        lines = [r["msg"] for r in sorted({r["seq"]: r for r in records if "seq" in r}.values(),
                                          key=lambda r: r["seq"])
                 if r.get("container_id") == "spam" and r.get("stream") == "stdout"]
        assert lines == [f"logspam {i}" for i in range(1, 100001)]
    finally:
        stop.set()
        if run.poll() is None:
            run.kill()
            run.wait()
