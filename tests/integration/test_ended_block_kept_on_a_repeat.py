"""Whoever finds a request ended already never frees its block while a duplicate VPC of
it may still have the CIDR (README "Address pools": no two networks collide;
docs/how-it-works.md, "Address pools", *Freed exactly once*: the block of a request
whose creation lost an answer is not freed by one that runs into it, since only the
address upkeep's listing can say whether a duplicate is left; a VPC of it the upkeep
lists takes the block over). A POST keeps away from such a block; so must a DELETE
repeated on the DELETED request (docs/api.md: a DELETE of a DELETED request changes
nothing) and a job delivered after the request ended: neither reads EC2."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, stored
from integration.test_address_pools import pools
from integration.test_ended_blocks_kept_by_duplicates import (
    CIDR,
    _deleted_with_its_release_failed,
    _post,
)
from integration.test_reconciler import tagged_vpc
from support.tokens import auth

__all__ = ["pools"]  # the fixture, used by name


def _delete_again(client: Client, request_id: str) -> None:
    answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert answer.status_code < 300, answer.json_body


def _job_again(client: Client, request_id: str) -> None:
    deliver(client, request_id)


@pytest.mark.parametrize("repeat", [_delete_again, _job_again], ids=["delete", "late-job"])
def test_a_repeat_that_finds_the_request_ended_keeps_a_lost_answers_block(
    client: Client, stack: Stack, pools: Services, clock: Any, repeat: Any
) -> None:
    """The request's creation lost an answer and it is DELETED, its release at DELETED
    failed; a duplicate VPC of it with its CIDR is there (the teardown's looks lagged
    behind it). A DELETE of it again, or its job delivered again, finds it ended: the block
    stays held, and a POST of the CIDR is a 409 until the upkeep has handed the block to
    that VPC; never a 202 beside it."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)

    repeat(client, request_id)

    assert stored(stack, request_id).allocation == "held"
    assert _post(client, "k-2").status_code == 409
    report = pools.pool_keeper.run()
    assert f"{orphan} {CIDR}" in report.foreign_held, report
    refused = _post(client, "k-3")
    assert refused.status_code == 409, refused.json_body
    assert orphan in refused.json_body["Message"]


def test_a_late_delete_job_of_an_ended_request_keeps_a_lost_answers_block(
    client: Client, stack: Stack, pools: Services, clock: Any
) -> None:
    """The same with the DELETE's own job delivered again after DELETED."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    tagged_vpc(stack, request_id, cidr=CIDR)

    deliver(client, request_id, operation=Operation.DELETE)

    assert stored(stack, request_id).allocation == "held"
    assert _post(client, "k-2").status_code == 409
