"""A record's `history`: one entry per status change, with the time of the write that made
it, through every writer that changes a status (the POST, a claim, the worker's
transitions, DELETE), and nothing for the writes that change none. Each test reads the
record as the API returns it (checked against openapi.yaml) and, where it matters, as
the table holds it."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import HISTORY_LIMIT, Operation
from devstack.fault_rules import WorkerKilled
from integration.conftest import (
    TABLE,
    Stack,
    deliver,
    record,
    rollback_held_up,
    stored,
    submit,
)
from support.tokens import auth

# A request's statuses from its POST to the end of its DELETE.
DELETED_LIFE = ["QUEUED", "IN_PROGRESS", "SUCCEEDED", "DELETING", "DELETED"]


def _history(client: Client, request_id: str) -> list[tuple[str, str]]:
    return [(c["status"], c["at"]) for c in record(client, request_id)["history"]]


def _statuses(client: Client, request_id: str) -> list[str]:
    return [status for status, _ in _history(client, request_id)]


def _delete(client: Client, request_id: str) -> Any:
    return client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())


def _now(clock: Any) -> str:
    return iso_timestamp(clock())


def test_a_request_that_succeeds_reads_queued_in_progress_succeeded_each_at_its_write(
    client: Client, clock: Any
) -> None:
    request_id = submit(client)
    queued = _now(clock)
    clock.advance(7)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"
    # Claimed and finished within one delivery: the same second on the fake clock. The
    # checkpoints between (the VPC's, the subnets') change no status and add nothing.
    assert _history(client, request_id) == [
        ("QUEUED", queued),
        ("IN_PROGRESS", _now(clock)),
        ("SUCCEEDED", _now(clock)),
    ]
    assert rec["history"][0]["at"] == rec["created_at"]
    assert rec["history"][-1]["at"] == rec["updated_at"]


def test_the_finishing_write_is_stamped_with_its_own_time(
    client: Client, stack: Stack, clock: Any
) -> None:
    """The subnets take 5 s: SUCCEEDED is recorded, and the record updated, at the time of
    that write, not the claim's."""
    request_id = submit(client)
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.CreateSubnet", lambda **_: clock.advance(5)
    )

    deliver(client, request_id)

    rec = record(client, request_id)
    [claimed, finished] = [at for status, at in _history(client, request_id)[1:]]
    assert claimed != finished == _now(clock)
    assert rec["updated_at"] == finished


def test_a_failure_in_one_delivery_reads_rolling_back_then_failed(
    client: Client, stack: Stack
) -> None:
    """ROLLING_BACK and FAILED are written by one lease: the second write keeps the first's
    entry though the record the rollback hands it was read before it."""
    request_id = submit(client)
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded", status=400)

    deliver(client, request_id)

    assert record(client, request_id)["status"] == "FAILED"
    assert _statuses(client, request_id) == ["QUEUED", "IN_PROGRESS", "ROLLING_BACK", "FAILED"]


def test_a_rollback_a_later_claim_continues_adds_only_failed(
    client: Client, stack: Stack, clock: Any, settings: Settings, reconfigure: Any
) -> None:
    """The rollback's deletes fail for now: ROLLING_BACK stays, the job comes back, and the
    next claim (ROLLING_BACK -> ROLLING_BACK) adds nothing; FAILED is added at its time."""
    request_id = rollback_held_up(client, stack, settings, reconfigure)
    rolling_back = _now(clock)
    stack.faults.clear()
    clock.advance(30)

    deliver(client, request_id, receive_count=2)

    assert _history(client, request_id)[2:] == [
        ("ROLLING_BACK", rolling_back),
        ("FAILED", _now(clock)),
    ]
    assert record(client, request_id)["attempts"] == 2


def test_a_cancelled_request_reads_queued_then_cancelled(client: Client, clock: Any) -> None:
    request_id = submit(client)
    queued = _now(clock)
    clock.advance(3)

    assert _delete(client, request_id).json_body["status"] == "CANCELLED"

    assert _history(client, request_id) == [("QUEUED", queued), ("CANCELLED", _now(clock))]


def test_a_deleted_request_reads_deleting_then_deleted_after_its_creation(
    client: Client, clock: Any
) -> None:
    request_id = submit(client)
    deliver(client, request_id)
    clock.advance(60)
    assert _delete(client, request_id).status_code == 202
    deleting = _now(clock)
    clock.advance(2)

    deliver(client, request_id, operation=Operation.DELETE)

    assert _statuses(client, request_id) == DELETED_LIFE
    assert _history(client, request_id)[-2:] == [("DELETING", deleting), ("DELETED", _now(clock))]


