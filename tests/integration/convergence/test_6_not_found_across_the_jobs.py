"""A DELETE right after SUCCEEDED: the teardown is a new job, so nothing in it was "made
moments ago", yet EC2 may still answer Invalid*ID.NotFound for the subnet and the VPC the
creation made a second earlier (its reads lag its writes). A look by tag that lists them
afterwards contradicts that answer: they are deleted again by id, and DELETED is recorded
only once nothing tagged with the request is left (docs/how-it-works.md, "Convergence
never destroys and never lies")."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, assert_nothing_left, deliver, record, submit
from integration.convergence.conftest import _delete


def test_not_found_for_what_the_creation_made_moments_ago_is_no_proof_it_is_gone(
    client: Client, stack: Stack
) -> None:
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    assert _delete(client, request_id).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "InvalidSubnetID.NotFound", 400, times=1)
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=1)

    deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_still_listed_after_every_not_found_the_teardown_stays_unfinished_and_says_so(
    client: Client, stack: Stack
) -> None:
    """EC2 keeps answering "not found" while its listing keeps showing the VPC: no
    DELETED, and the VPC is never recorded deleted; a later try settles it."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
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
