"""The reconciler: EC2 is made to agree with the records, and the records say what was done."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.store.items import deserialize, serialize
from chalicelib.wiring import Services
from devstack.fault_rules import WorkerKilled
from devstack.resources import create_table
from integration.conftest import (
    TABLE,
    Stack,
    assert_nothing_left,
    assert_provisioned,
    deliver,
    record,
    submit,
)
from support.tokens import auth

OLD = "2020-01-01T00:00:00Z"


def worker_tags(
    kind: str, request_id: str, created_at: str = OLD, deployment: str = TABLE
) -> list[dict[str, Any]]:
    """TagSpecifications for a `kind` of resource as a worker of `deployment` tags it (for
    `request_id`, made at `created_at`)."""
    tags = {
        "RequestId": request_id,
        "vpc-provisioner:deployment": deployment,
        "vpc-provisioner:created-at": created_at,
    }
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def tagged_vpc(
    stack: Stack, request_id: str, created_at: str = OLD, deployment: str = TABLE, cidr: str = ""
) -> str:
    """A VPC tagged as a worker of `deployment` tags it (for `request_id`)."""
    return str(
        stack.ec2.create_vpc(
            CidrBlock=cidr or "10.99.0.0/16",
            TagSpecifications=worker_tags("vpc", request_id, created_at, deployment),
        )["Vpc"]["VpcId"]
    )


def tagged_subnet(stack: Stack, vpc_id: str, request_id: str, cidr: str = "10.99.1.0/24") -> str:
    return str(
        stack.ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=cidr, TagSpecifications=worker_tags("subnet", request_id)
        )["Subnet"]["SubnetId"]
    )


def tagged_table(stack: Stack, vpc_id: str, request_id: str) -> str:
    """A route table of `request_id`'s, long made (a worker's lost answer's)."""
    return str(
        stack.ec2.create_route_table(
            VpcId=vpc_id, TagSpecifications=worker_tags("route-table", request_id)
        )["RouteTable"]["RouteTableId"]
    )


def tagged_gateway(stack: Stack, request_id: str) -> str:
    """An internet gateway of `request_id`'s, long made."""
    return str(
        stack.ec2.create_internet_gateway(
            TagSpecifications=worker_tags("internet-gateway", request_id)
        )["InternetGateway"]["InternetGatewayId"]
    )


def put_record(stack: Stack, request_id: str, status: str, cidr: str) -> None:
    """A bare record of `request_id` in `status`, written straight into the table."""
    stack.truth.dynamodb.put_item(
        TableName=TABLE,
        Item=serialize(
            {
                "request_id": request_id,
                "type": "VPC_REQUEST",
                "status": status,
                "created_by": "u",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
                "request": {"vpc": {"cidr": cidr}, "subnets": []},
            }
        ),
    )


def ended_stray(
    stack: Stack,
    request_id: str,
    cidr: str = "10.99.0.0/16",
    status: str = "CANCELLED",
    created_at: str = OLD,
) -> str:
    """A VPC tagged for `request_id` (made at `created_at`), whose request has a record that
    keeps nothing (`status`: CANCELLED, FAILED or DELETED): an orphan once it is older than
    the grace period. A VPC whose request has no record at all is no orphan: it is left
    alone (test_a_resource_whose_request_has_no_record_is_left_and_reported)."""
    put_record(stack, request_id, status, cidr)
    return tagged_vpc(stack, request_id, created_at=created_at, cidr=cidr)


def exists(stack: Stack, vpc_id: str) -> bool:
    return any(v["VpcId"] == vpc_id for v in stack.vpcs())


@pytest.fixture
def succeeded(client: Client) -> str:
    request_id = submit(client, subnets=2)
    deliver(client, request_id)
    return request_id