def test_a_claim_after_a_lapsed_lease_adds_nothing(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The first worker dies IN_PROGRESS; the next takes the request up once its lease ran
    out (IN_PROGRESS -> IN_PROGRESS): the entry stays the first claim's."""
    request_id = submit(client)
    stack.faults.kill("ec2", "CreateVpc", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    first_claim = _now(clock)
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    assert record(client, request_id)["attempts"] == 2
    assert _history(client, request_id)[1:] == [
        ("IN_PROGRESS", first_claim),
        ("SUCCEEDED", _now(clock)),
    ]


def _claim(params: dict[str, Any]) -> bool:
    return ":claimed" in params.get("ExpressionAttributeValues", {})


def _moving_to(status: str) -> Any:
    return lambda params: (
        params.get("ExpressionAttributeValues", {}).get(":target") == {"S": status}
    )


@pytest.mark.parametrize(
    "match",
    [
        pytest.param(_claim, id="the claim"),
        pytest.param(_moving_to("SUCCEEDED"), id="the worker's SUCCEEDED"),
        pytest.param(_moving_to("DELETING"), id="DELETE's DELETING"),
    ],
)
def test_a_write_whose_answer_was_lost_and_was_retried_adds_its_entry_once(
    client: Client, stack: Stack, clock: Any, settings: Settings, match: Any
) -> None:
    """The write lands and its answer is lost; whoever settles it (the worker's read, the
    redelivery's claim once the lease lapsed, the client's DELETE again) finds it landed."""
    matched: list[bool] = []

    def lose_if_matched(params: dict[str, Any]) -> bool:
        matched.append(match(params))
        return matched[-1]

    stack.lose_an_update_answer(lose_if_matched)
    request_id = submit(client)
    try:
        deliver(client, request_id)
    except RetryLater:  # the claim's answer: taken up again once its lease lapsed
        clock.advance(settings.lease_seconds + 1)
        deliver(client, request_id, receive_count=2)
    if _delete(client, request_id).status_code == 503:  # DELETING's: the client retries
        assert _delete(client, request_id).status_code == 202
    clock.advance(settings.drift_settle_seconds + 1)  # EC2's looks caught up
    deliver(client, request_id, operation=Operation.DELETE)

    assert True in matched  # that write's answer was lost
    assert _statuses(client, request_id) == DELETED_LIFE


def test_a_request_that_loops_delete_failed_keeps_its_first_entry_and_the_latest(
    client: Client, stack: Stack, clock: Any
) -> None:
    """Someone else's dependency keeps the VPC: DELETE, DELETE_FAILED, and again, far more
    times than the history holds. Both ways a move reaches a full history trim it: DELETE's
    write (first bet refused by the bound, then written whole at the version read) and the
    worker's (written whole)."""
    request_id = submit(client)
    deliver(client, request_id)
    expected = [(status, at) for status, at in _history(client, request_id)]
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    for _ in range(12):
        clock.advance(1)
        assert _delete(client, request_id).status_code == 202
        expected.append(("DELETING", _now(clock)))
        assert len(stored(stack, request_id).history) <= HISTORY_LIMIT
        clock.advance(1)
        deliver(client, request_id, operation=Operation.DELETE)
        expected.append(("DELETE_FAILED", _now(clock)))
        assert len(stored(stack, request_id).history) <= HISTORY_LIMIT
    stack.faults.clear()
    clock.advance(1)
    assert _delete(client, request_id).status_code == 202
    expected.append(("DELETING", _now(clock)))
    deliver(client, request_id, operation=Operation.DELETE)
    expected.append(("DELETED", _now(clock)))

    assert len(expected) == 3 + 2 * 12 + 2 > HISTORY_LIMIT
    assert _history(client, request_id) == [expected[0], *expected[1 - HISTORY_LIMIT :]]


def test_a_record_written_before_histories_reads_empty_and_records_what_follows(
    client: Client, stack: Stack
) -> None:
    """An item without `history` (as every item was): [] through the API; the moves made
    since are added to it (a claim and DELETE's first bet append to a missing list)."""
    request_id = submit(client)
    stack.truth.dynamodb.update_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, UpdateExpression="REMOVE history"
    )

    assert record(client, request_id)["history"] == []
    deliver(client, request_id)
    assert _statuses(client, request_id) == ["IN_PROGRESS", "SUCCEEDED"]

    stack.truth.dynamodb.update_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, UpdateExpression="REMOVE history"
    )
    assert _delete(client, request_id).status_code == 202
    assert _statuses(client, request_id) == ["DELETING"]
