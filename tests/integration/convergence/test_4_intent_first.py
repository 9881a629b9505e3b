"""Convergence never destroys and never lies, defect 4: intent first: a lost note never
leaves a record naming a deleted VPC as live. The reconciler writes its intent (the
request on the ledger) before it sends any delete and notes the removal on the record
after; a run that dies or loses its note in between is finished by the next, and a
rollback is called complete only when nothing of the request is left. Every test ends on
EC2's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.models import Operation
from chalicelib.wiring import Services
from devstack.fault_rules import WorkerKilled
from integration.conftest import TABLE, Stack, deliver, record, submit
from integration.convergence.conftest import _delete, _failed_with_leftover, assert_intact
from integration.test_reconciler import ended_stray, exists, ledger, put_record, tagged_vpc


def _reconciler_note(params: dict[str, Any]) -> bool:
    return ":orphans" in params.get("ExpressionAttributeValues", {})


def _lose_the_notes_after_the_intent(stack: Stack) -> None:
    """The reconciler's first note (its intent) lands; every later one fails."""
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        times=-1,
        skip=1,
        match=_reconciler_note,
    )


def test_4_the_removal_is_noted_before_any_delete_is_sent(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any, hook: Any
) -> None:
    request_id = _failed_with_leftover(client, stack, settings, clock)
    vpc_id = record(client, request_id)["vpc_id"]
    seen: list[Any] = []

    def look(**_: Any) -> None:
        seen.append((record(client, request_id)["orphans"], ledger(stack).get("pending")))

    hook("ec2", "before-call.ec2.DeleteVpc", look)
    services.reconciler.run()

    assert seen == [([{"id": vpc_id, "removed_at": None, "error": None}], {request_id})]


