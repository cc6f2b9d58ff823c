"""Programs in the image may be multi-threaded, fork and exec (issue 15), on
both architectures: a static pthread program (glibc; musl too on x86_64)
with 8 threads, a mutex and a condition variable; Debian's busybox-static
running `sh -c` with pipelines, redirects to the file store, subshells and
exit statuses (each a fork, and an exec of busybox itself)."""
import hashlib
import os
import sys

import pytest

import ttrpc_client as tc
import test_user_programs as up

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def programs(arch, d):
    files = {"threads": up.build(arch, "threads.c", os.path.join(d, f"threads-{arch}"),
                                 "-static", "-pthread"),
             "procs": up.build(arch, "procs.c", os.path.join(d, f"procs-{arch}"), "-static"),
             "busybox": up.BUSYBOX[arch]}
    if arch == "x86_64":  # Debian packages musl for the host architecture only
        files["threads-musl"] = os.path.join(d, "threads-musl")
        up.subprocess.run(["musl-gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                           files["threads-musl"], os.path.join(up.PROGS, "threads.c")],
                          check=True)
    return files


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def vm(request, tmp_path_factory):
    arch = request.param
    workdir = tmp_path_factory.mktemp(f"procvm-{arch}")
    with up.agent_vm(arch, workdir, "uproc-", programs(arch, str(workdir))) as v:
        yield v


@pytest.fixture
def c(vm):
    client = tc.Client.hvsock(vm.uds, 1024)
    yield client
    client.close()


def fields(out):
    return dict(part.split("=", 1) for part in out.decode().split() if "=" in part)


def threads_builds(vm):
    return ["threads", "threads-musl"] if vm.arch_name == "x86_64" else ["threads"]


def test_eight_threads_take_turns_under_a_mutex_and_condvar(c, vm):
    for name in threads_builds(vm):
        out, err, status = up.run(c, f"thr-{name}", [f"/bin/{name}", "turns"])
        assert status == 0, (name, out, err)
        assert fields(out) == {"total_ok": "1", "order_ok": "1", "joined": str(3 * 28),
                               "turns": str(8 * 500), "tids_distinct": "1",
                               "affinity": "0", "cpus": "1", "usr1": "1"}, (name, out)
    up.healthy(c)


def test_thread_exit_then_exit_group(c, vm):
    for name in threads_builds(vm):
        out, err, status = up.run(c, f"thrx-{name}", [f"/bin/{name}", "exit"])
        assert (out, status) == (b"thread_exit=7\n", 5), (name, err)


def test_killing_the_container_ends_every_thread(c, vm):
    up.create(c, "spin", ["/bin/threads", "spin"])
    out = b""
    while b"SPINNING" not in out:
        r = c.call(up.A, "ReadStdout", up.agent_pb2.ReadStreamRequest(
            container_id="spin", exec_id="spin", len=4096), up.agent_pb2.ReadStreamResponse)
        assert r.data, out
        out += r.data
    up.signal(c, "spin", 9)
    assert up.wait(c, "spin") == 137
    up.remove(c, "spin")
    up.healthy(c)
    # the spinning threads are gone: a program after them runs as usual
    out, _, status = up.run(c, "thr-after", ["/bin/threads", "turns"])
    assert status == 0 and fields(out)["total_ok"] == "1"


def test_fork_exec_wait_groups_sessions_kill_and_sigchld(c, vm):
    out, err, status = up.run(c, "procs", ["/bin/procs", "all"])
    assert status == 0, (out, err)
    assert fields(out) == {
        "init_pid": "1", "fork_wait": "1", "fork_status": "46", "parent_copy": "5",
        "exec_arg": "hello-arg", "exec_env": "42", "exec_ppid_ok": "1",
        "waitid": "0", "waitid_pid": "1", "waitid_code": "1", "waitid_status": "7",
        "sigchld": "1", "setpgid": "1", "setsid": "1", "getsid_init": "1",
        "kill": "0", "killed_by": "15", "kill_gone": "1", "wait_none": "1",
        "pipe_exec": "through-the-pipe", "pipe_status": "0"}, out.decode()


def test_killing_the_container_ends_every_process(c, vm):
    up.create(c, "tree", ["/bin/procs", "tree"])
    out = b""
    while b"TREE" not in out:
        r = c.call(up.A, "ReadStdout", up.agent_pb2.ReadStreamRequest(
            container_id="tree", exec_id="tree", len=4096), up.agent_pb2.ReadStreamResponse)
        assert r.data, out
        out += r.data
    up.signal(c, "tree", 9)
    assert up.wait(c, "tree") == 137
    up.remove(c, "tree")
    up.healthy(c)
    # the container's pid space went with it: the next one starts at 1 again
    out, _, status = up.run(c, "procs-after", ["/bin/procs", "all"])
    assert status == 0 and fields(out)["init_pid"] == "1"


def sh(c, cid, script, stdin=b""):
    return up.run(c, cid, ["/bin/busybox", "sh", "-c", script], stdin=stdin)


def test_busybox_sh_pipeline_and_exit_status(c, vm):
    out, err, status = sh(c, "sh-pipe", "echo hello | sha256sum; exit 3")
    digest = hashlib.sha256(b"hello\n").hexdigest()
    assert (out, status) == (f"{digest}  -\n".encode(), 3), err


def test_busybox_sh_redirect_subshell_and_statuses(c, vm):
    # (each script within the agent's 255 bytes per argument)
    out, err, status = sh(c, "sh-redir", "echo one > /tmp/sh-out; (echo two; echo three) "
                                         ">> /tmp/sh-out; cat /tmp/sh-out | wc -l; "
                                         "(exit 7); echo sub=$?; false; echo false=$?")
    assert (out, status) == (b"3\nsub=7\nfalse=1\n", 0), err
    out, err, status = sh(c, "sh-sub", "x=$(echo inner | tr a-z A-Z); echo $x; "
                                       "sh -c 'exit 4'; echo child=$?; "
                                       "echo piped | (read v; echo got $v); "
                                       "sleep 0.1 & wait $!; echo bg=$?; cat < /tmp/sh-out")
    assert (out, status) == (b"INNER\nchild=4\ngot piped\nbg=0\none\ntwo\nthree\n", 0), err
    # the redirect wrote to the file store: another program reads it
    out, _, status = up.run(c, "cat-out", ["/bin/busybox", "cat", "/tmp/sh-out"])
    assert (out, status) == (b"one\ntwo\nthree\n", 0)


def test_busybox_sh_long_pipeline_with_stdin(c, vm):
    data = b"".join(b"line %d\n" % i for i in range(5000))
    out, err, status = sh(c, "sh-long", "cat | grep 7 | sort -r | head -n 3 | tr l L",
                          stdin=data)
    want = sorted((l for l in data.split(b"\n") if b"7" in l), reverse=True)[:3]
    assert (out, status) == (b"".join(l.replace(b"l", b"L") + b"\n" for l in want), 0), err
    up.healthy(c)
