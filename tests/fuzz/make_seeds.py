#!/usr/bin/env python3
"""make_seeds.py -- write the seed corpora of the fuzz targets added for
issue 12 into tests/fuzz/corpus/NAME/ (committed; rerun after changing an
input format).  Each seed walks a path the fuzzer would take long to find
on its own: handshakes, a container's life, a cat pipeline over two
connections, a lazy log listener, hostile frames.

Usage: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import os
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "agent"))
import ttrpc_client  # noqa: E402,F401  (generates the protobuf classes)

import agent_pb2  # noqa: E402
import health_pb2  # noqa: E402
import oci_pb2  # noqa: E402


def write(name, seeds):
    out = os.path.join(TOP, "tests", "fuzz", "corpus", name)
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        os.unlink(os.path.join(out, old))
    for seed_name, data in seeds.items():
        with open(os.path.join(out, seed_name), "wb") as f:
            f.write(bytes(data))


# ---- fuzz_vsock_core (tests/fuzz/fuzz_vsock_core.c) ----

def v_inject(op, src_port=0, port=0, flags=0, length=0, fwd=0):
    # pick 245: src CID 2, dst our CID, src port 6000+b, stream, small flags, 256 KiB window
    return [0, 245, src_port, port, op, flags] + list(struct.pack(">I", fwd)) + \
        [length >> 5, length & 31, 0]


V_REQUEST, V_RESPONSE, V_RST, V_SHUTDOWN, V_RW, V_CREDIT_UPDATE, V_CREDIT_REQUEST = range(1, 8)
V_CONFIG = [14, 7, 10, 12]  # 16 conns, 8 queued ctrl packets, 256 KiB buffers, 4096 payload


def vsock_seeds():
    server = V_CONFIG + [1, 0, 4] + v_inject(V_REQUEST) + [3, 0] + \
        v_inject(V_RW, length=100) + [5, 0, 50, 1, 5, 1, 0, 1] + \
        [4, 0x13, 0x88, 1] + [12, 2] + [4, 0xff, 0xff, 1] + [12, 2] + \
        v_inject(V_SHUTDOWN, flags=3) + [7, 1, 9, 33]
    client = V_CONFIG + [2, 1, 0] + [12, 0] + [4, 0x10, 0, 0] + [12, 1, 40] + \
        [5, 0x20, 0, 0] + [6, 2, 0] + [12, 3, 3] + [12, 4] + [7, 0, 9, 34]
    hostile = V_CONFIG + [1, 1, 1] + v_inject(V_REQUEST, port=1) + v_inject(V_REQUEST, 1, 1) + \
        v_inject(V_REQUEST, 2, 1) + [3, 0] + v_inject(V_RW, 0, 1, length=8000) + \
        [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21] + \
        [11, 3] + [4, 0x40, 0, 1] + [11, 0] + [10, 1, 2] + [13] + [8, 1, 8, 0, 9, 20]
    tiny = [3, 1, 0, 0] + [1, 2, 1] + v_inject(V_REQUEST, port=2) + [3, 0] + \
        [14, 0, 0, 1, 0, 1] + [4, 0, 200, 1] + [12, 5] + [12, 2] + [4, 0, 200, 1] + [7, 1]
    return {"server": server, "client": client, "hostile": hostile, "tiny-limits": tiny}


# ---- fuzz_ttrpc (tests/fuzz/fuzz_ttrpc.c) ----

METHODS = ["Check", "Version", "GetGuestDetails", "CreateSandbox", "DestroySandbox",
           "CreateContainer", "StartContainer", "ExecProcess", "WaitProcess", "SignalProcess",
           "RemoveContainer", "ReadStdout", "ReadStderr", "WriteStdin", "CloseStdin",
           "ListContainers", "PauseContainer", "NopeService", "Escapes", "Empty"]


def t_call(conn, method, msg=b"", timeout=3):
    payload = msg if isinstance(msg, bytes) else msg.SerializeToString()
    return [3, conn, METHODS.index(method), timeout, len(payload) >> 8, len(payload) & 255] + \
        list(payload)


def create_req(cid, args):
    spec = oci_pb2.Spec(Process=oci_pb2.Process(Args=args, Env=["PATH=/bin"], Cwd="/"))
    return agent_pb2.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec)


def ttrpc_seeds():
    A = agent_pb2
    life = [0, 0] + t_call(0, "Check", health_pb2.CheckRequest()) + \
        t_call(0, "CreateContainer", create_req("c0", ["echo", "hi"])) + \
        t_call(0, "StartContainer", A.StartContainerRequest(container_id="c0")) + [4] + \
        t_call(0, "WaitProcess", A.WaitProcessRequest(container_id="c0", exec_id="c0")) + \
        t_call(0, "ReadStdout", A.ReadStreamRequest(container_id="c0", exec_id="c0", len=100)) + \
        [4] + t_call(0, "RemoveContainer", A.RemoveContainerRequest(container_id="c0")) + [4]
    cat = [0, 1] + t_call(0, "CreateContainer", create_req("c1", ["cat"])) + \
        t_call(0, "StartContainer", A.StartContainerRequest(container_id="c1")) + \
        t_call(0, "ReadStdout", A.ReadStreamRequest(container_id="c1", exec_id="c1", len=9)) + \
        t_call(1, "WriteStdin", A.WriteStreamRequest(container_id="c1", exec_id="c1",
                                                      data=b"x" * 3000)) + [4] + \
        t_call(1, "CloseStdin", A.CloseStdinRequest(container_id="c1", exec_id="c1")) + \
        t_call(0, "SignalProcess", A.SignalProcessRequest(container_id="c1", signal=9)) + \
        [5, 30] + t_call(1, "RemoveContainer", A.RemoveContainerRequest(container_id="c1")) + [4]
    hostile = [7, 0, 0, 0x40, 0, 0, 1] + [7, 1, 0xff, 0xff, 0xff, 0xff, 1] + [0, 2] + \
        [2, 2, 0, 14] + list(struct.pack(">IIBB", 4, 2, 1, 0)) + [1, 2, 3, 4] + \
        [2, 2, 0, 10] + list(struct.pack(">IIBB", 0, 3, 3, 0)) + \
        t_call(0, "Escapes", b"\x0a\x7f") + t_call(0, "Empty") + [6, 0] + \
        t_call(0, "ListContainers") * 4 + [8, 3, 4, 6, 0, 4]
    return {"life": life, "cat-two-conns": cat, "hostile-frames": hostile}


# ---- fuzz_agent_sequences (tests/fuzz/fuzz_agent_sequences.c) ----
# commands: op, client, then arguments; ids: container byte, exec selector
# (0-2: e0..e2, 3: the container's own id, 4: ""); T: timeout selector.

def s_create(conn, c, program, arg=0, t=3):
    return [2, conn, c, 3, program, arg, t]


def s_ids(op, conn, c, e=3, *rest, t=3):
    return [op, conn, c, e] + list(rest) + [t]


P_ECHO, P_CAT, P_SLEEP_FRAC, P_SLEEP, P_LOGSPAM, P_SHA, P_EXIT, P_YES = 0, 1, 2, 3, 4, 5, 6, 12


def sequence_seeds():
    echo = s_create(0, 0, P_ECHO, 7) + s_ids(3, 0, 0) + s_ids(11, 0, 0) + \
        s_ids(7, 0, 0, 3, 200) + [13, 0] + s_ids(5, 0, 0, 3, 0)
    cat = [0, 1] + s_create(0, 1, P_CAT) + s_ids(3, 0, 1) + [13, 0] + s_ids(7, 0, 1, 3, 255) + \
        [9, 1, 100, 7, 1, 3, 3] + s_ids(10, 1, 1) + s_ids(11, 0, 1) + [13, 0] + \
        s_ids(7, 0, 1, 3, 255) + s_ids(5, 1, 1, 3, 0)
    race = [0, 1] + s_create(0, 2, P_SLEEP, 3) + [13, 0] + s_ids(4, 0, 2, 4, 4) + s_ids(11, 0, 2) + \
        s_ids(5, 1, 2, 3, 0) + s_ids(4, 1, 2, 3, 4) + [13, 0]
    execs = s_create(0, 3, P_SLEEP, 3) + s_ids(3, 0, 3) + [6, 0, 3, 0, P_ECHO, 1, 3] + \
        s_ids(11, 0, 3, 0) + s_ids(7, 0, 3, 0, 100) + s_ids(4, 0, 3, 3, 5) + \
        s_ids(11, 0, 3) + s_ids(5, 0, 3, 3, 1)
    logs = [16, 0] + s_create(0, 0, P_LOGSPAM, 100) + s_ids(3, 0, 0) + [14, 0, 31] + \
        [17, 0] + s_ids(7, 0, 0, 3, 255) + [16, 0] + [14, 0, 31] + s_ids(11, 0, 0) + \
        s_ids(5, 0, 0, 3, 0)
    hog = [15, 0] + [12, 0, 1, 3] * 40 + [13, 0] + s_create(0, 1, P_YES, 1) + \
        s_ids(3, 0, 1) + s_ids(7, 0, 1, 3, 255) * 8 + [13, 0, 15, 0] + s_ids(4, 0, 1, 4, 4)
    stdin = s_create(0, 2, P_SHA) + s_ids(3, 0, 2) + [9, 0, 255, 3, 2, 3, 3] * 6 + \
        [14, 0, 33] + s_ids(10, 0, 2) + s_ids(7, 0, 2, 3, 255) + s_ids(5, 0, 2, 3, 0)
    preempt = [19, 1, 3] + [0, 1] + s_create(0, 1, P_CAT) + [13, 0] + s_ids(3, 1, 1) + \
        [9, 1, 40, 9, 1, 3, 3] + s_ids(7, 0, 1, 3, 255) + s_ids(10, 1, 1) + [13, 0] + \
        [18, 0, 1, 3] + s_ids(11, 0, 1) + [18, 0, 0, 3]
    return {"echo": echo, "cat-two-conns": cat, "signal-remove-race": race, "exec": execs,
            "log-listener": logs, "client-not-reading": hog, "stdin-parked": stdin,
            "preempt-sandbox": preempt}


# ---- fuzz_options (tests/fuzz/fuzz_options.c) ----

def options_seeds():
    return {
        "typical": b"agent.server_port=1024 agent.log_port=1025 agent.diag_services=1\n"
                   b"agent.allowed_cids=2,3 agent.allowed_methods=Check,grpc.Health/Version\n"
                   b"agent.log_grace=1000 agent.log_ring=64 agent.boot_id=b-1 # comment\n",
        "kernel": b"agent.pool_mib=0x10 agent.heap_mib=32 agent.stats_ms=500 test.fault=ud\n"
                  b"test.poweroff=yes test.spin=2 test.echo_out=4000 test.semihosting=off",
        "bad": b"agent.server_port=0 agent.log_ring=15 nokey = =x agent.allowed_cids=any,2 "
               b"agent.boot_id=\"q\" agent.max_procs=65 agent.stack_kib=99999999999999999999 "
               + b"x" * 300 + b" agent.pipe_kib=\x01 agent.log_grace=3600001",
        "single": b"agent.allowed_cids=0x2,4294967295",
    }


def main():
    write("fuzz_vsock_core", vsock_seeds())
    write("fuzz_ttrpc", ttrpc_seeds())
    write("fuzz_agent_sequences", sequence_seeds())
    write("fuzz_options", options_seeds())


if __name__ == "__main__":
    main()
