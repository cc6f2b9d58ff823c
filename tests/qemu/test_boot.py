"""Boot both images: takeover, tables, exception self-test, power-off.

Checks behaviour through QEMU's exit status (0 for a clean power-off,
PANIC_STATUS after a caught fault) and the values the image reports
(pool size follows its option, the vector reported is the one raised).
"""
import re
import time

import pytest

from lib.vm import NO_DEVICE_STATUS, PANIC_STATUS

ARCHES = ["x86_64", "aarch64"]
BOOT_TIMEOUT = 90


def start(boot, vsock_vm, arch, config, mode="kernel"):
    """Booting to the end brings up the vsock device, so it needs a backend."""
    return vsock_vm(arch, config=config, boot=mode)


# Every documented way of handing the image to the firmware (lib/vm.py).
@pytest.mark.parametrize("mode", ["kernel", "disk", "folder"])
@pytest.mark.parametrize("arch", ARCHES)
def test_boots_takes_over_and_powers_off(boot, vsock_vm, arch, mode):
    vm = start(boot, vsock_vm, arch, "test.poweroff=1  # from the test\n", mode)
    assert vm.wait_exit(BOOT_TIMEOUT) == 0
    log = vm.serial()
    if mode == "kernel":
        assert "config: load options: test.poweroff=1" in log
    else:
        assert re.search(r"config: read \\agent.cfg \(\d+ bytes\)", log)
    assert "took over the machine" in log
    m = re.search(r"ExitBootServices after (\d+) attempt", log)
    assert m and int(m.group(1)) >= 1
    assert re.search(r"acpi: revision \d+, \d+ tables:.*FACP", log)
    # the console after exit is the arch's UART
    assert "power: off (code 0)" in log


@pytest.mark.parametrize("arch", ARCHES)
def test_idles_with_interrupts_enabled_until_stopped(boot, vsock_vm, arch):
    vm = start(boot, vsock_vm, arch, "")
    vm.wait_for(r"boot complete; idle with interrupts enabled", BOOT_TIMEOUT)
    time.sleep(2)
    assert vm.running(), "the image must stay up when no test option says otherwise"


@pytest.mark.parametrize("arch", ARCHES)
def test_pool_size_follows_option_and_bad_options_are_reported(boot, vsock_vm, arch):
    cfg = ("agent.pool_mib=banana   # malformed\n"
           "agent.no_such_option=1\n"
           "agent.pool_mib=8 test.poweroff=1\n")
    vm = start(boot, vsock_vm, arch, cfg, mode="disk")  # \agent.cfg, comments and all
    assert vm.wait_exit(BOOT_TIMEOUT) == 0
    log = vm.serial()
    assert "agent.pool_mib='banana' is not a number" in log
    assert "unknown option 'agent.no_such_option=1'" in log
    m = re.search(r"pool: (\d+) pages \((\d+) KiB\) at phys (0x[0-9a-f]+), (\d+) in use", log)
    assert m, "pool report missing"
    pages, phys, in_use = int(m.group(1)), int(m.group(3), 16), int(m.group(4))
    # 8 MiB minus the bookkeeping page(s); below 4 GiB; nothing used yet
    assert 2040 <= pages < 2048
    assert phys + 8 * 1024 * 1024 <= 1 << 32
    assert in_use == 0


