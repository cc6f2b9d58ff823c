# Makefile -- the one entry point of the project (DESIGN §1).
#
#   make                 deps, both EFI images and the host tools
#   make ARCH=aarch64 image
#                        one image (ARCH=x86_64 is the default)
#   make host            host tools (build/host/)
#   make unit            host unit tests under ASan + UBSan
#   make fuzz            libFuzzer targets, FUZZ_SECONDS (300) each
#   make test            everything above, then the QEMU suites; ends with
#                        a "N passed, N failed" line
#   make run             the main job: boot the image with the backend
#   make bench           the image against a Linux guest, one table (+ JSON, PNG)
#   make soak            load and faults with leak checks (about 20 minutes)
#   make format          clang-format every tracked C file (.clang-format)
#   make fresh-check     CI by hand: make test + make run of HEAD in a fresh
#                        Debian 12 root (.ci/run; needs root)
#   make esp             ESP folder for ARCH (build/$(ARCH)/esp)
#   make clean           remove build outputs (keeps newlib, nanopb, apt)
#   make distclean       remove build/ entirely

.DEFAULT_GOAL := all
ARCH ?= x86_64
BUILD := build
OUT := $(BUILD)/$(ARCH)
PYTHON := /usr/bin/python3

# ---------------------------------------------------------------------------
# Per-architecture toolchain and EFI pieces
# ---------------------------------------------------------------------------
ifeq ($(ARCH),x86_64)
CROSS :=
EFI_ROOT := /usr
EFI_NAME := BOOTX64.EFI
ARCH_CFLAGS := -mno-red-zone -maccumulate-outgoing-args -DGNU_EFI_USE_MS_ABI \
	-mcmodel=small
ARCH_LDFLAGS :=
EFI_OBJCOPY_FLAGS := --target=efi-app-x86_64 --subsystem=10
else ifeq ($(ARCH),aarch64)
CROSS := aarch64-linux-gnu-
EFI_ROOT := $(BUILD)/gnu-efi-arm64/root/usr
EFI_NAME := BOOTAA64.EFI
ARCH_CFLAGS := -mstrict-align
# gnu-efi's aarch64 crt0 carries its own PE header; it needs the subsystem.
ARCH_LDFLAGS := --defsym=EFI_SUBSYSTEM=0xa --no-warn-rwx-segments
EFI_OBJCOPY_FLAGS := -O binary
else
$(error ARCH must be x86_64 or aarch64, not '$(ARCH)')
endif

CC := $(CROSS)gcc
LD := $(CROSS)ld
OBJCOPY := $(CROSS)objcopy
NEWLIB := $(BUILD)/newlib/$(ARCH)/sysroot
GCC_INC := $(shell $(CC) -print-file-name=include)
LIBGCC := $(shell $(CC) -print-libgcc-file-name)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
IMAGE_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector \
	-fno-stack-check -fpic -fshort-wchar -fno-strict-aliasing \
	-fno-omit-frame-pointer -nostdinc \
	-isystem $(NEWLIB)/include -isystem $(GCC_INC) \
	-isystem $(EFI_ROOT)/include/efi -isystem $(EFI_ROOT)/include/efi/$(ARCH) \
	-I. -DARCH_$(ARCH) -DARCH_NAME=\"$(ARCH)\" -MD -MP $(ARCH_CFLAGS)

# ---------------------------------------------------------------------------
# Sources: explicit lists per folder
# ---------------------------------------------------------------------------
KERNEL_SRCS := \
	kernel/main.c \
	kernel/efi_boot.c \
	kernel/console.c \
	kernel/config.c \
	kernel/pool.c \
	kernel/heap.c \
	kernel/acpi.c \
	kernel/panic.c \
	kernel/selftest.c \
	kernel/sched.c \
	kernel/platform.c \
	kernel/vsock_stack.c \
	kernel/vm.c \
	kernel/elf.c \
	kernel/store.c \
	kernel/uwait.c \
	kernel/futex.c \
	kernel/fd.c \
	kernel/exec.c \
	kernel/proc.c \
	kernel/signal.c \
	kernel/user.c \
	kernel/sys_fs.c \
	kernel/sys_mm.c \
	kernel/sys_net.c \
	kernel/sys_poll.c \
	kernel/sys_proc.c \
	kernel/syscall.c \
	kernel/entropy.c \
	kernel/libc_glue.c

DRIVER_SRCS := \
	drivers/virtio_pci/pci.c \
	drivers/virtio_pci/virtio.c \
	drivers/virtio_pci/virtio_pci.c \
	drivers/virtio_pci/virtqueue.c \
	drivers/virtio_vsock/virtio_vsock.c \
	drivers/virtio_rng/virtio_rng.c

