"""What a later attempt takes for its own is in its own VPC. An attempt that made VPC A
and its gateway and route table died before any checkpoint landed; the next one's look
for the VPC lagged, so it made VPC B. A third attempt, looking up the gateway or table
it may have made before, finds A's by the request's tag: it must not adopt them (A is a
duplicate, removed with everything in it). A review found the table adopted (a SUCCEEDED
record naming a table in another VPC, which then held that VPC for good) and the gateway
adopted (its attach refused as someone else's: FAILED), 2026-12-06."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.wiring import Services
from integration.conftest import Stack, an_attempt_dies, deliver, record, stored
from integration.test_lifecycle_worker import assert_public_access, route_tables, submit_public


def _third_attempt_after_a_lagging_vpc_look(
    client: Client, stack: Stack, clock: Any, settings: Settings, throttled: str
) -> str:
    """Attempt 1 makes VPC A, its gateway and table (no checkpoint lands) and dies; attempt
    2's look for the VPC lags: it makes VPC B (checkpointed), and `throttled` runs out of
    tries; attempt 3 finishes."""
    request_id = submit_public(client)
    an_attempt_dies(client, stack, request_id, "CreateRoute", when="before")
    assert stored(stack, request_id).vpc_id is None
    [table_a] = route_tables(stack, request_id)
    clock.advance(settings.lease_seconds + 1)

    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs")
    stack.faults.fail("ec2", throttled, "RequestLimitExceeded", times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)
    stack.faults.clear()
    vpc_b = stored(stack, request_id).vpc_id
    assert vpc_b is not None
    assert vpc_b != table_a["VpcId"]
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=3)
    return request_id


@pytest.mark.parametrize("throttled", ["CreateRouteTable", "CreateInternetGateway"])
def test_a_later_attempt_adopts_nothing_of_an_earlier_attempts_vpc(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    services: Services,
    throttled: str,
) -> None:
    request_id = _third_attempt_after_a_lagging_vpc_look(client, stack, clock, settings, throttled)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    [table] = stack.ec2.describe_route_tables(RouteTableIds=[rec["route_table_id"]])["RouteTables"]
    assert table["VpcId"] == rec["vpc_id"]
    [gateway] = stack.ec2.describe_internet_gateways(
        InternetGatewayIds=[rec["internet_gateway_id"]]
    )["InternetGateways"]
    assert [a["VpcId"] for a in gateway["Attachments"]] == [rec["vpc_id"]]
    # VPC A, with its gateway and table, is the reconciler's to remove: it does.
    for _ in range(3):
        clock.advance(settings.reconcile_grace_seconds + 1)
        services.reconciler.run()
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == [rec["vpc_id"]]
    assert_public_access(stack, client, request_id, public={0, 1})
