"""Drift over `make run`: someone changes EC2 behind the service's back (moto's EC2, through
the stack's endpoint, as a person with console access would), and the record says so
within one reconciler interval, then clears once EC2 matches again; lagging and failing
reads (the stack's faults file) never make drift; a drifted request can be deleted.

The session's stack runs its reconciler every 2 s (e2e/conftest.py), and the "local"
stage lets a record settle 3 s (DRIFT_SETTLE_SECONDS) before its first check. The
in-process twins are in tests/integration/test_drift.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from e2e.conftest import RECONCILER_SECONDS, RunningStack
from e2e.test_convergence import TABLE, until
from e2e.test_lifecycle import ours, wait_status
from e2e.test_local_stack import body, submit, subnets_of, vpcs_of, wait_for

pytestmark = pytest.mark.e2e

# The contract's bound: drift shows within one reconciler interval, at most 30 s locally.
WITHIN_SECONDS = 30
DESCRIBES = {
    "DescribeVpcs": "Vpcs",
    "DescribeSubnets": "Subnets",
    "DescribeInternetGateways": "InternetGateways",
    "DescribeRouteTables": "RouteTables",
}


@pytest.fixture(autouse=True)
def _no_faults_left(local_stack: RunningStack) -> Iterator[None]:
    local_stack.clear_faults()
    yield
    local_stack.clear_faults()


def public_request(stack: RunningStack, api: requests.Session, octet: int) -> dict[str, Any]:
    payload = body(octet, subnets=2)
    payload["subnets"][0]["public"] = True
    record = wait_for(stack, api, submit(stack, api, payload))
    assert record["status"] == "SUCCEEDED", record
    return record


def read(stack: RunningStack, api: requests.Session, request_id: str) -> dict[str, Any]:
    return dict(api.get(f"{stack.url}/vpcs/{request_id}").json())


def drifted(stack: RunningStack, api: requests.Session) -> list[str]:
    query: dict[str, str | int] = {"drift": "true", "limit": 50}
    answer = api.get(f"{stack.url}/vpcs", params=query)
    assert answer.status_code == 200, answer.text
    return [item["request_id"] for item in answer.json()["items"]]


def until_drift(
    stack: RunningStack, api: requests.Session, request_id: str, count: int
) -> dict[str, Any]:
    """The record once it shows `count` drift items (0: none), within WITHIN_SECONDS."""
    started = time.monotonic()

    def showing() -> dict[str, Any] | None:
        record = read(stack, api, request_id)
        return record if len(record["drift"]) == count else None

    record: dict[str, Any] = until(
        showing, WITHIN_SECONDS, f"{count} drift item(s) on {request_id}", stack
    )
    assert time.monotonic() - started <= WITHIN_SECONDS
    return record


def test_a_deleted_subnet_is_drift_within_a_run_and_cleared_once_made_again(
    local_stack: RunningStack, api: requests.Session
) -> None:
    record = public_request(local_stack, api, 210)
    request_id, private = record["request_id"], record["subnets"][1]["subnet_id"]
    ec2 = local_stack.client("ec2")
    ec2.delete_subnet(SubnetId=private)

    drifting = until_drift(local_stack, api, request_id, 1)

    assert drifting["status"] == "SUCCEEDED"
    assert [(d["type"], d["resource_id"], d["problem"]) for d in drifting["drift"]] == [
        ("subnet", private, "missing")
    ]
    assert drifting["drift_detected_at"]
    assert request_id in drifted(local_stack, api)

    restored = ec2.create_subnet(
        VpcId=record["vpc_id"],
        CidrBlock=record["subnets"][1]["cidr"],
        AvailabilityZone=record["subnets"][1]["az"],
        TagSpecifications=[
            {
                "ResourceType": "subnet",
                "Tags": [
                    {"Key": "RequestId", "Value": request_id},
                    {"Key": "vpc-provisioner:deployment", "Value": TABLE},
                ],
            }
        ],
    )["Subnet"]["SubnetId"]
    cleared = until_drift(local_stack, api, request_id, 0)

    assert cleared["drift_detected_at"] is None
    assert cleared["subnets"][1]["subnet_id"] == restored
    assert request_id not in drifted(local_stack, api)


def test_a_removed_route_a_stripped_tag_and_an_exposed_private_subnet_are_drift_until_restored(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """The request's route to the internet removed, its private subnet's RequestId tag
    stripped, and that subnet routed to the internet through the VPC's main route table."""
    record = public_request(local_stack, api, 211)
    request_id, private = record["request_id"], record["subnets"][1]["subnet_id"]
    table, gateway = record["route_table_id"], record["internet_gateway_id"]
    ec2 = local_stack.client("ec2")
    [main] = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [record["vpc_id"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_tags(Resources=[private], Tags=[{"Key": "RequestId"}])
    ec2.create_route(
        RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )

    drifting = until_drift(local_stack, api, request_id, 3)

    assert [(d["type"], d["resource_id"], d["problem"]) for d in drifting["drift"]] == [
        ("subnet", private, "changed"),
        ("route", table, "missing"),
        ("association", private, "changed"),
    ]
    assert private in {s["SubnetId"] for s in subnets_of(local_stack, record["vpc_id"])}

    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    ec2.create_tags(Resources=[private], Tags=[{"Key": "RequestId", "Value": request_id}])
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    until_drift(local_stack, api, request_id, 0)


def test_a_window_of_empty_and_failing_describe_answers_never_makes_drift(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """Every listing lags (answers empty) and every closer look fails (500) or lags, for
    several reconciler runs: nothing said "not found", so nothing is drift."""
    record = public_request(local_stack, api, 212)
    request_id = record["request_id"]
    for operation, listed in DESCRIBES.items():
        local_stack.add_fault(
            service="ec2", operation=operation, code=listed, when="stale", times=-1
        )
    local_stack.add_fault(
        service="ec2",
        operation="DescribeSubnets",
        code="InternalError",
        status=500,
        times=-1,
        contains='"SubnetIds"',
    )
    lines = "could not be checked this run"
    seen = local_stack.log().count(lines)

    until(
        lambda: local_stack.log().count(lines) >= seen + 3,
        15 * RECONCILER_SECONDS,
        "three drift checks that could not tell",
        local_stack,
    )

    after = read(local_stack, api, request_id)
    assert after["drift"] == []
    assert after["updated_at"] == record["updated_at"]  # not even written
    assert request_id not in drifted(local_stack, api)


def test_a_drifted_request_is_deleted_and_nothing_of_it_is_left(
    local_stack: RunningStack, api: requests.Session
) -> None:
    record = public_request(local_stack, api, 213)
    request_id, vpc_id = record["request_id"], record["vpc_id"]
    ec2 = local_stack.client("ec2")
    ec2.delete_subnet(SubnetId=record["subnets"][1]["subnet_id"])
    ec2.delete_route(RouteTableId=record["route_table_id"], DestinationCidrBlock="0.0.0.0/0")
    ec2.detach_internet_gateway(InternetGatewayId=record["internet_gateway_id"], VpcId=vpc_id)
    until_drift(local_stack, api, request_id, 3)

    response = api.delete(f"{local_stack.url}/vpcs/{request_id}")
    assert response.status_code == 202, response.text
    deleted = wait_status(local_stack, api, request_id, {"DELETED", "DELETE_FAILED"})

    assert deleted["status"] == "DELETED", deleted
    assert deleted["drift"] == []
    assert vpcs_of(local_stack, request_id) == []
    assert subnets_of(local_stack, vpc_id) == []
    assert ours(local_stack, "gateways", request_id) == []
    assert ours(local_stack, "tables", request_id) == []
    assert request_id not in drifted(local_stack, api)
