"""An ended request's address block stays held while a VPC of it may still have its CIDR
(README "Address pools": no two networks collide; docs/how-it-works.md: a block is freed
only on proof). A lost CreateVpc answer's duplicate (the request's tag, its CIDR) that a
teardown's looks lagged behind outlives the request's DELETE; the release at DELETED
failed, so the request still holds its block. Before: the next POST of that CIDR that ran
into the block freed it (the request had ended, whatever its record said of an orphan VPC
not removed), and so did the address upkeep in the very run whose listing showed the
duplicate: an explicit POST of the CIDR was then accepted beside a VPC that has it. Now
the block stays held until the duplicate is gone, then is freed."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, stored
from integration.test_address_pools import accepted, explicit, pools
from integration.test_reconciler import tagged_vpc
from support.tokens import auth

__all__ = ["pools"]  # the fixture, used by name

CIDR = "10.0.0.0/20"


def _deleted_with_its_release_failed(client: Client, stack: Stack) -> str:
    """A request made, then DELETED, the release at DELETED failing (DynamoDB answering
    500): ended, its block still held (the upkeep or the next POST frees it)."""
    request_id = str(accepted(client, explicit(CIDR))["request_id"])
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", 500, times=-1)
    deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    rec = stored(stack, request_id)
    assert (rec.status.value, rec.allocation) == ("DELETED", "held")
    return request_id


def _post(client: Client, key: str) -> Any:
    return client.http.post(
        "/vpcs",
        headers={**auth(), "Content-Type": "application/json", "Idempotency-Key": key},
        body=json.dumps(explicit(CIDR)),
    )


def test_a_post_never_frees_a_block_whose_record_notes_an_orphan_vpc_not_removed(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The reconciler finds the duplicate and cannot remove it yet (DependencyViolation):
    the record notes it, not removed. A POST of the CIDR meets the request's block: a 409
    naming the request, the block kept. Once the duplicate is removed, its note frees it."""
    request_id = _deleted_with_its_release_failed(client, stack)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    pools.reconciler.run()
    stack.faults.clear()
    assert [(o.id, o.removed_at) for o in stored(stack, request_id).orphans] == [(orphan, None)]

    second = _post(client, "k-2")

    assert second.status_code == 409, second.json_body
    assert request_id in second.json_body["Message"]
    assert stored(stack, request_id).allocation == "held"
    pools.reconciler.run()  # the duplicate removed, its note frees the block
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == []
    assert stored(stack, request_id).allocation == "released"
    assert _post(client, "k-3").status_code == 202


def test_the_address_upkeep_never_frees_a_block_while_its_listing_shows_a_vpc_with_its_tag(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The upkeep's listing shows the duplicate (not noted as an orphan yet): the request's
    block stays held that run. The reconciler's run after it (app.py: the upkeep first)
    removes the duplicate, and its note frees the block: a POST of the CIDR is accepted."""
    request_id = _deleted_with_its_release_failed(client, stack)
    tagged_vpc(stack, request_id, cidr=CIDR)

    report = pools.pool_keeper.run()

    assert request_id not in report.freed, report
    assert stored(stack, request_id).allocation == "held"
    pools.reconciler.run()
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == []
    assert stored(stack, request_id).allocation == "released"
    assert _post(client, "k-2").status_code == 202


def test_the_address_upkeep_frees_the_block_once_the_vpc_with_its_tag_is_gone(
    client: Client, stack: Stack, pools: Services
) -> None:
    """A person removed the duplicate before any run noted it: the next upkeep run, whose
    listing shows no VPC with the request's tag, frees the block (never held for ever)."""
    request_id = _deleted_with_its_release_failed(client, stack)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)
    assert request_id not in pools.pool_keeper.run().freed
    stack.truth.ec2.delete_vpc(VpcId=orphan)

    assert request_id in pools.pool_keeper.run().freed
    assert _post(client, "k-2").status_code == 202