def test_every_vpc_a_failed_subnet_delete_holds_back_is_reported_and_noted_remaining(
    client: Client, stack: Stack, services: Services, succeeded: str
) -> None:
    """Two stray VPCs of one request, one stray subnet's delete refused: no DeleteVpc is
    sent, and both VPCs (not just the first) are reported and noted as not removed."""
    strays = [tagged_vpc(stack, succeeded, cidr=f"10.9{i}.0.0/16") for i in (1, 2)]
    held = tagged_subnet(stack, strays[0], succeeded, cidr="10.91.1.0/24")
    stack.faults.fail(
        "ec2", "DeleteSubnet", "InvalidParameterValue", 400, times=-1, match={"SubnetId": held}
    )

    report = services.reconciler.run()

    assert sorted(report.failed) == sorted([held, *strays])
    assert report.removed == []
    assert all(exists(stack, vpc_id) for vpc_id in strays)
    orphans = {o["id"]: o for o in record(client, succeeded)["orphans"]}
    assert set(orphans) == {held, *strays}
    assert all(o["removed_at"] is None and o["error"] for o in orphans.values())


def test_an_unreferenced_vpc_of_a_succeeded_request_is_removed_with_its_subnets_and_noted(
    client: Client, stack: Stack, services: Services, succeeded: str, clock: Any
) -> None:
    stray = tagged_vpc(stack, succeeded)
    stray_subnet = tagged_subnet(stack, stray, succeeded)

    report = services.reconciler.run()

    assert sorted(report.removed) == sorted([stray, stray_subnet])
    assert not exists(stack, stray)
    assert_provisioned(stack, client, succeeded, subnets=2)  # its own VPC is untouched
    orphans = {o["id"]: o for o in record(client, succeeded)["orphans"]}
    assert set(orphans) == {stray, stray_subnet}
    assert all(o["removed_at"] == iso_timestamp(clock()) for o in orphans.values())
    assert all(o["error"] is None for o in orphans.values())


def test_what_a_record_references_is_never_touched(
    client: Client, stack: Stack, services: Services, succeeded: str, clock: Any, settings: Settings
) -> None:
    clock.advance(settings.reconcile_grace_seconds * 10)

    assert services.reconciler.run().removed == []
    assert_provisioned(stack, client, succeeded, subnets=2)
    assert record(client, succeeded)["orphans"] == []


