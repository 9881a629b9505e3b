"""Convergence never destroys and never lies, defect 4b: a FAILED record stops naming what
is gone, even once EC2 no longer lists it, and never stops naming what failed to go: the
ids a rollback could not delete stay in the record, with why, until a delete's answer (or a
by-id read) proves them gone. Every test ends on EC2's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.wiring import Services
from integration.conftest import (
    Stack,
    assert_nothing_left,
    deliver,
    record,
    set_fields,
    stored,
    submit,
)
from integration.convergence.conftest import _delete, _writes, failed_with_an_untagged_leftover
from integration.test_reconciler import ledger, tagged_subnet, tagged_vpc


def _is_ledger_add(params: dict[str, Any]) -> bool:
    return "ADD #pending" in params.get("UpdateExpression", "")


def _failed_with_a_lost_delete(client: Client, stack: Stack, settings: Settings) -> str:
    """The message's last receive: the subnet is refused for good, the rollback's DeleteVpc
    runs and its answer is lost; its retries answer "not found", which for a VPC made moments
    ago is not proof. FAILED names the VPC EC2 no longer has."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, when="after")
    deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()
    failed = record(client, request_id)
    assert failed["status"] == "FAILED", failed
    assert failed["rollback"]["remaining"] == [failed["vpc_id"]]
    assert stack.vpcs(request_id) == []
    return request_id


def _assert_names_nothing(client: Client, stack: Stack, request_id: str) -> None:
    rec = record(client, request_id)
    assert rec["vpc_id"] is None, rec
    assert rec["rollback"]["remaining"] == [], rec["rollback"]
    assert rec["rollback"]["complete"], rec["rollback"]
    assert stored(stack, request_id).allocation == "released"
    assert "pending" not in ledger(stack)


