"""CreateRouteTable names the VPC made moments ago (VpcId): EC2 may answer
InvalidVpcID.NotFound (its reads lag its writes) or UnauthorizedOperation (IAM's condition
on the VPC's deployment tag cannot see the tag yet). That is lag, retried as it is for
CreateSubnet, never a reason to fail the request and roll it back ("not found"
for a VPC made moments ago is retried, docs/how-it-works.md)."""

from __future__ import annotations

import pytest
from chalice.test import Client

from integration.conftest import Stack, body, deliver, post, record


@pytest.mark.parametrize("code", ["InvalidVpcID.NotFound", "UnauthorizedOperation"])
def test_a_fresh_vpc_not_seen_yet_by_create_route_table_is_retried_not_a_failure(
    client: Client, stack: Stack, code: str
) -> None:
    payload = body(subnets=2)
    payload["subnets"][0]["public"] = True
    response = post(client, payload)
    assert response.status_code == 202, response.json_body
    request_id = response.json_body["request_id"]
    # EC2 does not see the VPC made moments ago yet (the call names it as VpcId).
    stack.faults.fail("ec2", "CreateRouteTable", code, times=1)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert rec["route_table_id"] is not None
    assert rec["attempts"] == 1


def test_the_same_lag_for_create_subnet_is_retried(client: Client, stack: Stack) -> None:
    """The control: CreateSubnet, which passes parent_is_fresh, gets this right."""
    payload = body(subnets=2)
    payload["subnets"][0]["public"] = True
    request_id = post(client, payload).json_body["request_id"]
    stack.faults.fail("ec2", "CreateSubnet", "InvalidVpcID.NotFound", times=1)

    deliver(client, request_id)

    assert record(client, request_id)["status"] == "SUCCEEDED"
