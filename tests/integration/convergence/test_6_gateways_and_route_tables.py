"""Convergence never destroys and never lies, defect 6 (a deletion is recorded only on a
delete's answer) for internet gateways and route tables: looked up by tag too, never taken
for gone on UnauthorizedOperation unless a read by id answers not-found, every table a
lagging listing hid deleted, a refusal that may clear (every attachment or association
EC2 showed went) tried again, any other one said with EC2's code. Every test ends on EC2's
ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import TABLE, Stack, deliver, record
from integration.convergence.conftest import _delete
from integration.test_lifecycle_worker import assert_nothing_of_it, gateways, submit_public
from integration.test_reconciler import tagged_gateway, tagged_table, tagged_vpc


def _public_succeeded(client: Client, clock: Any, settings: Settings) -> str:
    """A request with public subnets that SUCCEEDED a while ago (EC2 has caught up)."""
    request_id = submit_public(client)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    clock.advance(settings.drift_settle_seconds)
    return request_id


def _gateways_tagged(stack: Stack, request_id: str) -> list[str]:
    found = stack.ec2.describe_internet_gateways(
        Filters=[{"Name": "tag:RequestId", "Values": [request_id]}]
    )["InternetGateways"]
    return [g["InternetGatewayId"] for g in found]


def test_6_a_delete_looks_up_gateways_by_tag_too(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """A second internet gateway carries the request's tags (a worker that lost its answer
    made it; no record names it): the teardown's look by tag finds it, deletes it, and
    only then is the request DELETED."""
    request_id = _public_succeeded(client, clock, settings)
    extra = stack.ec2.create_internet_gateway(
        TagSpecifications=[
            {
                "ResourceType": "internet-gateway",
                "Tags": [
                    {"Key": "RequestId", "Value": request_id},
                    {"Key": "vpc-provisioner:deployment", "Value": TABLE},
                ],
            }
        ]
    )["InternetGateway"]["InternetGatewayId"]
    assert _delete(client, request_id).status_code == 202

    deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED"
    assert extra in rec["teardown"]["deleted"]
    assert _gateways_tagged(stack, request_id) == []


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        ("DisassociateRouteTable", "route_table_id"),
        ("DetachInternetGateway", "internet_gateway_id"),
    ],
)
def test_6_unauthorized_on_a_disassociation_or_detachment_is_not_a_deletion(
    client: Client, stack: Stack, operation: str, field: str, clock: Any, settings: Settings
) -> None:
    """The route table's disassociation, or the gateway's detachment, answers
    UnauthorizedOperation (the tag condition failed) and the table or gateway is still
    there by id: neither it nor the VPC it holds up is recorded deleted; the request ends
    DELETE_FAILED saying why, its record still names what is left, and EC2 still has it."""
    request_id = _public_succeeded(client, clock, settings)
    before = record(client, request_id)
    resource_id = before[field]
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", operation, "UnauthorizedOperation", 403, times=-1)

    deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "UnauthorizedOperation"
    assert resource_id in rec["teardown"]["remaining"]
    assert resource_id not in rec["teardown"]["deleted"]
    assert before["vpc_id"] not in rec["teardown"]["deleted"]
    assert rec[field] == resource_id
    assert rec["vpc_id"] == before["vpc_id"]
    if field == "internet_gateway_id":
        assert _gateways_tagged(stack, request_id) == [resource_id]
        assert rec["route_table_id"] is None  # deleted before: no longer named
    else:
        assert stack.ec2.describe_route_tables(RouteTableIds=[resource_id])["RouteTables"]


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        ("DeleteVpc", "vpc_id"),
        ("DeleteInternetGateway", "internet_gateway_id"),
        ("DeleteRouteTable", "route_table_id"),
    ],
)
def test_6_deleted_but_answered_unauthorized_is_proven_gone_by_id(
    client: Client, stack: Stack, operation: str, field: str, clock: Any, settings: Settings
) -> None:
    """The delete ran, and answered UnauthorizedOperation (what a tag-conditioned delete of
    something already gone may answer): a by-id read of that very resource answering
    not-found proves it gone, so the request ends DELETED, the resource among the deleted."""
    request_id = _public_succeeded(client, clock, settings)
    resource_id = record(client, request_id)[field]
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", operation, "UnauthorizedOperation", 403, times=1, when="after")

    deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED"
    assert resource_id in rec["teardown"]["deleted"]
    assert_nothing_of_it(stack, request_id)


def _table_listings_lag(stack: Stack, times: int) -> None:
    """The next `times` listings of route tables by id answer empty."""
    stack.faults.stale(
        "ec2",
        "DescribeRouteTables",
        "RouteTables",
        times=times,
        match=lambda p: "route-table-id" in str(p.get("Filters")),
    )


def test_6_a_route_table_whose_listings_lag_twice_is_tried_again_never_delete_failed(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The table's listing by id lags in the pass and again after the pause: its
    association is never seen, and DeleteRouteTable answers DependencyViolation. Before:
    DELETE_FAILED on the first receive, for lag alone (and, with the subnet deleted in
    the same pass, a table said to route "another subnet" ever after). Now a failure
    that may clear: the next receive lists the table and deletes everything."""
    request_id = submit_public(client, subnets=2, public=(0,))
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    assert _delete(client, request_id).status_code == 202
    _table_listings_lag(stack, times=2)

    with pytest.raises(RetryLater):  # not the last receive: tried again later
        deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETING"
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_of_it(stack, request_id)


