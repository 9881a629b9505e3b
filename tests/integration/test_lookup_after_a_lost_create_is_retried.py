"""After a lost answer to CreateInternetGateway or CreateRouteTable, the look-up before
creating again goes through the read discipline (`Ec2Calls.read`): one throttle on it is
retried in place (docs/how-it-works.md: throttling is retried in place with backoff), not
a raw botocore error crashing the worker's invocation (its lease held, its message waiting
out its visibility, a final attempt never reaching its rollback). A review found it sent bare."""

from __future__ import annotations

import pytest
from chalice.test import Client

from integration.conftest import Stack, body, deliver, post, record


def _public(client: Client) -> str:
    payload = body(subnets=2)
    payload["subnets"][0]["public"] = True
    response = post(client, payload)
    assert response.status_code == 202, response.json_body
    return str(response.json_body["request_id"])


@pytest.mark.parametrize(
    ("create", "look"),
    [
        ("CreateInternetGateway", "DescribeInternetGateways"),
        ("CreateRouteTable", "DescribeRouteTables"),
    ],
)
def test_a_throttled_look_up_after_a_lost_create_answer_is_retried_in_place(
    client: Client, stack: Stack, create: str, look: str
) -> None:
    request_id = _public(client)
    # The create runs; its answer is lost: the worker looks before creating again.
    stack.faults.fail("ec2", create, "InternalError", 500, when="after")
    # That look is throttled once (it never ran): retried in place, like any read.
    stack.faults.fail("ec2", look, "RequestLimitExceeded", 503)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    gateways = stack.ec2.describe_internet_gateways(
        Filters=[{"Name": "tag:RequestId", "Values": [request_id]}]
    )["InternetGateways"]
    tables = stack.ec2.describe_route_tables(
        Filters=[{"Name": "tag:RequestId", "Values": [request_id]}]
    )["RouteTables"]
    assert [g["InternetGatewayId"] for g in gateways] == [rec["internet_gateway_id"]]
    assert [t["RouteTableId"] for t in tables] == [rec["route_table_id"]]