@pytest.mark.parametrize("arch", ARCHES)
def test_without_vsock_device_says_why_and_fails(boot, arch):
    vm = boot(arch, config="test.poweroff=1 test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == NO_DEVICE_STATUS
    log = vm.serial()
    assert "vsock: no virtio-vsock device (PCI 1af4:1053" in log
    assert "boot complete" not in log


X86_FAULTS = [
    ("ud", 6), ("de", 0), ("gp", 13), ("pf", 14), ("df", 8),
]


@pytest.mark.parametrize("fault,vector", X86_FAULTS)
def test_x86_exception_is_caught_and_reported(boot, fault, vector):
    vm = boot("x86_64", config=f"test.fault={fault}\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == PANIC_STATUS
    log = vm.serial()
    m = re.search(r"EXCEPTION vector=(\d+) \(([^)]*)\) error=(0x[0-9a-f]+|0) "
                  r"rip=(0x[0-9a-f]+)", log)
    assert m, "no exception report"
    assert int(m.group(1)) == vector
    assert "RAX=" in log and "CR2=" in log
    if fault == "pf":
        assert re.search(r"cr2=0x7ffffffff000", log)
    assert f"unhandled exception {vector}" in log


AARCH64_FAULTS = [
    ("ud", 0x00), ("pf", 0x25),
]


@pytest.mark.parametrize("fault,ec", AARCH64_FAULTS)
def test_aarch64_exception_is_caught_and_reported(boot, fault, ec):
    vm = boot("aarch64", config=f"test.fault={fault} test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == PANIC_STATUS
    log = vm.serial()
    m = re.search(r"EXCEPTION sync \(EL1, SPx\): class (0x[0-9a-f]+|0) .* "
                  r"ESR=(0x[0-9a-f]+) FAR=(0x[0-9a-f]+|0) ELR=(0x[0-9a-f]+)", log)
    assert m, "no exception report"
    assert int(m.group(1), 16) == ec
    assert int(m.group(2), 16) >> 26 == ec
    if fault == "pf":
        assert int(m.group(3), 16) == 0xfffffffff000
    assert "X30=" in log


@pytest.mark.parametrize("arch", ARCHES)
def test_breakpoint_trap_resumes(boot, arch):
    vm = boot(arch, config="test.fault=bp test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == 0
    log = vm.serial()
    assert "breakpoint: resuming" in log
    assert "selftest: resumed after breakpoint" in log


@pytest.mark.parametrize("arch", ARCHES)
def test_panic_powers_off_with_failure_code(boot, arch):
    vm = boot(arch, config="test.fault=panic test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == PANIC_STATUS
    assert "PANIC: selftest: deliberate panic" in vm.serial()


@pytest.mark.parametrize("arch", ARCHES)
def test_kernel_stack_overflow_is_caught_by_the_guard_page(boot, arch):
    """A kernel task recursing without end runs into the unmapped page below
    its stack: reported as a stack overflow naming the task, then a panic
    (not silent corruption of whatever lies below)."""
    vm = boot(arch, config="test.fault=stack_overflow test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == PANIC_STATUS
    log = vm.serial()
    m = re.search(r"PANIC: stack overflow in task 'overflow': access at (0x[0-9a-f]+) "
                  r"\(guard page below its 16384-byte stack at (0x[0-9a-f]+)\)", log)
    assert m, "no stack overflow report"
    addr, stack = int(m.group(1), 16), int(m.group(2), 16)
    assert stack - 4096 <= addr < stack


# W^X and NX in the image's own page tables: (fault, x86 vector, aarch64 class)
PROTECTION_FAULTS = [("write_text", 14, 0x25), ("exec_data", 14, 0x21)]


@pytest.mark.parametrize("fault,vector,ec", PROTECTION_FAULTS)
@pytest.mark.parametrize("arch", ARCHES)
def test_page_protections_are_enforced_in_the_kernel(boot, arch, fault, vector, ec):
    vm = boot(arch, config=f"test.fault={fault} test.semihosting=1\n")
    assert vm.wait_exit(BOOT_TIMEOUT) == PANIC_STATUS
    log = vm.serial()
    assert "vm: own page tables at" in log
    if arch == "x86_64":
        m = re.search(r"EXCEPTION vector=(\d+) \([^)]*\) error=(0x[0-9a-f]+|0)", log)
        assert m and int(m.group(1)) == vector
        # #PF error code: present (bit 0); write (bit 1) or instruction fetch (bit 4)
        err = int(m.group(2), 16)
        assert err & 1 and err & (2 if fault == "write_text" else 16)
    else:
        m = re.search(r"EXCEPTION sync \(EL1, SPx\): class (0x[0-9a-f]+|0)", log)
        assert m and int(m.group(1), 16) == ec
    assert "selftest: wrote to" not in log and "selftest: ran code" not in log