def test_6_every_table_a_lagging_listing_hid_is_deleted_not_only_the_first(
    client: Client, stack: Stack
) -> None:
    """Two route tables of the request (an earlier attempt's beside its own), and their
    listing lags: both are hidden, both tried again after the pause. A pass that stopped
    at the first would leave the second unrecorded, neither deleted nor remaining, and
    the look after the deletes (which only wants what was never tried) call it done."""
    request_id = submit_public(client, subnets=2, public=(0,))
    deliver(client, request_id)
    own = record(client, request_id)
    earlier = tagged_table(stack, own["vpc_id"], request_id)
    assert _delete(client, request_id).status_code == 202
    _table_listings_lag(stack, times=1)

    deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED", rec
    assert {earlier, own["route_table_id"]} <= set(rec["teardown"]["deleted"])
    assert_nothing_of_it(stack, request_id)


@pytest.mark.parametrize(
    ("operation", "named"),
    [("DeleteRouteTable", "route_table_id"), ("DeleteInternetGateway", "internet_gateway_id")],
)
def test_6_a_table_or_gateway_refused_for_good_ends_delete_failed_with_ec2s_code(
    client: Client, stack: Stack, operation: str, named: str
) -> None:
    """Only DependencyViolation on a table whose associations all went, or a gateway whose
    attachments all went, may clear (the listing missed one); any other refusal is EC2's
    answer, said as it is."""
    request_id = submit_public(client, subnets=2, public=(0,))
    deliver(client, request_id)
    resource = record(client, request_id)[named]
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", operation, "InvalidParameterValue", 400, times=-1)

    deliver(client, request_id, operation=Operation.DELETE)  # the first receive

    rec = record(client, request_id)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "InvalidParameterValue"
    assert resource in rec["teardown"]["remaining"]


def test_6_a_gateway_attached_elsewhere_holds_back_no_other_gateway(
    client: Client, stack: Stack
) -> None:
    """The request's gateway, someone attached to their VPC, stays; an earlier attempt's
    gateway of the request, detached, goes all the same, and what stays is named."""
    request_id = submit_public(client, subnets=1, public=(0,))
    deliver(client, request_id)
    rec = record(client, request_id)
    own = rec["internet_gateway_id"]
    stack.ec2.detach_internet_gateway(InternetGatewayId=own, VpcId=rec["vpc_id"])
    theirs = tagged_vpc(stack, "00000000-0000-4000-8000-000000000000", cidr="10.77.0.0/16")
    stack.ec2.attach_internet_gateway(InternetGatewayId=own, VpcId=theirs)
    earlier = tagged_gateway(stack, request_id)
    assert _delete(client, request_id).status_code == 202

    deliver(client, request_id, receive_count=5, operation=Operation.DELETE)  # the last

    after = record(client, request_id)
    assert after["status"] == "DELETE_FAILED"
    assert own in after["teardown"]["remaining"]
    listed = {
        g["InternetGatewayId"] for g in stack.ec2.describe_internet_gateways()["InternetGateways"]
    }
    assert earlier not in listed
    assert own in listed


# --- the third review (2026-12-05, night): what was unknown never turns into "gone" ------


def _gateway_listed_unattached_once(hook: Any) -> dict[str, int]:
    """The next listing of gateways by id shows them with no attachment (it lags the
    attach); `times` left (0 once it has lagged)."""
    lagged = {"times": 1}

    def attachment_not_listed_yet(parsed: dict[str, Any], context: Any, **_: Any) -> None:
        filters = str(context.get("_faults_params", {}).get("Filters"))
        if "internet-gateway-id" in filters and lagged["times"] > 0:  # the listing by id
            lagged["times"] -= 1
            for gateway in parsed.get("InternetGateways", []):
                gateway["Attachments"] = []

    hook("ec2", "after-call.ec2.DescribeInternetGateways", attachment_not_listed_yet)
    return lagged


def test_6_a_gateway_listed_before_its_attachment_is_detached_and_deleted_not_delete_failed(
    client: Client, stack: Stack, hook: Any
) -> None:
    """The teardown's listing of the gateway by id lags its attachment: the gateway is
    listed with no attachment. Before: no DetachInternetGateway was sent,
    DeleteInternetGateway answered DependencyViolation (taken as permanent) and the
    request ended DELETE_FAILED on one lagging read. Now a gateway listed unattached is
    detached from the request's own VPCs all the same ("not attached" is an answer too):
    DELETED, nothing left."""
    request_id = submit_public(client, subnets=2, public=(0,))
    deliver(client, request_id)
    assert _delete(client, request_id).status_code == 202
    lagged = _gateway_listed_unattached_once(hook)
    deliver(client, request_id, operation=Operation.DELETE)

    assert lagged["times"] == 0
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_of_it(stack, request_id)


def test_6_a_gateway_refused_after_every_listed_attachment_went_is_tried_again_later(
    client: Client, stack: Stack, hook: Any, clock: Any, settings: Settings
) -> None:
    """The same lag, and the detach from the request's own VPC answers "not attached" (its
    attachment unseen there too): DeleteInternetGateway is refused with DependencyViolation.
    Only an attachment holds a gateway and every one EC2 showed went: that refusal may
    clear. DELETING (tried again), not DELETE_FAILED; the next try removes it all."""
    request_id = submit_public(client, subnets=1, public=(0,))
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    assert _delete(client, request_id).status_code == 202
    _gateway_listed_unattached_once(hook)
    stack.faults.fail("ec2", "DetachInternetGateway", "Gateway.NotAttached", 400, times=1)

    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    rec = record(client, request_id)
    assert rec["status"] == "DELETING", (rec["status"], rec["error"])
    [gateway] = [g["InternetGatewayId"] for g in gateways(stack, request_id)]
    assert gateway not in rec["teardown"]["deleted"], rec["teardown"]  # never taken for gone
    assert gateway in rec["teardown"]["remaining"], rec["teardown"]

    stack.faults.clear()
    deliver(client, request_id, operation=Operation.DELETE, receive_count=2)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_of_it(stack, request_id)
