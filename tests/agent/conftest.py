"""Fixtures for the agent's QEMU suite: one VM (with its backend) per
module and a ttRPC client factory."""
import os
import shutil
import socket
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon  # noqa: E402
import ttrpc_client  # noqa: E402

AGENT_PORT = 1024


def connect_agent(uds, timeout):
    """A client once the agent answers; None if its port keeps refusing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return ttrpc_client.Client.hvsock(uds, AGENT_PORT)
        except (ConnectionRefusedError, ConnectionResetError, FileNotFoundError,
                socket.timeout, OSError):
            time.sleep(0.5)
    return None


@pytest.fixture(scope="module")
def agent_vm(request, tmp_path_factory):
    """The x86_64 image with the vhost-user backend, booted once per module."""
    workdir = tmp_path_factory.mktemp("agentvm")
    sockdir = tempfile.mkdtemp(prefix="agent-test-")
    vhost = os.path.join(sockdir, "vhost.sock")
    uds = os.path.join(sockdir, "vsock.sock")
    daemon = Daemon(str(workdir), [{"cid": 7, "socket": vhost, "uds": uds}])
    vm = Vm("x86_64", workdir, config=getattr(request.module, "AGENT_CONFIG", ""),
            vhost_socket=vhost)
    vm.uds, vm.daemon = uds, daemon
    vm.start()
    try:
        client = connect_agent(uds, 40)
        if client is None:
            pytest.fail("the image does not answer on vsock port 1024:\n" + vm.serial())
        client.close()
        yield vm
    finally:
        vm.stop()
        daemon.stop()
        if os.environ.get("AGENT_TEST_VERBOSE"):
            sys.stdout.write(vm.describe())
        shutil.rmtree(sockdir, ignore_errors=True)


@pytest.fixture
def client(agent_vm):
    c = ttrpc_client.Client.hvsock(agent_vm.uds, AGENT_PORT)
    yield c
    c.close()
