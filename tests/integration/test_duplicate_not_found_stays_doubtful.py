"""An orphan whose delete answered only "not found" in a teardown's try (EC2 lagging behind
its making: the report's `not_found`, not its `answered`) is not gone for good, though the
try noted it removed: the next try sends it a delete again when a look lists it, and the
reconciler removes it once old. A review found such a duplicate VPC never deleted, its
DELETED record saying it was. The duplicate is the one a creation notes not removed (its
DeleteVpc answered "not found" while it stood, moments after a racing worker made it)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, stored
from integration.test_worker import a_duplicate_doubted
from support.tokens import auth


def ec2_lags_behind(stack: Stack, duplicate: str) -> None:
    """EC2 lagging behind the duplicate's making, until cleared: its DeleteVpc answers "not
    found", the looks by tag do not list it."""
    stack.faults.fail(
        "ec2",
        "DeleteVpc",
        "InvalidVpcID.NotFound",
        times=-1,
        match=lambda p: p.get("VpcId") == duplicate,
    )
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1)


def throttle_deletes_of(stack: Stack, vpc_id: str) -> None:
    """Every DeleteVpc of `vpc_id` throttled (a failure that may clear), until cleared."""
    stack.faults.fail(
        "ec2",
        "DeleteVpc",
        "RequestLimitExceeded",
        503,
        times=-1,
        match=lambda p: p.get("VpcId") == vpc_id,
    )


def a_first_try_doubting_the_duplicate(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> tuple[str, str]:
    """A SUCCEEDED request with its duplicate VPC noted not removed (test_worker.py), and
    the user's DELETE at once, whose first try ends DELETING with the duplicate doubted:
    EC2 still lags behind its making (its DeleteVpc answers "not found", the looks by tag
    do not list it) and the request's own DeleteVpc is throttled. The request's id and the
    duplicate's."""
    request_id, rec, duplicate = a_duplicate_doubted(client, stack, clock, settings)
    vpc_id = rec["vpc_id"]
    clock.advance(settings.drift_settle_seconds + 2)
    ec2_lags_behind(stack, duplicate)
    throttle_deletes_of(stack, vpc_id)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    held = stored(stack, request_id)
    assert held.status.value == "DELETING", held
    assert held.teardown is not None
    assert duplicate in held.teardown.not_found, held.teardown  # doubtful, as recorded
    assert duplicate in [v["VpcId"] for v in stack.vpcs(request_id)]  # EC2: still there
    return request_id, duplicate


def test_an_orphan_only_not_found_answered_for_in_a_teardown_try_is_deleted_later(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id, _ = a_first_try_doubting_the_duplicate(client, stack, clock, settings)

    # Next try: EC2 caught up (the look lists the duplicate).
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    after = record(client, request_id)
    left = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert left == [], (
        f"{left} still in EC2 (status {after['status']}, orphans {after['orphans']}, "
        f"teardown {after['teardown']})"
    )


def test_a_delete_right_after_success_holds_its_first_try_and_still_deletes_the_duplicate(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The same without any failure: a DELETE right after SUCCEEDED (a CI job's create, then
    delete). The creation lost an answer, so the first try is held (looks may lag for
    DRIFT_SETTLE_SECONDS), and it settles the duplicate removed on its "not found"."""
    request_id, _, duplicate = a_duplicate_doubted(client, stack, clock, settings)

    # EC2 still lags behind the duplicate's making for the first try.
    ec2_lags_behind(stack, duplicate)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    assert stored(stack, request_id).status.value == "DELETING"

    clock.advance(settings.drift_settle_seconds + 2)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    after = record(client, request_id)
    left = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert left == [], f"{left} still in EC2 ({after['status']}, orphans {after['orphans']})"


def test_a_doubted_orphan_the_next_try_could_not_delete_stays_doubted(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The next try lists the duplicate and its delete is throttled throughout: the report
    says it remains (no longer "not found"), while its orphan note still says removed. A
    review found the third try counting it gone for good: no delete sent, DELETED with the
    duplicate in EC2 at the request's CIDR, now free for another request."""
    request_id, duplicate = a_first_try_doubting_the_duplicate(client, stack, clock, settings)
    throttle_deletes_of(stack, duplicate)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()
    held = stored(stack, request_id)
    assert held.teardown is not None
    assert duplicate in held.teardown.remaining, held.teardown

    deliver(client, request_id, receive_count=3, operation=Operation.DELETE)

    after = record(client, request_id)
    left = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert left == [], f"{left} still in EC2 ({after['status']}, teardown {after['teardown']})"
    assert after["status"] == "DELETED", after
