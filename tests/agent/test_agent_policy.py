"""Policy in the image: agent.allowed_methods from \\agent.cfg (needs the
kernel to hand agent.* options to agent_option_set), and DestroySandbox
powering the VM off."""
import pytest

import ttrpc_client as tc
from ttrpc_client import RpcError

import agent_pb2
import health_pb2

AGENT_CONFIG = "agent.allowed_methods=Check,Version,DestroySandbox\n"


def test_method_outside_policy_is_denied(client):
    client.call("grpc.Health", "Check", health_pb2.CheckRequest(), health_pb2.HealthCheckResponse)
    with pytest.raises(RpcError) as e:
        client.call("grpc.AgentService", "GetGuestDetails", agent_pb2.GuestDetailsRequest(),
                    agent_pb2.GuestDetailsResponse)
    assert e.value.code == tc.PERMISSION_DENIED


def test_destroy_sandbox_powers_off(client, agent_vm):
    from google.protobuf import empty_pb2
    client.call("grpc.AgentService", "DestroySandbox", agent_pb2.DestroySandboxRequest(),
                empty_pb2.Empty)
    agent_vm.wait_exit(30)
