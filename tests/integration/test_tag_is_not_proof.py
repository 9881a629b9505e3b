"""A tag is not proof of whose a network is (docs/how-it-works.md "Convergence never
destroys and never lies"). Someone copies request A's `RequestId` tag onto request B's
live VPC and subnets (a console edit, a script gone wrong). Before: A's DELETE, A's
rollback, A's duplicate cleanup and the reconciler deleted whatever carried A's tag,
so B's SUCCEEDED network went with it. Now what only a tag ties to A is deleted once a
complete read of the SUCCEEDED records (and of those being made, rolled back or torn down:
HOLDING_STATUSES) shows that none of them names it. Every test ends
on EC2's ground truth."""

from __future__ import annotations

import contextvars
from dataclasses import replace
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.teardown import Teardown
from chalicelib.backoff import Backoff
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import HOLDING_STATUSES, Operation
from chalicelib.resource_ids import known_resources
from chalicelib.wiring import Services
from integration.conftest import (
    TABLE,
    Stack,
    assert_nothing_left,
    deliver,
    record,
    set_fields,
    stored,
    submit,
)
from integration.convergence.conftest import assert_intact, lag_tag_lookups
from integration.test_reconciler import exists, tagged_subnet, tagged_vpc
from support.tokens import auth

_STATUS_INDEX_QUERY = {"IndexName": "by_status"}


def _provisioned(client: Client, cidr: str) -> str:
    request_id = submit(client, subnets=2, cidr=cidr)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    return request_id


def _retag(stack: Stack, client: Client, owner: str, onto: str) -> list[str]:
    """Give every resource `owner`'s record names `onto`'s RequestId tag; their ids."""
    rec = record(client, owner)
    ids = [rec["vpc_id"], *(s["subnet_id"] for s in rec["subnets"])]
    stack.ec2.create_tags(Resources=ids, Tags=[{"Key": "RequestId", "Value": onto}])
    return ids


def _delete(client: Client, request_id: str) -> None:
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202


def _all_there(stack: Stack, ids: list[str]) -> bool:
    """The VPC `ids` starts with, and the subnets that follow, are all in EC2."""
    vpc_id, *subnet_ids = ids
    return exists(stack, vpc_id) and set(subnet_ids) <= {
        s["SubnetId"] for s in stack.subnets(vpc_id)
    }


def failing_status_queries(stack: Stack) -> None:
    stack.faults.fail(
        "dynamodb", "Query", "InternalServerError", 500, times=-1, match=_STATUS_INDEX_QUERY
    )