def test_4b_a_gone_vpc_a_final_rollback_could_not_believe_gone_is_noted_gone_later(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Before: the reconciler reads only the records of what EC2 lists (and its ledger's),
    so a FAILED record naming a VPC that is gone was never read again: "still present" for
    good, its addresses held. Now the worker puts it on the ledger before writing FAILED,
    and once FAILED is older than the grace period the reconciler deletes what it names by
    id: "not found" is then proof."""
    request_id = _failed_with_a_lost_delete(client, stack, settings)
    assert ledger(stack)["pending"] == {request_id}

    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    _assert_names_nothing(client, stack, request_id)


def test_4b_a_vpc_a_person_removed_after_the_rollback_was_refused_is_noted_gone(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The rollback's DeleteVpc is refused for good: FAILED rightly names the VPC, and the
    reconciler keeps trying. A person deletes it: EC2 lists it no more, and the next run
    still reads the record and notes it gone."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    deliver(client, request_id)
    vpc_id = record(client, request_id)["vpc_id"]
    assert record(client, request_id)["rollback"]["remaining"] == [vpc_id]
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()  # refused again: still named, still pending
    assert record(client, request_id)["vpc_id"] == vpc_id
    assert ledger(stack)["pending"] == {request_id}
    stack.faults.clear()
    stack.ec2.delete_vpc(VpcId=vpc_id)  # out of band

    services.reconciler.run()

    _assert_names_nothing(client, stack, request_id)


def test_4b_what_a_failed_record_names_waits_for_the_grace_period_and_stays_pending(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Right after FAILED, a "not found" may still be EC2's lag: the run neither deletes by
    id nor notes anything, and keeps the request on its ledger for a later run."""
    request_id = _failed_with_a_lost_delete(client, stack, settings)
    vpc_id = record(client, request_id)["vpc_id"]
    stack.faults.reset_counts()

    clock.advance(settings.reconcile_grace_seconds - 5)
    services.reconciler.run()

    assert stack.faults.count("ec2", "DeleteVpc") == 0
    assert record(client, request_id)["vpc_id"] == vpc_id
    assert ledger(stack)["pending"] == {request_id}
    clock.advance(10)
    services.reconciler.run()
    _assert_names_nothing(client, stack, request_id)


def test_4b_a_failed_record_is_written_only_once_the_ledger_has_the_request(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Intent first: when the ledger cannot be written, the worker writes no FAILED (the
    record stays ROLLING_BACK, its message retried); a later receive writes both."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, match=_is_ledger_add)

    with pytest.raises(RetryLater):
        deliver(client, request_id)

    assert record(client, request_id)["status"] == "ROLLING_BACK"
    assert ledger(stack).get("pending") is None
    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=2)
    assert record(client, request_id)["status"] == "FAILED"
    assert ledger(stack)["pending"] == {request_id}


def test_4b_a_rollback_that_deleted_everything_leaves_nothing_to_the_reconciler(
    client: Client, stack: Stack, services: Services
) -> None:
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)

    deliver(client, request_id)

    assert record(client, request_id)["rollback"]["complete"]
    assert ledger(stack).get("pending") is None


def test_4b_a_request_on_the_ledger_still_rolling_back_stays_on_it(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The worker adds the request to the ledger, then writes FAILED: a run in between reads
    ROLLING_BACK, and must not take it off (FAILED would then never be read again)."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    stack.faults.fail(
        "dynamodb", "UpdateItem", "InternalServerError", 500, times=-1, match=_writes("FAILED")
    )
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    assert record(client, request_id)["status"] == "ROLLING_BACK"
    assert ledger(stack)["pending"] == {request_id}

    services.reconciler.run()

    assert ledger(stack)["pending"] == {request_id}


# --- the record of a failed rollback names what failed to go ----------------------------


def test_ids_that_failed_to_delete_stay_named_in_the_record(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, skip=1)
    stack.faults.fail("ec2", "DeleteSubnet", "DependencyViolation", 400, times=-1)

    deliver(client, request_id, receive_count=settings.max_receive_count)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    left = [s["subnet_id"] for s in rec["subnets"] if s["subnet_id"]]
    assert left
    assert set(left) <= set(rec["rollback"]["remaining"])
    assert rec["vpc_id"] in rec["rollback"]["remaining"]

    clock.advance(settings.reconcile_grace_seconds + 1)
    report = services.reconciler.run()  # still refused: still named, with the error
    assert set(left) <= set(report.failed)
    rec = record(client, request_id)
    assert set(left) <= set(rec["rollback"]["remaining"])
    assert "DependencyViolation" in rec["rollback"]["error"]
    assert all(o["error"] for o in rec["orphans"] if o["id"] in left)
    stack.faults.clear()
    services.reconciler.run()
    assert_nothing_left(stack, request_id)
    assert record(client, request_id)["rollback"]["complete"] is True


@pytest.mark.parametrize("rollback", ["kept", "none"])
def test_a_failed_records_notes_never_drop_what_may_remain(
    client: Client, stack: Stack, services: Services, rollback: str
) -> None:
    """A FAILED record says its rollback left `vpc-gone?` (never proven gone, not listed
    now) and has a stray subnet the rollback never knew of, which the reconciler cannot
    delete. After the note: the unproven one is still named, the new failure added, with
    its error; nothing is called complete. (An item written before rollback reports
    existed has none: the same holds.)"""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    deliver(client, request_id)
    stray_vpc = tagged_vpc(stack, request_id, cidr="10.97.0.0/16")
    stray = tagged_subnet(stack, stray_vpc, request_id, cidr="10.97.1.0/24")
    unproven = "vpc-0123456789abcdef0"
    report = {"deleted": [], "remaining": [unproven], "error": "earlier"}
    set_fields(stack, request_id, rollback=report if rollback == "kept" else None)
    stack.faults.fail("ec2", "DeleteSubnet", "DependencyViolation", 400, times=-1)

    services.reconciler.run()

    rec = record(client, request_id)
    remaining = set(rec["rollback"]["remaining"])
    assert {stray, stray_vpc} <= remaining
    if rollback == "kept":
        assert unproven in remaining
    assert "DependencyViolation" in rec["rollback"]["error"]
    assert rec["rollback"]["complete"] is False
    assert _delete(client, request_id).json_body["status"] == "DELETING"  # not DELETED


def test_4b_a_vpc_a_failed_record_names_is_left_once_a_person_took_its_request_tag_off(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The reconciler deletes what a FAILED record names by id (the sweep by tag may not
    list it), but only what still carries the request's tags: a VPC whose RequestId a
    person removed (to keep it) stays, and the record keeps naming it."""
    request_id, vpc_id = failed_with_an_untagged_leftover(client, stack)
    clock.advance(settings.reconcile_grace_seconds + 1)

    services.reconciler.run()

    assert stack.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert record(client, request_id)["vpc_id"] == vpc_id
