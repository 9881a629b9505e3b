"""What an earlier try of a teardown deleted (a delete's answer, in the record's report)
is gone for good: a later try neither tries it again nor says it remains, whatever that
try meets (here: the VPC's RequestId taken off between the tries, which keeps the VPC and
the request's other ids with it; a look that lists it still; a look that fails after
that one)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import REQUEST_ID_TAG, Ec2Gateway, Tagged
from chalicelib.aws.teardown import Teardown
from chalicelib.config import Settings
from chalicelib.errors import PermanentFailure, RetryLater, TransientFailure
from chalicelib.models import Operation
from integration.conftest import (
    Stack,
    assert_nothing_left,
    deliver,
    record,
    set_fields,
    stored,
    submit,
)
from integration.test_drift import public_request
from support.tokens import auth


def _first_try_stops_at_the_vpc(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A public request DELETEd, whose first try deletes everything in the VPC and whose
    DeleteVpc fails in a way that may clear: the request as made, and its record after
    that try (DELETING)."""
    rec = public_request(client)
    request_id = rec["request_id"]
    clock.advance(settings.drift_settle_seconds + 2)
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    first = record(client, request_id)
    assert first["status"] == "DELETING", first
    return rec, first


def test_what_an_earlier_try_deleted_is_never_said_to_remain(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    rec, first = _first_try_stops_at_the_vpc(client, stack, clock, settings)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    subnets = [s["subnet_id"] for s in rec["subnets"]]
    assert set(subnets) <= set(first["teardown"]["deleted"]), first["teardown"]
    assert not stack.subnets(vpc_id)  # EC2: they are gone
    # A person takes the VPC's RequestId off (to keep the empty VPC).
    stack.truth.ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": REQUEST_ID_TAG}])

    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)

    after = record(client, request_id)
    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged")
    still = set(after["teardown"]["remaining"]) | {
        s["subnet_id"] for s in after["subnets"] if s["subnet_id"]
    }
    assert not still & set(subnets), (after["teardown"], after["error"]["message"])
    # And the record still says they were deleted (the first try's answers, recorded).
    assert set(subnets) <= set(after["teardown"]["deleted"]), after["teardown"]


def lagging_subnet_listing(
    monkeypatch: pytest.MonkeyPatch, request_id: str, gone: str, vpc_id: str
) -> None:
    """From now on EC2's tag listing of the request's subnets still shows `gone` (deleted:
    EC2's reads lag its deletes too)."""
    listed = Ec2Gateway.find_request_subnets

    def lagging(self: Ec2Gateway, rid: str) -> list[Tagged]:
        found = listed(self, rid)
        if rid == request_id and all(t.resource_id != gone for t in found):
            found.append(Tagged(gone, request_id, None, vpc_id))
        return found

    monkeypatch.setattr(Ec2Gateway, "find_request_subnets", lagging)


