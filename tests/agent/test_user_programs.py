"""Containers run unmodified static Linux ELF programs in user mode (issue 14),
on both architectures: a static glibc hello (static and static-pie, built
here with gcc -static / aarch64-linux-gnu-gcc -static), Debian's
busybox-static (both), CopyFile into the file store, and programs that must fail cleanly while the
agent keeps answering Health.Check.  The programs reach the VM on the ESP
under \\bin\\ (boot="disk"); Args[0] names them as /bin/NAME."""
import contextlib
import os
import re
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import ttrpc_client as tc
from ttrpc_client import RpcError

import agent_pb2
import health_pb2
import oci_pb2
from google.protobuf import empty_pb2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon  # noqa: E402
from conftest import connect_agent  # noqa: E402

A = "grpc.AgentService"
HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "progs")
CC = {"x86_64": "gcc", "aarch64": "aarch64-linux-gnu-gcc"}
OTHER = {"x86_64": "aarch64", "aarch64": "x86_64"}
# Debian's busybox-static: amd64 installed, arm64 extracted by scripts/deps.sh
BUSYBOX = {"x86_64": "/bin/busybox",
           "aarch64": os.path.join(tc.TOP, "build", "busybox-arm64", "root", "bin", "busybox")}


def build(arch, src, out, *flags):
    subprocess.run([CC[arch], "-O2", "-Wall", "-Wextra", "-Werror", *flags, "-o", out,
                    os.path.join(PROGS, src)], check=True)
    return out


def programs(arch, d):
    """{name on the ESP's \\bin\\: local file} for one VM."""
    files = {
        "hello": build(arch, "hello.c", os.path.join(d, f"hello-{arch}"), "-static"),
        "hello-pie": build(arch, "hello.c", os.path.join(d, f"hello-pie-{arch}"), "-static-pie"),
        "faults": build(arch, "faults.c", os.path.join(d, f"faults-{arch}"), "-static"),
        "other-arch": build(OTHER[arch], "hello.c", os.path.join(d, f"other-{arch}"), "-static"),
        "dynamic": build(arch, "hello.c", os.path.join(d, f"dynamic-{arch}")),
    }
    with open(files["hello"], "rb") as f:
        head = f.read(1000)
    files["truncated"] = os.path.join(d, f"truncated-{arch}")
    with open(files["truncated"], "wb") as f:
        f.write(head)
    data = os.path.join(d, "data")
    with open(data, "wb") as f:
        f.write(bytes(range(256)) * 4096)  # 1 MiB
    files["data"] = data
    files["busybox"] = BUSYBOX[arch]
    if arch == "x86_64":  # Debian packages musl for the host architecture only
        files["hello-musl"] = os.path.join(d, "hello-musl")
        subprocess.run(["musl-gcc", "-static", "-O2", "-o", files["hello-musl"],
                        os.path.join(PROGS, "hello.c")], check=True)
    return files


