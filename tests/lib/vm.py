"""vm.py -- boot the image in QEMU (TCG) for the test suites.

Each Vm gets a private folder (the test's tmp_path): its own ESP, its own
firmware variable store and serial log, so two runs never share a path.
Every wait has a timeout; stop() always terminates QEMU.

How the firmware finds the image (`boot=`), fastest first (bench/boot_paths.py):
  "kernel"  the EFI application handed over through fw_cfg (-kernel, the
            options as -append), -nodefaults: no disk at all.  The default.
  "disk"    a prebuilt FAT image (mtools) with EFI/BOOT/BOOT*.EFI and
            agent.cfg, on virtio-blk with bootindex=0, -nodefaults.
  "folder"  the folder ESP as QEMU's emulated FAT (fat:rw:), with QEMU's
            default devices: how a user boots it from a directory.
The options (`config`, agent.cfg syntax) reach the image as its load
options in "kernel" mode and as \agent.cfg otherwise.

Typical usage:
    with Vm("x86_64", tmp_path, config="test.poweroff=1") as vm:
        vm.wait_for(r"boot complete")
        assert vm.wait_exit(60) == 0
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, "build")

# One vCPU, but room for two: with a single possible vCPU, QEMU's TCG
# takes the guest for the only one touching its memory and translates its
# fences and locked instructions without host barriers.  The vhost-user
# backend is another process on another host CPU reading the same rings,
# so a store could pass a load: the guest published a tx buffer and read a
# stale avail_event (no kick) while the backend, going idle, read the old
# avail index (nothing to do), and the guest's transmit path stopped for
# good (make soak's cat phase, 2 runs in 3).  maxcpus=2 makes TCG emit
# real host atomics (`-d op` shows them) and costs nothing else here.
SMP = "1,maxcpus=2"

ARCHES = {
    "x86_64": {
        "qemu": "qemu-system-x86_64",
        "efi": "BOOTX64.EFI",
        "code": "/usr/share/OVMF/OVMF_CODE.fd",
        "vars": "/usr/share/OVMF/OVMF_VARS.fd",
        "machine": ["-M", "q35,i8042=off", "-cpu", "max", "-smp", SMP],
        "folder": lambda esp: ["-drive", f"format=raw,file=fat:rw:{esp}"],
        "extra": ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
    },
    "aarch64": {
        "qemu": "qemu-system-aarch64",
        "efi": "BOOTAA64.EFI",
        "code": "/usr/share/AAVMF/AAVMF_CODE.fd",
        "vars": "/usr/share/AAVMF/AAVMF_VARS.fd",
        "machine": ["-M", "virt", "-cpu", "cortex-a57", "-smp", SMP],
        "folder": lambda esp: ["-drive", f"if=none,id=esp,format=raw,file=fat:rw:{esp}",
                               "-device", "virtio-blk-pci,drive=esp"],
        "extra": ["-semihosting-config", "enable=on,target=native"],
    },
}

# QEMU exit statuses (kernel/kernel.h: code * 2 + 1)
PANIC_STATUS = 3
NO_DEVICE_STATUS = 5


BOOT_MODES = ("kernel", "disk", "folder")
ESP_IMAGE_MIB = 64


class VmTimeout(AssertionError):
    pass


def options_line(config):
    """agent.cfg text as one load-options line: comments dropped, words
    joined by single spaces (DESIGN §3: the same syntax either way)."""
    words = []
    for line in (config or "").splitlines():
        words += line.split("#", 1)[0].split()
    return " ".join(words)


def make_fat_image(path, files):
    """A FAT image at `path` holding {name in the image: local file}."""
    with open(path, "wb") as f:
        f.truncate(ESP_IMAGE_MIB << 20)
    subprocess.run(["mformat", "-i", path, "-v", "ESP", "::"], check=True,
                   capture_output=True)
    made = set()
    for dest in sorted(files):
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in made:
                subprocess.run(["mmd", "-i", path, "::/" + d], check=True, capture_output=True)
                made.add(d)
        subprocess.run(["mcopy", "-i", path, files[dest], "::/" + dest], check=True,
                       capture_output=True)


class Vm:
    def __init__(self, arch, workdir, config=None, memory_mib=256, extra_args=(),
                 vhost_socket=None, boot="kernel", bin_files=None, rng=True, monitor=False):
        if boot not in BOOT_MODES:
            raise ValueError(f"boot must be one of {BOOT_MODES}")
        self.boot = boot
        self.arch = arch
        self.spec = ARCHES[arch]
        self.dir = str(workdir)
        self.esp = os.path.join(self.dir, "esp")
        self.serial_path = os.path.join(self.dir, f"serial-{arch}.log")
        self.qemu_log_path = os.path.join(self.dir, f"qemu-{arch}.log")
        self.config = config
        self.memory_mib = memory_mib
        self.extra_args = list(extra_args)
        self.vhost_socket = vhost_socket
        # {NAME: local file}: the ESP's \bin\NAME, /bin/NAME in the file store
        # ("disk" and "folder" boots: "kernel" has no file system)
        self.bin_files = dict(bin_files or {})
        self.rng = rng
        # QEMU's human monitor on a Unix socket (hmp()), e.g. for stop/cont.
        self.monitor = os.path.join(self.dir, "monitor.sock") if monitor else None
        self.proc = None
        self.started_at = None

    # -- setup ----------------------------------------------------------
    def _prepare(self):
        image = os.path.join(BUILD, self.arch, self.spec["efi"])
        if not os.path.exists(image):
            raise FileNotFoundError(f"{image} is missing: run make first")
        boot = os.path.join(self.esp, "EFI", "BOOT")
        os.makedirs(boot, exist_ok=True)
        self.image = os.path.join(boot, self.spec["efi"])
        shutil.copy(image, self.image)
        files = {f"EFI/BOOT/{self.spec['efi']}": self.image}
        if self.config is not None:
            cfg = os.path.join(self.esp, "agent.cfg")
            with open(cfg, "w") as f:
                f.write(self.config)
            files["agent.cfg"] = cfg
        if self.bin_files:
            os.makedirs(os.path.join(self.esp, "bin"), exist_ok=True)
            for name, src in self.bin_files.items():
                dest = os.path.join(self.esp, "bin", name)
                shutil.copy(src, dest)
                files[f"bin/{name}"] = dest
        if self.boot == "disk":
            self.esp_image = os.path.join(self.dir, f"esp-{self.arch}.img")
            make_fat_image(self.esp_image, files)
        self.vars = os.path.join(self.dir, f"vars-{self.arch}.fd")
        shutil.copy(self.spec["vars"], self.vars)

    def _boot_args(self):
        if self.boot == "kernel":
            return ["-nodefaults", "-kernel", self.image,
                    "-append", options_line(self.config)]
        if self.boot == "disk":
            return ["-nodefaults",
                    "-drive", f"if=none,id=esp,format=raw,file={self.esp_image}",
                    "-device", "virtio-blk-pci,drive=esp,bootindex=0"]
        return self.spec["folder"](self.esp) + ["-nic", "none"]

    def command(self):
        mem = ["-m", f"{self.memory_mib}M"]
        machine = list(self.spec["machine"])
        if self.vhost_socket:
            # DESIGN §3: guest RAM shared with the vhost-user backend
            mem += ["-object", f"memory-backend-memfd,id=mem,size={self.memory_mib}M,share=on",
                    "-chardev", f"socket,id=vc,path={self.vhost_socket}",
                    "-device", "vhost-user-vsock-pci,chardev=vc"]
            machine[1] += ",memory-backend=mem"
        # an entropy device for programs' AT_RANDOM and getrandom (issue 14)
        mem += ["-device", "virtio-rng-pci"] if self.rng else []
        return ([self.spec["qemu"]] + machine + mem + [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.spec['code']}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
        ] + self._boot_args() + self.spec["extra"] + [
            "-display", "none", "-monitor",
            f"unix:{self.monitor},server=on,wait=off" if self.monitor else "none",
            "-no-reboot",
            "-serial", f"file:{self.serial_path}",
        ] + self.extra_args)

    def start(self):
        self._prepare()
        self.qemu_log = open(self.qemu_log_path, "w")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    # -- observation ----------------------------------------------------
    def serial(self):
        try:
            with open(self.serial_path, "rb") as f:
                return f.read().decode("utf-8", "replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=60):
        """Wait until the serial log matches pattern; return the match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.serial())
            if m:
                return m
            if self.proc.poll() is not None:
                m = rx.search(self.serial())
                if m:
                    return m
                raise VmTimeout(f"QEMU exited ({self.proc.returncode}) before "
                                f"/{pattern}/ appeared")
            if time.monotonic() > deadline:
                raise VmTimeout(f"/{pattern}/ not seen within {timeout} s")
            time.sleep(0.1)

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise VmTimeout(f"QEMU still running after {timeout} s")

    def hmp(self, command, timeout=60):
        """One command on QEMU's human monitor (Vm(..., monitor=True));
        returns its output."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.monitor)
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

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self):
        """User+system CPU time QEMU has used so far (from /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    # -- teardown -------------------------------------------------------
    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def describe(self):
        out = [f"--- serial log ({self.arch}) {self.serial_path} ---", self.serial()]
        try:
            with open(self.qemu_log_path) as f:
                q = f.read()
            if q.strip():
                out += ["--- qemu output ---", q]
        except FileNotFoundError:
            pass
        out.append("--- command --- " + " ".join(self.command()))
        return "\n".join(out)
