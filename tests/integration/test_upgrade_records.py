"""A stage upgraded to this version: records an earlier version wrote, from before the
reconciler's ledger (docs/how-it-works.md, "The reconciler"; docs/operating.md,
"Upgrading").

Before: a FAILED record naming a VPC, or an orphan noted and not removed, written before
the ledger was never put on it; once a person removed the resource (EC2 listing nothing
of it), no run read the record again: it said "still present" for good, and its block
(and its user's place) stayed held. The address upkeep's one-time pass over every
record now puts them on it (upkeep/pools.py, its backfill)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from chalicelib.store.items import deserialize, serialize
from chalicelib.store.layout import LIST_INDEX
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, deliver, record, stored, submit
from integration.test_reconciler import ledger, tagged_vpc

# What a request item held before versions, histories, pools, lost answers and drift
# (the record_to_item of 4b40c3b and its worker's writes).
OLD_KEYS = {
    "request_id",
    "type",
    "list_pk",
    "created_sort",
    "status",
    "created_by",
    "created_by_username",
    "created_at",
    "updated_at",
    "request",
    "attempts",
    "vpc_id",
    "subnets",
    "internet_gateway_id",
    "route_table_id",
    "error",
    "rollback",
    "teardown",
    "orphans",
    "lease_owner",
    "lease_until",
    "requeued_at",
}


def as_written_by_an_old_version(stack: Stack, request_id: str) -> None:
    """The request's item as a pre-version, pre-pools stage wrote it; no block items, no
    ledger (neither existed then)."""
    ddb = stack.truth.dynamodb
    item = deserialize(ddb.get_item(TableName=TABLE, Key={"request_id": {"S": request_id}})["Item"])
    old = {k: v for k, v in item.items() if k in OLD_KEYS}
    for name in ("rollback", "teardown"):
        if old.get(name):
            old[name] = {k: old[name][k] for k in ("deleted", "remaining", "error")}
    old["orphans"] = [
        {k: o[k] for k in ("id", "removed_at", "error")} for o in old.get("orphans") or []
    ]
    ddb.put_item(TableName=TABLE, Item=serialize(old))
    for other in ddb.scan(TableName=TABLE)["Items"]:
        key = other["request_id"]["S"]
        if key.startswith(("block#", "shared#", "reconciler#", "meta#")):
            ddb.delete_item(TableName=TABLE, Key={"request_id": {"S": key}})


def test_an_old_failed_record_naming_a_vpc_a_person_removed_is_settled_after_the_upgrade(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """An earlier version's rollback was refused for good: FAILED names the VPC (rightly).
    Later a person deletes that VPC. The version before d037030 put no FAILED record on
    the reconciler's ledger; after the upgrade nothing ever reads this one again (EC2 lists
    nothing of it), so it says "still present" for good, and the backfill now holds its
    block (and its user's place counts it live) for good too: the very 4b defect, kept
    for every record written before the fix."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    deliver(client, request_id)
    stack.faults.clear()
    vpc_id = record(client, request_id)["vpc_id"]
    assert record(client, request_id)["status"] == "FAILED"
    assert record(client, request_id)["rollback"]["remaining"] == [vpc_id]
    as_written_by_an_old_version(stack, request_id)
    stack.ec2.delete_vpc(VpcId=vpc_id)  # out of band, before or after the upgrade

    upgraded: Services = reconfigure(
        settings, address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/8"}]')
    )
    for _ in range(4):
        clock.advance(settings.reconcile_grace_seconds + 1)
        upgraded.pool_keeper.run()
        upgraded.reconciler.run()

    after = stored(stack, request_id)
    assert after.vpc_id is None, (
        f"FAILED record still names {after.vpc_id}, gone from EC2; rollback "
        f"{after.rollback}; its block {after.allocation!r}"
    )
    assert after.allocation == "released"


def test_an_old_orphan_note_whose_resource_a_person_removed_is_settled_after_the_upgrade(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Before e914ff6 an orphan a run noted and could not remove did not keep its request
    on the ledger (before bf6e2ed there was no ledger). A person has since deleted it: EC2
    lists it no more, nothing reads the record again, and it says for good that the orphan
    is there and cannot be removed."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    duplicate = tagged_vpc(stack, request_id, cidr="10.30.0.0/16")
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET orphans = :o",
        ExpressionAttributeValues=serialize(
            {":o": [{"id": duplicate, "removed_at": None, "error": "DependencyViolation: ..."}]}
        ),
    )
    as_written_by_an_old_version(stack, request_id)
    stack.ec2.delete_vpc(VpcId=duplicate)  # a person removed it

    for _ in range(3):
        clock.advance(settings.reconcile_grace_seconds + 1)
        services.pool_keeper.run()  # in the reconciler's function, before it
        services.reconciler.run()

    (orphan,) = record(client, request_id)["orphans"]
    assert orphan["removed_at"] is not None, orphan


def test_the_pass_is_done_once_and_a_listing_that_fails_puts_nothing_on_the_ledger_yet(
    client: Client, stack: Stack, services: Services, request: pytest.FixtureRequest
) -> None:
    """The listing throttled: the run puts nothing on the ledger and goes on; a later run
    does; once the pass is done (its marker says so), no run reads the listing again."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    deliver(client, request_id)
    stack.faults.clear()
    as_written_by_an_old_version(stack, request_id)
    listings: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == LIST_INDEX:
            listings.append(params["IndexName"])

    events, event = stack.clients.dynamodb.meta.events, "provide-client-params.dynamodb.Query"
    events.register(event, note)
    request.addfinalizer(lambda: events.unregister(event, note))  # the clients outlive it

    stack.faults.fail(
        "dynamodb", "Query", "ProvisionedThroughputExceededException", 400, times=-1,
        match=lambda p: p.get("IndexName") == LIST_INDEX,
    )  # fmt: skip
    services.pool_keeper.run()
    stack.faults.clear()
    assert request_id not in ledger(stack).get("pending", set())

    services.pool_keeper.run()
    assert request_id in ledger(stack)["pending"]

    listings.clear()
    services.pool_keeper.run()
    assert listings == []