ARCH_SRCS_x86_64 := \
	arch/x86_64/cpu.c \
	arch/x86_64/vectors.S \
	arch/x86_64/traps.c \
	arch/x86_64/uart.c \
	arch/x86_64/lapic.c \
	arch/x86_64/irq.c \
	arch/x86_64/timer.c \
	arch/x86_64/switch.S \
	arch/x86_64/mmu.c \
	arch/x86_64/power.c

ARCH_SRCS_aarch64 := \
	arch/aarch64/cpu.c \
	arch/aarch64/vectors.S \
	arch/aarch64/traps.c \
	arch/aarch64/pl011.c \
	arch/aarch64/gic.c \
	arch/aarch64/timer.c \
	arch/aarch64/switch.S \
	arch/aarch64/mmu.c \
	arch/aarch64/power.c

# The portable vsock core (also built into the host unit tests; the
# loopback transport is for tests only).
VSOCK_SRCS := \
	vsock/core.c \
	vsock/rx.c \
	vsock/socket.c \
	vsock/seqpacket.c \
	vsock/diag.c

# agent (issue 7): nanopb code generated from agent/proto into build/proto,
# the same for the image, agentctl and the unit tests.  The image links
# $(AGENT_IMAGE_SRCS); its objects wait for the generated headers.
NANOPB_GENERATOR := /usr/bin/nanopb_generator.py
NANOPB_DIR := $(BUILD)/nanopb/src
NANOPB_SRCS := $(NANOPB_DIR)/pb_encode.c $(NANOPB_DIR)/pb_decode.c $(NANOPB_DIR)/pb_common.c
PROTO_OUT := $(BUILD)/proto
AGENT_PROTOS := ttrpc status health oci types agent agentext
PROTO_SRCS := $(patsubst %,$(PROTO_OUT)/%.pb.c,$(AGENT_PROTOS)) \
	$(PROTO_OUT)/google/protobuf/empty.pb.c
