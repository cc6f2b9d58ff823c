"""Fixtures for the vhost-user-vsock real-peer suite (see backend_lib.py).

Each test module boots its own guest(s) once, on private sockets under a
temporary folder; processes are always killed and their logs printed when a
test of the module failed.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backend_lib as lib  # noqa: E402


@pytest.fixture(scope="session")
def prerequisites():
    lib.build_prerequisites()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        item.module.__dict__.setdefault("_failed", []).append(item.name)


@pytest.fixture(scope="module")
def one_vm(request, prerequisites, tmp_path_factory):
    """One daemon serving one Linux guest (CID 3)."""
    work = str(tmp_path_factory.mktemp("one_vm"))
    vm = {"cid": 3, "socket": os.path.join(work, "vhost3.sock"),
          "uds": os.path.join(work, "vm3.vsock")}
    daemon = lib.Daemon(work, [vm])
    guest = None
    try:
        guest = lib.Guest(work, "guest3", vm["socket"])
        guest.wait_ready()
        yield {"daemon": daemon, "guest": guest, "uds": vm["uds"], "work": work}
    finally:
        if guest:
            guest.stop()
        code = daemon.stop()
        if request.module.__dict__.get("_failed") or code != 0:
            lib.dump_logs(request, daemon, [guest] if guest else [], code)
        assert code == 0, "the daemon did not exit cleanly"
