"""Fixtures for the QEMU suite: VMs that always stop and show their serial
log when a test fails."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.vm import Vm  # noqa: E402


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
