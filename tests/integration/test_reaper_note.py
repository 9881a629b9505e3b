"""The reaper notes `requeued_at` before it re-sends a stalled request's job, and every
later run skips a noted request for STALE_AFTER_SECONDS. A note must never hold back a
job that was not sent (README "Operating it": a request whose job was never sent is sent
again by the reaper; docs/how-it-works.md: every call can fail three ways):

- the note lands and its answer is lost (botocore's retry is refused by the note itself,
  or no retry comes): the job is sent all the same;
- the note lands and the send fails: the note is taken back, and the next run sends.
"""

from __future__ import annotations

import contextlib
from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.models import Status
from chalicelib.store.layout import REQUEST_TYPE
from chalicelib.store.reaper import ReaperStore
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, body, post, stored


def _is_requeue_note(params: dict[str, Any]) -> bool:
    return "SET requeued_at" in params.get("UpdateExpression", "")


def _a_request_whose_job_was_never_sent(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> str:
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)
    answer = post(client, body(), key="k")
    assert answer.status_code == 503
    assert stack.messages() == []
    clock.advance(settings.stale_after_seconds + 1)
    items = stack.truth.dynamodb.scan(TableName=TABLE)["Items"]
    [request_id] = [
        i["request_id"]["S"] for i in items if i.get("type", {}).get("S") == REQUEST_TYPE
    ]
    return str(request_id)


def test_a_note_whose_answer_is_lost_still_sends_the_job(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id = _a_request_whose_job_was_never_sent(client, stack, clock, settings)
    stack.lose_an_update_answer(_is_requeue_note)

    report = services.reaper.run()

    assert report.requeued == [request_id]
    assert len(stack.messages()) == 1
    assert stored(stack, request_id).status is Status.QUEUED


def test_a_send_that_fails_after_its_note_is_sent_by_the_next_run(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id = _a_request_whose_job_was_never_sent(client, stack, clock, settings)
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)
    with contextlib.suppress(BackendFailure):
        services.reaper.run()
    assert stack.messages() == []

    clock.advance(5 * 60)  # the next scheduled run, well within STALE_AFTER_SECONDS
    report = services.reaper.run()

    assert report.requeued == [request_id]
    assert len(stack.messages()) == 1


def test_a_note_refused_to_a_retry_is_known_as_the_runs_own_and_no_other(
    client: Client, stack: Stack, settings: Settings, clock: Any, sleeps: Any
) -> None:
    """botocore repeats an UpdateItem whose answer was lost: the condition then refuses the
    note that landed. That refusal is this run's own note (True: send); another run's
    (another time) is not (False: that run sent it)."""
    request_id = _a_request_whose_job_was_never_sent(client, stack, clock, settings)
    store = ReaperStore(stack.clients.dynamodb, TABLE, sleeps)
    record = stored(stack, request_id)
    now = clock()
    stale = now - settings.stale_after_seconds

    assert store.mark_requeued(record, now, not_since=stale)
    assert store.mark_requeued(record, now, not_since=stale)  # the retry, refused
    assert not store.mark_requeued(record, now + 1, not_since=stale + 1)


def test_a_note_taken_back_is_only_this_runs(
    client: Client, stack: Stack, settings: Settings, clock: Any, sleeps: Any
) -> None:
    request_id = _a_request_whose_job_was_never_sent(client, stack, clock, settings)
    store = ReaperStore(stack.clients.dynamodb, TABLE, sleeps)
    record = stored(stack, request_id)
    now = clock()
    assert store.mark_requeued(record, now, not_since=now - settings.stale_after_seconds)

    store.unmark_requeued(record, now - 1)  # another run's time: left as it is
    assert _requeued_at(stack, request_id) == now
    store.unmark_requeued(record, now)
    assert _requeued_at(stack, request_id) is None


def _requeued_at(stack: Stack, request_id: str) -> float | None:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return float(item["requeued_at"]["N"]) if "requeued_at" in item else None