def failed_with_a_foreign_subnet(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> tuple[str, str, str]:
    """A request whose worker died before its subnet and whose next receive rolled it
    back, a subnet someone else made in its VPC keeping DeleteVpc from succeeding:
    FAILED, naming the VPC. Its id, the VPC's and the foreign subnet's."""
    request_id = submit(client, subnets=1)
    stack.faults.kill("ec2", "CreateSubnet", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    vpc_id = stack.vpcs(request_id)[0]["VpcId"]
    foreign = stack.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.0.0/24")["Subnet"]
    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=2)
    return request_id, vpc_id, foreign["SubnetId"]


def test_what_a_failed_request_left_is_removed_and_its_record_brought_up_to_date(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A foreign subnet kept the rollback from deleting the VPC (FAILED, rollback
    incomplete); once it is gone, the reconciler deletes the VPC and the record says so."""
    request_id, vpc_id, foreign = failed_with_a_foreign_subnet(client, stack, settings, clock)
    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["rollback"]["remaining"] == [vpc_id]
    assert rec["vpc_id"] == vpc_id

    clock.advance(settings.reconcile_grace_seconds + 1)
    first = services.reconciler.run()  # the foreign subnet is still there
    assert first.failed == [vpc_id]
    [orphan] = record(client, request_id)["orphans"]
    assert orphan["removed_at"] is None
    assert "DependencyViolation" in orphan["error"]

    stack.ec2.delete_subnet(SubnetId=foreign)
    assert services.reconciler.run().removed == [vpc_id]

    rec = record(client, request_id)
    assert rec["vpc_id"] is None
    assert rec["rollback"]["remaining"] == []
    assert rec["rollback"]["complete"] is True
    [orphan] = rec["orphans"]
    assert orphan["id"] == vpc_id
    assert orphan["removed_at"]
    assert orphan["error"] is None
    assert_nothing_left(stack, request_id)


def test_a_resource_whose_request_has_no_record_is_left_and_reported(
    stack: Stack, services: Services
) -> None:
    """A key answered without an item proves only that this table has no record: the
    table may be younger than the resource (test_a_redeployed_stage_never_deletes_...)."""
    request_id = "00000000-0000-4000-8000-000000000000"
    vpc_id = tagged_vpc(stack, request_id)

    report = services.reconciler.run()

    assert (report.removed, report.unrecorded) == ([], [request_id])
    assert exists(stack, vpc_id)


def test_a_redeployed_stage_never_deletes_the_networks_its_earlier_table_recorded(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """`make destroy STAGE=dev` deletes a dev stage's table and keeps the VPCs (they are the
    teams' who asked: docs/deploy.md); `make deploy` makes a new, empty table of the same
    name, which is also the deployment tag's value. Its reconciler found every earlier
    request "provably without a record" and tore the teams' live networks down."""
    request_id = submit(client, subnets=2)
    deliver(client, request_id)
    assert_provisioned(stack, client, request_id, 2)
    vpc_id = stack.vpcs(request_id)[0]["VpcId"]
    stack.truth.dynamodb.delete_table(TableName=TABLE)
    create_table(stack.truth.dynamodb, TABLE)
    clock.advance(settings.reconcile_grace_seconds + 60)

    report = services.reconciler.run()

    assert (report.removed, report.unrecorded) == ([], [request_id])
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == [vpc_id]
    assert len(stack.subnets(vpc_id)) == 2


@pytest.mark.parametrize("status", ["QUEUED", "IN_PROGRESS", "ROLLING_BACK"])
def test_an_unfinished_request_is_left_to_its_worker(
    client: Client, stack: Stack, services: Services, status: str
) -> None:
    request_id = submit(client, subnets=1)
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    vpc_id = tagged_vpc(stack, request_id)

    assert services.reconciler.run().removed == []
    assert exists(stack, vpc_id)


def test_a_resource_younger_than_the_grace_period_is_left_alone_until_it_is_older(
    client: Client, stack: Stack, services: Services, succeeded: str, clock: Any, settings: Settings
) -> None:
    """A worker may still be working on what is younger than its timeout."""
    young = tagged_vpc(stack, succeeded, created_at=iso_timestamp(clock()))
    subnet = tagged_subnet(stack, young, succeeded)

    assert services.reconciler.run().removed == [subnet]  # the subnet is old, the VPC not
    assert exists(stack, young)

    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [young]


def test_another_deployments_or_untagged_vpcs_are_never_touched(
    stack: Stack, services: Services
) -> None:
    """Even where a request of the same id here has a record that keeps nothing."""
    request_id = "00000000-0000-4000-8000-000000000000"
    put_record(stack, request_id, "CANCELLED", "10.99.0.0/16")
    other = tagged_vpc(stack, request_id, deployment="prod-table")
    untagged = stack.ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]

    assert services.reconciler.run().removed == []
    assert exists(stack, other)
    assert exists(stack, untagged)


def test_a_resource_without_a_creation_time_is_never_guessed_old(
    stack: Stack, services: Services
) -> None:
    """Even when its request's record (CANCELLED) keeps nothing."""
    vpc_id = ended_stray(stack, "00000000-0000-4000-8000-000000000000", created_at="yesterday")

    assert services.reconciler.run().removed == []
    assert exists(stack, vpc_id)


def test_a_note_refused_because_the_record_moved_on_is_finished_by_a_later_run(
    client: Client, stack: Stack, services: Services, succeeded: str, settings: Settings
) -> None:
    """Between the reconciler's intent and its note a DELETE moves the request on (a new
    version): the note is refused, never written over the newer state. The request stays
    pending in the ledger while its teardown runs; once DELETED, a later run sends the
    delete again ("not found": an answer) and finishes the note. (The teardown, which deletes
    by id what the record says is being removed, finishes it first: its own "not found".)"""
    stray = tagged_vpc(stack, succeeded)

    def delete_meanwhile(**_: Any) -> None:
        assert client.http.delete(f"/vpcs/{succeeded}", headers=auth()).status_code == 202

    stack.clients.ec2.meta.events.register("after-call.ec2.DeleteVpc", delete_meanwhile)
    services.reconciler.run()
    stack.clients.ec2.meta.events.unregister("after-call.ec2.DeleteVpc", delete_meanwhile)

    assert not exists(stack, stray)
    rec = record(client, succeeded)
    assert rec["status"] == "DELETING"
    assert rec["orphans"] == [{"id": stray, "removed_at": None, "error": None}]  # under way
    assert ledger(stack)["pending"] == {succeeded}
    assert services.reconciler.run().removed == []  # DELETING: its teardown's, not ours

    deliver(client, succeeded, operation=Operation.DELETE)
    rec = record(client, succeeded)
    assert rec["status"] == "DELETED"
    assert stray in rec["teardown"]["deleted"]  # "not found" for that id
    [orphan] = rec["orphans"]
    assert orphan["id"] == stray
    assert orphan["removed_at"]

    assert services.reconciler.run().removed == []  # nothing left to finish
    assert "pending" not in ledger(stack)
    assert ledger(stack)["type"] == "RECONCILER_LEDGER"


def ledger(stack: Stack) -> dict[str, Any]:
    """The reconciler's ledger item."""
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": "reconciler#ledger"}}, ConsistentRead=True
    ).get("Item", {})
    return deserialize(item)


