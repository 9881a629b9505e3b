"""Every dead letter is examined each reaper run, not the first hundred: the letters kept for
a person (FAILED requests', and those that are not jobs) are visible again when a run ends,
so a bound on the letters a run reads would meet the same kept ones first every run, and a
letter of a SUCCEEDED request behind them would stay in the DLQ for good (the DLQ holds only
letters of requests recorded FAILED or DELETE_FAILED)."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.aws.jobs import job_body
from chalicelib.models import Operation
from chalicelib.upkeep import reaper
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, submit
from support.tokens import auth


def test_a_succeeded_requests_letter_behind_many_kept_ones_is_removed(
    client: Client, stack: Stack, services: Services
) -> None:
    succeeded = submit(client, subnets=1)
    deliver(client, succeeded)
    stack.messages()
    dlq = stack.queues.dlq_url
    for i in range(250):  # kept for a person, run after run
        stack.truth.sqs.send_message(QueueUrl=dlq, MessageBody=f"not a job {i}")
    stack.truth.sqs.send_message(QueueUrl=dlq, MessageBody=job_body(succeeded))

    services.reaper.run()

    bodies = [m["Body"] for m in stack.messages(dlq)]
    assert job_body(succeeded) not in bodies, "a SUCCEEDED request's letter stays in the DLQ"
    assert len(bodies) == 250  # the kept ones, visible again


def test_the_sweep_of_dead_letters_ends_on_time(
    client: Client, stack: Stack, services: Services, clock: Any, monkeypatch: Any
) -> None:
    """A DLQ too long to read within DEAD_LETTER_SECONDS: the run stops receiving then (the
    next run reads on), well within the reaper's timeout."""
    dlq = stack.queues.dlq_url
    for i in range(30):
        stack.truth.sqs.send_message(QueueUrl=dlq, MessageBody=f"not a job {i}")
    receives: list[int] = []
    receive = services.reaper._dead_letters.receive

    def slow(hide_seconds: int) -> Any:
        receives.append(hide_seconds)
        clock.advance(reaper.DEAD_LETTER_SECONDS / 2)
        return receive(hide_seconds)

    monkeypatch.setattr(services.reaper._dead_letters, "receive", slow)

    services.reaper.run()

    assert len(receives) == 2  # 20 of the 30 letters read, then the time was up


def test_the_sweep_of_dead_letters_ends_on_time_counted_from_the_runs_start(
    client: Client, stack: Stack, services: Services, clock: Any, monkeypatch: Any
) -> None:
    """A first phase (re-sending stalled requests) that took DEAD_LETTER_SECONDS leaves the
    sweep no time: the run still ends within the reaper's timeout."""
    dlq = stack.queues.dlq_url
    stack.truth.sqs.send_message(QueueUrl=dlq, MessageBody="not a job")
    stale = services.reaper._store.stale_requests
    receives: list[int] = []
    receive = services.reaper._dead_letters.receive

    def slow(*args: Any, **kwargs: Any) -> Any:
        clock.advance(reaper.DEAD_LETTER_SECONDS / 4)  # four statuses
        return stale(*args, **kwargs)

    def counted(hide_seconds: int) -> Any:
        receives.append(hide_seconds)
        return receive(hide_seconds)

    monkeypatch.setattr(services.reaper._store, "stale_requests", slow)
    monkeypatch.setattr(services.reaper._dead_letters, "receive", counted)

    services.reaper.run()

    assert receives == []


def test_a_dead_letter_of_a_request_being_deleted_is_sent_again_as_a_delete_job(
    client: Client, stack: Stack, services: Services
) -> None:
    """A DELETING request's letter (its teardown's message SQS moved itself) is removed and
    its job sent again as a teardown: a creation's job would find nothing to claim."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    stack.messages()
    letter = job_body(request_id, Operation.DELETE)
    stack.truth.sqs.send_message(QueueUrl=stack.queues.dlq_url, MessageBody=letter)

    report = services.reaper.run()

    assert report.revived == [request_id]
    assert [json.loads(m["Body"]) for m in stack.messages()] == [json.loads(letter)]
    assert stack.messages(stack.queues.dlq_url) == []
