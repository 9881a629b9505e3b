"""An ended request's address block stays held while a duplicate VPC of it is listed,
whatever the run knows of the backfill (README "Address pools": no two networks collide;
docs/how-it-works.md, "The address upkeep": one of the request's VPCs the upkeep lists
takes the block over, freed only on proof that it is gone; "A read that could not tell
proves nothing"). The run's read of the backfill's marker failing (DynamoDB throttled)
says nothing of the duplicate: its block is never freed beside it."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.store.pools import BACKFILL_ID
from chalicelib.wiring import Services
from integration.conftest import Stack, stored
from integration.test_address_pools import pools
from integration.test_ended_blocks_kept_by_duplicates import (
    CIDR,
    _deleted_with_its_release_failed,
    _post,
)
from integration.test_reconciler import tagged_vpc

__all__ = ["pools"]  # the fixture, used by name


def test_a_failed_read_of_the_backfill_marker_frees_no_block_beside_a_duplicate(
    client: Client, stack: Stack, pools: Services, clock: Any
) -> None:
    """The request ended (its release failed), a duplicate VPC of it with its CIDR is
    listed, and the run's read of the backfill's marker is throttled: the block stays the
    request's (or goes to the VPC), and a POST of the CIDR is a 409, not a 202 beside it."""
    request_id = _deleted_with_its_release_failed(client, stack, clock)
    orphan = tagged_vpc(stack, request_id, cidr=CIDR)
    stack.faults.fail(
        "dynamodb",
        "BatchGetItem",
        "ProvisionedThroughputExceededException",
        400,
        times=-1,
        match=lambda params: BACKFILL_ID in json.dumps(params),
    )

    report = pools.pool_keeper.run()
    stack.faults.clear()

    assert report.errors, report
    held_by_vpc = f"{orphan} {CIDR}" in report.foreign_held
    assert held_by_vpc or stored(stack, request_id).allocation == "held", report
    second = _post(client, "k-2")
    assert second.status_code == 409, second.json_body
