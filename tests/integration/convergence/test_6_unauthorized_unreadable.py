"""A tag-conditioned DeleteVpc of a VPC that is already gone is answered
UnauthorizedOperation by real AWS (IAM cannot read the tags of what no longer exists);
only a by-id read answering "not found" may make that "gone". When that read cannot be
made (throttled for every in-place try) it proves nothing either way: the teardown must
stay DELETING and be tried again (a failure that may clear), never end DELETE_FAILED
saying the VPC is "still present" on the strength of a read that never answered.

Here the VPC went with the first try's DeleteVpc, whose answer was lost (its in-place
retries then throttled): the very case `Ec2Calls.delete` documents as "never a final
refusal" (an earlier try whose answer was lost may have deleted it) -- but across two
deliveries the memory of that lost answer is gone (docs/how-it-works.md: a failed read
proves nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record, stored, submit
from integration.convergence.conftest import _delete


def _by_id(params: dict[str, Any]) -> bool:
    return "VpcIds" in params


def test_unauthorized_delete_with_an_unreadable_vpc_is_not_a_final_refusal(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds + 1)
    vpc_id = record(client, request_id)["vpc_id"]
    assert _delete(client, request_id).status_code == 202

    # Try 1: DeleteVpc runs (the VPC goes) but its answer is lost; the in-place retries
    # are throttled. A failure that may clear: still DELETING.
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, when="after", times=1)
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1, skip=1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    assert stored(stack, request_id).status.value == "DELETING"
    assert stack.vpcs(request_id) == []  # EC2's truth: the VPC is gone

    # Try 2: AWS answers the tag-conditioned delete of the gone VPC UnauthorizedOperation;
    # the read by id that could prove it gone is throttled throughout.
    clock.advance(settings.lease_seconds + 1)
    stack.faults.fail("ec2", "DeleteVpc", "UnauthorizedOperation", 403, times=-1)
    stack.faults.fail("ec2", "DescribeVpcs", "RequestLimitExceeded", 503, times=-1, match=_by_id)
    with pytest.raises(RetryLater):  # a failure that may clear: tried again later
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()
    after = record(client, request_id)
    assert after["status"] == "DELETING", (
        f"a read that never answered ended the teardown {after['status']}: "
        f"{after.get('error')} (EC2 holds {stack.vpcs(request_id)} of the request)"
    )

    # Try 3: the throttle is over; the read by id answers "not found": DELETED.
    clock.advance(settings.lease_seconds + 1)
    stack.faults.fail("ec2", "DeleteVpc", "UnauthorizedOperation", 403, times=-1)
    deliver(client, request_id, receive_count=3, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert vpc_id not in [v["VpcId"] for v in stack.vpcs(request_id)]
