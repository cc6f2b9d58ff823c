"""Several VMs in one daemon: hybrid vsock to each, sibling VMs reaching each
other by CID only within a shared group, a QEMU restart, and --pcap read back
by tshark (issue 4; DESIGN §6).  Three guests boot once for the module:
CID 3 in group g1, CID 4 in g1+g2, CID 5 in g2.  The daemon reads its VMs
from a --config YAML file in vhost-device-vsock's format (issue 16 point 3)."""
import errno
import os
import shutil
import socket
import subprocess
import zlib

import pytest

import backend_lib as lib

GROUPS = {3: "g1", 4: "g1+g2", 5: "g2"}


@pytest.fixture(scope="module")
def vms(request, prerequisites, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("two_vms"))
    specs = [{"cid": cid, "socket": os.path.join(work, f"vhost{cid}.sock"),
              "uds": os.path.join(work, f"vm{cid}.vsock"), "groups": groups}
             for cid, groups in GROUPS.items()]
    pcap = os.path.join(work, "capture.pcap")
    daemon = lib.Daemon(work, specs, pcap=pcap, config=True)
    guests = {}
    try:
        for spec in specs:
            guests[spec["cid"]] = lib.Guest(work, f"guest{spec['cid']}", spec["socket"])
        for guest in guests.values():
            guest.wait_ready()
        yield {"daemon": daemon, "guests": guests, "work": work, "pcap": pcap,
               "uds": {s["cid"]: s["uds"] for s in specs},
               "socket": {s["cid"]: s["socket"] for s in specs}}
    finally:
        for guest in guests.values():
            guest.stop()
        code = daemon.stop()
        if request.module.__dict__.get("_failed") or code != 0:
            lib.dump_logs(request, daemon, list(guests.values()), code)
        assert code == 0, "the daemon did not exit cleanly"
        # The daemon removes the sockets it created.
        for spec in specs:
            assert not os.path.exists(spec["socket"])
            assert not os.path.exists(spec["uds"])


def echo_through(uds, payload):
    sock = lib.command(uds, "echo")
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    back = lib.read_all(sock)
    sock.close()
    return back


def test_each_vm_is_reached_through_its_own_uds(vms):
    for cid, uds in vms["uds"].items():
        payload = f"to cid {cid}".encode() * 1000
        assert echo_through(uds, payload) == payload


def test_siblings_in_a_shared_group_reach_each_other(vms):
    for src, dst in ((3, 4), (4, 3), (4, 5), (5, 4)):
        ctl = lib.command(vms["uds"][src], f"dial {dst} 5000 say hello from {src}")
        err, sent, _, got, got_crc = lib.result(ctl)
        ctl.close()
        text = f"hello from {src}".encode()
        assert err == 0, f"{src}->{dst}: errno {err}"
        assert got == len(text) and got_crc == zlib.crc32(text), f"{src}->{dst}"


def test_vms_without_a_shared_group_cannot_connect(vms):
    ctl = lib.command(vms["uds"][3], "dial 5 5000 none")
    err = lib.result(ctl)[0]
    ctl.close()
    assert err == errno.ECONNRESET


def test_a_vm_that_restarts_is_served_again(vms):
    work = vms["work"]
    vms["guests"][4].stop()
    # The connection to the daemon closes; the other VMs carry on.
    assert echo_through(vms["uds"][3], b"unaffected") == b"unaffected"
    guest = lib.Guest(work, "guest4-again", vms["socket"][4])
    vms["guests"][4] = guest
    guest.wait_ready()
    assert echo_through(vms["uds"][4], b"back again") == b"back again"


def test_pcap_is_dissected_by_tshark(vms):
    # scripts/deps.sh installs tshark: its absence is a failure, not a skip.
    assert shutil.which("tshark"), "tshark missing: scripts/deps.sh should have installed it"
    assert echo_through(vms["uds"][3], b"captured") == b"captured"
    out = subprocess.run(
        ["tshark", "-r", vms["pcap"], "-T", "fields", "-e", "vsock.op",
         "-e", "vsock.virtio.op", "-e", "vsock.virtio.src_cid",
         "-e", "vsock.virtio.dst_cid", "-e", "vsock.payload"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.strip()]
    virtio_ops = {int(r[1]) for r in rows if len(r) > 1 and r[1]}
    # REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE at least.
    assert {1, 2, 3, 4, 5} <= virtio_ops, virtio_ops
    cids = {(r[2], r[3]) for r in rows if len(r) > 3}
    assert ("2", "3") in cids and ("3", "2") in cids
    assert any("captured".encode().hex() in r[4].replace(":", "")
               for r in rows if len(r) > 4)
