"""A sized POST that read its pool sends its job beside its transaction, so that the caller
waits for two AWS calls in a row, not three (README "Address pools", the budget). Its
job can then reach the worker before the record exists, or for a request never stored
(the transaction refused): the worker delivers such a job again while its message is
young, then drops it; it never creates anything for it, nor dead-letters it."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.aws.jobs import Job
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.wiring import Services
from chalicelib.worker.results import Outcome
from integration.conftest import TABLE, Stack, assert_provisioned, body, post
from integration.test_address_pools import POOLS, accepted, pools, sized

__all__ = ["pools"]  # the fixture, used by name


def _hook(stack: Stack, service: str, event: str, handler: Any) -> None:
    getattr(stack.clients, service).meta.events.register(event, handler)


def test_a_sized_post_that_read_its_pool_sends_its_job_before_the_transaction_answers(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The transaction is held until the job has been sent (at most 5 s): a POST that sent
    its job only after the transaction's answer would wait out the 5 s and say so."""
    accepted(client, body(cidr="10.2.0.0/20", subnets=1))  # the zones, read once a process
    stack.messages()
    sent = threading.Event()
    waited: list[bool] = []
    _hook(stack, "sqs", "before-call.sqs.SendMessage", lambda **_: sent.set())
    _hook(
        stack,
        "dynamodb",
        "before-call.dynamodb.TransactWriteItems",
        lambda **_: waited.append(sent.wait(5)),
    )
    stack.faults.reset_counts()

    answer = accepted(client, sized(24, 28, pool="edge"))

    assert waited == [True]
    assert stack.faults.log[0] == ("dynamodb", "Query")  # the pool's read
    assert sorted(stack.faults.log[1:]) == [
        ("dynamodb", "TransactWriteItems"),
        ("sqs", "SendMessage"),
    ]
    assert [m["Body"] for m in stack.messages()] == [f'{{"request_id": "{answer["request_id"]}"}}']


def test_an_explicit_post_sends_its_job_only_once_it_is_stored(
    client: Client, stack: Stack, pools: Services
) -> None:
    """No pool read, nothing to overlap: the transaction, then the job (never a job for a
    request that a refused transaction never stored)."""
    accepted(client, body(cidr="10.3.0.0/20", subnets=1))  # the zones, read once a process
    stack.faults.reset_counts()

    accepted(client, body(cidr="10.2.0.0/20", subnets=1))

    assert stack.faults.log == [("dynamodb", "TransactWriteItems"), ("sqs", "SendMessage")]


def test_a_job_that_arrives_before_its_record_is_worked_once_the_record_is_there(
    client: Client, stack: Stack, pools: Services, settings: Settings
) -> None:
    """The record is not there yet (taken out and put back, as a transaction that lands
    after its job's first delivery): that delivery comes back a second later; the next
    one provisions it."""
    answer = accepted(client, sized(24, 28, pool="edge"))
    request_id = answer["request_id"]
    key = {"request_id": {"S": request_id}}
    item = stack.truth.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]
    stack.truth.dynamodb.delete_item(TableName=TABLE, Key=key)
    (message,) = stack.messages()

    with pytest.raises(RetryLater) as again:
        client.lambda_.invoke("worker", stack.event(message))

    assert again.value.delay_seconds == 1
    stack.truth.dynamodb.put_item(TableName=TABLE, Item=item)
    assert client.lambda_.invoke("worker", stack.event(message))
    assert_provisioned(stack, client, request_id, subnets=1)


def test_a_job_for_a_request_never_stored_is_dropped_once_its_message_is_a_minute_old(
    stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Young, it comes back (1, 4, 15, 15 s later: the receives before the last span the
    API's 29 s, a slow transaction's; before, 1, 2, 4, 8 s left a POST whose transaction
    took 16 s QUEUED until the reaper); on its last receive or once a minute old, it is
    dropped: nothing is created, nothing goes to the dead-letter queue."""
    request_id = str(uuid.uuid4())
    delays = []
    for receive in range(1, settings.max_receive_count):
        with pytest.raises(RetryLater) as again:
            services.provisioner.handle(Job(request_id, receive_count=receive, sent_at=clock()))
        delays.append(again.value.delay_seconds)
    assert delays[0] == 1
    assert sum(delays) > 29, delays

    last = Job(request_id, receive_count=settings.max_receive_count, sent_at=clock() - 10)
    assert services.provisioner.handle(last) is Outcome.DEFERRED
    old = Job(request_id, sent_at=clock() - settings.unstored_job_grace_seconds)
    assert services.provisioner.handle(old) is Outcome.SKIPPED
    assert stack.vpcs() == []
    assert stack.messages(stack.queues.dlq_url) == []


def test_a_sized_post_refused_after_its_job_went_out_leaves_nothing_behind(
    client: Client, stack: Stack, services: Services, settings: Settings, reconfigure: Any
) -> None:
    """Over the per-user limit (429), after the job was sent: the worker, given that job,
    finds no record and creates nothing."""
    reconfigure(
        settings,
        address_pools=parse_pools(POOLS),
        allow_overlap=False,
        max_live_requests_per_user=1,
    )
    accepted(client, sized(24, 28, pool="main"))
    stack.messages()  # the first request's job, out of the way

    refused = post(client, sized(24, 28, pool="edge"))  # another pool: read, not cached

    assert refused.status_code == 429, refused.body
    (message,) = stack.messages()
    with pytest.raises(RetryLater):
        client.lambda_.invoke("worker", stack.event(message))
    assert len(stack.vpcs()) == 0


def test_a_claim_that_meets_the_posts_transaction_comes_back_a_second_later_quietly(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The job arrives while the POST's transaction still writes the record: DynamoDB
    refuses the claim's UpdateItem (TransactionConflictException, which botocore does not
    retry). That is the usual race, not a failure: back in 1 s, quiet (DEBUG locally) on
    the first receive, as for a record not stored yet; then it is provisioned. Before, it
    waited the retry delay of a failure (10 s deployed) and `make run` logged "job failed"."""
    request_id = accepted(client, sized(24, 28, pool="edge"))["request_id"]
    (message,) = stack.messages()
    stack.faults.fail("dynamodb", "UpdateItem", "TransactionConflictException")

    with pytest.raises(RetryLater) as again:
        client.lambda_.invoke("worker", stack.event(message))

    assert (again.value.delay_seconds, again.value.quiet) == (1, True)
    assert client.lambda_.invoke("worker", stack.event(message))
    assert_provisioned(stack, client, request_id, subnets=1)
