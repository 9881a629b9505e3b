"""Convergence never destroys and never lies, defect 6 (a deletion is recorded only on a
delete's answer) when looks by tag lag: what a record says remains (a rollback's
`remaining`, an orphan not removed, what a first try or a first DELETE could not delete) is
deleted by id like the rest and never forgotten, and a delete refused in part says only
what it deleted is gone. Every test ends on EC2's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.store.items import serialize
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, assert_nothing_left, deliver, record, submit
from integration.convergence.conftest import _delete, lag_tag_lookups
from integration.test_reconciler import exists, tagged_subnet, tagged_vpc


def _deleted_while_looks_lag(
    client: Client, stack: Stack, request_id: str, *strays: str
) -> dict[str, Any]:
    """DELETE the request while every look by its tag lags (empty); its record, DELETED
    with each of `strays` among what answered a delete."""
    assert _delete(client, request_id).json_body["status"] == "DELETING"
    lag_tag_lookups(stack)

    deliver(client, request_id, operation=Operation.DELETE)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED", rec
    assert set(strays) <= set(rec["teardown"]["deleted"])
    return rec


def test_6_a_delete_whose_looks_lag_never_forgets_what_its_record_says_remains(
    client: Client, stack: Stack, services: Services
) -> None:
    """A FAILED record says (its rollback's `remaining`, not its ids) that a stray VPC and
    subnet the reconciler could not delete are still there. DELETE; every look by tag
    lags (empty). Before: the teardown was given only the record's ids (none), found
    nothing, and recorded DELETED with both still in EC2. Now what the record says
    remains is deleted by id like the rest, and DELETED comes on those answers."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    deliver(client, request_id)
    stray_vpc = tagged_vpc(stack, request_id, cidr="10.97.0.0/16")
    stray = tagged_subnet(stack, stray_vpc, request_id, cidr="10.97.1.0/24")
    stack.faults.fail("ec2", "DeleteSubnet", "DependencyViolation", 400, times=-1)
    services.reconciler.run()
    stack.faults.clear()
    assert {stray, stray_vpc} <= set(record(client, request_id)["rollback"]["remaining"])
    rec = _deleted_while_looks_lag(client, stack, request_id, stray, stray_vpc)
    # The DELETED record no longer says its rollback left them (it did; they are gone now).
    assert rec["rollback"]["remaining"] == []
    assert rec["rollback"]["complete"] is True
    stack.faults.clear()
    assert_nothing_left(stack, request_id)


def test_6_a_delete_whose_looks_lag_never_forgets_an_orphan_its_record_notes_as_not_removed(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """A SUCCEEDED record notes a duplicate VPC its creation could not delete (an orphan
    with an error, not removed: nothing else on the record names it). DELETE; every look
    by tag lags. It is deleted by id all the same, and DELETED comes on that answer."""
    stray = tagged_vpc(stack, succeeded, cidr="10.94.0.0/16")
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": succeeded}},
        UpdateExpression="SET orphans = :orphans",
        ExpressionAttributeValues={
            ":orphans": {
                "L": [
                    {
                        "M": {
                            "id": {"S": stray},
                            "removed_at": {"NULL": True},
                            "error": {"S": "DeleteVpc: DependencyViolation"},
                            "removing": {"BOOL": False},
                        }
                    }
                ]
            }
        },
    )
    rec = _deleted_while_looks_lag(client, stack, succeeded, stray)
    # Nor that the orphan is still there: removed, at the teardown's time, its error gone.
    (orphan,) = rec["orphans"]
    assert orphan["id"] == stray
    assert orphan["removed_at"] is not None
    assert orphan["error"] is None
    stack.faults.clear()
    assert_nothing_left(stack, succeeded)


def test_6_a_delete_refused_in_part_says_only_what_it_deleted_is_gone(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """The record says a stray VPC and a subnet in it remain (its rollback's `remaining`,
    with why, and two orphans not removed). DELETE: the subnet goes, EC2 refuses the VPC.
    The record,
    DELETE_FAILED, says the first is gone (its orphan removed, out of `remaining`) and
    nothing more: the second stays an orphan not removed, still in `remaining`, and the
    rollback's error stays with it."""
    kept = tagged_vpc(stack, succeeded, cidr="10.92.0.0/16")
    gone = tagged_subnet(stack, kept, succeeded, cidr="10.92.1.0/24")
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": succeeded}},
        UpdateExpression="SET orphans = :orphans, #rollback = :rollback",
        ExpressionAttributeNames={"#rollback": "rollback"},
        ExpressionAttributeValues=serialize(
            {
                ":orphans": [
                    {"id": i, "removed_at": None, "error": "DependencyViolation", "removing": False}
                    for i in (gone, kept)
                ],
                ":rollback": {"deleted": [], "remaining": [gone, kept], "error": "why"},
            }
        ),
    )
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail(
        "ec2", "DeleteVpc", "DependencyViolation", 400, times=-1, match={"VpcId": kept}
    )

    deliver(client, succeeded, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED", rec
    orphans = {o["id"]: o for o in rec["orphans"]}
    assert orphans[gone]["removed_at"] is not None
    assert orphans[kept]["removed_at"] is None
    assert orphans[kept]["error"] == "DependencyViolation"
    assert rec["rollback"]["remaining"] == [kept]
    assert rec["rollback"]["error"] == "why"
    assert exists(stack, kept)


def test_6_a_second_delete_whose_looks_lag_never_forgets_what_the_first_left(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """The first teardown finds a stray VPC by tag and EC2 refuses to delete it: DELETE_FAILED
    says it remains (`teardown.remaining`; the record's ids never named it). DELETE again
    once the blocker is gone, every look by tag lagging. Before: the stray was forgotten
    and DELETED recorded with it in EC2. Now it is deleted by id, then DELETED."""
    stray = tagged_vpc(stack, succeeded, cidr="10.98.0.0/16")
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail(
        "ec2", "DeleteVpc", "DependencyViolation", 400, times=-1, match={"VpcId": stray}
    )
    deliver(client, succeeded, operation=Operation.DELETE)
    rec = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED"
    assert stray in rec["teardown"]["remaining"]
    assert stray != rec["vpc_id"]
    stack.faults.clear()
    rec = _deleted_while_looks_lag(client, stack, succeeded, stray)
    stack.faults.clear()
    assert_nothing_left(stack, succeeded)


def test_6_a_rollback_tried_again_never_forgets_what_its_first_try_could_not_delete(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """A permanent failure is rolled back; its look by tag finds a stray VPC of the request
    (a late create), whose delete fails in a way that may clear: ROLLING_BACK, tried
    again later. The next try's looks by tag lag (empty). Before: it recorded FAILED,
    "rolled back", complete, with the stray still in EC2 (and a DELETE of it went
    straight to DELETED). Now the first try writes what it left before it lets go, and
    the next deletes that by id: FAILED, complete, on a delete's answer."""
    request_id = submit(client, subnets=1)
    stray = tagged_vpc(stack, request_id, cidr="10.96.0.0/16")
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, times=-1, match={"VpcId": stray})
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    held = record(client, request_id)
    assert held["status"] == "ROLLING_BACK"
    assert held["rollback"]["remaining"] == [stray]
    assert [h["status"] for h in held["history"]][-1:] == ["ROLLING_BACK"]  # no second entry
    assert [h["status"] for h in held["history"]].count("ROLLING_BACK") == 1
    stack.faults.clear()
    lag_tag_lookups(stack)
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert rec["rollback"]["complete"] is True
    assert stray in rec["rollback"]["deleted"]
    stack.faults.clear()
    assert_nothing_left(stack, request_id)


def test_6_a_delete_tried_again_never_forgets_what_its_first_try_could_not_delete(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """The first teardown finds a stray VPC by tag; its delete fails in a way that may clear:
    DELETING, tried again later. The next try's looks by tag lag (empty). Before: DELETED,
    with the stray still in EC2. Now the first try writes what it left (`teardown`, still
    DELETING) and the next deletes it by id, then records DELETED."""
    stray = tagged_vpc(stack, succeeded, cidr="10.95.0.0/16")
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, times=-1, match={"VpcId": stray})
    with pytest.raises(RetryLater):
        deliver(client, succeeded, operation=Operation.DELETE)
    held = record(client, succeeded)
    assert held["status"] == "DELETING"
    assert held["teardown"]["remaining"] == [stray]
    stack.faults.clear()
    lag_tag_lookups(stack)

    deliver(client, succeeded, receive_count=2, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert rec["status"] == "DELETED", rec
    assert stray in rec["teardown"]["deleted"]
    stack.faults.clear()
    assert_nothing_left(stack, succeeded)
