"""An id whose delete answered only "not found" and that a later look by tag still lists is
not proven gone: never recorded deleted, whatever ends the teardown. Here a later look by
tag fails after such a listing:

* a lookup refused for good -> DELETE_FAILED, the record still naming the VPC (were it
  counted deleted, the record would drop its id while it exists);
* a lookup that may clear -> DELETING, the teardown's report not saying it was deleted.
"""

from __future__ import annotations

import contextlib
from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record, submit
from integration.convergence.conftest import _delete, tag_lookup
from integration.test_reconciler import exists


def _listed_after_not_found_then_look_fails(
    client: Client, stack: Stack, clock: Any, settings: Settings, code: str, status: int
) -> tuple[str, str]:
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)  # "not found" is evidence again
    vpc_id = record(client, request_id)["vpc_id"]
    assert _delete(client, request_id).status_code == 202
    # EC2 answers "not found" for the VPC though it is there (twice: the
    # first delete, and the delete by id after the look that still lists it) ...
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=2)
    # ... and the look after that second delete fails (the first two looks pass).
    stack.faults.fail("ec2", "DescribeVpcs", code, status, skip=2, times=-1, match=tag_lookup)
    with contextlib.suppress(RetryLater):  # the transient variant: DELETING, tried again
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    return request_id, vpc_id


def test_lookup_refused_for_good_after_a_doubted_not_found(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id, vpc_id = _listed_after_not_found_then_look_fails(
        client, stack, clock, settings, "UnauthorizedOperation", 403
    )
    rec: dict[str, Any] = record(client, request_id)
    assert exists(stack, vpc_id)  # EC2's ground truth: the VPC is there
    assert (rec["status"], rec["vpc_id"]) == ("DELETE_FAILED", vpc_id), rec["error"]
    assert vpc_id not in rec["teardown"]["deleted"], rec["teardown"]
    assert vpc_id in rec["teardown"]["remaining"], rec["teardown"]


def test_lookup_that_may_clear_after_a_doubted_not_found(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id, vpc_id = _listed_after_not_found_then_look_fails(
        client, stack, clock, settings, "RequestLimitExceeded", 503
    )
    rec: dict[str, Any] = record(client, request_id)
    assert exists(stack, vpc_id)
    assert vpc_id not in rec["teardown"]["deleted"], rec["teardown"]
    assert vpc_id in rec["teardown"]["remaining"], rec["teardown"]
