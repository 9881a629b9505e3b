"""What the reconciler removed from a FAILED request (its delete answered: the record's
`orphans[].removed_at`) is gone for good to that request's DELETE (`gone_for_good`), as
what the DELETE's own tries and the rollback deleted is: a look by tag that still lists
such a subnet (EC2's reads lag its deletes) sends it no delete, so AWS cannot refuse one
(a tag-conditioned delete of what is gone may answer UnauthorizedOperation, its by-id read
lagging too) and end the DELETE at once DELETE_FAILED, the record naming as present what
its own orphans say was removed."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, rollback_held_up
from integration.test_delete_earlier_answers_stand import lagging_subnet_listing
from integration.test_delete_gone_for_good import refused_though_gone
from support.tokens import auth


def test_a_subnet_the_reconciler_removed_does_not_fail_the_delete(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rollback whose DeleteSubnet fails on every try: FAILED, its subnet and VPC remaining.
    request_id = rollback_held_up(client, stack, settings, reconfigure)
    deliver(client, request_id, receive_count=settings.max_receive_count)
    stack.faults.clear()
    failed = record(client, request_id)
    assert failed["status"] == "FAILED", failed
    vpc_id = failed["vpc_id"]
    [subnet] = [s["subnet_id"] for s in failed["subnets"] if s["subnet_id"]]
    assert set(failed["rollback"]["remaining"]) == {subnet, vpc_id}, failed["rollback"]

    # The reconciler, once FAILED is old enough: the subnet's delete answers, DeleteVpc is
    # throttled (the VPC stays noted remaining).
    clock.advance(settings.reconcile_grace_seconds + 1)
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    services.reconciler.run()
    stack.faults.clear()
    noted = record(client, request_id)
    assert subnet not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    assert [o["id"] for o in noted["orphans"] if o["removed_at"]] == [subnet], noted["orphans"]
    assert noted["rollback"]["remaining"] == [vpc_id], noted["rollback"]

    # DELETE moments later: EC2's listing by tag still shows the subnet, its by-id read too,
    # and a delete of it is refused by IAM's tag condition (it cannot see the tags of what
    # is gone).
    lagging_subnet_listing(monkeypatch, request_id, subnet, vpc_id)
    refused_though_gone(stack, monkeypatch, subnet)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with contextlib.suppress(RetryLater):
        deliver(client, request_id, receive_count=1, operation=Operation.DELETE)
    stack.faults.clear()

    after = record(client, request_id)
    # Not a final failure on a refusal about what the record says removed: DELETED (the VPC
    # goes), or DELETING while the listing lags.
    assert after["status"] in ("DELETED", "DELETING"), (after["status"], after["error"])
