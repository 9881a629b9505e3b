"""A tag is not proof of whose an internet gateway is either (docs/how-it-works.md "A tag
is not proof of whose a network is"). Request B is SUCCEEDED, public; someone detached its
gateway and gave it request A's `RequestId` tag. A's worker meets an ambiguous
CreateInternetGateway answer and looks by tag, as it looks for a VPC after a lost
answer: a gateway B's record names is B's, never adopted, attached to A's VPC and
recorded (both records would name it, and A's DELETE would delete B's gateway). When
the records cannot be read, whose it is is unknown: the job neither adopts nor makes one,
and is tried again."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import RetryLater
from integration.conftest import Stack, body, deliver, post, record
from integration.test_drift import public_request
from integration.test_tag_is_not_proof import failing_status_queries


def _submit_public(client: Client, cidr: str) -> str:
    payload = body(cidr=cidr, subnets=1)
    payload["subnets"][0]["public"] = True
    response = post(client, payload)
    assert response.status_code == 202, response.body
    return str(response.json_body["request_id"])


def _b_gateway_tagged_for_a(client: Client, stack: Stack) -> tuple[dict[str, Any], str]:
    """B (SUCCEEDED), its gateway detached and tagged with A's request id; A submitted,
    its first CreateInternetGateway not run (an answer that says nothing: look by tag)."""
    ec2 = stack.truth.ec2
    b = public_request(client, cidr="10.40.0.0/16", subnets=1)
    a = _submit_public(client, "10.41.0.0/16")
    ec2.detach_internet_gateway(InternetGatewayId=b["internet_gateway_id"], VpcId=b["vpc_id"])
    ec2.create_tags(Resources=[b["internet_gateway_id"]], Tags=[{"Key": "RequestId", "Value": a}])
    stack.faults.fail("ec2", "CreateInternetGateway", "InternalError", 500, times=1)
    return b, a


def _attachments(stack: Stack, gateway: str) -> list[str]:
    [shown] = stack.truth.ec2.describe_internet_gateways(InternetGatewayIds=[gateway])[
        "InternetGateways"
    ]
    return [x["VpcId"] for x in shown.get("Attachments") or []]


def test_a_look_by_tag_never_adopts_a_gateway_another_record_names(
    client: Client, stack: Stack
) -> None:
    b, a = _b_gateway_tagged_for_a(client, stack)

    deliver(client, a)

    rec = record(client, a)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert rec["internet_gateway_id"] != b["internet_gateway_id"]
    assert _attachments(stack, b["internet_gateway_id"]) == []
    assert _attachments(stack, rec["internet_gateway_id"]) == [rec["vpc_id"]]


def test_a_look_by_tag_that_cannot_read_the_records_neither_adopts_nor_makes_a_gateway(
    client: Client, stack: Stack
) -> None:
    b, a = _b_gateway_tagged_for_a(client, stack)
    failing_status_queries(stack)
    gateways = len(stack.truth.ec2.describe_internet_gateways()["InternetGateways"])

    with pytest.raises(RetryLater):
        deliver(client, a)

    assert record(client, a)["internet_gateway_id"] is None
    assert len(stack.truth.ec2.describe_internet_gateways()["InternetGateways"]) == gateways
    assert _attachments(stack, b["internet_gateway_id"]) == []
    stack.faults.clear()
    deliver(client, a, receive_count=2)
    rec = record(client, a)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert rec["internet_gateway_id"] != b["internet_gateway_id"]
