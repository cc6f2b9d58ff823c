"""A user program connects to a sibling VM's CID (issue 15): two images of
one architecture in one backend group (CIDs 7 and 8); the Linux guest's
vsockpeer, unmodified, serves in each, and the one in CID 8 dials the one
in CID 7 through the backend, both ends user programs."""
import os
import shutil
import sys
import tempfile

import pytest

import test_user_programs as up
from test_user_vsock import PEER, command, wait_for_output

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.vm import Vm  # noqa: E402
from backend.backend_lib import Daemon  # noqa: E402
from backend import backend_lib as lib  # noqa: E402
from conftest import connect_agent  # noqa: E402

CIDS = (7, 8)


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def pair(request, tmp_path_factory):
    arch = request.param
    workdir = str(tmp_path_factory.mktemp(f"siblings-{arch}"))
    sockdir = tempfile.mkdtemp(prefix="usib-")
    peer = up.build(arch, PEER, os.path.join(workdir, f"vsockpeer-{arch}"), "-static")
    specs = [{"cid": cid, "socket": os.path.join(sockdir, f"vhost{cid}.sock"),
              "uds": os.path.join(sockdir, f"vm{cid}.sock"), "groups": "g"} for cid in CIDS]
    daemon = Daemon(workdir, specs)
    vms = {}
    try:
        for spec in specs:
            d = os.path.join(workdir, f"vm{spec['cid']}")
            os.makedirs(d)
            vm = Vm(arch, d, config="agent.container_mem_mib=48\n", vhost_socket=spec["socket"],
                    boot="disk", bin_files={"vsockpeer": peer})
            vm.uds = spec["uds"]
            vms[spec["cid"]] = vm
            vm.start()
        clients = {}
        for cid, vm in vms.items():
            clients[cid] = connect_agent(vm.uds, 60)
            if clients[cid] is None:
                pytest.fail(f"CID {cid} does not answer on port 1024:\n" + vm.serial())
            up.create(clients[cid], "peer", ["/bin/vsockpeer", "serve", "5300"])
            wait_for_output(clients[cid], "peer", b"VSOCKPEER READY")
        yield vms, clients
        for c in clients.values():
            up.signal(c, "peer", 9)
            assert up.wait(c, "peer") == 137
            c.close()
    finally:
        for vm in vms.values():
            vm.stop()
        daemon.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


def test_user_program_dials_a_sibling_vm(pair):
    vms, _ = pair
    # CID 8's vsockpeer connects to CID 7's, asks it to echo, half-closes
    ctl = command(vms[8], 5300, "dial 7 5300 say hello-sibling")
    err, sent, _, got, got_crc = lib.result(ctl)
    ctl.close()
    assert (err, sent, got, got_crc) == (0, len(b"echo\nhello-sibling"), len(b"hello-sibling"),
                                         lib.crc(b"hello-sibling"))
    # and the other way round
    ctl = command(vms[7], 5300, "dial 8 5300 say hello-back")
    assert lib.result(ctl)[3:] == [len(b"hello-back"), lib.crc(b"hello-back")]
    ctl.close()
    # a sibling port nobody listens on: the RST Linux's guest gets
    ctl = command(vms[8], 5300, "dial 7 6999 none")
    assert lib.result(ctl)[0] == 104  # ECONNRESET
    ctl.close()
