"""A FAILED request whose creation lost an answer was taken for "nothing left" by the
address blocks (and the quota: `resource_ids.has_ended`), while
DELETE itself refuses to believe it (`api/delete_request.py`: "FAILED after a lost answer
(a create may have run unseen, and the rollback's looks by tag may have lagged)" goes to
DELETING and looks in EC2 again). Its block is freed the moment FAILED is written and
handed to the next POST while the VPC the lost answer made still exists: two of this
deployment's VPCs with one CIDR (openapi.yaml, POST /vpcs: a request holds its block until
it is `FAILED` with nothing left; docs/api.md, "A request holds its VPC block")."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from integration.test_reconciler import tagged_vpc

from .conftest import Stack, deliver, post, record, stored

SIZED = {"vpc": {"netmask_length": 16}, "subnets": [{"netmask_length": 24}]}


def _failed_after_a_lost_answer(client: Client, stack: Stack, ran: bool) -> tuple[str, str]:
    """A request FAILED after its CreateVpc's answer was lost (`ran`: the call ran, and
    EC2's looks by tag lagged behind it; else it never ran), the retried create refused
    for good: a rollback that finds nothing. Its id and CIDR."""
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id, cidr = first.json_body["request_id"], first.json_body["cidr"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after" if ran else "before")
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded", skip=1 if ran else 0)
    looks_by_tag = lambda p: "tag:" in str(p.get("Filters"))  # noqa: E731
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=looks_by_tag)
    deliver(client, request_id)
    stack.faults.clear()
    return request_id, cidr


def test_a_failed_request_whose_rollback_looks_lagged_keeps_its_block_while_its_vpc_exists(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, allow_overlap=False)
    request_id, cidr = _failed_after_a_lost_answer(client, stack, ran=True)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert stored(stack, request_id).lost_answers  # DELETE would look in EC2 again
    # Ground truth: the VPC the lost answer made is there, with the request's CIDR.
    [vpc] = stack.vpcs(request_id)
    assert vpc["CidrBlock"] == cidr

    # The next sized POST, in another API process (its own few seconds' view of the pool),
    # must not get a block that overlaps that VPC.
    reconfigure(settings, allow_overlap=False)
    second = post(client, SIZED)
    assert second.status_code == 202, second.body
    assert second.json_body["cidr"] != cidr, (
        f"{cidr} handed to request {second.json_body['request_id']} while {vpc['VpcId']} "
        f"(request {request_id}, FAILED after a lost answer) still has it; the first "
        f"request's allocation: {stored(stack, request_id).allocation}"
    )


def test_the_reconciler_frees_it_once_a_complete_sweep_long_after_finds_nothing_of_it(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The lost answer's create never ran: nothing is there. The request is on the
    reconciler's ledger from FAILED on; a run once FAILED is older than the grace period,
    whose sweep lists nothing of it, notes so (no lost answer left to doubt) and frees the
    block; a run before that leaves it held."""
    services = reconfigure(settings, allow_overlap=False)
    request_id, _ = _failed_after_a_lost_answer(client, stack, ran=False)
    assert not stack.vpcs(request_id)
    assert stored(stack, request_id).allocation == "held"

    services.reconciler.run()
    assert stored(stack, request_id).allocation == "held"  # FAILED moments ago
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    after = stored(stack, request_id)
    assert (after.status.value, after.lost_answers, after.allocation) == (
        "FAILED",
        False,
        "released",
    )


def test_a_vpc_the_lost_answer_made_is_removed_then_the_block_freed(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The lost answer's create ran: the reconciler removes that VPC (an orphan of a FAILED
    request) once FAILED is older than the grace period, not before (its sweep may not
    show yet all that the lost answers made), and with it gone and nothing else listed,
    frees the block."""
    services = reconfigure(settings, allow_overlap=False)
    request_id, _ = _failed_after_a_lost_answer(client, stack, ran=True)
    [vpc] = stack.vpcs(request_id)
    assert services.reconciler.run().removed == []  # FAILED moments ago
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == [vpc["VpcId"]]

    after = stored(stack, request_id)
    assert (after.lost_answers, after.allocation) == (False, "released")


def test_nothing_of_it_is_removed_nor_its_block_freed_before_failed_is_older_than_the_grace(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """An old leftover of the request is listed (tagged long ago), FAILED was moments ago:
    a sweep now may not show a VPC the lost answer made (EC2's listings lag), so the run
    neither removes the leftover nor says nothing is left; once FAILED is older than the
    grace period, it does both."""
    services = reconfigure(settings, allow_overlap=False)
    request_id, _ = _failed_after_a_lost_answer(client, stack, ran=False)
    leftover = tagged_vpc(stack, request_id, cidr="10.250.0.0/16")  # tagged as made long ago

    assert services.reconciler.run().removed == []
    held = stored(stack, request_id)
    assert (held.lost_answers, held.allocation) == (True, "held")

    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [leftover]
    after = stored(stack, request_id)
    assert (after.lost_answers, after.allocation) == (False, "released")


def test_while_the_sweep_lists_more_of_it_its_block_stays_held(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """FAILED long ago, an old leftover removed, but the sweep lists another of its VPCs
    too young to remove yet: something of it is still there, so no lost answer is ruled
    out and its block stays held (freed once that one is removed too)."""
    services = reconfigure(settings, allow_overlap=False)
    request_id, _ = _failed_after_a_lost_answer(client, stack, ran=False)
    clock.advance(settings.reconcile_grace_seconds + 1)
    old = tagged_vpc(stack, request_id, cidr="10.250.0.0/16")
    young = tagged_vpc(stack, request_id, iso_timestamp(clock()), cidr="10.251.0.0/16")

    assert services.reconciler.run().removed == [old]
    held = stored(stack, request_id)
    assert (held.lost_answers, held.allocation) == (True, "held")

    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [young]
    assert stored(stack, request_id).allocation == "released"


def test_a_failed_request_from_before_the_rule_does_not_keep_its_users_place_for_good(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """A request FAILED after a lost answer before this rule was deployed: its rollback
    found nothing, so the worker of that day (`holds_nothing`) left it off the reconciler's
    ledger and freed its block. It counted as live again after the deploy, and nothing ever
    reads it (the reconciler reads only the ledger's and what EC2 lists): its user's place
    was taken for good (an audit, the same evening). Its block freed, it has ended, as it
    had then."""
    services = reconfigure(settings, max_live_requests_per_user=1)
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id = first.json_body["request_id"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="before")
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded")
    deliver(client, request_id)
    stack.faults.clear()
    failed = stored(stack, request_id)
    assert (failed.status.value, failed.lost_answers) == ("FAILED", True)
    assert not stack.vpcs(request_id)
    # As the worker before this rule left it: its block freed at FAILED, not on the ledger.
    assert services.reconciler._store.release_addresses(failed)
    stack.truth.dynamodb.update_item(
        TableName=settings.table_name,
        Key={"request_id": {"S": "reconciler#ledger"}},
        UpdateExpression="DELETE pending :ids",
        ExpressionAttributeValues={":ids": {"SS": [request_id]}},
    )

    for _ in range(3):
        clock.advance(settings.reconcile_grace_seconds + 1)
        services.reconciler.run()

    second = post(client, SIZED)
    assert second.status_code == 202, (
        f"{second.status_code} {second.body}: request {request_id}, FAILED long ago with "
        f"nothing of it in EC2, still lost_answers={stored(stack, request_id).lost_answers}"
    )
