"""Fixtures for the QEMU suite: VMs that always stop and show their serial
log when a test fails."""
import os
import sys

import pytest

import shutil
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def boot(request, tmp_path):
    """boot(arch, config=..., ...) -> a started Vm, stopped at teardown."""
    vms = []

    def start(arch, **kwargs):
        vm = Vm(arch, tmp_path / f"vm{len(vms)}", **kwargs)
        os.makedirs(vm.dir, exist_ok=True)
        vms.append(vm)
        return vm.start()

    yield start
    failed = getattr(request.node, "rep_call", None)
    for vm in vms:
        vm.stop()
        if failed is None or failed.failed:
            sys.stdout.write("\n" + vm.describe() + "\n")


@pytest.fixture
def vsock_vm(request, tmp_path):
    """vsock_vm(arch, config=..., cid=..., pcap=..., boot=...) -> a started Vm with a
    vhost-user-vsock device served by its own backend daemon.  The Vm has
    .uds (the hybrid vsock socket) and .daemon.  Sockets live in a short
    private folder (Unix socket paths are limited to 108 bytes)."""
    started = []
    sockdir = tempfile.mkdtemp(prefix="vsock-test-")

    def start(arch="x86_64", config="", cid=7, pcap=None, boot="kernel"):
        n = len(started)
        vhost = os.path.join(sockdir, f"vhost{n}.sock")
        uds = os.path.join(sockdir, f"vsock{n}.sock")
        workdir = tmp_path / f"vsockvm{n}"
        os.makedirs(workdir, exist_ok=True)
        daemon = Daemon(str(workdir), [{"cid": cid, "socket": vhost, "uds": uds}],
                        pcap=pcap)
        vm = Vm(arch, workdir, config=config, vhost_socket=vhost, boot=boot)
        vm.uds, vm.daemon = uds, daemon
        started.append(vm)
        return vm.start()

    yield start
    failed = getattr(request.node, "rep_call", None)
    for vm in started:
        vm.stop()
        vm.daemon.stop()
        if failed is None or failed.failed:
            sys.stdout.write("\n" + vm.describe() + "\n--- backend log ---\n" +
                             vm.daemon.read_log() + "\n")
    shutil.rmtree(sockdir, ignore_errors=True)