def test_an_orphan_that_again_cannot_be_removed_leaves_its_record_unwritten(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The intent and the outcome are noted once: a later run that meets the same refusal
    writes nothing (the record's version and `updated_at` rest; the drift check waits for
    a record written DRIFT_SETTLE_SECONDS ago)."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    stray = tagged_vpc(stack, request_id, cidr="10.95.0.0/16")
    in_stray = tagged_subnet(stack, stray, request_id, cidr="10.95.1.0/24")
    stack.ec2.create_network_interface(SubnetId=in_stray)
    clock.advance(settings.reconcile_grace_seconds + 5)
    services.reconciler.run()
    noted = _item(stack, request_id)
    assert {o["id"] for o in record(client, request_id)["orphans"]} == {stray, in_stray}

    clock.advance(180)
    assert set(services.reconciler.run().failed) == {stray, in_stray}

    assert _item(stack, request_id) == noted


def _item(stack: Stack, request_id: str) -> dict[str, Any]:
    return dict(
        stack.truth.dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": request_id}})[
            "Item"
        ]
    )


def test_an_unremovable_orphan_never_keeps_its_live_requests_drift_unchecked(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Each run wrote such a request twice (the intent, then the same note), moving its
    `updated_at`: when its turn came more than ~59 s into a run (of up to 150 s, every 3
    minutes), the next run's drift check found it "written moments ago" and skipped it,
    for good; a subnet a person deleted never showed as drift."""
    request_id = submit(client, subnets=2)
    deliver(client, request_id)
    rec = record(client, request_id)
    stray = tagged_vpc(stack, request_id, cidr="10.95.0.0/16")
    in_stray = tagged_subnet(stack, stray, request_id, cidr="10.95.1.0/24")
    stack.ec2.create_network_interface(SubnetId=in_stray)
    clock.advance(settings.reconcile_grace_seconds + settings.drift_settle_seconds + 5)

    def late(**_: Any) -> None:  # the run reaches this request's orphans 70 s in
        clock.advance(70.0)

    events = stack.clients.ec2.meta.events
    events.register("before-call.ec2.DescribeNetworkInterfaces", late)
    try:
        services.reconciler.run()
        stack.truth.ec2.delete_subnet(SubnetId=rec["subnets"][0]["subnet_id"])
        for _ in range(5):  # a quarter of an hour of runs, every three minutes
            clock.advance(180.0 - 70.0)
            services.reconciler.run()
    finally:
        events.unregister("before-call.ec2.DescribeNetworkInterfaces", late)

    drift = record(client, request_id)["drift"]
    assert [d["resource_id"] for d in drift] == [rec["subnets"][0]["subnet_id"]], drift