PROTO_STAMP := $(PROTO_OUT)/.stamp
PROTO_CFLAGS := -I$(PROTO_OUT) -I$(NANOPB_DIR)
$(PROTO_STAMP): $(wildcard agent/proto/*.proto agent/proto/*.options)
	@mkdir -p $(PROTO_OUT)
	cd agent/proto && $(NANOPB_GENERATOR) -q -I . -I /usr/include -D $(abspath $(PROTO_OUT)) \
		$(addsuffix .proto,$(AGENT_PROTOS)) /usr/include/google/protobuf/empty.proto
	@touch $@
$(PROTO_SRCS): $(PROTO_STAMP)
AGENT_SRCS := agent/agent.c agent/options.c agent/ttrpc.c agent/service.c agent/call.c agent/sandbox.c agent/process.c \
	agent/catalogue.c agent/program.c agent/pipe.c agent/logstream.c agent/sha256.c
AGENT_IMAGE_SRCS := $(AGENT_SRCS) $(PROTO_SRCS) $(NANOPB_SRCS)
IMAGE_CFLAGS += $(PROTO_CFLAGS)
$(patsubst %,$(OUT)/obj/%.o,$(basename $(AGENT_IMAGE_SRCS))): | $(PROTO_STAMP)

IMAGE_SRCS := $(KERNEL_SRCS) $(DRIVER_SRCS) $(VSOCK_SRCS) $(AGENT_IMAGE_SRCS) \
	$(ARCH_SRCS_$(ARCH))
IMAGE_OBJS := $(patsubst %,$(OUT)/obj/%.o,$(basename $(IMAGE_SRCS)))

# ---------------------------------------------------------------------------
# Top-level targets
# ---------------------------------------------------------------------------
.PHONY: all deps images image esp host unit fuzz test bench soak qemu-test run fresh-check format clean distclean

all: deps
	$(MAKE) --no-print-directory ARCH=x86_64 image
	$(MAKE) --no-print-directory ARCH=aarch64 image
	$(MAKE) --no-print-directory host

images: deps
	$(MAKE) --no-print-directory ARCH=x86_64 image
	$(MAKE) --no-print-directory ARCH=aarch64 image

deps:
	@scripts/deps.sh

# ---------------------------------------------------------------------------
# The EFI image
# ---------------------------------------------------------------------------
IMAGE_ELF := $(OUT)/image.so
IMAGE_EFI := $(OUT)/$(EFI_NAME)
ESP := $(OUT)/esp

image: $(IMAGE_EFI) $(ESP)/EFI/BOOT/$(EFI_NAME)
	@printf 'image: %s %s bytes\n' $(IMAGE_EFI) $$(stat -c %s $(IMAGE_EFI))

esp: $(ESP)/EFI/BOOT/$(EFI_NAME)

$(OUT)/linker.ld: linker.ld
	@mkdir -p $(@D)
	$(CC) -E -P -x c -DARCH_$(ARCH) $< -o $@

$(OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(IMAGE_CFLAGS) -c $< -o $@

$(OUT)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(IMAGE_CFLAGS) -D__ASSEMBLY__ -c $< -o $@

# crt0 relocates the image and calls efi_main; libgnuefi.a is only the
# relocator.  --no-undefined: in a -shared link an undefined newlib syscall
# would otherwise become a PLT jump that faults at run time (DESIGN §2).
$(IMAGE_ELF): $(OUT)/linker.ld $(IMAGE_OBJS)
	$(LD) -nostdlib -znocombreloc -shared -Bsymbolic --no-undefined \
		--warn-common --no-dynamic-linker -z noexecstack $(ARCH_LDFLAGS) \
		-T $(OUT)/linker.ld -o $@ \
		$(EFI_ROOT)/lib/crt0-efi-$(ARCH).o $(IMAGE_OBJS) \
		$(NEWLIB)/lib/libc.a $(EFI_ROOT)/lib/libgnuefi.a $(LIBGCC)

$(IMAGE_EFI): $(IMAGE_ELF)
	$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym \
		-j .rel -j .rela -j .rel.* -j .rela.* -j .reloc \
		$(EFI_OBJCOPY_FLAGS) $< $@

$(ESP)/EFI/BOOT/$(EFI_NAME): $(IMAGE_EFI)
	@mkdir -p $(@D)
	cp $< $@

# ---------------------------------------------------------------------------
# Host side: tools and unit tests (portable code under ASan + UBSan)
# ---------------------------------------------------------------------------
HOST_CC := gcc
HOST_CFLAGS := -std=gnu11 -O1 -g $(WARN) -I. -DHOST_BUILD -MD -MP \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer $(PROTO_CFLAGS)
HOST_TOOL_CFLAGS := -std=gnu11 -O2 -g $(WARN) -I. -MD -MP \
	-D_GNU_SOURCE
HOST_TOOLS :=
UNIT_TESTS :=

HOST_LDFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all

# Every portable source is compiled once into build/host/asan/ (ASan + UBSan,
# -DHOST_BUILD) and linked into each test that uses it.  The flags are read
# when the recipe runs, so they are the same whatever the line order below.
# Generated protobuf headers must exist before anything includes them.
host_asan_objs = $(patsubst %.c,$(BUILD)/host/asan/%.o,$(1))
$(BUILD)/host/asan/%.o: %.c | $(PROTO_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

# tests/unit/NAME.c plus the portable sources it tests; $(3): extra link flags
define unit_test
UNIT_TESTS += $(BUILD)/host/tests/$(1)
$(BUILD)/host/tests/$(1): $(call host_asan_objs,tests/unit/$(1).c tests/unit/harness.c $(2))
	@mkdir -p $$(@D)
	$$(HOST_CC) $$(HOST_LDFLAGS) -o $$@ $$^ $(3)
endef
$(eval $(call unit_test,test_pool,))
$(eval $(call unit_test,test_config,kernel/config.c agent/options.c))
$(eval $(call unit_test,test_acpi,kernel/acpi.c))
$(eval $(call unit_test,test_elf,kernel/elf.c))
$(eval $(call unit_test,test_store,kernel/store.c tests/unit/host_platform.c))
# vsock core (issue 6): the portable sources plus the pthread platform
VSOCK_HOST_SRCS := vsock/core.c vsock/rx.c vsock/socket.c vsock/seqpacket.c vsock/diag.c \
	vsock/loopback.c tests/unit/host_platform.c
$(eval $(call unit_test,test_vsock_core,$(VSOCK_HOST_SRCS)))
$(eval $(call unit_test,test_vsock_api,$(VSOCK_HOST_SRCS)))
$(eval $(call unit_test,test_vsock_fuzz,$(VSOCK_HOST_SRCS)))
$(eval $(call unit_test,test_vsock_seqpacket,$(VSOCK_HOST_SRCS)))
$(eval $(call unit_test,test_virtqueue,drivers/virtio_pci/virtqueue.c kernel/pool.c))
# the virtio-vsock driver on a fake transport; allocations fail on demand
VIRTIO_VSOCK_TEST_SRCS := drivers/virtio_vsock/virtio_vsock.c drivers/virtio_pci/virtio.c \
	drivers/virtio_pci/virtqueue.c kernel/pool.c tests/unit/host_platform.c \
	tests/unit/fake_virtio.c
VIRTIO_VSOCK_TEST_WRAP := -Wl,--wrap=calloc,--wrap=malloc,--wrap=free,--wrap=pool_alloc
$(eval $(call unit_test,test_virtio_vsock,$(VIRTIO_VSOCK_TEST_SRCS),$(VIRTIO_VSOCK_TEST_WRAP)))

AGENT_HOST_SRCS := $(AGENT_SRCS) kernel/config.c kernel/store.c $(PROTO_SRCS) $(NANOPB_SRCS) \
	$(VSOCK_HOST_SRCS) tests/unit/agent_fixture.c
$(eval $(call unit_test,test_agent_methods,$(AGENT_HOST_SRCS)))
$(eval $(call unit_test,test_agent_kata,$(AGENT_HOST_SRCS)))
$(eval $(call unit_test,test_agent_ttrpc,$(AGENT_HOST_SRCS)))
$(eval $(call unit_test,test_agent_catalogue,$(AGENT_HOST_SRCS)))
$(eval $(call unit_test,test_agent_log,$(AGENT_HOST_SRCS)))
$(eval $(call unit_test,test_agent_hostile,$(AGENT_HOST_SRCS)))

# libFuzzer targets (tests/fuzz/NAME.c plus the sources it drives), built
# with Debian's clang; `make fuzz` runs each for FUZZ_SECONDS, `make test`
# for 30 s each (tests/run_fuzz.py: seeds, regression inputs, crashes).
FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -I. -DHOST_BUILD -D_GNU_SOURCE $(PROTO_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SECONDS ?= 300
FUZZ_TARGETS :=
define fuzz_target
FUZZ_TARGETS += $(BUILD)/fuzz/$(1)
$(BUILD)/fuzz/$(1): tests/fuzz/$(1).c tests/fuzz/fuzz_support.c $(2) | $(PROTO_STAMP)
	@mkdir -p $$(@D)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $$(filter %.c,$$^)
endef
$(eval $(call fuzz_target,fuzz_acpi,kernel/acpi.c))
$(eval $(call fuzz_target,fuzz_options,kernel/config.c agent/options.c))
$(eval $(call fuzz_target,fuzz_vsock_core,$(VSOCK_SRCS) tests/fuzz/fuzz_platform.c))
# The agent on the deterministic fuzz platform (coroutine tasks, virtual time)
FUZZ_AGENT_SRCS := $(AGENT_SRCS) $(PROTO_SRCS) $(NANOPB_SRCS) $(VSOCK_SRCS) \
	vsock/loopback.c kernel/config.c kernel/store.c tests/fuzz/fuzz_platform.c tests/fuzz/fuzz_agent.c
$(eval $(call fuzz_target,fuzz_ttrpc,$(FUZZ_AGENT_SRCS)))
$(eval $(call fuzz_target,fuzz_agent_sequences,$(FUZZ_AGENT_SRCS)))
$(eval $(call fuzz_target,fuzz_elf,kernel/elf.c))
# the driver against a hostile device (tests/unit/fake_virtio.c) on the fuzz platform
$(eval $(call fuzz_target,fuzz_virtio_vsock,drivers/virtio_vsock/virtio_vsock.c \
	drivers/virtio_pci/virtio.c drivers/virtio_pci/virtqueue.c kernel/pool.c \
	tests/unit/fake_virtio.c tests/fuzz/fuzz_platform.c))

-include host/host.mk
-include host/agentctl/agentctl.mk

host: $(HOST_TOOLS)

unit: $(UNIT_TESTS)
	@$(PYTHON) tests/run_unit.py $(UNIT_TESTS)

fuzz: deps $(FUZZ_TARGETS)
	@$(PYTHON) tests/run_fuzz.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make test: install/build everything, run every suite, one closing line.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(UNIT_TESTS) $(FUZZ_TARGETS)
	@$(PYTHON) tests/run_all.py --unit $(UNIT_TESTS) --fuzz $(FUZZ_TARGETS)

qemu-test: all
	$(PYTHON) -m pytest -q tests/qemu

run: all
	@scripts/run.sh

# Load and faults, bounded in time, with leak checks after each phase
# (tests/soak/soak.py; SOAK_ARGS='--minutes 2' for a shorter run).
soak: all
	@$(PYTHON) tests/soak/soak.py $(SOAK_ARGS)

# Our image against a Linux guest, figure by figure (bench/compare.py):
# a table, build/bench/bench.json and build/bench/bench.png.
bench: all linux-guest
	@$(PYTHON) bench/compare.py $(BENCH_ARGS)

# The committed HEAD, built and tested from nothing in a debootstrapped
# Debian 12 root, exactly as CI does it.
fresh-check:
	@.ci/run

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD)/x86_64 $(BUILD)/aarch64 $(BUILD)/host $(BUILD)/fuzz

distclean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -type f -not -path '*/newlib/*' 2>/dev/null)
