"""A teardown whose worker dies every time (a Lambda timeout on a slow teardown, a crash on
an answer it cannot read) does not stay DELETING for ever: the message's last receive is
deleted before the work, the lease lapses, the reaper sends the request again, and so on.
Each claim of the teardown counts (a DELETE starts the count again); past the request's
attempts the record says DELETE_FAILED, naming what may remain, without another try; a
new DELETE tries again."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from devstack.fault_rules import WorkerKilled
from integration.conftest import Stack, assert_nothing_left, deliver, record, stored, submit
from support.tokens import auth


def test_a_teardown_past_its_attempts_ends_delete_failed_and_a_new_delete_tries_again(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    settings = Settings(**{**vars(settings), "max_attempts": 2})
    reconfigure(settings)
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    vpc_id = record(client, request_id)["vpc_id"]
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    assert stored(stack, request_id).attempts == 0  # the teardown's tries, from here

    for _ in range(settings.max_attempts):  # every try dies before it can write
        stack.faults.kill("ec2", "DeleteVpc", when="before")
        with pytest.raises(WorkerKilled):
            deliver(client, request_id, operation=Operation.DELETE)
        clock.advance(settings.lease_seconds + 1)
    stack.faults.clear()
    stack.faults.kill("ec2", "DeleteVpc", when="before")

    deliver(client, request_id, operation=Operation.DELETE)  # the reaper's, say

    rec = record(client, request_id)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "RetriesExhausted"
    assert "2 teardown(s) tried" in rec["error"]["message"]
    assert vpc_id in rec["teardown"]["remaining"]
    stack.faults.clear()
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(client, request_id, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_giving_up_keeps_what_the_earlier_tries_deleted_in_the_report(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The first try deletes the subnet and is refused the VPC (a failure that may clear),
    the second dies: the record given up on still says the subnet went."""
    settings = Settings(**{**vars(settings), "max_attempts": 2})
    reconfigure(settings)
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    subnet_id = record(client, request_id)["subnets"][0]["subnet_id"]
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    assert subnet_id in record(client, request_id)["teardown"]["deleted"]
    clock.advance(settings.lease_seconds + 1)
    stack.faults.clear()
    stack.faults.kill("ec2", "DeleteVpc", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id, operation=Operation.DELETE)
    clock.advance(settings.lease_seconds + 1)
    stack.faults.clear()

    deliver(client, request_id, operation=Operation.DELETE)  # past its attempts: given up

    rec = record(client, request_id)
    assert (rec["status"], rec["error"]["code"]) == ("DELETE_FAILED", "RetriesExhausted")
    assert rec["teardown"]["deleted"] == [subnet_id]
    assert rec["teardown"]["remaining"] == [rec["vpc_id"]]
