"""What a delete answered for is gone for good, and only that: never sent a delete again,
never held against a teardown, whether this DELETE's tries or the rollback before it
deleted it; a "not found" alone is not that proof (an audit, 2026-12-06)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record, rollback_held_up, stored
from integration.test_delete_earlier_answers_stand import (
    deleted_then_listed_again,
    first_try_believes_a_lagging_not_found,
    lagging_behind,
    rolled_back_a_subnet_then_listed_again,
    the_last_try,
)
from support.tokens import auth

NOT_FOUND = ("InvalidSubnetID.NotFound", 400)

# An id an earlier try deleted only on a "not found" (the record's `teardown.not_found`) was
# passed to the next try's teardown as `gone`, whose second "not found" `Teardown.request`
# then believed however the looks listed it: a subnet listed before and after its second
# "not found" (EC2 not caught up, as in the first try) was said deleted, while the same
# try's DeleteVpc was refused for it and the record's error named it as held in the VPC.


def test_a_doubted_not_found_answered_not_found_again_while_listed_is_not_said_deleted(
    client: Client, stack: Stack, clock: object, settings: Settings
) -> None:
    request_id, vpc_id, subnet = first_try_believes_a_lagging_not_found(
        client, stack, clock, settings
    )
    # The last try: the look lists the subnet (EC2's listings caught up), its DeleteSubnet
    # answers "not found" again (the delete path still lagging), and every look after it
    # lists it still.
    after = the_last_try(client, stack, settings, request_id, subnet, NOT_FOUND)

    assert [s["SubnetId"] for s in stack.subnets(vpc_id)] == [subnet]  # EC2: it is there
    # DELETING: the subnet is found after the deletes (a later try settles it).
    assert after["status"] == "DELETING", after
    # Listed after its "not found", as within one try: not proven gone.
    assert subnet not in after["teardown"]["deleted"], (after["teardown"], after["error"])
    assert subnet in after["teardown"]["remaining"], (after["teardown"], after["error"])


def a_rollback_doubting_its_subnet(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> tuple[str, str]:
    """A rollback held up, then a try whose DeleteSubnet answers "not found" for the subnet
    that is there, the looks by tag not listing it (EC2 lagging), DeleteVpc throttled:
    ROLLING_BACK, the subnet deleted on that "not found" only. (request id, subnet)"""
    request_id = rollback_held_up(client, stack, settings, reconfigure)
    stack.faults.clear()
    subnet = stored(stack, request_id).subnets[0].subnet_id
    assert subnet is not None
    # Try 2: DeleteSubnet answers "not found" for the subnet that is there, the looks by tag
    # do not list it (EC2 lagging), DeleteVpc is throttled: ROLLING_BACK, the subnet deleted
    # on that "not found" only.
    lagging_behind(stack, subnet)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)
    stack.faults.clear()
    held = stored(stack, request_id)
    assert held.status.value == "ROLLING_BACK", held.status
    assert held.rollback is not None
    assert subnet in held.rollback.not_found, held.rollback
    return request_id, subnet


def test_a_rollbacks_doubted_not_found_answered_not_found_again_while_listed_is_not_said_deleted(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The same through a rollback (its `gone` is `record.rollback.deleted`, not_found
    included): FAILED says the rollback deleted a subnet that is in EC2, listed by the
    try's looks before and after its "not found", and holding the VPC."""
    request_id, subnet = a_rollback_doubting_its_subnet(client, stack, settings, reconfigure)

    # The last try: listed again, "not found" again, listed after it.
    done = the_last_try(
        client, stack, settings, request_id, subnet, NOT_FOUND, operation=Operation.CREATE
    )

    assert subnet in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is there
    assert done["status"] == "FAILED", done
    assert subnet not in done["rollback"]["deleted"], done["rollback"]
    assert subnet in done["rollback"]["remaining"], done["rollback"]


# audit3b (2026-12-06): in AWS a tag-conditioned delete of a subnet already gone may be
# answered UnauthorizedOperation, not "not found" (`Ec2Calls.delete`). A later try whose
# lagging look lists a subnet whose DeleteSubnet answered in an earlier try sends it a
# delete again; answered UnauthorizedOperation, and its by-id read lagging too (still
# listing it), that refusal holds back the (empty) VPC and ends the DELETE at once
# DELETE_FAILED UnauthorizedOperation, although `with_earlier` itself says the subnet
# deleted and not remaining: a DELETE of a request whose subnets are all gone fails for
# good on a refusal about a subnet its own record says deleted.


def refused_though_gone(stack: Stack, monkeypatch: pytest.MonkeyPatch, subnet: str) -> None:
    """From now on, `subnet` (gone) still reads as there by id (EC2's by-id read lagging as
    its listing by tag does), and a delete of it answers UnauthorizedOperation (IAM's tag
    condition cannot see the tags of what is gone)."""
    real_gone = Ec2Gateway.subnet_gone
    monkeypatch.setattr(
        Ec2Gateway, "subnet_gone", lambda self, i: False if i == subnet else real_gone(self, i)
    )
    stack.faults.fail(
        "ec2",
        "DeleteSubnet",
        "UnauthorizedOperation",
        times=-1,
        match=lambda p: p.get("SubnetId") == subnet,
    )


def test_a_refusal_of_an_earlier_deleted_subnet_does_not_fail_the_delete(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id, gone = deleted_then_listed_again(client, stack, clock, settings, monkeypatch)
    refused_though_gone(stack, monkeypatch, gone)

    with contextlib.suppress(RetryLater):
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    after = record(client, request_id)
    assert gone in after["teardown"]["deleted"], after["teardown"]
    # Not a final failure (a second try is left), never on a refusal about what the
    # record says deleted: DELETED, or DELETING while the listing lags.
    assert after["status"] in ("DELETED", "DELETING"), (after["status"], after["error"])


# audit3b (2026-12-06): what a FAILED request's rollback deleted (its DeleteSubnet answered:
# `rollback.deleted`) is not "gone" to the DELETE of that request (`DeleteJob._left` reads
# only `record.teardown`). A look by tag that still lists such a subnet (EC2's reads lag its
# deletes) makes the DELETE send it a delete again, whose "not found" that same lagging
# listing then doubts: the DELETE stays DELETING while the listing lags (and, its tries used
# up, ends DELETE_FAILED naming as remaining the subnet its rollback deleted), where a
# subnet an earlier try of the DELETE itself deleted ends DELETED
# (`test_a_delete_whose_look_still_lists_what_an_earlier_try_deleted_ends_deleted`).


def test_a_subnet_the_rollback_deleted_does_not_hold_the_delete_while_a_look_lags(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id, gone = rolled_back_a_subnet_then_listed_again(
        client, stack, settings, reconfigure, monkeypatch
    )
    # The rollback's last try: DeleteVpc still throttled, FAILED with the VPC remaining.
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()
    failed = record(client, request_id)
    assert failed["status"] == "FAILED", failed
    assert gone in failed["rollback"]["deleted"], failed["rollback"]
    clock.advance(settings.drift_settle_seconds + 2)

    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(
        client, request_id, receive_count=settings.max_receive_count, operation=Operation.DELETE
    )

    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    after = record(client, request_id)
    assert gone not in after["teardown"]["remaining"], (after["status"], after["teardown"])
    assert after["status"] == "DELETED", (after["status"], after["teardown"], after["error"])
