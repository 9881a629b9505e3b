"""An ended request's address block stays held while a VPC of it may still have its CIDR
(README "Address pools": no two networks collide; docs/how-it-works.md: a block is freed
only on proof). A lost CreateVpc answer's duplicate (the request's tag, its CIDR) that a
teardown's looks lagged behind outlives the request's DELETE; the release at DELETED
failed, so the request still holds its block. Before: the next POST of that CIDR that ran
into the block freed it (the request had ended, whatever its record said of an orphan VPC
not removed), and so did the address upkeep in the very run whose listing showed the
duplicate: an explicit POST of the CIDR was then accepted beside a VPC that has it. Now
the block stays held while the record notes the duplicate, and a duplicate the upkeep
lists holds the block itself (as a foreign VPC does) until it is gone."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, set_fields, stored
from integration.test_address_pools import accepted, explicit, pools
from integration.test_reconciler import tagged_vpc
from support.tokens import auth

__all__ = ["pools"]  # the fixture, used by name

CIDR = "10.0.0.0/20"


def _deleted_with_its_release_failed(client: Client, stack: Stack, clock: Any) -> str:
    """A request made (its creation lost an answer: a duplicate VPC of it may be left),
    then DELETED, the release at DELETED failing (DynamoDB answering 500): ended, its
    block still held (the address upkeep frees it)."""
    request_id = str(accepted(client, explicit(CIDR))["request_id"])
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    set_fields(stack, request_id, lost_answers=True)
    clock.advance(3600)  # the DELETE's looks then prove what they find
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
    client: Client, stack: Stack, pools: Services, clock: Any
) -> None:
    """The reconciler finds the duplicate and cannot remove it yet (DependencyViolation):
    the record notes it, not removed. A POST of the CIDR meets the request's block: a 409
    naming the request, the block kept (even once the record says no answer was lost).
    Once the duplicate is removed, its note frees it."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    pools.reconciler.run()
    stack.faults.clear()
    assert [(o.id, o.removed_at) for o in stored(stack, request_id).orphans] == [(orphan, None)]
    set_fields(stack, request_id, lost_answers=False)  # the note alone keeps it

    second = _post(client, "k-2")

    assert second.status_code == 409, second.json_body
    assert request_id in second.json_body["Message"]
    assert stored(stack, request_id).allocation == "held"
    pools.reconciler.run()  # the duplicate removed, its note frees the block
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == []
    assert stored(stack, request_id).allocation == "released"
    assert _post(client, "k-3").status_code == 202


def test_the_address_upkeep_holds_the_block_with_a_vpc_of_the_ended_request(
    client: Client, stack: Stack, pools: Services, clock: Any
) -> None:
    """The upkeep's listing shows the duplicate, not noted as an orphan yet: the block is
    held with that VPC (as a foreign VPC's is), then the ended request's hold freed. A POST
    of the CIDR, the very next moment, is a 409 saying a VPC has those addresses. The
    reconciler removes the duplicate; the upkeep's next run, which reads it by id "not
    found", frees the block: the POST is accepted."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)

    report = pools.pool_keeper.run()

    assert f"{orphan} {CIDR}" in report.foreign_held, report
    assert request_id in report.freed, report
    refused = _post(client, "k-2")
    assert refused.status_code == 409, refused.json_body
    assert orphan in refused.json_body["Message"]
    pools.reconciler.run()
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == []
    assert pools.pool_keeper.run().foreign_freed == [f"{orphan} {CIDR}"]
    assert _post(client, "k-3").status_code == 202


def test_the_address_upkeep_whose_hold_of_the_vpc_fails_keeps_the_requests_block(
    client: Client, stack: Stack, pools: Services, clock: Any
) -> None:
    """The hold of the duplicate's block fails (DynamoDB): the ended request's block stays
    held that run (never a moment when nothing holds addresses a VPC has), and a POST that
    meets it leaves it held (the request's creation lost an answer: only the upkeep's
    listing can say whether a duplicate is there). The next run holds it with the VPC,
    and frees the request's."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)
    stack.faults.fail(
        "dynamodb",
        "TransactWriteItems",
        "InternalServerError",
        500,
        times=-1,
        match=lambda params: orphan in json.dumps(params),
    )

    assert request_id not in pools.pool_keeper.run().freed
    assert _post(client, "k-2").status_code == 409
    stack.faults.clear()

    report = pools.pool_keeper.run()
    assert (report.foreign_held, report.freed) == ([f"{orphan} {CIDR}"], [request_id])