def deleted_then_listed_again(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """`_first_try_stops_at_the_vpc`, then EC2's listing by tag lagging that try's deletion
    of the first subnet (it lists it still): the request's id and that subnet's."""
    rec, first = _first_try_stops_at_the_vpc(client, stack, clock, settings)
    gone = rec["subnets"][0]["subnet_id"]
    assert gone in first["teardown"]["deleted"]  # its DeleteSubnet answered
    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    lagging_subnet_listing(monkeypatch, rec["request_id"], gone, rec["vpc_id"])
    return rec["request_id"], gone


def test_a_delete_whose_look_still_lists_what_an_earlier_try_deleted_ends_deleted(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The later try's look lists a subnet the first try deleted (its delete answered):
    that listing lags, the subnet is not tried again (its second delete would answer "not
    found", which a listing after it makes doubtful), and the teardown ends DELETED, not
    DELETING forever while the listing lags."""
    request_id, gone = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)

    deliver(
        client, request_id, receive_count=settings.max_receive_count, operation=Operation.DELETE
    )

    after = record(client, request_id)
    assert after["status"] == "DELETED", after
    assert gone in after["teardown"]["deleted"]


def test_a_not_found_an_earlier_try_believed_is_tried_again_when_a_look_lists_the_subnet(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
) -> None:
    """The other way EC2 lags: the first try's DeleteSubnet answered "not found" for a
    subnet that is there (EC2 had not caught up), and its look by tag did not list it
    either: counted deleted. The next try's look lists it: it is deleted by id again (that
    answer decides), never left behind a DELETED record because an earlier try said so."""
    request_id, _, _ = first_try_believes_a_lagging_not_found(client, stack, clock, settings)

    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_a_subnet_the_first_rollback_try_deleted_is_not_said_to_remain(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same rule for a rollback: try 1 deletes a subnet (its DeleteSubnet answers),
    then DeleteVpc fails in a way that may clear; the last try's look still lists that
    subnet. FAILED said "rollback incomplete, still present: subnet-..." (and kept the
    request's block and quota place for it)."""
    request_id, gone = rolled_back_a_subnet_then_listed_again(
        client, stack, settings, reconfigure, monkeypatch
    )

    deliver(client, request_id, receive_count=settings.max_receive_count)

    done = _failed_saying_gone(client, request_id, gone)
    assert done["rollback"]["complete"] is True, done["rollback"]


def rolled_back_a_subnet_then_listed_again(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """A request whose second subnet fails for good, whose rollback's first try deletes the
    first subnet (its DeleteSubnet answers) and not the VPC (DeleteVpc throttled); then
    EC2's listing by tag lagging that deletion: the request's id and that subnet's."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    stack.faults.clear()
    held = record(client, request_id)
    assert held["status"] == "ROLLING_BACK", held
    [gone] = held["rollback"]["deleted"]
    assert not [s for s in stack.subnets() if s["SubnetId"] == gone]  # EC2: it is gone
    lagging_subnet_listing(monkeypatch, request_id, gone, held["vpc_id"])
    return request_id, gone


def _failed_saying_gone(client: Client, request_id: str, gone: str) -> dict[str, Any]:
    """The record, FAILED, naming `gone` deleted and nowhere as still there."""
    done = record(client, request_id)
    assert done["status"] == "FAILED", done
    remaining = set(done["rollback"]["remaining"]) | {
        s["subnet_id"] for s in done["subnets"] if s["subnet_id"]
    }
    assert gone not in remaining, (done["rollback"], done["error"])
    assert gone in done["rollback"]["deleted"], done["rollback"]
    return done


def lagging_behind(stack: Stack, subnet: str) -> None:
    """The next try: EC2 has not caught up with `subnet`'s making (its DeleteSubnet answers
    "not found", the looks by tag list nothing), and DeleteVpc is throttled."""
    stack.faults.fail(
        "ec2",
        "DeleteSubnet",
        "InvalidSubnetID.NotFound",
        match=lambda p: p.get("SubnetId") == subnet,
    )
    for operation, key in (("DescribeVpcs", "Vpcs"), ("DescribeSubnets", "Subnets")):
        stack.faults.stale("ec2", operation, key, times=-1)
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)


def first_try_believes_a_lagging_not_found(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> tuple[str, str, str]:
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    subnet = rec["subnets"][0]["subnet_id"]
    clock.advance(settings.drift_settle_seconds + 2)
    lagging_behind(stack, subnet)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    assert subnet in record(client, request_id)["teardown"]["deleted"]
    assert [s["SubnetId"] for s in stack.subnets(vpc_id)] == [subnet]  # EC2: still there
    return request_id, vpc_id, subnet


def the_last_try(
    client: Client,
    stack: Stack,
    settings: Settings,
    request_id: str,
    subnet: str,
    answer: tuple[str, int],
    operation: Operation = Operation.DELETE,
) -> dict[str, Any]:
    """The last try (the message's last receive) of `operation`, every DeleteSubnet of
    `subnet` answered `answer`: the record then."""
    stack.faults.fail(
        "ec2",
        "DeleteSubnet",
        *answer,
        times=-1,
        match=lambda p: p.get("SubnetId") == subnet,
    )
    deliver(client, request_id, receive_count=settings.max_receive_count, operation=operation)
    stack.faults.clear()
    return record(client, request_id)


def _refused_on_the_last_try(
    client: Client,
    stack: Stack,
    settings: Settings,
    request_id: str,
    subnet: str,
    refusal: tuple[str, int] = ("DependencyViolation", 400),
) -> dict[str, Any]:
    """The last try: the look lists the subnet, its delete is refused (`refusal`: by default,
    as only what is there is). The record then, DELETE_FAILED."""
    failed = the_last_try(client, stack, settings, request_id, subnet, refusal)
    assert failed["status"] == "DELETE_FAILED", failed
    return failed


def test_a_subnet_found_again_and_refused_is_not_still_said_deleted(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id, _, subnet = first_try_believes_a_lagging_not_found(client, stack, clock, settings)

    after = _refused_on_the_last_try(client, stack, settings, request_id, subnet)

    assert subnet in after["teardown"]["remaining"], after["teardown"]
    # What a delete refused is there: the record must not say it deleted it too.
    assert subnet not in after["teardown"]["deleted"], after["teardown"]


def test_the_next_delete_still_names_and_checks_that_subnet(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id, _, subnet = first_try_believes_a_lagging_not_found(client, stack, clock, settings)
    _refused_on_the_last_try(client, stack, settings, request_id, subnet)
    # A person takes the subnet's RequestId off, then DELETE is asked again.
    stack.truth.ec2.delete_tags(Resources=[subnet], Tags=[{"Key": REQUEST_ID_TAG}])
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(client, request_id, receive_count=1, operation=Operation.DELETE)

    after = record(client, request_id)
    assert [s["SubnetId"] for s in stack.subnets() if s["SubnetId"] == subnet]  # EC2: there
    named = set(after["teardown"]["remaining"]) | {
        s["subnet_id"] for s in after["subnets"] if s["subnet_id"]
    }
    # The subnet is the request's and is there: the record goes on naming it (before
    # 26f081d: DELETE_FAILED NotTagged "tag it again"), never drops it.
    assert subnet in named, (after["status"], after["teardown"], after["error"])


def _looks_by_tag(p: dict[str, Any]) -> bool:
    return "tag:" in str(p.get("Filters"))


def test_a_failed_look_after_a_lagging_one_never_unsays_an_earlier_deletion(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A look that fails after one that listed the earlier-deleted subnet (the teardown's
    way out through `_doubting`) moved it from `deleted` to `remaining`: the record said a
    subnet whose DeleteSubnet answered was still there, and every later try doubted it
    again while the listing lagged, so the DELETE could not end DELETED (an audit of the
    delete paths, 2026-12-06)."""
    request_id, gone = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)
    # Its creation lost an answer (two clean looks wanted), long enough ago that nothing
    # it made is fresh any more.
    set_fields(stack, request_id, lost_answers=True)
    # The first look and the first look after the deletes answer; the next one fails.
    stack.faults.fail(
        "ec2", "DescribeVpcs", "InternalError", 500, skip=2, times=-1, match=_looks_by_tag
    )

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()

    second = record(client, request_id)
    assert second["status"] == "DELETING", second
    assert gone in second["teardown"]["deleted"], second["teardown"]
    assert gone not in second["teardown"]["remaining"], second["teardown"]

    # The looks answer again, the listing still lags: as when no look failed (above),
    # the teardown ends DELETED.
    deliver(client, request_id, receive_count=3, operation=Operation.DELETE)
    after = record(client, request_id)
    assert after["status"] == "DELETED", (after["status"], after["teardown"], after["error"])


def test_an_earlier_deletion_listed_again_is_not_left_as_another_requests(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The earlier-deleted subnet a lagging look lists was taken for a stranger "found by tag,
    not named by the record" (`Ownership.unclaimed`), deleted only once the other records are
    read; that read failing, it was left as maybe another request's and said both deleted
    and remaining, and the DELETE, nothing of it left in EC2, ended DELETE_FAILED blaming
    "another request's" subnet: its own (an audit of the delete paths, 2026-12-06)."""
    request_id, _ = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)
    # The other records (the status index) cannot be read this try.
    stack.faults.fail("dynamodb", "Query", "InternalServerError", 500, times=-1)

    deliver(
        client, request_id, receive_count=settings.max_receive_count, operation=Operation.DELETE
    )
    stack.faults.clear()

    after = record(client, request_id)
    assert_nothing_left(stack, request_id)  # EC2: nothing of the request is there
    teardown = after["teardown"]
    both = set(teardown["deleted"]) & set(teardown["remaining"])
    assert not both, (after["status"], teardown, after["error"])
    assert after["status"] == "DELETED", (after["status"], after["error"])


# A later try that cannot send its deletes says nothing of what an earlier one deleted: the
# interface check's DescribeNetworkInterfaces fails (a throttle that may clear) after a
# look that lists the earlier-deleted subnet still, and everything given was left as
# remaining; `with_earlier` took any remaining id for proof that it is there, and the
# record said present a subnet whose delete answered (a review of the delete paths,
# 2026-12-06).


def _interfaces_unreadable(stack: Stack) -> None:
    stack.faults.fail("ec2", "DescribeNetworkInterfaces", "RequestLimitExceeded", 503, times=-1)


@pytest.mark.parametrize("last", [False, True], ids=["a later try", "the last try"])
def test_a_failed_interface_check_never_unsays_an_earlier_deletion(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    last: bool,
) -> None:
    """DELETING, or on the last try DELETE_FAILED "still present: subnet-...", named as
    remaining a subnet whose delete had answered."""
    request_id, gone = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)
    _interfaces_unreadable(stack)

    receive = settings.max_receive_count if last else 2
    with contextlib.nullcontext() if last else pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=receive, operation=Operation.DELETE)
    stack.faults.clear()

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    after = record(client, request_id)
    assert after["status"] == ("DELETE_FAILED" if last else "DELETING"), after
    assert gone not in after["teardown"]["remaining"], (after["teardown"], after["error"])
    assert gone in after["teardown"]["deleted"], after["teardown"]
    assert gone not in str(after["error"]), after["error"]


def test_a_rollback_whose_interface_check_fails_never_unsays_an_earlier_deletion(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through a rollback (with_earlier is shared): its last try's look lists a
    subnet the first try deleted, the interface check fails; FAILED named the subnet again
    and said "rollback incomplete, still present: subnet-..." (holding the block)."""
    request_id, gone = rolled_back_a_subnet_then_listed_again(
        client, stack, settings, reconfigure, monkeypatch
    )
    _interfaces_unreadable(stack)

    deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    _failed_saying_gone(client, request_id, gone)


def test_a_doubted_not_found_whose_new_delete_is_throttled_stays_in_doubt(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """What an earlier try called gone on a "not found" and a look lists again is tried
    again: a delete refused by a throttle leaves it in doubt (remaining, as it is in EC2),
    never said deleted on the strength of the earlier answer."""
    request_id, _, subnet = first_try_believes_a_lagging_not_found(client, stack, clock, settings)

    after = _refused_on_the_last_try(
        client, stack, settings, request_id, subnet, ("RequestLimitExceeded", 503)
    )

    assert subnet in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is there
    assert subnet in after["teardown"]["remaining"], after["teardown"]
    assert subnet not in after["teardown"]["deleted"], after["teardown"]


def test_a_doubted_not_found_whose_new_delete_is_not_sent_stays_in_doubt(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The same when the later try sends no delete at all (its interface check fails): its
    look lists the subnet, and all that said it gone was an earlier "not found", which the
    record keeps apart from the deletes that answered (`teardown.not_found`). The record
    said the subnet deleted, and did not name it among what is still present (an audit,
    2026-12-06); a delete that answered stands all the same (above)."""
    request_id, vpc_id, subnet = first_try_believes_a_lagging_not_found(
        client, stack, clock, settings
    )
    _interfaces_unreadable(stack)

    deliver(
        client, request_id, receive_count=settings.max_receive_count, operation=Operation.DELETE
    )
    stack.faults.clear()

    assert [s["SubnetId"] for s in stack.subnets(vpc_id)] == [subnet]  # EC2: it is there
    after = record(client, request_id)
    assert after["status"] == "DELETE_FAILED", after
    assert subnet not in after["teardown"]["deleted"], after["teardown"]
    assert subnet in after["teardown"]["remaining"], (after["teardown"], after["error"])


def test_a_delete_that_answered_is_not_downgraded_by_a_later_not_found(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A subnet whose delete answered in the first try, which a lagging look lists in the
    second (its DeleteSubnet then answers "not found") and in the last (whose interface
    check fails): that later "not found" made the answer doubtful, and DELETE_FAILED said
    the subnet still present (an audit, 2026-12-06)."""
    request_id, gone = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)
    first = stored(stack, request_id).teardown
    assert first is not None
    assert gone in first.deleted
    assert gone not in first.not_found

    # Try 2: the look lists the deleted subnet still; DeleteVpc still throttled (DELETING).
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()
    second = stored(stack, request_id)
    assert second.status.value == "DELETING", second.status
    assert second.teardown is not None
    # Its delete answered in try 1: a later "not found" does not make that answer doubtful.
    downgraded = gone in second.teardown.not_found  # asserted last

    # The last try: the look lists it still, the interface check fails (nothing is sent).
    _interfaces_unreadable(stack)
    deliver(
        client, request_id, receive_count=settings.max_receive_count, operation=Operation.DELETE
    )
    stack.faults.clear()

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    after = record(client, request_id)
    assert after["status"] == "DELETE_FAILED", after
    assert gone not in after["teardown"]["remaining"], (after["teardown"], after["error"])
    assert gone in after["teardown"]["deleted"], after["teardown"]
    # The cause: try 2's second "not found" made the answered delete doubtful.
    assert not downgraded, second.teardown


def test_a_rollbacks_answered_delete_is_not_downgraded_by_a_later_not_found(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through a rollback (`with_earlier` is shared): FAILED said the rollback
    incomplete, the subnet still present, of a subnet whose delete answered in its first
    try, holding the request's block and leaving it to the reconciler."""
    request_id, gone = rolled_back_a_subnet_then_listed_again(
        client, stack, settings, reconfigure, monkeypatch
    )
    # Try 2: the look lists the deleted subnet still (DeleteSubnet: "not found"); DeleteVpc
    # still throttled: ROLLING_BACK.
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)
    stack.faults.clear()
    assert stored(stack, request_id).status.value == "ROLLING_BACK"

    # The last try: the look lists it still, the interface check fails.
    _interfaces_unreadable(stack)
    deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    _failed_saying_gone(client, request_id, gone)


@pytest.mark.parametrize(
    "failure",
    [PermanentFailure("InvalidParameterValue", "refused"), TransientFailure("Throttling", "busy")],
    ids=["permanent", "transient on the last receive"],
)
def test_a_try_that_fails_outright_keeps_what_earlier_tries_deleted(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    """A teardown that raises (no AWS failure does today: each is a removal's own) ends
    DELETE_FAILED naming what the record names as may remain, as giving up does: what an
    earlier try deleted stays deleted, never said to remain."""
    rec, first = _first_try_stops_at_the_vpc(client, stack, clock, settings)
    subnets = {s["subnet_id"] for s in rec["subnets"]}
    assert subnets <= set(first["teardown"]["deleted"]), first["teardown"]

    def raising(*_: Any, **__: Any) -> Any:
        raise failure

    monkeypatch.setattr(Teardown, "request", raising)
    deliver(
        client,
        request_id=rec["request_id"],
        receive_count=settings.max_receive_count,
        operation=Operation.DELETE,
    )

    after = record(client, rec["request_id"])
    assert after["status"] == "DELETE_FAILED", after
    assert subnets <= set(after["teardown"]["deleted"]), after["teardown"]
    assert not subnets & set(after["teardown"]["remaining"]), after["teardown"]
    assert rec["vpc_id"] in after["teardown"]["remaining"]
