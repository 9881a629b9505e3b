"""DELETE of a request whose creation lost an answer (FAILED, or SUCCEEDED with a
duplicate VPC a retried create made), while EC2's looks by tag still lagged behind the VPC
that answer made, ended DELETED (its teardown's two looks, a pause apart, both lagged) and
freed the block at once: the next sized POST got the CIDR of a VPC that still stood, and
DELETED said nothing was left (an audit, 2026-12-06; as old as DELETE). Within
DRIFT_SETTLE_SECONDS of such a creation's end a look that finds nothing is no proof: the
request stays DELETING (its block held) and is tried again."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.teardown import Teardown
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from support.tokens import auth

from .conftest import Stack, assert_nothing_left, deliver, post, stored, submit

SIZED = {"vpc": {"netmask_length": 16}, "subnets": [{"netmask_length": 24}]}


def _looks_by_tag(p: dict[str, Any]) -> bool:
    return "tag:" in str(p.get("Filters"))


def _deleted_once_settled(
    client: Client, stack: Stack, settings: Settings, clock: Any, request_id: str
) -> None:
    """Once the settling time has passed (the looks caught up), the teardown finds what the
    lost answer made, deletes it, and the request ends DELETED with nothing left."""
    clock.advance(settings.drift_settle_seconds + 1)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert stored(stack, request_id).status.value == "DELETED"
    assert_nothing_left(stack, request_id)


def _delete_in_the_lag(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    clock: Any,
    request_id: str,
    cidr: str,
) -> None:
    """DELETE while EC2's looks by tag lag: no proof yet, the request stays DELETING with
    its block held, and the next sized POST (another API process) gets another CIDR; then,
    the settling time past, it is DELETED with nothing left."""
    answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert answer.status_code == 202, answer.body
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    after = stored(stack, request_id)
    assert after.status.value == "DELETING"
    still = [v["VpcId"] for v in stack.vpcs(request_id)]
    reconfigure(settings, allow_overlap=False)
    second = post(client, SIZED)
    assert second.status_code == 202, second.body
    assert second.json_body["cidr"] != cidr or not still, (
        f"{cidr} handed to {second.json_body['request_id']} while {still} (request "
        f"{request_id}, {after.status.value}, allocation {after.allocation}) still has it"
    )
    _deleted_once_settled(client, stack, settings, clock, request_id)


def test_a_delete_in_the_lag_keeps_the_block_while_the_lost_answers_vpc_stands(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    reconfigure(settings, allow_overlap=False)
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id, cidr = first.json_body["request_id"], first.json_body["cidr"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded", skip=1)
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=_looks_by_tag)
    deliver(client, request_id)
    assert stored(stack, request_id).status.value == "FAILED"
    assert stored(stack, request_id).lost_answers
    assert len(stack.vpcs(request_id)) == 1  # the lost answer's VPC, with the request's CIDR

    # The user deletes it at once; EC2's looks by tag still lag (as they did for the rollback).
    _delete_in_the_lag(client, stack, settings, reconfigure, clock, request_id, cidr)


def test_a_delete_in_the_lag_of_a_succeeded_request_keeps_the_block_while_its_duplicate_stands(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The same through a SUCCEEDED request: its CreateVpc's answer was lost, the retry made
    a second VPC, and the looks for the first lagged. DELETE in the same lag ends DELETED
    and frees the block while the first VPC, with the request's CIDR, stands."""
    reconfigure(settings, allow_overlap=False)
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id, cidr = first.json_body["request_id"], first.json_body["cidr"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=_looks_by_tag)
    deliver(client, request_id)
    done = stored(stack, request_id)
    assert (done.status.value, len(stack.vpcs(request_id))) == ("SUCCEEDED", 2)
    _delete_in_the_lag(client, stack, settings, reconfigure, clock, request_id, cidr)


def test_repeated_deletes_in_the_settling_time_never_end_delete_failed(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """Each DELETE of a DELETING request sends its job again (openapi.yaml: repeat it
    freely), and each try counts: past MAX_ATTEMPTS the teardown was given up, DELETE_FAILED
    RetriesExhausted "none finished", though every try had deleted all there was (a review
    of the delete paths, 2026-12-06). Tries that finished are not tries that died."""
    request_id = submit(client, subnets=1)
    # CreateVpc's answer is lost (it ran): the retry makes a second VPC, the creation
    # SUCCEEDED with lost_answers, its duplicate removed.
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    deliver(client, request_id)
    stack.faults.clear()
    assert stored(stack, request_id).status.value == "SUCCEEDED"
    assert stored(stack, request_id).lost_answers

    # The user DELETEs, and repeats DELETE every few seconds until it reads DELETED (each
    # DELETE of a DELETING request re-sends the job); each job is delivered in turn.
    step = max(1, (settings.drift_settle_seconds - 5) // (settings.max_attempts + 1))
    for _ in range(settings.max_attempts + 1):
        answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
        assert answer.status_code == 202, answer.body
        with contextlib.suppress(RetryLater):
            deliver(client, request_id, operation=Operation.DELETE)
        clock.advance(step)

    assert_nothing_left(stack, request_id)  # EC2: the teardown deleted it all
    rec = stored(stack, request_id)
    # Nothing failed: it stays DELETING until the settling time is over, then DELETED.
    assert rec.status.value != "DELETE_FAILED", (rec.status, rec.error)
    clock.advance(settings.drift_settle_seconds)
    deliver(client, request_id, operation=Operation.DELETE)
    assert stored(stack, request_id).status.value == "DELETED"


class _TimedOut(Exception):
    """The function's timeout: the try ends without a write."""


def test_tries_that_die_after_a_teardown_complete_in_the_lag_are_still_given_up(
    client: Client,
    stack: Stack,
    settings: Settings,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A try whose teardown was complete within the settling time stays DELETING, its
    report complete; later tries that all die before they write (the function timing out)
    must still be given up past MAX_ATTEMPTS: that report once excused them all, and the
    reaper sent the request again for ever (an audit, 2026-12-06)."""
    request_id = submit(client, subnets=1)
    # CreateVpc's answer is lost (it ran): SUCCEEDED with lost_answers.
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    deliver(client, request_id)
    stack.faults.clear()
    assert stored(stack, request_id).lost_answers
    # DELETE in the settling time: the teardown is complete, the request stays DELETING.
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with contextlib.suppress(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    lagging = stored(stack, request_id)
    assert lagging.status.value == "DELETING"
    assert lagging.teardown is not None
    assert lagging.teardown.complete

    # Long after: every try now dies before it writes (its function times out).
    clock.advance(settings.drift_settle_seconds + 1)

    def timed_out(self: Teardown, *args: Any, **kwargs: Any) -> Any:
        raise _TimedOut("Task timed out")

    monkeypatch.setattr(Teardown, "request", timed_out)
    for _ in range(settings.max_attempts + 2):
        with contextlib.suppress(_TimedOut, RetryLater):
            deliver(client, request_id, receive_count=1, operation=Operation.DELETE)
        clock.advance(settings.lease_seconds + 1)
        if stored(stack, request_id).status.value != "DELETING":
            break

    rec = stored(stack, request_id)
    assert rec.attempts > settings.max_attempts, rec.attempts
    # As for any tries that all died: given up, not DELETING for ever.
    assert rec.status.value == "DELETE_FAILED", (rec.status, rec.attempts, rec.error)
