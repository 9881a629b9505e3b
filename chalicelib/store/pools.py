"""The address upkeep's table access (the reconciler's function and policy,
policy-reconciler.json): the blocks of every pool, the records of their holders, the
foreign VPCs' blocks, and the one-time backfill of records from before pools.

Allowed by policy-reconciler.json: BatchGetItem, UpdateItem, PutItem and DeleteItem on
the table (in transactions: see store/blocks.py), Query on `by_pool` and `by_created`.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network
from typing import Any

from chalicelib.models import HELD, RELEASED, SHARED, RequestRecord
from chalicelib.store.block_tree import allocation, shared
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.items import serialize
from chalicelib.store.passes import RecordPasses
from chalicelib.store.table import RecordsRead, version_condition

# Where the backfill of records from before pools stands (store/passes.py).
BACKFILL_ID = "meta#address-backfill"


class PoolStore(AddressBlocks, RecordPasses):
    """Raises BackendFailure when DynamoDB fails."""

    def records(self, request_ids: Iterable[str]) -> RecordsRead:
        """Records, strongly consistent: found, proven absent, or unknown."""
        return self._records(request_ids)

    # --- the backfill (its pass over the records: store/passes.py) ---------------------

    def backfill(self, record: RequestRecord, ended: bool, pool: str | None) -> str | None:
        """Give a record from before pools its allocation, at its version: released if it
        has ended; else its block held (or shared, when it overlaps one held). The
        allocation written, or None when the record moved on (the next pass decides)."""
        block = IPv4Network(record.cidr)
        if ended:
            return RELEASED if self._allocate(record, RELEASED, pool, []) else None
        held = allocation(self._table, block, record.request_id, pool)
        if self._allocate(record, HELD, pool, held):
            return HELD
        sharing = shared(self._table, block, record.request_id, pool)
        return SHARED if self._allocate(record, SHARED, pool, sharing) else None

    def _allocate(
        self, record: RequestRecord, kind: str, pool: str | None, items: list[dict[str, Any]]
    ) -> bool:
        names = {"#allocation": "allocation", "#pool": "pool"}
        values: dict[str, Any] = {
            ":kind": kind,
            ":cidr": record.cidr,
            ":pool": pool,
            ":none": "",
        }
        same = version_condition(record.version, names, values)
        update = {
            "Update": {
                "TableName": self._table,
                "Key": self._key(record.request_id),
                "UpdateExpression": "SET #allocation = :kind, cidr = :cidr, #pool = :pool",
                "ConditionExpression": (
                    f"{same} AND (attribute_not_exists(#allocation) OR #allocation = :none)"
                ),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        }
        return self._transact("backfill", [update, *items])