class LogListener:
    """The host end of the agent's log stream (CID 2, port 1025): every
    JSON record it sends, in order, each acknowledged (DESIGN §5) so that
    program output never waits for the log."""

    def __init__(self, path):
        self.records, self.buf = [], b""
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        threading.Thread(daemon=True, target=self._serve).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                self.buf += data
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    record = json.loads(line)
                    self.records.append(record)
                    if "seq" in record:
                        conn.sendall(f"ACK {record['seq']}\n".encode())

    def find(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in list(self.records):
                if pred(r):
                    return r
            time.sleep(0.1)
        raise AssertionError("no such log record")

    def close(self):
        self.srv.close()


@contextlib.contextmanager
def agent_vm(arch, workdir, prefix, bin_files, mem_mib=48):
    """The image on its own backend (CID 7) with `bin_files` in its store
    and a log listener, booted from a FAT image and answering on port 1024;
    stopped, with its sockets removed, however the block ends."""
    sockdir = tempfile.mkdtemp(prefix=prefix)
    vhost, uds = os.path.join(sockdir, "vhost.sock"), os.path.join(sockdir, "vsock.sock")
    daemon = Daemon(str(workdir), [{"cid": 7, "socket": vhost, "uds": uds}])
    logs = LogListener(uds + "_1025")
    vm = Vm(arch, workdir, config=f"agent.container_mem_mib={mem_mib} agent.stats_ms=500\n",
            vhost_socket=vhost, boot="disk", bin_files=bin_files)
    vm.uds, vm.daemon, vm.arch_name, vm.logs = uds, daemon, arch, logs
    vm.start()
    try:
        client = connect_agent(uds, 60)
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


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def user_vm(request, tmp_path_factory):
    arch = request.param
    workdir = tmp_path_factory.mktemp(f"uservm-{arch}")
    with agent_vm(arch, workdir, "user-test-", programs(arch, str(workdir))) as vm:
        yield vm


@pytest.fixture
def c(user_vm):
    client = tc.Client.hvsock(user_vm.uds, 1024)
    yield client
    client.close()


def create(c, cid, args, mem_limit=None):
    spec = oci_pb2.Spec(Process=oci_pb2.Process(Args=list(args), Env=["PATH=/bin"], Cwd="/"))
    if mem_limit is not None:
        spec.Linux.Resources.Memory.Limit = mem_limit
    c.call(A, "CreateContainer", agent_pb2.CreateContainerRequest(
        container_id=cid, exec_id=cid, OCI=spec), empty_pb2.Empty)
    c.call(A, "StartContainer", agent_pb2.StartContainerRequest(container_id=cid),
           empty_pb2.Empty)


def read_all(c, cid, method="ReadStdout"):
    out = b""
    while True:
        r = c.call(A, method, agent_pb2.ReadStreamRequest(
            container_id=cid, exec_id=cid, len=32768), agent_pb2.ReadStreamResponse)
        if not r.data:
            return out
        out += r.data


def write_all(c, cid, data):
    while data:
        r = c.call(A, "WriteStdin", agent_pb2.WriteStreamRequest(
            container_id=cid, exec_id=cid, data=data[:32768]), agent_pb2.WriteStreamResponse)
        data = data[r.len:]


def wait(c, cid):
    return c.call(A, "WaitProcess", agent_pb2.WaitProcessRequest(
        container_id=cid, exec_id=cid), agent_pb2.WaitProcessResponse).status


def signal(c, cid, sig):
    c.call(A, "SignalProcess", agent_pb2.SignalProcessRequest(
        container_id=cid, exec_id=cid, signal=sig), empty_pb2.Empty)


def remove(c, cid):
    c.call(A, "RemoveContainer", agent_pb2.RemoveContainerRequest(container_id=cid),
           empty_pb2.Empty)


def run(c, cid, args, stdin=b"", mem_limit=None):
    create(c, cid, args, mem_limit)
    write_all(c, cid, stdin)
    c.call(A, "CloseStdin", agent_pb2.CloseStdinRequest(container_id=cid, exec_id=cid),
           empty_pb2.Empty)
    out = read_all(c, cid)
    err = read_all(c, cid, "ReadStderr")
    status = wait(c, cid)
    remove(c, cid)
    return out, err, status


def healthy(c):
    t0 = time.monotonic()
    r = c.call("grpc.Health", "Check", health_pb2.CheckRequest(), health_pb2.HealthCheckResponse)
    assert r.status == health_pb2.HealthCheckResponse.SERVING
    return time.monotonic() - t0


@pytest.mark.parametrize("name", ["hello", "hello-pie"])
def test_static_glibc_hello(c, user_vm, name):
    out, err, status = run(c, name, [f"/bin/{name}", "a", "b c"])
    assert (out, err, status) == (f"hello from /bin/{name} a b c\n".encode(), b"", 0)


STATS = re.compile(r"stats: .* free_pages=(\d+) heap_used=(\d+)")


def settled_stats(user_vm):
    """(free pages, heap bytes) from the stats line, once two agree."""
    last = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = STATS.findall(user_vm.serial())
        if seen and seen[-1] == last:
            return tuple(map(int, last))
        last = seen[-1] if seen else None
        time.sleep(0.6)
    raise AssertionError("no settled stats line")


def test_memory_comes_back_after_200_runs(c, user_vm):
    run(c, "warm", ["/bin/hello-pie"])
    pages0, heap0 = settled_stats(user_vm)
    for i in range(200):
        out, _, status = run(c, f"r{i}", ["/bin/hello-pie", str(i)])
        assert status == 0 and out == f"hello from /bin/hello-pie {i}\n".encode()
    pages1, heap1 = settled_stats(user_vm)
    assert pages1 == pages0, "pages of RAM not given back"
    assert heap1 <= heap0 + 64 * 1024, "heap grew"  # newlib's sbrk never shrinks
    healthy(c)


FAULTS = [  # (argv after /bin/faults, status)
    (["null"], 139),
    (["priv"], 132),
]


@pytest.mark.parametrize("args,status", FAULTS)
def test_fault_ends_only_that_process(c, user_vm, args, status):
    out, err, st = run(c, "f-" + args[0], ["/bin/faults"] + args)
    assert st == status
    healthy(c)
    assert run(c, "after", ["/bin/hello"])[2] == 0


def test_read_of_kernel_memory_is_a_segfault(c, user_vm):
    m = re.search(r"image: loaded at (0x[0-9a-f]+)", user_vm.serial())
    assert m
    assert run(c, "kread", ["/bin/faults", "kread", m.group(1)])[2] == 139
    healthy(c)


def test_spin_is_preempted_and_killed(c, user_vm):
    create(c, "spin", ["/bin/faults", "spin"])
    time.sleep(0.5)
    for _ in range(3):
        assert healthy(c) < 1.0
    signal(c, "spin", 9)
    assert wait(c, "spin") == 137
    remove(c, "spin")


def test_allocation_runs_into_the_limit(c, user_vm):
    out, _, status = run(c, "alloc", ["/bin/faults", "alloc"])
    assert status == 3
    mib = int(re.search(rb"allocated (\d+) MiB", out).group(1))
    assert 8 <= mib <= 48  # agent.container_mem_mib=48
    healthy(c)


def test_sigterm_handler_runs_and_exits_0(c, user_vm):
    create(c, "term", ["/bin/faults", "term"])
    out = b""
    deadline = time.monotonic() + 20
    while b"ready" not in out and time.monotonic() < deadline:
        r = c.call(A, "ReadStdout", agent_pb2.ReadStreamRequest(
            container_id="term", exec_id="term", len=100), agent_pb2.ReadStreamResponse)
        out += r.data
    signal(c, "term", 15)
    assert wait(c, "term") == 0
    assert read_all(c, "term") == b"handler: SIGTERM\n"
    remove(c, "term")


@pytest.mark.parametrize("name,why", [
    ("other-arch", r"built for \w+ \(e_machine \d+\)"),
    ("dynamic", r"dynamically linked \(PT_INTERP\)"),
    ("truncated", r"truncated"),
])
def test_refused_elf_says_why(c, user_vm, name, why):
    out, err, status = run(c, name, [f"/bin/{name}"])
    assert status == 126 and out == b""
    assert re.search(rf"user: /bin/{name}: cannot execute \(ENOEXEC\): {why}", user_vm.serial())
    healthy(c)


@pytest.mark.parametrize("args,stdin,expect", [
    (["echo", "hello", "world"], b"", b"hello world\n"),
    (["cat"], b"from stdin\n" * 100, b"from stdin\n" * 100),
    (["cat", "/bin/data"], b"", bytes(range(256)) * 4096),
    (["wc", "-l"], b"a\nb\nc\n", b"3\n"),
    (["head", "-n", "2"], b"1\n2\n3\n", b"1\n2\n"),
    (["seq", "3"], b"", b"1\n2\n3\n"),
    (["true"], b"", b""),
])
def test_busybox_applets(c, user_vm, args, stdin, expect):
    out, err, status = run(c, "bb-" + args[0], ["/bin/busybox"] + args, stdin)
    assert (out, status) == (expect, 0), err


def test_busybox_false_and_ls_and_sha256(c, user_vm):
    import hashlib
    assert run(c, "bb-false", ["/bin/busybox", "false"])[2] == 1
    out, _, status = run(c, "bb-ls", ["/bin/busybox", "ls", "/bin"])
    assert status == 0 and b"busybox" in out and b"hello" in out
    data = os.urandom(1 << 20)
    out, _, status = run(c, "bb-sha", ["/bin/busybox", "sha256sum"], data)
    assert status == 0 and out.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_busybox_sleep_then_kill(c, user_vm):
    create(c, "bb-sleep", ["/bin/busybox", "sleep", "100"])
    time.sleep(0.5)
    assert healthy(c) < 1.0
    signal(c, "bb-sleep", 9)
    assert wait(c, "bb-sleep") == 137
    remove(c, "bb-sleep")


def test_oci_memory_limit_bounds_the_program(c, user_vm):
    out, _, status = run(c, "alloc16", ["/bin/faults", "alloc"], mem_limit=16 << 20)
    assert status == 3
    assert int(re.search(rb"allocated (\d+) MiB", out).group(1)) <= 16
    healthy(c)


def copy_file(c, path, data, mode=0o755, chunk=256 << 10):
    off = 0
    while True:
        piece = data[off:off + chunk]
        c.call(A, "CopyFile", agent_pb2.CopyFileRequest(
            path=path, file_size=len(data), file_mode=mode, dir_mode=0o755, uid=0, gid=0,
            offset=off, data=piece), empty_pb2.Empty)
        off += len(piece)
        if off >= len(data):
            return


def test_copyfile_then_run_it_and_read_it(c, user_vm):
    with open(os.path.join(user_vm.dir, f"hello-{user_vm.arch_name}"), "rb") as f:
        hello = f.read()
    copy_file(c, "/run/copied/hello", hello)  # in chunks; parents appear
    out, _, status = run(c, "copied", ["/run/copied/hello", "x"])
    assert (out, status) == (b"hello from /run/copied/hello x\n", 0)
    text = b"copied text\n" * 1000
    copy_file(c, "/run/copied/text", text, mode=0o644, chunk=5000)
    out, _, status = run(c, "bb-cat-copied", ["/bin/busybox", "cat", "/run/copied/text"])
    assert (out, status) == (text, 0)
    out, _, status = run(c, "bb-ls-copied", ["/bin/busybox", "ls", "/run/copied"])
    assert (out.split(), status) == ([b"hello", b"text"], 0)


def test_copyfile_over_the_store_bound_is_refused(c, user_vm):
    with pytest.raises(RpcError) as e:
        copy_file(c, "/run/huge", b"", chunk=1)  # an empty file is fine ...
        c.call(A, "CopyFile", agent_pb2.CopyFileRequest(
            path="/run/huge", file_size=1 << 40, file_mode=0o644, offset=0, data=b"x"),
            empty_pb2.Empty)
    assert e.value.code == tc.RESOURCE_EXHAUSTED
    assert "agent.store_mib" in str(e.value)
    with pytest.raises(RpcError) as e:
        c.call(A, "CopyFile", agent_pb2.CopyFileRequest(
            path="/run/../etc/x", file_size=1, file_mode=0o644, offset=0, data=b"x"),
            empty_pb2.Empty)
    assert e.value.code == tc.INVALID_ARGUMENT


def test_random_bytes_come_from_virtio_rng(c, user_vm):
    assert re.search(r"random: programs' random bytes come from virtio-rng", user_vm.serial())
    seen = set()
    for i in range(3):
        out, _, status = run(c, f"rand{i}", ["/bin/faults", "random"])
        assert status == 0
        getrandom, at_random = out.split()
        assert len(getrandom) == 32 and len(at_random) == 32
        seen |= {getrandom, at_random}
    assert len(seen) == 6, "every draw differs"


def test_stack_grows_on_demand_up_to_its_limit(c, user_vm):
    out, _, status = run(c, "stack2m", ["/bin/faults", "stack", "2048"])
    assert (out, status) == (b"stack ok 1\n", 0)
    out, _, status = run(c, "stack16m", ["/bin/faults", "stack", "16384"])
    assert status == 139  # past RLIMIT_STACK (8 MiB): SIGSEGV
    healthy(c)


def test_wall_clock_comes_from_the_rtc(c, user_vm):
    out, _, status = run(c, "date", ["/bin/busybox", "date", "+%s"])
    assert status == 0
    assert abs(int(out) - time.time()) < 120


def test_pipe2_within_the_process(c, user_vm):
    assert run(c, "pipe", ["/bin/faults", "pipe"])[:3:2] == (b"pipe ok\n", 0)


@pytest.mark.parametrize("user_vm", ["x86_64"], indirect=True)
def test_static_musl_hello(c, user_vm):
    out, err, status = run(c, "musl", ["/bin/hello-musl", "m"])
    assert (out, err, status) == (b"hello from /bin/hello-musl m\n", b"", 0)


def test_start_record_carries_the_programs_sha256(c, user_vm):
    import hashlib
    with open(os.path.join(user_vm.dir, f"hello-pie-{user_vm.arch_name}"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    run(c, "digest", ["/bin/hello-pie"])
    r = user_vm.logs.find(lambda r: r.get("container_id") == "digest" and "sha256" in r)
    assert r["sha256"] == digest
    assert r["msg"] == "process 'digest' started: /bin/hello-pie (user mode)"
    r = user_vm.logs.find(lambda r: r.get("container_id") == "kread" and "exited" in r["msg"])
    assert re.search(r"exited with status 139: /bin/faults: data abort|page fault", r["msg"]) or \
        "signal 11" in r["msg"]


# QEMU's TCG does not model x86 alignment checking (EFLAGS.AC): aarch64 only
@pytest.mark.parametrize("user_vm", ["aarch64"], indirect=True)
def test_misaligned_exclusive_is_sigbus(c, user_vm):
    out, err, status = run(c, "bus", ["/bin/faults", "bus"])
    assert status == 135
    healthy(c)


def test_division_by_zero(c, user_vm):
    out, err, status = run(c, "fpe", ["/bin/faults", "fpe"])
    # x86 raises #DE: SIGFPE; on aarch64 an integer division by zero gives 0
    assert status == (136 if user_vm.arch_name == "x86_64" else 0), user_vm.serial()[-2000:]


def test_exec_and_concurrent_user_processes(c, user_vm):
    """ExecProcess runs a file too; two address spaces (and their TLS) take
    turns with a third program spinning beside them."""
    create(c, "multi", ["/bin/faults", "spin"])
    for i in range(3):
        eid = f"x{i}"
        c.call(A, "ExecProcess", agent_pb2.ExecProcessRequest(
            container_id="multi", exec_id=eid,
            process=oci_pb2.Process(Args=["/bin/hello-pie", eid], Cwd="/")), empty_pb2.Empty)
        assert c.call(A, "WaitProcess", agent_pb2.WaitProcessRequest(
            container_id="multi", exec_id=eid), agent_pb2.WaitProcessResponse).status == 0
        out = b""
        while True:
            r = c.call(A, "ReadStdout", agent_pb2.ReadStreamRequest(
                container_id="multi", exec_id=eid, len=4096), agent_pb2.ReadStreamResponse)
            if not r.data:
                break
            out += r.data
        assert out == f"hello from /bin/hello-pie {eid}\n".encode()
        out, _, status = run(c, f"beside{i}", ["/bin/hello", str(i)])
        assert (out, status) == (f"hello from /bin/hello {i}\n".encode(), 0)
    signal(c, "multi", 9)
    assert wait(c, "multi") == 137
    remove(c, "multi")


def test_unknown_system_calls_give_enosys_and_are_reported(c, user_vm):
    out, _, status = run(c, "enosys", ["/bin/faults", "enosys"])
    assert (out, status) == (b"-1 -1 -1 1\n", 0)
    assert user_vm.serial().count("/bin/faults: system call 1999 is not implemented (ENOSYS)") >= 1
    r = user_vm.logs.find(lambda r: r.get("container_id") == "enosys" and "exited" in r["msg"])
    assert r["msg"].endswith("not implemented (ENOSYS): 1999 2999")
