"""An id an earlier try's delete answered for is the request's own, gone for good
(`resource_ids.unanswered` takes it out of what the record names). When a later try's look
still lists it (EC2's listings lag its deletes), the teardown treats it as a stranger
"found by tag, not named by the record" (`Teardown.unclaimed`), deletable only once the
other records are read; when that read fails, the id is left alone as maybe another
request's (OwnerUnknown) and kept as remaining, while `with_earlier` keeps it deleted too.
The record says one subnet both deleted and remaining, and the DELETE, its VPC gone and
nothing of it left in EC2, ends DELETE_FAILED blaming "another request's" subnet: its own,
deleted on the first try (an audit of the delete paths, 2026-12-06)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.models import Operation
from integration.conftest import Stack, assert_nothing_left, deliver, record
from integration.test_delete_earlier_answers_stand import (
    _first_try_stops_at_the_vpc,
    _lagging_subnet_listing,
)


def test_an_earlier_deletion_listed_again_is_not_left_as_another_requests(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec, first = _first_try_stops_at_the_vpc(client, stack, clock, settings)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    gone = rec["subnets"][0]["subnet_id"]
    assert gone in first["teardown"]["deleted"]  # its DeleteSubnet answered
    _lagging_subnet_listing(monkeypatch, request_id, gone, vpc_id)
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
