"""A VPC that a later attempt FINDS after a lost CreateVpc answer is not one "this run
made" (docs/how-it-works.md "Public subnets, exactly once too": what an earlier attempt
made is looked up by tag before being made again).

That VPC can be the earlier attempt's, holding its gateway and route table: were it taken
for one this run made, the run would make a second gateway and a second table without
looking, move the subnet off the first table and detach the first gateway, and leave
them behind: two gateways and two tables tagged with one SUCCEEDED request, no record
naming the extra ones (not even its `orphans`).
"""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from integration.conftest import Stack, an_attempt_dies, deliver, record, stored
from integration.convergence.conftest import tag_lookup
from integration.test_lifecycle_worker import (
    assert_public_access,
    gateways,
    route_tables,
    submit_public,
)


def test_a_vpc_found_after_a_lost_create_answer_keeps_its_gateway_and_table(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id = submit_public(client, subnets=1, public=(0,))
    # Attempt 1 makes VPC A, its subnet, gateway (attached) and table (routed, the subnet
    # associated), then dies; none of its checkpoints landed.
    an_attempt_dies(client, stack, request_id, "AssociateRouteTable")
    assert stored(stack, request_id).vpc_id is None
    [gateway_a] = [g["InternetGatewayId"] for g in gateways(stack, request_id)]
    [table_a] = [t["RouteTableId"] for t in route_tables(stack, request_id)]
    clock.advance(settings.lease_seconds + 1)

    # Attempt 2: its first look by tag for the VPC lags; CreateVpc answers a 5xx (it did
    # not run); the look after it finds VPC A, which the run adopts.
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=1, match=tag_lookup)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, times=1)
    # Real EC2's answer for a subnet another table holds (moto adds a second association).
    stack.faults.fail("ec2", "AssociateRouteTable", "Resource.AlreadyAssociated", 400)
    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert stack.faults.count("ec2", "CreateVpc") == 2  # attempt 1's, attempt 2's 5xx
    # The earlier attempt's gateway and table were in the adopted VPC: one of each.
    assert {g["InternetGatewayId"] for g in gateways(stack, request_id)} == {gateway_a}, (
        "a second gateway was made; the first left detached, named by no record"
    )
    assert {t["RouteTableId"] for t in route_tables(stack, request_id)} == {table_a}
    assert_public_access(stack, client, request_id, public={0})