def test_a_delete_never_removes_another_requests_network_that_carries_its_tag(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A's DELETE deletes A's own network and leaves B's alone: DELETE_FAILED, saying
    whose record names what it found, never DELETED while B's VPC carries A's tag."""
    a = _provisioned(client, "10.30.0.0/16")
    b = _provisioned(client, "10.40.0.0/16")
    a_vpc = record(client, a)["vpc_id"]
    b_ids = _retag(stack, client, owner=b, onto=a)
    _delete(client, a)

    deliver(client, a, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    assert_intact(stack, client, b)
    assert not exists(stack, a_vpc)
    rec = record(client, a)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "NamedByAnotherRequest"
    assert b in rec["error"]["message"]
    assert any(i in rec["error"]["message"] for i in b_ids)
    assert rec["teardown"]["error"].startswith("Teardown: NamedByAnotherRequest: ")
    assert "correct its RequestId tag, then DELETE again" in rec["teardown"]["error"]
    assert rec["teardown"]["complete"] is False
    # B's resources are not A's: its record does not name them as left.
    assert rec["vpc_id"] is None
    assert not any(s["subnet_id"] in b_ids for s in rec["subnets"])


def test_a_delete_that_cannot_read_the_succeeded_records_removes_only_what_its_record_names(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """A stray VPC carries A's tag (a duplicate from a lost answer). While the status
    index cannot be read, nothing proves it no other request's: it stays, and A stays
    DELETING (tried again); once the read works, the stray goes and A ends DELETED."""
    a = _provisioned(client, "10.30.0.0/16")
    clock.advance(settings.drift_settle_seconds)  # "not found" is evidence again
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    _delete(client, a)
    failing_status_queries(stack)

    with pytest.raises(RetryLater):
        deliver(client, a, operation=Operation.DELETE)

    assert exists(stack, stray)
    assert record(client, a)["status"] == "DELETING"
    stack.faults.clear()
    deliver(client, a, operation=Operation.DELETE)
    assert record(client, a)["status"] == "DELETED"
    assert_nothing_left(stack, a)


def test_what_a_last_delete_left_alone_for_want_of_its_owner_is_deleted_by_the_next(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A's last try cannot read the SUCCEEDED records: the stray VPC carrying A's tag is
    left alone, and DELETE_FAILED says it may remain (`teardown.remaining`), not only in
    the error's text. The next DELETE, every look by tag lagging, still deletes it by id
    once the read works: DELETED on a delete's answer, never with the stray forgotten."""
    a = _provisioned(client, "10.30.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    _delete(client, a)
    failing_status_queries(stack)

    deliver(client, a, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    rec = record(client, a)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["teardown"]["remaining"] == [stray]
    assert exists(stack, stray)
    stack.faults.clear()
    _delete(client, a)
    lag_tag_lookups(stack)

    deliver(client, a, operation=Operation.DELETE)

    rec = record(client, a)
    assert rec["status"] == "DELETED", rec
    assert stray in rec["teardown"]["deleted"]
    stack.faults.clear()
    assert_nothing_left(stack, a)


def test_a_rollback_never_removes_another_requests_network_that_carries_its_tag(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A's creation fails for good; its rollback deletes A's own VPC and leaves B's."""
    b = _provisioned(client, "10.40.0.0/16")
    a = submit(client, subnets=2, cidr="10.30.0.0/16")
    _retag(stack, client, owner=b, onto=a)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, skip=1)

    deliver(client, a)

    assert_intact(stack, client, b)
    rec = record(client, a)
    assert rec["status"] == "FAILED"
    assert "NamedByAnotherRequest" in rec["rollback"]["error"]
    assert not any(exists(stack, i) for i in rec["rollback"]["deleted"] if i.startswith("vpc-"))


def test_a_retried_creation_never_takes_another_requests_vpc_for_its_duplicate(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A's first attempt made its VPC and stopped (a transient failure); B's network now
    carries A's tag. The second attempt, uncertain, removes VPCs of A's that are not
    A's own: B's is not one of them, nor is it noted as A's orphan."""
    b = _provisioned(client, "10.40.0.0/16")
    a = submit(client, subnets=2, cidr="10.30.0.0/16")
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", 500, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, a)
    assert record(client, a)["vpc_id"]
    stack.faults.clear()
    b_ids = _retag(stack, client, owner=b, onto=a)

    deliver(client, a, receive_count=2)

    rec = record(client, a)
    assert rec["status"] == "SUCCEEDED"
    assert not any(o["id"] in b_ids for o in rec["orphans"])
    assert_intact(stack, client, b)


def _lost_first_create_vpc(stack: Stack) -> None:
    """A's CreateVpc fails as a lost answer would (a 500, nothing made): the job looks
    for its VPC by tag before creating one."""
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, times=1)


def _own_network(stack: Stack, client: Client, request_id: str, cidr: str) -> None:
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    vpc = stack.ec2.describe_vpcs(VpcIds=[rec["vpc_id"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == cidr
    assert {"Key": "RequestId", "Value": request_id} in vpc["Tags"]


@pytest.mark.parametrize(
    ("b_cidr", "why"),
    [
        ("10.40.0.0/16", "another CIDR"),
        ("10.30.0.0/16", "the same CIDR, but B's SUCCEEDED record names it"),
    ],
)
def test_a_creation_after_a_lost_answer_never_adopts_another_requests_vpc(
    client: Client, stack: Stack, b_cidr: str, why: str
) -> None:
    """B's network carries A's tag before A's worker runs; A's CreateVpc answer is lost.
    Before: A's look by tag adopted B's VPC (its record then named it, and A's rollback
    or DELETE would have removed B's network). Now a VPC is A's only with A's tag, A's
    CIDR and no SUCCEEDED record naming it: A makes its own, B's is left whole."""
    b = _provisioned(client, b_cidr)
    a = submit(client, subnets=2, cidr="10.30.0.0/16")
    b_ids = _retag(stack, client, owner=b, onto=a)
    _lost_first_create_vpc(stack)

    deliver(client, a)

    _own_network(stack, client, a, "10.30.0.0/16")
    rec = record(client, a)
    assert rec["vpc_id"] not in b_ids, why
    assert not {s["subnet_id"] for s in rec["subnets"]} & set(b_ids), why
    assert not any(o["id"] in b_ids for o in rec["orphans"]), why
    assert_intact(stack, client, b)


def test_a_creation_after_a_lost_answer_never_adopts_a_tagged_vpc_of_another_cidr(
    client: Client, stack: Stack
) -> None:
    """A stray VPC carries A's tag (no record names it) but not A's CIDR: A's job cannot
    have made it. Taken for A's own, A's subnets would not fit in it and A would fail; A
    makes its own VPC and succeeds, the stray is not A's duplicate (the reconciler's)."""
    a = submit(client, subnets=2, cidr="10.30.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    _lost_first_create_vpc(stack)

    deliver(client, a)

    _own_network(stack, client, a, "10.30.0.0/16")
    assert record(client, a)["orphans"] == []
    assert exists(stack, stray)


def test_a_creation_that_cannot_read_the_succeeded_records_neither_adopts_nor_creates(
    client: Client, stack: Stack
) -> None:
    """A VPC with A's tag and CIDR is found after a lost answer, and the SUCCEEDED records
    cannot be read: whose it is is unknown, so the job neither takes it nor makes a second
    one (it is retried). Once the records read again, B's is seen to be B's."""
    b = _provisioned(client, "10.30.0.0/16")
    a = submit(client, subnets=2, cidr="10.30.0.0/16")
    _retag(stack, client, owner=b, onto=a)
    _lost_first_create_vpc(stack)
    failing_status_queries(stack)
    vpcs_before = {v["VpcId"] for v in stack.ec2.describe_vpcs()["Vpcs"]}

    with pytest.raises(RetryLater):
        deliver(client, a)

    assert record(client, a)["vpc_id"] is None
    assert {v["VpcId"] for v in stack.ec2.describe_vpcs()["Vpcs"]} == vpcs_before
    stack.faults.clear()
    deliver(client, a, receive_count=2)
    _own_network(stack, client, a, "10.30.0.0/16")
    assert_intact(stack, client, b)


def test_a_reconciler_that_cannot_read_the_succeeded_records_removes_nothing(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A FAILED request's leftover is an orphan only if no SUCCEEDED record names it:
    while the status index cannot be read, the run removes nothing; then it does."""
    a = _provisioned(client, "10.30.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    failing_status_queries(stack)

    report = services.reconciler.run()

    assert report.removed == []
    assert report.drift.complete is False
    assert exists(stack, stray)
    stack.faults.clear()
    assert services.reconciler.run().removed == [stray]
    assert_intact(stack, client, a)


def test_a_reconciler_never_removes_another_requests_network_that_carries_its_tag(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A is DELETED; B's network carries A's tag: named by B's SUCCEEDED record, it is no
    orphan of A's."""
    a = _provisioned(client, "10.30.0.0/16")
    _delete(client, a)
    deliver(client, a, operation=Operation.DELETE)
    b = _provisioned(client, "10.40.0.0/16")
    _retag(stack, client, owner=b, onto=a)
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []
    assert_intact(stack, client, b)


@pytest.mark.parametrize("holding", [s.value for s in HOLDING_STATUSES])
def test_a_reconciler_never_removes_the_network_of_a_request_at_work_that_carries_a_tag(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any, holding: str
) -> None:
    """A is DELETED; B's network carries A's tag while B's record is being made, rolled back
    or torn down (or left DELETE_FAILED), long past the grace period: named by B's record,
    it is no orphan of A's (a review's finding, 2026-12-06: only SUCCEEDED records were
    read, and B's live network went as A's orphans)."""
    a = _provisioned(client, "10.30.0.0/16")
    _delete(client, a)
    deliver(client, a, operation=Operation.DELETE)
    b = _provisioned(client, "10.40.0.0/16")
    set_fields(stack, b, status=holding, lease_until=0)
    b_ids = _retag(stack, client, owner=b, onto=a)
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []
    assert _all_there(stack, b_ids)
    # The records at work are read only in a run that finds a possible orphan: once EC2
    # matches the records again, a run reads only the SUCCEEDED ones.
    stack.ec2.create_tags(Resources=b_ids, Tags=[{"Key": "RequestId", "Value": b}])
    set_fields(stack, b, status="SUCCEEDED")
    before = stack.faults.count("dynamodb", "Query")
    services.reconciler.run()
    assert stack.faults.count("dynamodb", "Query") - before == 1  # the SUCCEEDED records


def test_a_reconciler_that_cannot_read_the_records_at_work_removes_nothing(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The SUCCEEDED records read, those at work not: whether one of them names the stray
    is unknown, so the run removes nothing; once they can be read, it does."""
    a = _provisioned(client, "10.30.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    stack.faults.fail(
        "dynamodb", "Query", "InternalServerError", 500, times=-1,
        match=lambda p: "SUCCEEDED" not in str(p.get("ExpressionAttributeValues")),
    )  # fmt: skip

    report = services.reconciler.run()

    assert report.drift.complete is True
    assert report.removed == []
    assert exists(stack, stray)
    stack.faults.clear()
    assert services.reconciler.run().removed == [stray]


@pytest.mark.parametrize("holding", [s.value for s in HOLDING_STATUSES])
def test_a_delete_never_removes_the_network_of_a_request_at_work_that_carries_its_tag(
    client: Client, stack: Stack, settings: Settings, holding: str
) -> None:
    """A's DELETE finds by A's tag a network B's record names while B is being made, rolled
    back or torn down (or left DELETE_FAILED): left alone, DELETE_FAILED naming B."""
    a = _provisioned(client, "10.30.0.0/16")
    b = _provisioned(client, "10.40.0.0/16")
    set_fields(stack, b, status=holding, lease_until=0)
    b_ids = _retag(stack, client, owner=b, onto=a)
    _delete(client, a)

    deliver(client, a, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    assert _all_there(stack, b_ids)
    rec = record(client, a)
    assert (rec["status"], rec["error"]["code"]) == ("DELETE_FAILED", "NamedByAnotherRequest")
    assert b in rec["error"]["message"]


def test_a_reconciler_never_removes_another_requests_network_from_a_succeeded_request(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A is SUCCEEDED and names its own network; a stray VPC and B's network carry A's tag
    too. What A's record does not name is an orphan of A's only if no SUCCEEDED record
    names it: the stray goes, B's network stays."""
    a = _provisioned(client, "10.30.0.0/16")
    b = _provisioned(client, "10.40.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    _retag(stack, client, owner=b, onto=a)
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == [stray]
    assert_intact(stack, client, a)
    assert_intact(stack, client, b)


def test_a_network_that_takes_the_tag_during_a_teardown_is_found_and_left_alone(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """B's network gets A's tag after A's teardown first looked: the look after the
    deletes finds it, B's record names it, so it is left alone and A is not DELETED
    (something carrying its tag is left)."""
    a = _provisioned(client, "10.30.0.0/16")
    b = _provisioned(client, "10.40.0.0/16")
    b_vpc = record(client, b)["vpc_id"]
    _delete(client, a)
    looks: list[int] = []

    def retag_after_the_first_look(**_: Any) -> None:
        looks.append(1)
        if len(looks) == 1:  # the teardown's first look by tag has its answer
            stack.ec2.create_tags(Resources=[b_vpc], Tags=[{"Key": "RequestId", "Value": a}])

    # Registered for this test only (the `stack` fixture unregisters it).
    stack.clients.ec2.meta.events.register(
        "after-call.ec2.DescribeVpcs", retag_after_the_first_look
    )
    deliver(client, a, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    assert len(looks) >= 2
    assert_intact(stack, client, b)
    rec = record(client, a)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "NamedByAnotherRequest"


def test_a_teardown_without_a_reader_of_the_records_deletes_only_what_it_was_given(
    client: Client, stack: Stack, settings: Settings, sleeps: Any
) -> None:
    """Built without `claims` (as the reconciler's, which never looks by tag): what only a
    tag ties to the request is left alone, and the removal is not complete."""
    a = _provisioned(client, "10.30.0.0/16")
    stray = tagged_vpc(stack, a, cidr="10.31.0.0/16")
    teardown = Teardown(
        Ec2Gateway(stack.clients.ec2, TABLE),
        RoutingGateway(stack.clients.ec2, TABLE),
        Ec2Calls(settings, sleeps, Backoff(0.01, 0.01)),
    )

    # In a context of its own: these calls are no Lambda function's (the IAM check, which
    # attributes shared code's calls to the function last seen in the context, skips them).
    known = known_resources(stored(stack, a))
    removal = contextvars.Context().run(lambda: teardown.request(a, known, network=False))

    assert exists(stack, stray)
    assert stray not in removal.deleted
    assert removal.complete is False
    assert removal.errors == (  # what the record would say, word for word
        f"Teardown: OwnerUnknown: {stray}: found by tag, not named by the record; who else "
        "names it is unknown (no reader of the other requests' records)",
    )


def test_what_the_first_look_left_alone_still_counts_after_a_later_round(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """The first look finds B's network carrying A's tag (left alone) and misses one of
    A's own subnets, which the look after the deletes finds and deletes: A is still not
    DELETED, because what the first look left alone is still there."""
    a = _provisioned(client, "10.30.0.0/16")
    b = _provisioned(client, "10.40.0.0/16")
    missed = tagged_subnet(stack, record(client, a)["vpc_id"], a, cidr="10.30.9.0/24")
    b_vpc = record(client, b)["vpc_id"]
    stack.ec2.create_tags(Resources=[b_vpc], Tags=[{"Key": "RequestId", "Value": a}])
    _delete(client, a)
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=1)

    deliver(client, a, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    assert_intact(stack, client, b)
    rec = record(client, a)
    assert missed in rec["teardown"]["deleted"]
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "NamedByAnotherRequest"
    assert b_vpc in rec["error"]["message"]


@pytest.mark.parametrize("uncertain", [True, False])
def test_a_teardown_after_a_lost_answer_waits_between_its_two_looks(
    client: Client, stack: Stack, settings: Settings, sleeps: Any, uncertain: bool
) -> None:
    """A second look is worth something only if EC2 had time to catch up: after a lost
    answer the teardown waits the lookup delay before it, and looks by tag three times in
    all (before, after, again); without one it looks twice and never waits."""
    a = _provisioned(client, "10.30.0.0/16")
    delay = 1.5
    teardown = Teardown(
        Ec2Gateway(stack.clients.ec2, TABLE),
        RoutingGateway(stack.clients.ec2, TABLE),
        Ec2Calls(
            replace(settings, ambiguous_lookup_delay_seconds=delay),
            sleeps,
            Backoff(0.01, 0.01),
            uncertain=uncertain,
        ),
    )
    known = known_resources(stored(stack, a))
    looks = stack.faults.count("ec2", "DescribeVpcs")

    removal = contextvars.Context().run(lambda: teardown.request(a, known, network=False))

    assert removal.complete
    assert stack.faults.count("ec2", "DescribeVpcs") - looks == (3 if uncertain else 2)
    assert sleeps.waits == ([delay] if uncertain else [])
    assert_nothing_left(stack, a)


def test_a_look_that_lagged_before_a_find_does_not_count_toward_the_two(
    client: Client, stack: Stack, settings: Settings, sleeps: Any
) -> None:
    """After a lost answer, the two empty looks must come in a row. Here the look after
    the deletes lags (empty), the next finds a duplicate (deleted), a late create makes
    one more, and the look after that lags again. Counting the first lagging look with
    that one would call the teardown complete with the late duplicate in EC2; it is not
    complete until a look finds nothing twice running."""
    a = _provisioned(client, "10.30.0.0/16")
    early = tagged_vpc(stack, a, cidr="10.32.0.0/16")
    late: list[str] = []
    looks: list[int] = []

    def lagging(params: dict[str, Any]) -> bool:
        """Looks by tag 1, 2 and 4 lag; the late duplicate is made just before look 4."""
        if not any(f["Name"] == "tag:RequestId" for f in params.get("Filters", [])):
            return False
        looks.append(1)
        if len(looks) == 4:
            late.append(tagged_vpc(stack, a, cidr="10.33.0.0/16"))
        return len(looks) in (1, 2, 4)

    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=lagging)
    teardown = Teardown(
        Ec2Gateway(stack.clients.ec2, TABLE),
        RoutingGateway(stack.clients.ec2, TABLE),
        Ec2Calls(settings, sleeps, Backoff(0.01, 0.01), uncertain=True),
        claims=dict,
    )
    known = known_resources(stored(stack, a))

    removal = contextvars.Context().run(lambda: teardown.request(a, known, network=False))

    assert early in removal.deleted
    assert late
    assert removal.complete is False
    assert not exists(stack, late[0]) or late[0] in removal.unconfirmed
