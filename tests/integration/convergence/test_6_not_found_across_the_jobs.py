"""A DELETE right after SUCCEEDED: the teardown is a new job, so nothing in it was "made
moments ago", yet EC2 may still answer Invalid*ID.NotFound for the subnet and the VPC the
creation made a second earlier (its reads lag its writes). A look by tag that lists them
afterwards contradicts that answer: they are deleted again by id, and DELETED is recorded
only once nothing tagged with the request is left (docs/how-it-works.md, "Convergence
never destroys and never lies")."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, assert_nothing_left, deliver, record, submit
from integration.convergence.conftest import _delete, lag_tag_lookups


def test_not_found_for_what_a_look_still_lists_is_no_proof_it_is_gone(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """Past DRIFT_SETTLE_SECONDS "not found" counts as gone, unless a look by tag lists
    the resource afterwards: that contradicts it."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    clock.advance(settings.drift_settle_seconds + 1)
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "InvalidSubnetID.NotFound", 400, times=1)
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=1)

    deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_still_listed_after_every_not_found_the_teardown_stays_unfinished_and_says_so(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """EC2 keeps answering "not found" while its listing keeps showing the VPC: no
    DELETED, and the VPC is never recorded deleted; a later try settles it."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds + 1)
    vpc_id = record(client, request_id)["vpc_id"]
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=50)

    with pytest.raises(RetryLater, match=f"found after the deletes: {vpc_id}"):
        deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETING"
    # Written, still DELETING, for the next try: the VPC is not said to be deleted.
    assert vpc_id not in rec["teardown"]["deleted"], rec["teardown"]
    assert rec["vpc_id"] == vpc_id
    stack.faults.clear()
    deliver(client, request_id, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_a_delete_soon_after_success_takes_not_found_for_lag_even_when_no_look_lists_it(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """Both of EC2's reads lag: DeleteSubnet and DeleteVpc answer "not found" and no look
    by tag lists them yet. Within DRIFT_SETTLE_SECONDS of SUCCEEDED that is lag, not proof:
    the teardown stays DELETING (never DELETED with the network in EC2, its addresses
    freed); later, "not found" is believed again, but by then the deletes by id answer."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "InvalidSubnetID.NotFound", 400, times=-1)
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=-1)
    lag_tag_lookups(stack)

    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETING"
    [vpc] = stack.vpcs(request_id)
    assert len(stack.subnets(vpc["VpcId"])) == 1
    stack.faults.clear()
    clock.advance(settings.drift_settle_seconds + settings.lease_seconds)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_long_after_success_not_found_is_proof_again(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """The control: a subnet gone for good (deleted behind the service) long after the
    request succeeded answers "not found", and the teardown takes it for gone."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    [subnet] = stack.subnets(record(client, request_id)["vpc_id"])
    stack.truth.ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    clock.advance(settings.drift_settle_seconds + 1)
    assert _delete(client, request_id).status_code == 202

    deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)
