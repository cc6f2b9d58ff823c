# host/agentctl/agentctl.mk -- included by the top-level Makefile: the
# agent's command-line client (DESIGN §6, issue 7), built with the same
# nanopb code as the image (PROTO_SRCS, NANOPB_SRCS from the agent block).

AGENTCTL_SRCS := host/agentctl/agentctl.c host/agentctl/addr.c host/agentctl/text.c $(PROTO_SRCS) $(NANOPB_SRCS)

HOST_TOOLS += $(BUILD)/host/agentctl

$(BUILD)/host/agentctl: $(AGENTCTL_SRCS) | $(PROTO_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TOOL_CFLAGS) $(PROTO_CFLAGS) -o $@ $(filter %.c,$^)

# Unit tests of the address parser and the guest-text escaping; fuzz target
# of the latter.
$(eval $(call unit_test,test_agentctl_text,host/agentctl/text.c))
$(eval $(call unit_test,test_agentctl_addr,host/agentctl/addr.c))
$(eval $(call fuzz_target,fuzz_agentctl_text,host/agentctl/text.c))