def test_4_a_lost_note_is_finished_by_the_next_run(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The VPC is deleted, the note saying so is lost. Before: the FAILED record named the
    deleted VPC as still there, forever (no later run saw it again)."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    vpc_id = record(client, request_id)["vpc_id"]
    _lose_the_notes_after_the_intent(stack)

    assert services.reconciler.run().removed == [vpc_id]
    stack.faults.clear()
    rec = record(client, request_id)
    assert not exists(stack, vpc_id)
    assert rec["orphans"] == [{"id": vpc_id, "removed_at": None, "error": None}]  # under way

    assert services.reconciler.run().removed == [vpc_id]  # sent again: "not found"

    rec = record(client, request_id)
    assert rec["vpc_id"] is None
    assert rec["rollback"]["remaining"] == []
    assert rec["rollback"]["complete"] is True
    [orphan] = rec["orphans"]
    assert orphan["removed_at"]
    assert "pending" not in ledger(stack)
    assert services.reconciler.run().removed == []  # nothing left to do


def test_4_a_lost_note_of_a_stray_a_failed_record_never_named_is_finished_too(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A FAILED request's stray (a VPC carrying its tags that its record never named: a
    duplicate a lost answer made) is deleted and the note saying so lost. The next run
    finds it in no listing and not named by the record: what the record notes as being
    removed is sent its delete again ("not found") and the note finished, the request off
    the ledger."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    named = record(client, request_id)["vpc_id"]
    stray = tagged_vpc(stack, request_id, cidr="10.97.0.0/16")
    _lose_the_notes_after_the_intent(stack)

    assert sorted(services.reconciler.run().removed) == sorted([named, stray])
    stack.faults.clear()
    assert not exists(stack, stray)

    services.reconciler.run()

    orphans = {o["id"]: o for o in record(client, request_id)["orphans"]}
    assert orphans[stray]["removed_at"], orphans
    assert orphans[named]["removed_at"], orphans
    assert "pending" not in ledger(stack)


def test_4_a_pending_request_and_a_stray_without_record_in_one_run(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A run reads the pending requests the ledger names beside those EC2 lists: all are
    handled. A stray of a request with no record is still provably without one: reported
    unrecorded, and left alone (the table may be younger than it); a stray of a CANCELLED
    request is removed in the same run."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    _lose_the_notes_after_the_intent(stack)
    services.reconciler.run()  # the VPC deleted, its note lost: pending
    stack.faults.clear()
    unrecorded = "00000000-0000-4000-8000-000000000000"
    nobody = tagged_vpc(stack, unrecorded, cidr="10.95.0.0/16")
    ended = ended_stray(stack, "00000000-0000-4000-8000-000000000001", cidr="10.96.0.0/16")

    report = services.reconciler.run()

    assert (report.unrecorded, report.unknown) == ([unrecorded], [])
    assert nobody not in report.removed
    assert exists(stack, nobody)
    assert ended in report.removed
    assert not exists(stack, ended)
    assert record(client, request_id)["vpc_id"] is None
    assert "pending" not in ledger(stack)


def test_4_a_pending_request_read_apart_never_hides_a_key_the_first_read_left_unknown(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The ledger's pending request is read in a second batch; the first batch handed back
    the key of another request with a stray. That one stays unknown (reported, its stray
    left alone, though its record, CANCELLED, keeps nothing): the second read's answer does
    not replace what the first left open."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    _lose_the_notes_after_the_intent(stack)
    services.reconciler.run()  # the VPC deleted, its note lost: pending
    stack.faults.clear()
    throttled = "00000000-0000-4000-8000-000000000001"
    put_record(stack, throttled, "CANCELLED", "10.95.0.0/16")
    stray = tagged_vpc(stack, throttled, cidr="10.95.0.0/16")
    stack.faults.unprocessed(times=-1, only={throttled})

    report = services.reconciler.run()

    assert report.unknown == [throttled]
    assert exists(stack, stray)
    assert record(client, request_id)["vpc_id"] is None


def test_4_a_pending_request_whose_record_cannot_be_read_stays_pending(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A run with nothing to remove takes off the ledger only what it saw finished: a
    pending request whose record it could not read stays pending, and the next run
    finishes its note (else the FAILED record would name a deleted VPC for good)."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    _lose_the_notes_after_the_intent(stack)
    services.reconciler.run()  # the VPC deleted, its note lost: pending
    stack.faults.clear()
    stack.faults.unprocessed(times=-1, only={request_id})

    services.reconciler.run()

    assert ledger(stack)["pending"] == {request_id}
    stack.faults.clear()
    services.reconciler.run()
    assert record(client, request_id)["vpc_id"] is None
    assert "pending" not in ledger(stack)


def test_4_a_pending_request_whose_intent_cannot_be_written_stays_pending(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    request_id = _failed_with_leftover(client, stack, settings, clock)
    _lose_the_notes_after_the_intent(stack)
    services.reconciler.run()  # deleted, the note lost
    stack.faults.clear()
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, match=_reconciler_note)
    services.reconciler.run()  # the intent, noted again, fails: nothing done, still pending

    assert ledger(stack)["pending"] == {request_id}
    services.reconciler.run()
    assert record(client, request_id)["vpc_id"] is None
    assert "pending" not in ledger(stack)


def test_4_the_ledger_forgets_a_request_once_its_record_says_it_all(
    client: Client, stack: Stack, services: Services, succeeded: str
) -> None:
    """The note landed but taking the request off the ledger did not: the next run sees
    nothing left to note and takes it off."""
    tagged_vpc(stack, succeeded)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        times=1,
        match=lambda p: "DELETE #pending" in p.get("UpdateExpression", ""),
    )
    services.reconciler.run()
    assert ledger(stack)["pending"] == {succeeded}
    assert record(client, succeeded)["orphans"][0]["removed_at"]

    services.reconciler.run()

    assert "pending" not in ledger(stack)


def test_4_a_run_that_dies_after_its_intent_is_finished_by_the_next(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    request_id = _failed_with_leftover(client, stack, settings, clock)
    vpc_id = record(client, request_id)["vpc_id"]
    stack.faults.kill("ec2", "DeleteVpc", when="after")

    with pytest.raises(WorkerKilled):
        services.reconciler.run()
    assert not exists(stack, vpc_id)

    services.reconciler.run()
    rec = record(client, request_id)
    assert rec["vpc_id"] is None
    assert rec["orphans"][0]["removed_at"]


def test_4_an_intent_write_that_fails_stops_that_removal(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    request_id = _failed_with_leftover(client, stack, settings, clock)
    vpc_id = record(client, request_id)["vpc_id"]
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, match=_reconciler_note)

    assert services.reconciler.run().removed == []
    assert exists(stack, vpc_id)
    assert services.reconciler.run().removed == [vpc_id]


def test_4_a_ledger_that_cannot_be_written_stops_every_removal(
    client: Client, stack: Stack, services: Services, succeeded: str
) -> None:
    stray = tagged_vpc(stack, succeeded)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        match=lambda p: ":type" in p.get("ExpressionAttributeValues", {}),
    )

    with pytest.raises(BackendFailure):
        services.reconciler.run()
    assert exists(stack, stray)
    assert record(client, succeeded)["orphans"] == []


def test_4_a_failed_request_whose_last_leftover_the_reconciler_removes_frees_its_block(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """FAILED with its VPC left holds its block; once the reconciler has removed the VPC
    and noted it, nothing is left: the block is freed in the same run."""
    request_id = _failed_with_leftover(client, stack, settings, clock)
    blocks = [
        i["request_id"]["S"]
        for i in stack.truth.dynamodb.scan(TableName=TABLE)["Items"]
        if i.get("holder", {}).get("S") == request_id
    ]
    assert blocks  # held while something is left (shared or held, as the stage allows)

    services.reconciler.run()

    rec = stack.truth.dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": request_id}})
    assert rec["Item"]["allocation"]["S"] == "released"
    held = [
        i
        for i in stack.truth.dynamodb.scan(TableName=TABLE)["Items"]
        if i.get("holder", {}).get("S") == request_id
    ]
    assert held == []


# --- the third review (2026-12-05, night): what was unknown never turns into "gone" ------


def test_4_a_note_of_part_of_a_rollback_whose_look_failed_never_calls_it_complete(
    client: Client, stack: Stack, services: Services, clock: Any
) -> None:
    """A rollback's look by tag failed on its last try: FAILED, its rollback incomplete
    (what else exists is unknown). Two VPCs tagged with the request are in EC2, one old,
    one younger than the grace period. The reconciler removes the old one. Before: its
    note cleared the rollback's error (this run's removal alone decided), the record said
    the rollback complete, the request's addresses were freed and a DELETE wrote DELETED
    at once, with the young VPC still there. Now the note keeps it incomplete while the
    sweep lists more of the request; DELETE goes through a teardown."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, times=1)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1)
    deliver(client, request_id, receive_count=5)  # its last receive: FAILED, look failed
    stack.faults.clear()
    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["rollback"]["complete"] is False
    old = tagged_vpc(stack, request_id, cidr="10.30.0.0/16")
    young = tagged_vpc(stack, request_id, created_at=iso_timestamp(clock()), cidr="10.30.0.0/16")

    assert services.reconciler.run().removed == [old]

    assert {v["VpcId"] for v in stack.vpcs(request_id)} == {young}
    rec = record(client, request_id)
    assert rec["rollback"]["complete"] is False, rec["rollback"]
    assert young in rec["rollback"]["error"]
    answer = _delete(client, request_id)
    assert answer.json_body["status"] == "DELETING"
    deliver(client, request_id, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert not stack.vpcs(request_id)


def test_4_a_reconciler_note_that_leaves_nothing_listed_completes_a_rollback(
    client: Client, stack: Stack, services: Services
) -> None:
    """The other side of the same rule: when the sweep lists nothing more of the request
    than what the run removed, its complete look by tag stands in for the failed one:
    the rollback is complete and the addresses are free."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, times=1)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1)
    deliver(client, request_id, receive_count=5)
    stack.faults.clear()
    old = tagged_vpc(stack, request_id, cidr="10.30.0.0/16")

    assert services.reconciler.run().removed == [old]

    rec = record(client, request_id)
    assert rec["rollback"]["complete"] is True, rec["rollback"]
    assert _delete(client, request_id).json_body["status"] == "DELETED"


def test_4_what_another_record_names_never_keeps_a_rollback_from_completing(
    client: Client, stack: Stack, services: Services
) -> None:
    """A network carrying this request's tag that a SUCCEEDED record names (someone copied
    the tag onto it) is that record's, left alone, and not something left of this
    request: once the leftover the reconciler removes is gone, the rollback is complete
    and the addresses free, though that network is still listed with the tag."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, times=1)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1)
    deliver(client, request_id, receive_count=5)
    stack.faults.clear()
    other = submit(client, subnets=1, cidr="10.40.0.0/16")
    deliver(client, other)
    named = record(client, other)
    ids = [named["vpc_id"], *(s["subnet_id"] for s in named["subnets"])]
    stack.ec2.create_tags(Resources=ids, Tags=[{"Key": REQUEST_ID_TAG, "Value": request_id}])
    old = tagged_vpc(stack, request_id, cidr="10.30.0.0/16")

    assert services.reconciler.run().removed == [old]

    assert_intact(stack, client, other)
    rec = record(client, request_id)
    assert rec["rollback"]["complete"] is True, rec["rollback"]
