"""EC2's lag on the call that names a gateway made moments ago is never a permanent
failure (docs/how-it-works.md: EC2 reads lag its writes; "not found" right after a
create is lag).

CreateRoute names the internet gateway this run made moments ago (GatewayId). EC2's
answer for a gateway it does not see yet is `InvalidGatewayID.NotFound` ("The gateway ID
'igw-...' does not exist"; terraform-provider-aws's aws_route retries on that very code):
EC2's lag, like the InvalidVpcID.NotFound that CreateRouteTable is forgiven
(test_route_table_names_a_fresh_vpc.py): retried, never FAILED on one answer.
"""

from __future__ import annotations

from chalice.test import Client

from integration.conftest import Stack, deliver, record
from integration.test_lifecycle_worker import assert_public_access, submit_public


def test_create_route_naming_a_fresh_gateway_ec2_does_not_see_yet_is_lag_not_a_failure(
    client: Client, stack: Stack
) -> None:
    code, message = "InvalidGatewayID.NotFound", "The gateway ID 'igw-0' does not exist"
    request_id = submit_public(client, subnets=2, public=(0,))
    # The first CreateRoute, right after the gateway was made and attached: EC2 does not
    # see it yet. The call did not run.
    stack.faults.fail("ec2", "CreateRoute", code, 400, times=1, message=message)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert rec["attempts"] == 1
    assert_public_access(stack, client, request_id, public={0})


def test_a_refusal_of_the_route_table_is_not_hidden_by_the_gateways_throttling(
    client: Client, stack: Stack
) -> None:
    """The gateway and the route table are made side by side. EC2 refuses the table for
    good (a quota) while it throttles the gateway past its in-place retries: the request
    ends FAILED at once with the table's refusal, as docs/api.md's `error` says (the
    failure's own code), rather than being tried again and again, then failing with
    RetriesExhausted, the quota never said (the gateway's failure, first in order,
    hid it)."""
    request_id = submit_public(client, subnets=2, public=(0,))
    stack.faults.fail("ec2", "CreateInternetGateway", "RequestLimitExceeded", 503, times=-1)
    stack.faults.fail("ec2", "CreateRouteTable", "RouteTableLimitExceeded", 400, times=-1)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", (rec["status"], rec["error"])
    assert rec["error"]["code"] == "RouteTableLimitExceeded", rec["error"]
    assert rec["attempts"] == 1
