# host/host.mk -- included by the top-level Makefile: the vhost-user-vsock
# back-end daemon (DESIGN §6, issue 4), its unit tests and the Linux guest
# used by its real-peer test suite (tests/backend).

VHOST_SRCS := \
	host/vhost/main.c \
	host/vhost/cli.c \
	host/vhost/forward.c \
	host/vhost/loop.c \
	host/vhost/guest_mem.c \
	host/vhost/guest_fault.c \
	host/vhost/virtq.c \
	host/vhost/vhost_user.c \
	host/vhost/vm.c \
	host/vhost/vsock_conn.c \
	host/vhost/vsock_credit.c \
	host/vhost/vsock_queue.c \
	host/vhost/vsock_seq.c \
	host/vhost/hybrid.c \
	host/vhost/log.c \
	host/vhost/pcap.c
VHOST_OBJS := $(patsubst %.c,$(BUILD)/host/obj/%.o,$(VHOST_SRCS))

HOST_TOOLS += $(BUILD)/host/vhost-user-vsock

$(BUILD)/host/obj/host/vhost/%.o: host/vhost/%.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TOOL_CFLAGS) -c $< -o $@

# --config files are YAML, read with Debian's libyaml (libyaml-dev).
VHOST_LIBS := -lyaml

$(BUILD)/host/vhost-user-vsock: $(VHOST_OBJS)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TOOL_CFLAGS) -o $@ $^ $(VHOST_LIBS)

# The same daemon under ASan + UBSan, for the hostile-guest tests; it also
# carries forward.c's test hook (AF_VSOCK forwarding over TCP on 127.0.0.1
# when VHOST_USER_VSOCK_FORWARD_TO_TCP is set: this host has no vsock
# transport to forward to).
$(BUILD)/host/vhost-user-vsock-asan: $(VHOST_SRCS)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TOOL_CFLAGS) -O1 -fsanitize=address,undefined \
		-fno-sanitize-recover=all -fno-omit-frame-pointer -DVHOST_FORWARD_TEST_HOOK \
		-o $@ $(VHOST_SRCS) $(VHOST_LIBS)

# A guest in C that keeps its tx ring topped up (tests/backend: the
# per-batch budget, the sibling bound and the log rate limit).
$(BUILD)/host/txflood: tests/backend/txflood.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TOOL_CFLAGS) -o $@ $<

# Unit tests: the ring walker and the memory map on synthetic guest memory,
# the vhost-user message handler.
$(eval $(call unit_test,test_vhost_ring,host/vhost/virtq.c host/vhost/guest_mem.c \
	host/vhost/log.c))
$(eval $(call unit_test,test_vhost_user,host/vhost/vhost_user.c host/vhost/loop.c \
	host/vhost/virtq.c host/vhost/guest_mem.c host/vhost/guest_fault.c host/vhost/log.c))
$(eval $(call unit_test,test_vhost_log,host/vhost/log.c))
# The command line and --config YAML files (vhost-device-vsock's forms).
$(eval $(call unit_test,test_vhost_cli,host/vhost/cli.c,$(VHOST_LIBS)))
# One VM's packet queue on hand-made rings (weights, sibling bound).
VHOST_QUEUE_SRCS := host/vhost/vsock_queue.c host/vhost/vsock_conn.c host/vhost/vsock_credit.c \
	host/vhost/forward.c \
	host/vhost/vsock_seq.c \
	host/vhost/vhost_user.c \
	host/vhost/virtq.c host/vhost/guest_mem.c host/vhost/guest_fault.c host/vhost/loop.c \
	host/vhost/pcap.c host/vhost/hybrid.c host/vhost/log.c
$(eval $(call unit_test,test_vhost_queue,$(VHOST_QUEUE_SRCS)))

# libFuzzer targets (tests/fuzz/, seeds in tests/fuzz/corpus/NAME/): the
# CONNECT line parser, the descriptor-chain walker over guest memory with
# holes, and vhost-user sessions through the daemon's socket code.
$(eval $(call fuzz_target,fuzz_hybrid_connect,host/vhost/hybrid.c))
$(eval $(call fuzz_target,fuzz_vhost_ring,host/vhost/virtq.c host/vhost/guest_mem.c \
	host/vhost/log.c))
$(eval $(call fuzz_target,fuzz_vhost_user,host/vhost/vhost_user.c host/vhost/loop.c \
	host/vhost/virtq.c host/vhost/guest_mem.c host/vhost/guest_fault.c host/vhost/log.c))

# The Linux guest (Debian cloud kernel + initramfs) for tests/backend.
.PHONY: linux-guest
linux-guest:
	@scripts/deps-linux-guest.sh
