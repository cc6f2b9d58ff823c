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


# ---- SEQPACKET (issue 16) ----------------------------------------------------

SEQ_PORT = lib.PEER_PORT + 1  # vsockpeer's SEQPACKET listener
SEQ_MAX = 65536
MASK = (1 << 64) - 1
PATTERN = bytes((k * 7) & 0xFF for k in range(SEQ_MAX + 256))


def seq_size(i, seed):
    """Message i's length, as vsockpeer's seq_size()."""
    if i == 0:
        return 0
    if i == 1:
        return SEQ_MAX
    x = ((i + 1) * 0x9E3779B97F4A7C15 & MASK) ^ seed
    x ^= (x << 13) & MASK
    x ^= x >> 7
    x ^= (x << 17) & MASK
    return (x >> 8) % (SEQ_MAX + 1) if x % 8 == 0 else (x >> 8) % 4097


def seq_message(i, seed):
    base = (i * 131 + seed) % 256
    return PATTERN[base:base + seq_size(i, seed)]


def seq_connect(uds, port, timeout=lib.TIMEOUT):
    """SOCK_SEQPACKET hybrid connection: the CONNECT record, the OK record."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    sock.connect(uds + ".seqpacket")
    sock.send(f"CONNECT {port}".encode())
    answer = sock.recv(256)
    if not answer.startswith(b"OK "):
        sock.close()
        raise ConnectionRefusedError(answer.decode(errors="replace"))
    return sock, int(answer[3:])


def test_seqpacket_host_to_guest_10000_messages(pcap_vm):
    """10,000 messages of 0..64 KiB from a host program reach a Linux guest
    one message per recv, intact, each with MSG_EOR (a record is whole)."""
    count, seed = 10000, 7
    sock, _ = seq_connect(pcap_vm["uds"], SEQ_PORT)
    sock.send(f"sink {count} {seed}".encode())
    started = time.monotonic()
    for i in range(count):
        sock.send(seq_message(i, seed))
    answer = sock.recv(256).split()
    sock.close()
    assert answer == [b"RESULT", str(count).encode(), b"0", str(count).encode()], answer
    print(f"\n{count} messages host->guest in {time.monotonic() - started:.1f} s")


def test_seqpacket_guest_to_host_10000_messages_with_eor_on_the_wire(pcap_vm):
    """10,000 messages of 0..64 KiB from the Linux guest: each is one record
    on the host, intact; the guest's MSG_EOR (odd messages) is on the wire,
    on the message's last packet only."""
    count, seed = 10000, 9
    # Linux sends nothing for an empty message: those are skipped.
    sent = [i for i in range(count) if seq_size(i, seed)]
    sock, host_port = seq_connect(pcap_vm["uds"], SEQ_PORT)
    sock.send(f"send {count} {seed}".encode())
    started = time.monotonic()
    for i in sent:
        record = sock.recv(SEQ_MAX + 1)
        assert record == seq_message(i, seed), (i, len(record), seq_size(i, seed))
    sock.close()
    print(f"\n{count} messages guest->host in {time.monotonic() - started:.1f} s")
    time.sleep(0.2)
    eom = eor = 0
    for to_guest, fields, _ in connection_packets(pcap_vm["pcap"], host_port, SEQ_PORT):
        if to_guest or fields[6] != OP_RW:
            continue
        assert fields[5] == 2  # SEQPACKET
        flags = fields[7]
        eom += flags & 1
        if flags & 2:
            assert flags & 1, "EOR without EOM"
            eor += 1
    assert eom == len(sent)
    assert eor == sum(1 for i in sent if i % 2)


def test_seqpacket_guest_dials_a_host_seqpacket_listener(pcap_vm):
    """Guest-initiated: <uds>_P is a SOCK_SEQPACKET listener; every message
    comes back (an echo) whole, with MSG_EOR."""
    path = f"{pcap_vm['uds']}_6100"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(lib.TIMEOUT)
    errors = []

    def echo():
        try:
            conn, _ = srv.accept()
            conn.settimeout(lib.TIMEOUT)
            while True:
                record = conn.recv(SEQ_MAX + 1)
                if not record:
                    return  # the end (Linux sends no empty messages)
                conn.send(record)
        except (ConnectionError, OSError, socket.timeout) as e:
            errors.append(repr(e))

    import threading
    t = threading.Thread(daemon=True, target=echo)
    t.start()
    try:
        ctl = lib.command(pcap_vm["uds"], "seqdial 2 6100 300 11")
        result = lib.result(ctl)
        ctl.close()
    finally:
        srv.close()
        os.unlink(path)
    echoed = sum(1 for i in range(300) if seq_size(i, 11))
    assert result == [0, echoed, 0, echoed], (result, errors)


def test_seqpacket_msg_trunc_in_the_guest(pcap_vm):
    for mode, expect in (("", [b"got=10 trunc=0 eor=1", b"got=50 trunc=1 eor=1",
                               b"got=0 trunc=0 eor=1", b"got=50 trunc=0 eor=1"]),
                         (" real", [b"got=10 trunc=0 eor=1", b"got=100 trunc=1 eor=1",
                                    b"got=0 trunc=0 eor=1", b"got=50 trunc=0 eor=1"])):
        sock, _ = seq_connect(pcap_vm["uds"], SEQ_PORT)
        sock.send(f"trunc 50{mode}".encode())
        got = []
        for message in (b"a" * 10, b"b" * 100, b"", b"c" * 50):
            sock.send(message)
            got.append(sock.recv(256))
        sock.close()
        assert got == expect, (mode, got)


def test_seqpacket_type_mismatches_are_refused_and_named(pcap_vm):
    daemon = pcap_vm["daemon"]
    # A guest SEQPACKET connection to a SOCK_STREAM listener.
    path = f"{pcap_vm['uds']}_6101"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    try:
        ctl = lib.command(pcap_vm["uds"], "seqdial 2 6101 1 1")
        err = lib.result(ctl)[0]
        ctl.close()
    finally:
        srv.close()
        os.unlink(path)
    assert err == 104  # ECONNRESET: the backend answered RST
    assert f"{path} is not a SOCK_SEQPACKET listener" in daemon.read_log()
    # A host SEQPACKET connection to a guest STREAM port: the guest's RST.
    with pytest.raises(ConnectionRefusedError,
                       match="ERROR connection refused: no listener on guest port 5000"):
        seq_connect(pcap_vm["uds"], lib.PEER_PORT)


def test_seqpacket_capture_is_dissected_by_tshark(pcap_vm):
    """The capture of the SEQPACKET tests above, read by tshark: type 2, the
    EOM and EOR flags, the payload lengths."""
    import shutil
    import subprocess
    assert shutil.which("tshark")
    out = subprocess.run(
        ["tshark", "-r", pcap_vm["pcap"], "-Y", "vsock.virtio.type == 2 && "
         "vsock.virtio.op == 5", "-T", "fields", "-e", "vsock.virtio.flags",
         "-e", "vsock.virtio.len", "-e", "vsock.virtio.src_cid"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.strip()]
    flags = [int(r[0], 0) for r in rows]
    assert len(rows) > 20000
    assert sum(1 for f in flags if f & 1) >= 19000       # EOM: one per message
    assert sum(1 for f in flags if f & 2) >= 10000 + 4500  # EOR: host records, odd guest ones
    assert {"2", "3"} <= {r[2] for r in rows}           # both directions
    assert any(int(r[1]) == 0 and int(r[0], 0) & 1 for r in rows)  # an empty message
