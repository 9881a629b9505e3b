"""Convergence never destroys and never lies, defect 6: a deletion is recorded only on a
delete's answer. What a teardown did not see deleted (a listing that missed it, an
UnauthorizedOperation, a lookup by tag that failed, a refused write or lease) is never
recorded deleted: it is looked up again, tried again, or named in DELETE_FAILED. Every test
ends on EC2's ground truth. (More of defect 6: test_6_gateways_and_route_tables.py,
test_6_remains_never_forgotten.py and test_6_lag_is_not_proof.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from chalicelib.aws.jobs import Job
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, assert_nothing_left, deliver, record, submit
from integration.convergence.conftest import _delete, assert_deleted, tag_lookup
from integration.test_lifecycle_worker import submit_public
from integration.test_reconciler import tagged_gateway, tagged_subnet, tagged_table, tagged_vpc


@pytest.mark.parametrize(
    ("describe", "listing", "kind"),
    [
        ("DescribeRouteTables", "RouteTables", "route_table_id"),
        ("DescribeInternetGateways", "InternetGateways", "internet_gateway_id"),
    ],
)
def test_6_a_gateway_or_table_the_listing_misses_is_deleted_not_assumed_gone(
    client: Client, stack: Stack, describe: str, listing: str, kind: str
) -> None:
    """The teardown's listing of the table (gateway) by id lags: it lists nothing. Before:
    recorded deleted without a delete ever sent, though it was still there (here the VPC
    is refused, so nothing takes it away meanwhile). Now the delete is sent, and what
    the record calls deleted is gone."""
    request_id = submit_public(client, subnets=2, public=(0,))
    deliver(client, request_id)
    rec = record(client, request_id)
    assert _delete(client, request_id).status_code == 202
    stack.faults.stale(
        "ec2", describe, listing, times=1, match=lambda p: "-id" in str(p.get("Filters"))
    )
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)

    deliver(client, request_id, operation=Operation.DELETE)

    after = record(client, request_id)
    assert after["status"] == "DELETE_FAILED"
    deleted = set(after["teardown"]["deleted"])
    assert rec[kind] in deleted
    assert (
        stack.faults.count(
            "ec2", "DeleteRouteTable" if kind == "route_table_id" else "DeleteInternetGateway"
        )
        >= 1
    )
    everything = {
        *(t["RouteTableId"] for t in stack.ec2.describe_route_tables()["RouteTables"]),
        *(
            g["InternetGatewayId"]
            for g in stack.ec2.describe_internet_gateways()["InternetGateways"]
        ),
        *(s["SubnetId"] for s in stack.ec2.describe_subnets()["Subnets"]),
    }
    assert not deleted & everything  # nothing recorded deleted is still there


def test_6_unauthorized_on_a_delete_is_not_a_deletion(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """UnauthorizedOperation usually means the tag condition failed: the subnet is there,
    and must not be recorded deleted (it would leak for good)."""
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "UnauthorizedOperation", 403, times=-1)

    deliver(client, succeeded, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "UnauthorizedOperation"
    # Which call, AWS's code and its message (the same sentence for both subnets, said
    # once: which ids it held back is `remaining`).
    assert rec["teardown"]["error"].count("DeleteSubnet: UnauthorizedOperation: injected") == 1
    ids = {s["subnet_id"] for s in rec["subnets"]}
    assert len(ids) == 2
    assert None not in ids
    assert ids <= set(rec["teardown"]["remaining"])
    assert len(stack.subnets(rec["vpc_id"])) == 2


def test_6_a_delete_that_keeps_failing_is_sent_exactly_the_configured_times(
    client: Client, stack: Stack, succeeded: str, settings: Settings, sleeps: Any
) -> None:
    """Every DeleteSubnet answers a 5xx: each subnet's delete is sent EC2_MAX_ATTEMPTS
    times, no more, backing off between tries, and neither it nor its VPC is recorded
    deleted."""
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "InternalError", 500, times=-1)

    with pytest.raises(RetryLater):
        deliver(client, succeeded, operation=Operation.DELETE)

    assert stack.faults.count("ec2", "DeleteSubnet") == 2 * settings.ec2_max_attempts
    assert stack.faults.count("ec2", "DeleteVpc") == 0  # its subnets are still in it
    assert len(sleeps.waits) >= 2 * (settings.ec2_max_attempts - 1)
    assert all(wait > 0 for wait in sleeps.waits)
    assert record(client, succeeded)["status"] == "DELETING"


def test_6_unauthorized_after_a_lost_answer_and_a_read_still_listing_it_is_tried_again(
    client: Client, stack: Stack, succeeded: str, hook: Any
) -> None:
    """DeleteVpc runs and its answer is lost (a 500 after it ran); the retry is answered
    UnauthorizedOperation (a tag-conditioned delete of a VPC that is gone), and the one
    by-id read that should prove it gone still lists it (EC2's reads lag). The refusal may
    be the first try's doing, so it is tried again, not a final one: the request ends
    DELETED on that receive, never DELETE_FAILED naming a VPC that is gone (a review's
    finding, 2026-12-06)."""
    vpc_id = record(client, succeeded)["vpc_id"]
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, when="after")
    stack.faults.fail("ec2", "DeleteVpc", "UnauthorizedOperation", 403, skip=1)
    lagged: list[str] = []

    def still_listed(context: dict[str, Any], **_: Any) -> Any:
        if context.get("_faults_params", {}).get("VpcIds") == [vpc_id] and not lagged:
            lagged.append(vpc_id)
            vpc = {"VpcId": vpc_id, "CidrBlock": "10.30.0.0/16", "State": "available"}
            answer = {"Vpcs": [vpc], "ResponseMetadata": {"HTTPStatusCode": 200}}
            return AWSResponse("https://lagging.invalid", 200, {}, None), answer
        return None

    hook("ec2", "before-call.ec2.DescribeVpcs", still_listed)

    deliver(client, succeeded, operation=Operation.DELETE)

    assert lagged == [vpc_id]
    assert_deleted(client, stack, succeeded, vpc_id)


def test_6_unauthorized_on_every_try_after_a_lost_answer_is_tried_later_not_final(
    client: Client, stack: Stack, succeeded: str, hook: Any
) -> None:
    """As above, but every try after the lost answer is refused and every by-id read of
    this receive still lists the VPC: the request stays DELETING (tried later), and the
    next receive, its read caught up, proves the VPC gone: DELETED (a review of the fix
    above found the last try's refusal still final)."""
    vpc_id = record(client, succeeded)["vpc_id"]
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, when="after")
    stack.faults.fail("ec2", "DeleteVpc", "UnauthorizedOperation", 403, skip=1, times=-1)
    lagging = [True]

    def still_listed(context: dict[str, Any], **_: Any) -> Any:
        if context.get("_faults_params", {}).get("VpcIds") == [vpc_id] and lagging[0]:
            vpc = {"VpcId": vpc_id, "CidrBlock": "10.30.0.0/16", "State": "available"}
            answer = {"Vpcs": [vpc], "ResponseMetadata": {"HTTPStatusCode": 200}}
            return AWSResponse("https://lagging.invalid", 200, {}, None), answer
        return None

    hook("ec2", "before-call.ec2.DescribeVpcs", still_listed)
    with pytest.raises(RetryLater):
        deliver(client, succeeded, operation=Operation.DELETE)

    held = record(client, succeeded)
    assert held["status"] == "DELETING"
    assert "(an earlier try may have deleted it: tried later)" in held["teardown"]["error"]
    lagging[0] = False
    deliver(client, succeeded, receive_count=2, operation=Operation.DELETE)
    assert_deleted(client, stack, succeeded, vpc_id)


def test_6_another_refusal_after_a_lost_answer_is_final_as_ever(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """Only UnauthorizedOperation may be the earlier try's doing: any other refusal after
    a lost answer is EC2 saying no (DELETE_FAILED with its code, on the first receive)."""
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail("ec2", "DeleteSubnet", "InternalError", 500, when="before")
    stack.faults.fail("ec2", "DeleteSubnet", "OperationNotPermitted", 400, skip=1, times=-1)

    deliver(client, succeeded, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert (rec["status"], rec["error"]["code"]) == ("DELETE_FAILED", "OperationNotPermitted")


@pytest.mark.parametrize("read", ["stale", "failing"])
def test_6_unauthorized_counts_as_gone_only_on_a_by_id_not_found(
    client: Client, stack: Stack, succeeded: str, read: str
) -> None:
    """The delete answers UnauthorizedOperation (the tag condition failed: the subnet is
    there); the by-id read lags (empty) or fails. Neither proves it gone: not recorded."""
    rec = record(client, succeeded)
    subnet_id = rec["subnets"][0]["subnet_id"]
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail(
        "ec2",
        "DeleteSubnet",
        "UnauthorizedOperation",
        403,
        times=-1,
        match={"SubnetId": subnet_id},
    )
    if read == "stale":
        stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=-1)
    else:
        stack.faults.fail(
            "ec2",
            "DescribeSubnets",
            "InternalError",
            500,
            times=-1,
            match={"SubnetIds": [subnet_id]},
        )

    deliver(client, succeeded, receive_count=5, operation=Operation.DELETE)

    after = record(client, succeeded)
    assert after["status"] != "DELETED"
    assert subnet_id not in after["teardown"]["deleted"]


def test_6_a_subnet_the_first_lookup_missed_is_found_and_deleted_not_a_failure(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """A subnet tagged with the request that the first lookup did not list yet blocks the
    VPC (DependencyViolation). Before: DELETE_FAILED on that lagging read. Now the look
    after the deletes finds it, deletes it and the VPC: DELETED, nothing left."""
    before = record(client, succeeded)
    vpc_id = before["vpc_id"]
    late = tagged_subnet(stack, vpc_id, succeeded, cidr="10.30.9.0/24")
    assert _delete(client, succeeded).status_code == 202
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=1)

    deliver(client, succeeded, operation=Operation.DELETE)

    after = record(client, succeeded)
    assert after["status"] == "DELETED"
    assert_nothing_left(stack, succeeded)
    # Both rounds' deletions are recorded: the first round's subnets, the late one, the VPC.
    made = {vpc_id, late, *(s["subnet_id"] for s in before["subnets"])}
    assert made <= set(after["teardown"]["deleted"])


def _tried_again(client: Client, request_id: str) -> dict[str, Any]:
    """A delete job's receive that met a failure which may clear: RetryLater, and the record
    still DELETING (returned), never DELETE_FAILED."""
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    held = record(client, request_id)
    assert held["status"] == "DELETING", held
    return held


def _deleted_on_the_next_receive(client: Client, stack: Stack, request_id: str) -> None:
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_6_a_subnet_two_lookups_missed_blocks_the_vpc_for_a_while_never_delete_failed(
    client: Client, stack: Stack, succeeded: str, settings: Settings
) -> None:
    """The same late subnet, and the look after the deletes lags as well: DeleteVpc's
    DependencyViolation is all the teardown sees. Before: DELETE_FAILED on the first
    receive, for lag alone (naming only the VPC). Now the VPC's own listing of its subnets
    shows one of ours: a failure that may clear, tried again; the next receive's look
    finds the subnet, and the request ends DELETED."""
    vpc_id = record(client, succeeded)["vpc_id"]
    late = tagged_subnet(stack, vpc_id, succeeded, cidr="10.30.9.0/24")
    assert _delete(client, succeeded).status_code == 202
    tag_filtered = lambda p: "tag:" in str(p.get("Filters"))  # noqa: E731
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=2, match=tag_filtered)

    tried = _tried_again(client, succeeded)

    assert late in tried["teardown"]["error"]  # "it holds <late>, ours: tried again"
    _deleted_on_the_next_receive(client, stack, succeeded)


def test_6_a_vpc_someone_elses_subnet_holds_is_delete_failed_naming_it(
    client: Client, stack: Stack, succeeded: str, settings: Settings
) -> None:
    """A subnet someone else made in the VPC: DeleteVpc is refused for good. On the last
    receive the request is DELETE_FAILED, and the error names the subnet that holds it."""
    vpc_id = record(client, succeeded)["vpc_id"]
    theirs = stack.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.77.0/24")["Subnet"]
    assert _delete(client, succeeded).status_code == 202

    deliver(client, succeeded, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    failed = record(client, succeeded)
    assert failed["status"] == "DELETE_FAILED", failed
    assert f"it holds {theirs['SubnetId']}, not ours" in failed["teardown"]["error"]


def test_6_a_route_table_two_lookups_missed_blocks_the_vpc_for_a_while_never_delete_failed(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """The same with a route table of the request's (only a table's listing by tag lags):
    the VPC's own listing of its tables shows it, tried again, then DELETED."""
    vpc_id = record(client, succeeded)["vpc_id"]
    late = tagged_table(stack, vpc_id, succeeded)
    assert _delete(client, succeeded).status_code == 202
    stack.faults.stale("ec2", "DescribeRouteTables", "RouteTables", times=2, match=tag_lookup)

    tried = _tried_again(client, succeeded)

    assert f"it holds {late}, ours: tried again" in tried["teardown"]["error"]
    _deleted_on_the_next_receive(client, stack, succeeded)


def test_6_another_requests_gateway_in_the_vpc_is_named_not_tried_again(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """An internet gateway of another request of this deployment, attached to this
    request's VPC: not this request's to wait for (nor to detach), so the refusal stands
    on the first receive, naming it."""
    vpc_id = record(client, succeeded)["vpc_id"]
    theirs = tagged_gateway(stack, "99999999-0000-4000-8000-000000000000")
    stack.ec2.attach_internet_gateway(InternetGatewayId=theirs, VpcId=vpc_id)
    assert _delete(client, succeeded).status_code == 202

    deliver(client, succeeded, operation=Operation.DELETE)

    failed = record(client, succeeded)
    assert failed["status"] == "DELETE_FAILED", failed
    assert f"it holds {theirs}, not ours" in failed["teardown"]["error"]
    attached = stack.ec2.describe_internet_gateways(InternetGatewayIds=[theirs])
    assert attached["InternetGateways"][0]["Attachments"][0]["VpcId"] == vpc_id  # left as is


def test_6_someone_elses_subnet_beside_a_late_one_of_ours_is_delete_failed_at_once(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """Both: a subnet of ours the looks by tag missed, and one someone else made. Theirs
    keeps the VPC for good, so waiting for ours to be found changes nothing: the refusal
    stands on the first receive, naming theirs."""
    vpc_id = record(client, succeeded)["vpc_id"]
    tagged_subnet(stack, vpc_id, succeeded, cidr="10.30.9.0/24")
    theirs = stack.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.77.0/24")["Subnet"]
    assert _delete(client, succeeded).status_code == 202
    tag_filtered = lambda p: "tag:" in str(p.get("Filters"))  # noqa: E731
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=2, match=tag_filtered)

    deliver(client, succeeded, operation=Operation.DELETE)

    failed = record(client, succeeded)
    assert failed["status"] == "DELETE_FAILED", failed
    assert f"it holds {theirs['SubnetId']}, not ours" in failed["teardown"]["error"]


def test_6_deleted_is_recorded_only_when_nothing_tagged_is_left(
    client: Client, stack: Stack, succeeded: str, settings: Settings, hook: Any
) -> None:
    """Every look after the deletes keeps finding something new of the request (a late
    create): never DELETED, and not DELETE_FAILED either, even on the last receive."""
    assert _delete(client, succeeded).status_code == 202
    cidrs = iter(f"10.55.{i}.0/28" for i in range(250))
    late = threading.Event()
    late.set()

    def create_late(**_: Any) -> None:
        if late.is_set():
            tagged_vpc(stack, succeeded, cidr=next(cidrs))

    hook("ec2", "after-call.ec2.DeleteVpc", create_late)

    deliver(client, succeeded, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    late.clear()
    assert record(client, succeeded)["status"] == "DELETING"  # the reaper sends it again
    deliver(client, succeeded, receive_count=1, operation=Operation.DELETE)
    assert record(client, succeeded)["status"] == "DELETED"
    assert_nothing_left(stack, succeeded)


@pytest.mark.parametrize("when", ["before", "after"])
def test_6_a_teardown_whose_lookup_by_tag_fails_is_never_deleted(
    client: Client, stack: Stack, succeeded: str, settings: Settings, when: str
) -> None:
    """The look by tag (before the deletes, or the one after them) fails every time: what
    the record names is deleted, but DELETED is never recorded: nothing proves the rest
    gone. On the last receive: DELETE_FAILED, saying the lookup failed."""
    assert _delete(client, succeeded).status_code == 202

    def tag_lookup(params: dict[str, Any]) -> bool:
        return any(f["Name"] == "tag:RequestId" for f in params.get("Filters", []))

    stack.faults.fail(
        "ec2",
        "DescribeSubnets",
        "InternalError",
        500,
        times=-1,
        skip=0 if when == "before" else 1,
        match=tag_lookup,
    )

    with pytest.raises(RetryLater):  # not the last receive: tried again later
        deliver(client, succeeded, operation=Operation.DELETE)
    assert record(client, succeeded)["status"] == "DELETING"

    deliver(client, succeeded, receive_count=settings.max_receive_count, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED"
    assert "lookup failed" in rec["teardown"]["error"]
    assert "DescribeSubnets" in rec["teardown"]["error"]  # which lookup, and why
    assert "InternalError" in rec["teardown"]["error"]
    assert rec["teardown"]["complete"] is False


def _a_missed_subnet_refused(
    client: Client, stack: Stack, request_id: str, code: str, status: int
) -> tuple[str, str]:
    """DELETE the request; its first look by tag misses a subnet of its own, and deleting
    that subnet answers `code`. Its VPC and the subnet."""
    vpc_id = record(client, request_id)["vpc_id"]
    missed = tagged_subnet(stack, vpc_id, request_id, cidr="10.30.9.0/24")
    assert _delete(client, request_id).status_code == 202
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=1)
    stack.faults.fail("ec2", "DeleteSubnet", code, status, times=-1, match={"SubnetId": missed})
    return vpc_id, missed


def test_6_a_second_round_that_fails_for_now_is_tried_again_not_failed(
    client: Client, stack: Stack, succeeded: str
) -> None:
    """The look after the deletes finds a subnet the first one missed; deleting it fails
    in a way that may clear (InternalError): the request stays DELETING for another try."""
    _a_missed_subnet_refused(client, stack, succeeded, "InternalError", 500)

    _tried_again(client, succeeded)

    stack.faults.clear()
    _deleted_on_the_next_receive(client, stack, succeeded)


def test_6_a_second_round_refused_for_good_names_what_it_left_and_why(
    client: Client, stack: Stack, succeeded: str, settings: Settings
) -> None:
    """The look after the deletes finds a subnet the first one missed, and EC2 refuses to
    delete it (DependencyViolation): DELETE_FAILED names it (and the VPC it holds) as
    still there, with EC2's own code, never an empty list or a made-up one."""
    vpc_id, missed = _a_missed_subnet_refused(client, stack, succeeded, "DependencyViolation", 400)

    deliver(client, succeeded, operation=Operation.DELETE)

    rec = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "DependencyViolation"
    assert {missed, vpc_id} <= set(rec["teardown"]["remaining"])
    assert missed in {s["SubnetId"] for s in stack.subnets(vpc_id)}


def test_6_a_teardown_whose_lease_lapses_deletes_nothing_more(
    client: Client, stack: Stack, succeeded: str, settings: Settings, clock: Any, hook: Any
) -> None:
    """The lease fence before each delete: once the deadline passed, not one more call."""
    assert _delete(client, succeeded).status_code == 202
    hook(
        "ec2",
        "after-call.ec2.DeleteSubnet",
        lambda **_: clock.advance(settings.lease_seconds + 1),
    )

    with pytest.raises(RetryLater):
        deliver(client, succeeded, operation=Operation.DELETE)

    assert stack.faults.count("ec2", "DeleteSubnet") <= 2  # those already in flight
    assert stack.faults.count("ec2", "DeleteVpc") == 0
    assert record(client, succeeded)["status"] == "DELETING"
    assert len(stack.vpcs(succeeded)) == 1


def test_6_a_refused_rolling_back_write_deletes_nothing(
    client: Client, stack: Stack, hook: Any
) -> None:
    """The ROLLING_BACK write is refused (the record moved on): not one delete."""
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    hook(
        "dynamodb",
        "provide-client-params.dynamodb.UpdateItem",
        _moves_on_before(stack, request_id, "ROLLING_BACK"),
    )

    with pytest.raises(RetryLater):
        deliver(client, request_id)

    assert stack.faults.count("ec2", "DeleteSubnet") == 0
    assert stack.faults.count("ec2", "DeleteVpc") == 0
    assert len(stack.vpcs(request_id)) == 1
    assert record(client, request_id)["status"] == "IN_PROGRESS"


def _moves_on_before(stack: Stack, request_id: str, target: str) -> Callable[..., None]:
    """A hook on UpdateItem: just before the app's write moving the request to `target`,
    the record moves on (its version bumped), so that write is refused."""

    def move_on(params: dict[str, Any], **_: Any) -> None:
        if params.get("ExpressionAttributeValues", {}).get(":target") == {"S": target}:
            stack.truth.dynamodb.update_item(
                TableName=TABLE,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    return move_on


def test_6_a_refused_final_transition_is_not_taken_for_done(
    client: Client, stack: Stack, services: Services, succeeded: str, hook: Any
) -> None:
    """The DELETED write is refused (the record moved on meanwhile): the run stops and
    the message comes back; it never reports DELETED."""
    assert _delete(client, succeeded).status_code == 202
    stack.messages()
    hook(
        "dynamodb",
        "provide-client-params.dynamodb.UpdateItem",
        _moves_on_before(stack, succeeded, "DELETED"),
    )
    with pytest.raises(RetryLater):
        services.provisioner.handle(Job(succeeded, 1, None, Operation.DELETE))
    assert record(client, succeeded)["status"] == "DELETING"
