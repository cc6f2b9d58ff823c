"""agentctl's log listener against a hostile agent (issue 12, hole 13): a
record whose fields carry terminal escapes, raw control bytes or invalid
UTF-8 is shown escaped; --json output stays one line of valid JSON.  No VM:
the test plays the agent, connecting to the listener's Unix socket the way
the backend forwards a guest connection to host port 1025."""
import json
import os
import socket
import subprocess
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENTCTL = os.path.join(TOP, "build", "host", "agentctl")

HOSTILE = [
    b'{"msg":"\\u001b]0;pwned\\u0007\\u001b[2Jred","level":"info","seq":1,'
    b'"container_id":"c\\u001b[1m","stream":"stdout"}\n',
    b'{"msg":"raw \x1b[31m esc and \xff\xfe bytes","level":"in\x07fo","seq":2,'
    b'"container_id":"c2","stream":"std\x9bout"}\n',
    b'{"msg":"c1 \xc2\x9b31m csi","level":"info","seq":3,"container_id":"c3",'
    b'"stream":"stderr"}\n',
]


def listen_and_feed(json_mode, feed=None):
    feed = feed or [b"".join(HOSTILE)]
    tmp = tempfile.mkdtemp(prefix="agentctl-logs-")
    uds = os.path.join(tmp, "v.sock")
    cmd = [AGENTCTL, "logs", "--listen", f"hvsock://{uds}:1025"] + (["--json"] if json_mode else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        path = uds + "_1025"
        deadline = time.monotonic() + 10
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                assert time.monotonic() < deadline, "agentctl did not listen"
                time.sleep(0.02)
        s.settimeout(10)
        acks = b""
        for i, part in enumerate(feed):  # each part, then agentctl's acknowledgement of it
            s.sendall(part)
            while acks.count(b"\n") < i + 1:
                chunk = s.recv(4096)
                if not chunk:
                    break
                acks += chunk
        s.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return out, acks


def assert_no_terminal_controls(out):
    for b in out:
        assert b >= 0x20 or b in (0x0a,), f"control byte {b:#x} reached the terminal: {out!r}"
        assert b != 0x7f
    text = out.decode("utf-8")  # valid UTF-8, or this raises
    assert not any(0x80 <= ord(c) <= 0x9f for c in text), f"C1 control in {text!r}"


def test_hostile_log_records_are_escaped():
    out, acks = listen_and_feed(json_mode=False)
    assert acks.startswith(b"ACK ")
    assert_no_terminal_controls(out)
    lines = out.decode().splitlines()
    assert len(lines) == 3, lines
    assert "\\x1b]0;pwned\\x07\\x1b[2Jred" in lines[0]
    assert "c\\x1b[1m/stdout" in lines[0]
    assert "raw \\x1b[31m esc and \\xff\\xfe bytes" in lines[1]
    assert "\\u009b31m" in lines[2]


def test_hostile_log_records_stay_valid_json():
    out, _ = listen_and_feed(json_mode=True)
    assert_no_terminal_controls(out)
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["msg"] == "\x1b]0;pwned\x07\x1b[2Jred"  # intact for machines
    assert records[1]["msg"] == "raw \x1b[31m esc and \ufffd\ufffd bytes"


def test_ack_request_is_answered_and_not_printed():
    """The agent's {"ack_request":N} (agent/logstream.h, issue 12 hole 14)
    gets "ACK <last seq read>" at once, even when no record came with it."""
    rec = b'{"msg":"m%d","level":"info","seq":%d,"container_id":"c","stream":"stdout"}\n'
    feed = [rec % (1, 1) + rec % (2, 2), b'{"ack_request":2}\n']
    out, acks = listen_and_feed(json_mode=False, feed=feed)
    assert acks.splitlines() == [b"ACK 2", b"ACK 2"]
    lines = out.decode().splitlines()
    assert len(lines) == 2 and "ack_request" not in out.decode(), lines
