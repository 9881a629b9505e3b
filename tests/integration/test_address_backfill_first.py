"""The first address upkeep after an upgrade: a provisioned (SUCCEEDED) request from
before the pools has its block held by its own request, never by its VPC's id. Were the
foreign VPCs held first (its request holds no block yet), the backfill would then find the
block held, record the request's allocation `shared` and log the WARNING that says two
networks overlap for good, although nothing overlaps: the "other" holder is its own VPC."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, body, deliver, record
from integration.test_address_pools import accepted, as_before_pools, items, pools  # noqa: F401


def test_a_provisioned_request_from_before_pools_is_backfilled_held_not_shared(
    client: Client,
    stack: Stack,
    pools: Services,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = accepted(client, body("10.0.0.0/20"))["request_id"]
    deliver(client, old)
    assert record(client, old)["status"] == "SUCCEEDED"
    as_before_pools(stack, old)

    pools.pool_keeper.run()

    stored = stack.truth.dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": old}})
    warnings = [r.getMessage() for r in caplog.records if "address backfill" in r.getMessage()]
    holder = items(stack, "block#")["block#10.0.0.0/20"].get("holder", {}).get("S")
    assert (stored["Item"]["allocation"]["S"], holder, warnings) == ("held", old, [])
