"""The block of an ended request whose creation lost an answer, filed under a pool the
stage no longer has (docs/how-it-works.md "Address pools": a block is held from the POST
until the request is DELETED; *Freed exactly once*: "If that write fails, the address
upkeep frees the block, or the next POST that runs into it", a lost answer's block once
the upkeep's listing can say no VPC of it is left; docs/operating.md: a pool removed
leaves its blocks held under the old name, which the upkeep no longer frees, but "a
request's own end still frees its block")."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, post, record, set_fields, stored
from integration.test_address_pools import accepted, explicit
from support.tokens import auth

CIDR = "10.1.0.0/20"


@pytest.mark.xfail(
    strict=True,
    reason="known gap (docs/how-it-works.md, Freed exactly once): the upkeep reads only "
    "the current pools' blocks, and nothing else may free a lost answer's block",
)
def test_a_lost_answers_block_under_a_removed_pool_is_freed_once_no_vpc_has_it(
    client: Client, stack: Stack, settings: Settings, clock: Any, reconfigure: Any
) -> None:
    """A request in the pool `edge` whose creation lost an answer is DELETED; its release
    at DELETED fails (DynamoDB answering 500). The stage then drops `edge` from its pools.
    No VPC has the CIDR (the upkeep's listing shows none), the DELETE is repeated and its
    job delivered again: the block must be freed by one of them (a request's end frees
    its block). Now each leaves it to the upkeep, which reads only the blocks of the pools
    there are: held for good, and every POST of the CIDR a 409 naming a DELETED request."""
    two = '[{"name": "main", "cidr": "10.0.0.0/16"}, {"name": "edge", "cidr": "10.1.0.0/16"}]'
    reconfigure(settings, address_pools=parse_pools(two), allow_overlap=False)
    request_id = str(accepted(client, explicit(CIDR))["request_id"])
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    set_fields(stack, request_id, lost_answers=True)
    clock.advance(3600)
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", 500, times=-1)
    deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    assert (stored(stack, request_id).status.value, stored(stack, request_id).allocation) == (
        "DELETED",
        "held",
    )
    one = '[{"name": "main", "cidr": "10.0.0.0/16"}]'
    built = reconfigure(settings, address_pools=parse_pools(one), allow_overlap=False)

    for _ in range(2):
        report = built.pool_keeper.run()
        assert report.foreign_listed, report
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code < 300
    deliver(client, request_id, operation=Operation.DELETE)
    built.reconciler.run()

    assert [v["VpcId"] for v in stack.vpcs(request_id)] == []
    assert stored(stack, request_id).allocation == "released"
    again = post(client, explicit(CIDR), key="k-2")
    assert again.status_code == 202, again.json_body
