"""An id the request's own record names, whose delete an earlier try answered only "not
found" (doubtful: the report's `not_found`, EC2 lagging behind its making), stays the
request's own in the next try: deleted by id when a look lists it again, never left as
"maybe another request's" when the other records cannot be read, and never said both
deleted and remaining. Through DELETE's teardown and through a rollback (a review found
both dropping it from what the record names: `earlier` took the report's `deleted`, not
its `answered`)."""

from __future__ import annotations

import contextlib
from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record
from integration.test_delete_earlier_answers_stand import (
    first_try_believes_a_lagging_not_found,
)
from integration.test_delete_gone_for_good import a_rollback_doubting_its_subnet


def test_a_doubted_own_subnet_listed_again_is_not_said_deleted_and_another_requests(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id, vpc_id, subnet = first_try_believes_a_lagging_not_found(
        client, stack, clock, settings
    )
    # The last try: EC2 caught up (the look lists the subnet); the other records (the status
    # index) cannot be read this try.
    stack.faults.fail("dynamodb", "Query", "InternalServerError", 500, times=-1)
    with contextlib.suppress(RetryLater):
        deliver(
            client,
            request_id,
            receive_count=settings.max_receive_count,
            operation=Operation.DELETE,
        )
    stack.faults.clear()

    live = subnet in [s["SubnetId"] for s in stack.subnets(vpc_id)]  # EC2
    after = record(client, request_id)
    teardown = after["teardown"]
    # Its own subnet (the record named it), listed again: deleted by id, its delete's answer
    # recorded; never left as "maybe another request's" and said both deleted and remaining.
    assert not live, (after["status"], teardown, after["error"])
    assert subnet in teardown["deleted"], teardown
    assert subnet not in teardown["remaining"], teardown
    assert "another request" not in str(after["error"]), after["error"]


def test_a_rollbacks_doubted_own_subnet_listed_again_is_not_said_deleted(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The same through a rollback (its `gone` is `rollback.answered`, its `known` without
    what `rollback.deleted` names): FAILED says the rollback deleted a subnet that is in
    EC2 and names it as maybe another request's."""
    request_id, subnet = a_rollback_doubting_its_subnet(client, stack, settings, reconfigure)

    # The last try: EC2 caught up (listed); the other records cannot be read.
    stack.faults.fail("dynamodb", "Query", "InternalServerError", 500, times=-1)
    with contextlib.suppress(RetryLater):
        deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()

    live = subnet in [s["SubnetId"] for s in stack.subnets()]  # EC2
    done = record(client, request_id)
    assert not live, (done["status"], done["rollback"])
    assert subnet in done["rollback"]["deleted"], done["rollback"]
    assert subnet not in done["rollback"]["remaining"], done["rollback"]
    assert "another request" not in str(done["rollback"]["error"]), done["rollback"]
