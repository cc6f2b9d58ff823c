"""test_kata_replay.py -- Kata's runtimes, replayed against the image
(issue 13): the calls the Go runtime (src/runtime/virtcontainers/
kata_agent.go with containerd-shim-kata-v2) and runtime-rs make for a pod's
whole life, in their order, on one long-lived connection, with the contents
a Kubernetes pod gives them:

  Health.Check, SetPolicy, UpdateInterface/UpdateRoutes/AddARPNeighbors,
  CreateSandbox, GetGuestDetails, the pause container (Args[0] "/pause"),
  OnlineCPUMem / UpdateEphemeralMounts, GetOOMEvent polled concurrently for
  the whole life, an application container with 45 environment variables,
  11 additional gids, Kata's mounts, annotations and storages (fields this
  agent skips), 256 KiB of stdin in 32 KiB writes read back concurrently,
  20 execs with UUID exec ids, StatsContainer, TtyWinResize, stop by
  SIGKILL with an empty exec id, kill of a created container,
  RemoveStaleVirtiofsShareMounts, DestroySandbox (the VM powers off and the
  parked GetOOMEvent gets its answer).

The two runtimes differ where this file says so: the end of stdin (Go:
CloseStdin; runtime-rs: an empty WriteStdin), OnlineCPUMem before every
container (runtime-rs), UpdateInterface retries (runtime-rs), and the end of
output (Go reads until an error; runtime-rs also stops on empty data).

Each test boots its own VM (one sandbox per boot) with its own backend on
private sockets, on both architectures.
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid

import pytest

import ttrpc_client as tc
from conftest import connect_agent
from lib.vm import Vm
from backend.backend_lib import Daemon

import agent_pb2
import health_pb2
import oci_pb2
import ttrpc_pb2
import types_pb2
from google.protobuf import empty_pb2

A = "grpc.AgentService"
SIGKILL = 9
CHUNK = 32 << 10


# ---- protobuf wire pieces, for Kata's fields that this agent's trimmed
# .proto leaves out (they must be skipped, whatever their size) ----

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field_bytes(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_str(number, text):
    return field_bytes(number, text.encode())


class Raw:
    """A request given as its encoded bytes (Client.send serializes it)."""

    def __init__(self, data):
        self.data = data

    def SerializeToString(self):
        return self.data


# ---- a log listener: the agent's records (hybrid vsock, host port 1025) ----

class Logs:
    def __init__(self, path):
        self.records, self.stop = [], threading.Event()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.srv.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(0.2)
            buf = b""
            while not self.stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self.records.append(line.decode(errors="replace"))
            conn.close()

    def has(self, text):
        return any(text in r for r in self.records)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.srv.close()


@pytest.fixture(params=["x86_64", "aarch64"])
def sandbox_vm(request, tmp_path):
    arch = request.param
    sockdir = tempfile.mkdtemp(prefix="kata-replay-")
    vhost, uds = os.path.join(sockdir, "vhost.sock"), os.path.join(sockdir, "vsock.sock")
    daemon = Daemon(str(tmp_path), [{"cid": 3, "socket": vhost, "uds": uds}])
    logs = Logs(uds + "_1025")
    vm = Vm(arch, tmp_path, config="", vhost_socket=vhost, boot="disk")
    vm.uds, vm.logs = uds, logs
    vm.start()
    try:
        client = connect_agent(uds, 90)
        if client is None:
            pytest.fail("the image does not answer on vsock port 1024:\n" + vm.serial())
        client.close()
        yield vm
    finally:
        vm.stop()
        daemon.stop()
        logs.close()
        if os.environ.get("AGENT_TEST_VERBOSE"):
            sys.stdout.write(vm.describe())
        shutil.rmtree(sockdir, ignore_errors=True)


# ---- what a pod sends ----

def pod_env():
    """45 variables, as the kubelet gives a container in a namespace with
    a few services."""
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOSTNAME=web-7d4b9c8f6-x2x9z", "TERM=xterm", "HOME=/root"]
    for svc in ["KUBERNETES", "REDIS_MASTER", "REDIS_REPLICA", "FRONTEND", "BACKEND",
                "METRICS_SERVER"]:
        env += [f"{svc}_SERVICE_HOST=10.96.{len(svc)}.{len(env)}",
                f"{svc}_SERVICE_PORT=443",
                f"{svc}_PORT=tcp://10.96.{len(svc)}.{len(env)}:443",
                f"{svc}_PORT_443_TCP=tcp://10.96.{len(svc)}.{len(env)}:443",
                f"{svc}_PORT_443_TCP_PROTO=tcp",
                f"{svc}_PORT_443_TCP_ADDR=10.96.{len(svc)}.{len(env)}"]
    env += ["LANG=C.UTF-8", "NGINX_VERSION=1.25.3", "NJS_VERSION=0.8.2",
            "PKG_RELEASE=1~bookworm",
            "LONG_VALUE=" + "x" * 300]  # longer than 255: no longer a limit
    assert len(env) == 45
    return env


GIDS = [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27]  # root's groups in a Debian image


def spec_bytes(cid, args, env, limit=None):
    """OCI spec as Kata's runtime sends it: the agent's fields, then Kata's
    others (mounts, annotations, Linux.CgroupsPath/MaskedPaths) as raw bytes."""
    spec = oci_pb2.Spec(
        Version="1.1.0", Hostname="web-7d4b9c8f6-x2x9z",
        Process=oci_pb2.Process(
            Terminal=False, Args=args, Env=env, Cwd="/",
            User=oci_pb2.User(UID=0, GID=0, AdditionalGids=GIDS, Username="")),
        Root=oci_pb2.Root(Path=f"/run/kata-containers/shared/containers/{cid}/rootfs",
                          Readonly=False))
    linux = oci_pb2.Linux()
    if limit:
        linux.Resources.Memory.Limit = limit
    linux_raw = linux.SerializeToString() + field_str(
        5, f"/kubepods/besteffort/pod{uuid.uuid4()}/{cid}")
    for path in ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]:
        linux_raw += field_str(10, path)
    extra = b""
    for dest, src, typ in [("/proc", "proc", "proc"), ("/dev", "tmpfs", "tmpfs"),
                           ("/dev/pts", "devpts", "devpts"), ("/sys", "sysfs", "sysfs"),
                           ("/etc/hosts", f"/run/kata-containers/shared/containers/{cid}-hosts",
                            "bind")]:
        extra += field_bytes(5, field_str(1, dest) + field_str(2, src) + field_str(3, typ) +
                             field_str(4, "nosuid") + field_str(4, "noexec"))
    for key, value in [("io.kubernetes.cri.container-type", "container"),
                       ("io.kubernetes.cri.sandbox-id", "f" * 64),
                       ("io.kubernetes.cri.image-name", "docker.io/library/nginx:1.25")]:
        extra += field_bytes(7, field_str(1, key) + field_str(2, value))
    return spec.SerializeToString() + field_bytes(8, linux_raw) + extra


def create_container(c, cid, args, env, limit=None):
    req = agent_pb2.CreateContainerRequest(
        container_id=cid, exec_id=cid,
        string_user=agent_pb2.StringUser(uid="0", gid="0",
                                         additionalGids=[str(g) for g in GIDS]),
        sandbox_pidns=False).SerializeToString()
    storage = (field_str(1, "virtio-fs") + field_str(3, "kataShared") +
               field_str(4, "virtiofs") + field_str(5, "nodev") +
               field_str(6, f"/run/kata-containers/shared/containers/{cid}/rootfs"))
    req += field_bytes(5, storage) + field_bytes(6, spec_bytes(cid, args, env, limit))
    c.call(A, "CreateContainer", Raw(req), empty_pb2.Empty)


def call_empty(c, method, req):
    return c.call(A, method, req, empty_pb2.Empty)


def next_response(c):
    """The next answer on the connection, whichever stream it is for."""
    if c.pending:
        stream = next(iter(c.pending))
        return stream, c.pending.pop(stream)
    stream, mtype, payload = c.recv_frame()
    assert mtype == tc.RESPONSE
    resp = ttrpc_pb2.Response()
    resp.ParseFromString(payload)
    return stream, resp


def copy_io(c, cid, eid, stdin, flavor, parked=()):
    """The shim's I/O copy on the one connection: ReadStdout/ReadStderr of
    32 KiB always outstanding, stdin written in 32 KiB WriteStdin calls (one
    at a time, as io.Copy does), then its end; until both outputs end.
    Streams in `parked` (GetOOMEvent) stay unanswered meanwhile."""
    out, err = bytearray(), bytearray()
    ids = dict(container_id=cid, exec_id=eid)
    calls = {c.send(A, "ReadStdout", agent_pb2.ReadStreamRequest(len=CHUNK, **ids)): "out",
             c.send(A, "ReadStderr", agent_pb2.ReadStreamRequest(len=CHUNK, **ids)): "err"}
    offset = 0

    def write_next():
        if offset < len(stdin):
            calls[c.send(A, "WriteStdin", agent_pb2.WriteStreamRequest(
                data=stdin[offset:offset + CHUNK], **ids))] = "write"
        elif flavor == "go":
            calls[c.send(A, "CloseStdin", agent_pb2.CloseStdinRequest(**ids))] = "close"
        else:  # runtime-rs: an empty write is the end of stdin
            calls[c.send(A, "WriteStdin", agent_pb2.WriteStreamRequest(data=b"", **ids))] = \
                "close"

    if stdin is not None:
        write_next()
    while calls:
        stream, resp = next_response(c)
        assert stream not in parked, f"stream {stream} answered early: {resp.status}"
        kind = calls.pop(stream)
        if kind in ("out", "err"):
            if tc.is_eof(resp):
                continue  # both runtimes: the end of this output
            assert resp.status.code == tc.OK, resp.status
            data = agent_pb2.ReadStreamResponse.FromString(resp.payload).data
            if not data and flavor == "rs":
                continue
            assert data, "an empty read: the Go runtime would read again forever"
            (out if kind == "out" else err).extend(data)
            method = "ReadStdout" if kind == "out" else "ReadStderr"
            calls[c.send(A, method, agent_pb2.ReadStreamRequest(len=CHUNK, **ids))] = kind
        elif kind == "write":
            assert resp.status.code == tc.OK, resp.status
            n = agent_pb2.WriteStreamResponse.FromString(resp.payload).len
            want = min(CHUNK, len(stdin) - offset)
            assert n == want, "a short write: Go's io.CopyBuffer stops on it"
            offset += n
            write_next()
        else:
            assert resp.status.code == tc.OK, resp.status
    return bytes(out), bytes(err)


def wait(c, cid, eid):
    return c.call(A, "WaitProcess", agent_pb2.WaitProcessRequest(
        container_id=cid, exec_id=eid), agent_pb2.WaitProcessResponse).status


# ---- the replay ----

def replay(vm, flavor):
    c = tc.Client.hvsock(vm.uds, 1024)
    sandbox_id = uuid.uuid4().hex + uuid.uuid4().hex
    app = uuid.uuid4().hex + uuid.uuid4().hex
    env = pod_env()

    # sandbox start
    assert c.call("grpc.Health", "Check", health_pb2.CheckRequest(),
                  health_pb2.HealthCheckResponse).status == \
        health_pb2.HealthCheckResponse.SERVING
    call_empty(c, "SetPolicy", agent_pb2.SetPolicyRequest(policy="\n".join(
        ["package agent_policy", "import future.keywords.in"] +
        [f"default {name}Request := true" for name in [
            "CreateContainer", "CreateSandbox", "DestroySandbox", "ExecProcess",
            "GetOOMEvent", "GuestDetails", "OnlineCPUMem", "ReadStream", "RemoveContainer",
            "SignalProcess", "StartContainer", "StatsContainer", "TtyWinResize",
            "UpdateInterface", "UpdateRoutes", "WaitProcess", "WriteStream", "CloseStdin",
            "AddARPNeighbors", "UpdateEphemeralMounts", "RemoveStaleVirtiofsShareMounts"]] +
        ["default SetPolicyRequest := false", ""])))
    iface = types_pb2.Interface(
        device="eth0", name="eth0", mtu=1450, hwAddr="7a:2c:1e:91:3b:04", type="veth",
        IPAddresses=[types_pb2.IPAddress(family=types_pb2.v4, address="10.244.1.7",
                                         mask="24")])
    for _ in range(10 if flavor == "rs" else 1):  # runtime-rs retries; all answer
        got = c.call(A, "UpdateInterface", agent_pb2.UpdateInterfaceRequest(interface=iface),
                     types_pb2.Interface)
        assert got == iface
    routes = agent_pb2.Routes(Routes=[
        types_pb2.Route(dest="", gateway="10.244.1.1", device="eth0"),
        types_pb2.Route(dest="10.244.1.0/24", device="eth0", source="10.244.1.7", scope=253)])
    assert c.call(A, "UpdateRoutes", agent_pb2.UpdateRoutesRequest(routes=routes),
                  agent_pb2.Routes) == routes
    call_empty(c, "AddARPNeighbors", agent_pb2.AddARPNeighborsRequest(
        neighbors=agent_pb2.ARPNeighbors(ARPNeighbors=[types_pb2.ARPNeighbor(
            toIPAddress=types_pb2.IPAddress(address="10.244.1.1"), device="eth0",
            lladdr="ee:ee:ee:ee:ee:ee", state=128)])))
    req = agent_pb2.CreateSandboxRequest(hostname="web-7d4b9c8f6-x2x9z",
                                         dns=["nameserver 10.96.0.10", "search default.svc"],
                                         sandbox_pidns=False, sandbox_id=sandbox_id)
    call_empty(c, "CreateSandbox", Raw(req.SerializeToString() + field_bytes(
        7, field_str(1, "i915") + field_str(2, "enable_guc=3"))))
    details = c.call(A, "GetGuestDetails", agent_pb2.GuestDetailsRequest(
        mem_block_size=True, mem_hotplug_probe=True), agent_pb2.GuestDetailsResponse)
    assert details.agent_details.version

    # the pause container
    if flavor == "rs":
        call_empty(c, "OnlineCPUMem", agent_pb2.OnlineCPUMemRequest(wait=False, nb_cpus=1))
    create_container(c, sandbox_id, ["/pause"], ["PATH=/usr/local/sbin:/usr/bin:/bin"])
    call_empty(c, "StartContainer", agent_pb2.StartContainerRequest(container_id=sandbox_id))
    # the shim's OOM watcher, from now until the end (runtime-rs has two
    # goroutine-like pollers at times: both park)
    oom = {c.send(A, "GetOOMEvent", agent_pb2.GetOOMEventRequest())}
    if flavor == "rs":
        oom.add(c.send(A, "GetOOMEvent", agent_pb2.GetOOMEventRequest()))

    # the application container: stdin through cat, read back at once
    if flavor == "rs":
        call_empty(c, "OnlineCPUMem", agent_pb2.OnlineCPUMemRequest(wait=False, nb_cpus=1))
    create_container(c, app, ["/usr/bin/cat"], env, limit=128 << 20)
    call_empty(c, "OnlineCPUMem", agent_pb2.OnlineCPUMemRequest(wait=False, nb_cpus=2))
    call_empty(c, "UpdateEphemeralMounts", agent_pb2.UpdateEphemeralMountsRequest())
    call_empty(c, "StartContainer", agent_pb2.StartContainerRequest(container_id=app))
    stdin = bytes((i * 31 + i // 4096) & 0xFF for i in range(256 << 10))
    out, err = copy_io(c, app, app, stdin, flavor, parked=oom)
    assert out == stdin and err == b""
    assert wait(c, app, app) == 0
    stats = c.call(A, "StatsContainer", agent_pb2.StatsContainerRequest(container_id=app),
                   agent_pb2.StatsContainerResponse).cgroup_stats
    assert stats.cpu_stats.cpu_usage.total_usage > 0  # cat's CPU time, kept after its exit
    assert stats.memory_stats.usage.limit == 128 << 20
    assert stats.pids_stats.current == 0

    # 20 execs into the pause container (UUID exec ids), each waited for
    for i in range(20):
        eid = str(uuid.uuid4())
        req = agent_pb2.ExecProcessRequest(
            container_id=sandbox_id, exec_id=eid,
            string_user=agent_pb2.StringUser(uid="0", gid="0"),
            process=oci_pb2.Process(Args=["/bin/echo", "exec", str(i)], Env=env, Cwd="/",
                                    User=oci_pb2.User(AdditionalGids=GIDS)))
        call_empty(c, "ExecProcess", req)
        if i == 0:
            call_empty(c, "TtyWinResize", agent_pb2.TtyWinResizeRequest(
                container_id=sandbox_id, exec_id=eid, row=50, column=200))
        out, err = copy_io(c, sandbox_id, eid, None, flavor, parked=oom)
        assert out == f"exec {i}\n".encode() and err == b""
        assert wait(c, sandbox_id, eid) == 0

    stats = c.call(A, "StatsContainer", agent_pb2.StatsContainerRequest(
        container_id=sandbox_id), agent_pb2.StatsContainerResponse)
    assert stats.cgroup_stats.pids_stats.current == 1  # pause; the execs are gone

    # kill of a created container: never started, killed, waited, removed
    created = uuid.uuid4().hex + uuid.uuid4().hex
    create_container(c, created, ["/usr/bin/sleep", "3600"], env)
    call_empty(c, "SignalProcess", agent_pb2.SignalProcessRequest(
        container_id=created, exec_id="", signal=SIGKILL))
    assert wait(c, created, created) == 137
    call_empty(c, "RemoveContainer", agent_pb2.RemoveContainerRequest(container_id=created))

    # container stop: SIGKILL to all of it, wait, remove, stale mounts
    for cid in (app, sandbox_id):
        call_empty(c, "SignalProcess", agent_pb2.SignalProcessRequest(
            container_id=cid, exec_id="", signal=SIGKILL))
        status = wait(c, cid, "")
        assert status == (0 if cid == app else 137)
        call_empty(c, "RemoveContainer", agent_pb2.RemoveContainerRequest(
            container_id=cid, timeout=0))
        call_empty(c, "RemoveStaleVirtiofsShareMounts",
                   agent_pb2.RemoveStaleVirtiofsShareMountsRequest())

    assert vm.logs.has("UpdateInterface accepted and ignored")
    assert vm.logs.has("policy set")

    # sandbox stop: the parked GetOOMEvent calls get their answer, then
    # DestroySandbox's, and the VM powers off
    destroy = c.send(A, "DestroySandbox", agent_pb2.DestroySandboxRequest())
    for stream in oom:
        resp = c.response(stream)
        assert resp.status.code == tc.CANCELLED, resp.status
    assert c.response(destroy).status.code == tc.OK
    c.close()
    assert vm.wait_exit(60) == 0


def test_go_runtime_sequence(sandbox_vm):
    replay(sandbox_vm, "go")


def test_runtime_rs_sequence(sandbox_vm):
    replay(sandbox_vm, "rs")
