"""The daemon with a Linux guest and --pcap: what goes over the rings, read
back from the capture (issue 16 point 8: small host writes coalesced, and
never more packets queued in the guest than Linux accepts; issue 16
SEQPACKET: messages over the wire, dissected by tshark).  One guest for the
module."""
import os
import socket
import struct
import time

import pytest

import backend_lib as lib

OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST = 5, 6, 7
SKB_TRUESIZE = 576  # Linux's SKB_TRUESIZE(0) on x86_64 and arm64


@pytest.fixture(scope="module")
def pcap_vm(request, prerequisites, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("pcap_vm"))
    vm = {"cid": 3, "socket": os.path.join(work, "vhost3.sock"),
          "uds": os.path.join(work, "vm3.vsock")}
    pcap = os.path.join(work, "capture.pcap")
    daemon = lib.Daemon(work, [vm], pcap=pcap)
    guest = None
    try:
        guest = lib.Guest(work, "guest3", vm["socket"])
        guest.wait_ready()
        yield {"daemon": daemon, "guest": guest, "uds": vm["uds"], "pcap": pcap,
               "work": work}
    finally:
        if guest:
            guest.stop()
        code = daemon.stop()
        if request.module.__dict__.get("_failed") or code != 0:
            lib.dump_logs(request, daemon, [guest] if guest else [], code)
        assert code == 0


def read_pcap(path):
    """The capture's virtio headers and payloads: [(fields, payload)], fields
    as struct virtio_vsock_hdr (src_cid, dst_cid, src_port, dst_port, len,
    type, op, flags, buf_alloc, fwd_cnt)."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        rec = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(rec) < 32 + 44:
            break  # a record still being written
        fields = struct.unpack_from("<QQIIIHHIII", rec, 32)
        out.append((fields, rec[76:]))
    return out


def connection_packets(pcap, host_port, guest_port):
    """Both directions of one connection, in capture order: (to_guest, fields,
    payload)."""
    result = []
    for fields, payload in read_pcap(pcap):
        src_cid, dst_cid, src_port, dst_port = fields[:4]
        if (src_cid, src_port, dst_port) == (2, host_port, guest_port):
            result.append((True, fields, payload))
        elif (dst_cid, src_port, dst_port) == (2, guest_port, host_port):
            result.append((False, fields, payload))
    return result


def test_small_host_writes_are_coalesced_and_bounded_for_linux(pcap_vm):
    """A host program writes 2 MiB in 200-byte pieces to a guest that reads
    nothing for 2 s.  Every RW packet keeps Linux's strictest rule
    ((queued + 1) * SKB_TRUESIZE(0) + bytes + len <= buf_alloc, 6.12.92+:
    beyond it the guest resets the connection) with the guest's queue as the
    daemon can know it (packets its fwd_cnt has not passed); far fewer
    packets than writes reach the guest; every byte arrives."""
    total, piece = 2 << 20, 200
    data = os.urandom(total)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(lib.TIMEOUT)
    sock.connect(pcap_vm["uds"])
    sock.sendall(f"CONNECT {lib.PEER_PORT}\n".encode())
    line = lib.recv_line(sock)
    assert line.startswith(b"OK ")
    host_port = int(line[3:])
    sock.sendall(b"stall 2\n")
    writes = 0
    for off in range(0, total, piece):
        sock.sendall(data[off:off + piece])
        writes += 1
    sock.shutdown(socket.SHUT_WR)
    answer = lib.read_all(sock).split()
    sock.close()
    assert answer[0] == b"OK" and int(answer[1]) == total
    assert int(answer[2]) == lib.crc(data)
    time.sleep(0.2)  # the capture is flushed after each loop batch
    packets = connection_packets(pcap_vm["pcap"], host_port, lib.PEER_PORT)
    held, tx, fwd, buf_alloc, rw, worst = [], 0, 0, 0, 0, 0
    for to_guest, fields, payload in packets:
        length, op = fields[4], fields[6]
        if not to_guest:
            buf_alloc, fwd = fields[8], fields[9]
            while held and (fwd - held[0]) & 0xffffffff < 1 << 31:
                held.pop(0)
            continue
        if op != OP_RW:
            continue
        rw += 1
        in_flight = (tx - fwd) & 0xffffffff
        need = (len(held) + 1) * SKB_TRUESIZE + in_flight + length
        worst = max(worst, need)
        assert need <= buf_alloc, (rw, len(held), in_flight, length, buf_alloc)
        tx = (tx + length) & 0xffffffff
        held.append(tx)
    data_packets = rw - 1  # the first carried "stall 2\n"
    assert data_packets * 3 <= writes, (data_packets, writes)
    print(f"\n{writes} writes of {piece} bytes became {data_packets} RW packets; "
          f"worst queue charge {worst} of {buf_alloc}")
