"""A record written before deletions were told apart (`teardown.not_found`, `rollback.
not_found`) keeps in `deleted` the ids a delete answered for and those only "not found"
answered for, alike: none of them is taken as proven gone, so a look that lists one has it
deleted again by id. Read as all answered (an audit, 2026-12-06), a stage deployed over a
DELETING record whose earlier try believed a lagging "not found" never deleted that
resource again, and one whose VPC it was recorded DELETED with the VPC there."""

from __future__ import annotations

import contextlib
from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record, set_fields, submit
from integration.test_drift import public_request
from support.tokens import auth


def test_an_old_records_not_found_deletion_is_tried_again_when_a_look_lists_it(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    subnet = rec["subnets"][1]["subnet_id"]
    clock.advance(settings.drift_settle_seconds + 2)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    # The first try, by the version deployed before: its DeleteSubnet answered "not found"
    # (EC2 lagging behind the subnet's making), recorded in `deleted` as every version
    # before e33e556 did, with no `not_found` beside it; its DeleteVpc refused for it.
    set_fields(
        stack,
        request_id,
        teardown={"deleted": [subnet], "remaining": [vpc_id], "error": "DeleteVpc: throttled"},
    )
    assert subnet in [s["SubnetId"] for s in stack.subnets(vpc_id)]  # EC2: it is there

    for receive in range(1, settings.max_receive_count + 1):
        with contextlib.suppress(RetryLater):
            deliver(client, request_id, receive_count=receive, operation=Operation.DELETE)

    after = record(client, request_id)
    # The look lists the subnet on every try: it must be sent its delete again.
    assert subnet not in [s["SubnetId"] for s in stack.subnets()], (
        after["status"],
        after["teardown"],
        after["error"],
    )
    assert after["status"] == "DELETED", (after["status"], after["teardown"], after["error"])


def test_an_old_records_not_found_vpc_is_not_left_behind_a_deleted_record(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The worst case: the old try's DeleteVpc answered "not found" (EC2 lagging behind
    the VPC's making) while its subnets were throttled. Every later try takes the VPC as
    gone for good: it deletes the subnets, never sends DeleteVpc, ignores the VPC every
    look lists, and records DELETED (freeing its block) with the VPC in EC2."""
    request_id = submit(client)  # private subnets: no gateway attached to the VPC
    deliver(client, request_id)
    vpc_id = record(client, request_id)["vpc_id"]
    clock.advance(settings.drift_settle_seconds + 2)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    set_fields(
        stack,
        request_id,
        teardown={"deleted": [vpc_id], "remaining": [], "error": "DeleteSubnet: throttled"},
    )

    for receive in range(1, settings.max_receive_count + 1):
        with contextlib.suppress(RetryLater):
            deliver(client, request_id, receive_count=receive, operation=Operation.DELETE)

    after = record(client, request_id)
    live = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert not (after["status"] == "DELETED" and vpc_id in live), (after["status"], live)
