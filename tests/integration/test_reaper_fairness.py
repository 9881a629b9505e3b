"""The reaper reaches every stalled request, however many older ones are busy.

It reads up to 100 stalled requests per status, oldest first. Requests that have not
stalled (a teardown tried again and again touches its record, a worker holds its lease, the
reaper re-sent it moments ago) are left out by the query itself, so they never use up
those 100: a stalled request behind a hundred busy ones is re-sent on the next run (a
review's finding, 2026-12-06: before, it was never reached)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.clock import iso_timestamp, sort_timestamp
from chalicelib.config import Settings
from chalicelib.store.items import decimal, serialize
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack


def _put(stack: Stack, status: str, created: float, updated: float, **fields: Any) -> str:
    """A record in `status` created at `created`, last changed at `updated`."""
    request_id = str(uuid.uuid4())
    item = {
        "request_id": request_id,
        "type": "VPC_REQUEST",
        "list_pk": "VPC_REQUEST",
        "status": status,
        "created_by": "user-1",
        "created_at": iso_timestamp(created),
        "created_sort": sort_timestamp(created),
        "updated_at": iso_timestamp(updated),
        "request": {"vpc": {"cidr": "10.30.0.0/16"}, "subnets": []},
        "lease_until": 0,
        "version": 3,
        **fields,
    }
    stack.truth.dynamodb.put_item(TableName=TABLE, Item=serialize(item))
    return request_id


@pytest.mark.parametrize(
    ("status", "busy"),
    [
        ("DELETING", "touched lately"),  # a teardown tried again on a failure that may clear
        ("IN_PROGRESS", "leased"),  # a worker at work on it
        ("QUEUED", "re-sent lately"),  # the worker is down: the reaper re-sent them already
    ],
)
def test_a_stalled_request_behind_a_hundred_older_busy_ones_is_resent(
    stack: Stack, services: Services, clock: Any, settings: Settings, status: str, busy: str
) -> None:
    now = clock()
    stale = now - settings.stale_after_seconds
    fields: dict[str, Any] = {
        "touched lately": {},
        "leased": {"lease_until": decimal(now + 600)},
        "re-sent lately": {"requeued_at": decimal(now - 60)},
    }[busy]
    updated = now - 60 if busy == "touched lately" else stale - 3_600
    for i in range(100):
        _put(stack, status, created=stale - 86_400 + i, updated=updated, **fields)
    stalled = _put(stack, status, created=stale - 3_600, updated=stale - 3_600)

    assert services.reaper.run().requeued == [stalled]
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [stalled]
