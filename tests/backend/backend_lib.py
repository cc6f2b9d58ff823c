"""backend_lib.py -- helpers for the real-peer suite of the vhost-user-vsock
daemon (issue 4, DESIGN §6/§7): start the daemon and Linux guests on private
sockets, talk hybrid vsock, and always clean up.

A guest runs tests/backend/guest/vsockpeer (see its header for the command
lines it serves on vsock port 5000).
"""
import os
import signal
import socket
import subprocess
import threading
import time
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# VHOST_USER_VSOCK may name another build (e.g. one with sanitizers).
DAEMON = os.environ.get("VHOST_USER_VSOCK",
                        os.path.join(TOP, "build", "host", "vhost-user-vsock"))
GUEST_DIR = os.path.join(TOP, "build", "linux-guest")
DAEMON_ASAN = os.path.join(TOP, "build", "host", "vhost-user-vsock-asan")
PEER_PORT = 5000
TIMEOUT = 60.0  # seconds for any single wait


def build_prerequisites():
    """make the daemon and the Linux guest (idempotent, fast when done)."""
    subprocess.run(["make", "--no-print-directory", "build/host/vhost-user-vsock",
                    "build/host/vhost-user-vsock-asan", "build/host/txflood",
                    "linux-guest"],
                   cwd=TOP, check=True, timeout=900)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def write_config(path, vms):
    """A --config file in vhost-device-vsock's YAML format (its README's
    underscore keys) for the same VM dicts Daemon takes; returns path."""
    lines = ["vms:"]
    for vm in vms:
        lines += [f"  - guest_cid: {vm['cid']}", f"    socket: {vm['socket']}"]
        if vm.get("uds"):
            lines.append(f"    uds_path: {vm['uds']}")
        if vm.get("groups"):
            lines.append(f"    groups: {vm['groups']}")
        for kv in filter(None, vm.get("extra", "").split(",")):
            key, value = kv.split("=", 1)
            lines.append(f"    {key.replace('-', '_')}: {value}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Daemon:
    """The daemon with --vm specs (or, with config=True, the same VMs in a
    --config YAML file); stderr goes to a log file."""

    def __init__(self, workdir, vms, pcap=None, extra=(), binary=None, config=False,
                 env=None):
        self.workdir = workdir
        self.vms = vms  # list of dicts: cid, socket, uds, [groups], [extra]
        self.log_path = os.path.join(workdir, "daemon.log")
        args = [binary or DAEMON]
        if config:
            args += ["--config", write_config(os.path.join(workdir, "vms.yaml"), vms)]
        else:
            for vm in vms:
                spec = f"guest-cid={vm['cid']},socket={vm['socket']}"
                if vm.get("uds"):
                    spec += f",uds-path={vm['uds']}"
                if vm.get("groups"):
                    spec += f",groups={vm['groups']}"
                if vm.get("extra"):
                    spec += "," + vm["extra"]
                args += ["--vm", spec]
        if pcap:
            args += ["--pcap", pcap]
        args += list(extra)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        wait_for(lambda: all(os.path.exists(vm["socket"]) for vm in vms)
                 or self.proc.poll() is not None, 10, "daemon sockets")
        if self.proc.poll() is not None:
            raise RuntimeError("daemon exited:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


class Guest:
    """A Linux guest under QEMU TCG with vhost-user-vsock-pci; its human
    monitor listens on <workdir>/<name>.monitor (see hmp())."""

    def __init__(self, workdir, name, vhost_socket, mem="256M"):
        self.log_path = os.path.join(workdir, f"{name}.serial")
        self.log = open(self.log_path, "wb")
        self.monitor = os.path.join(workdir, f"{name}.monitor")
        args = [
            "qemu-system-x86_64", "-M", "q35", "-m", mem,
            "-smp", "1,maxcpus=2",  # real barriers under TCG: see tests/lib/vm.py
            "-object", f"memory-backend-memfd,id=mem,size={mem},share=on",
            "-machine", "memory-backend=mem",
            "-chardev", f"socket,id=vc,path={vhost_socket}",
            "-device", "vhost-user-vsock-pci,chardev=vc",
            "-kernel", os.path.join(GUEST_DIR, "vmlinuz"),
            "-initrd", os.path.join(GUEST_DIR, "initramfs.cpio.gz"),
            "-append", "console=ttyS0 quiet panic=-1",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-monitor", f"unix:{self.monitor},server=on,wait=off",
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, timeout=TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("QEMU exited:\n" + self.read_log())
            return "VSOCKPEER READY" in self.read_log()
        wait_for(ready, timeout, "guest READY")

    def hmp(self, command, timeout=TIMEOUT):
        """Runs one QEMU monitor command (e.g. "stop", "cont"); its output."""
        return hmp(self.monitor, command, timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def hmp(path, command, timeout=TIMEOUT):
    """One command on a QEMU human monitor listening on the Unix socket
    `path` (-monitor unix:PATH,server=on,wait=off); returns its output."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    try:
        def until_prompt():
            out = b""
            while not out.endswith(b"(qemu) "):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                out += chunk
            return out
        until_prompt()  # the banner
        sock.sendall(command.encode() + b"\n")
        return until_prompt().decode(errors="replace")
    finally:
        sock.close()


def recv_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def hybrid_connect(uds, port, timeout=TIMEOUT):
    """CONNECT through the daemon; returns the socket after "OK <port>"."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(uds)
    sock.sendall(f"CONNECT {port}\n".encode())
    line = recv_line(sock)
    if not line.startswith(b"OK "):
        sock.close()
        raise ConnectionError(f"CONNECT {port}: got {line!r}")
    return sock


def command(uds, line, timeout=TIMEOUT):
    """A connection to the guest peer carrying one command line."""
    sock = hybrid_connect(uds, PEER_PORT, timeout)
    sock.sendall(line.encode() + b"\n")
    return sock


def read_all(sock):
    out = bytearray()
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return bytes(out)
        out += chunk


def result(sock):
    """Parses the guest's "RESULT errno ..." answer."""
    text = read_all(sock).decode()
    fields = text.split()
    assert fields and fields[0] == "RESULT", f"unexpected answer {text!r}"
    return [int(x) for x in fields[1:]]


class HostListener:
    """A Unix listener at <uds>_PORT that runs handler(conn) per connection
    in a thread and records what the handlers return."""

    def __init__(self, uds, port, handler):
        self.path = f"{uds}_{port}"
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.handler = handler
        self.results = []
        self.errors = []
        self.threads = []
        self.stopping = False
        self.acceptor = threading.Thread(daemon=True, target=self._accept)
        self.acceptor.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            t = threading.Thread(daemon=True, target=self._run, args=(conn,))
            t.start()
            self.threads.append(t)

    def _run(self, conn):
        try:
            self.results.append(self.handler(conn))
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            conn.close()

    def close(self):
        self.stopping = True
        self.acceptor.join(5)
        for t in self.threads:
            t.join(TIMEOUT)
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def crc(data):
    return zlib.crc32(data) & 0xffffffff


def dump_logs(request, daemon, guests, code):
    """Prints the daemon log and serial logs on the terminal."""
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    write = tr.write_line if tr else print
    write(f"---- daemon log (exit {code}) ----")
    write(daemon.read_log())
    for guest in guests:
        write(f"---- {guest.log_path} ----")
        write(guest.read_log()[-4000:])
