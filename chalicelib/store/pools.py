"""The address upkeep's table access (the reconciler's function and policy,
policy-reconciler.json): the blocks of every pool, the records of their holders, the
foreign VPCs' blocks, and the one-time backfill of records from before pools (and before
the reconciler's ledger, which it adds them to).

Allowed by policy-reconciler.json: BatchGetItem, UpdateItem, PutItem and DeleteItem on
the table (in transactions: see store/blocks.py), Query on `by_pool` and `by_created`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from chalicelib.errors import BackendFailure
from chalicelib.models import HELD, RELEASED, SHARED, RequestRecord
from chalicelib.store.block_tree import allocation, shared
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.items import deserialize, item_to_record, serialize
from chalicelib.store.layout import LIST_INDEX, LIST_PARTITION
from chalicelib.store.ledger import LedgerEntries
from chalicelib.store.table import RecordsRead, version_condition

# Where the backfill of records from before pools and the ledger stands (upkeep/pools.py):
# `done`, or the position of the next page to look at. (Until
# 2026-12-07 `meta#address-backfill`, for pools alone: a stage done with it does it again.)
BACKFILL_ID = "meta#records-backfill"
_BACKFILL_PAGE = 100


@dataclass(frozen=True)
class BackfillPage:
    """Records of one page of the listing, and the position after it (None: the last)."""

    records: list[RequestRecord]
    after: dict[str, Any] | None


class PoolStore(AddressBlocks, LedgerEntries):
    """Raises BackendFailure when DynamoDB fails."""

    def records(self, request_ids: Iterable[str]) -> RecordsRead:
        """Records, strongly consistent: found, proven absent, or unknown."""
        return self._records(request_ids)

    # --- the backfill ----------------------------------------------------------------

    def backfill_position(self) -> dict[str, Any] | bool | None:
        """True when the backfill is done; else where the next run starts (None: the
        beginning)."""
        read = self._batch_get([BACKFILL_ID])
        if BACKFILL_ID in read.unknown:
            raise BackendFailure("DynamoDB BatchGetItem (backfill)", RuntimeError("unprocessed"))
        item = read.items.get(BACKFILL_ID)
        if item is None:
            return None
        if item.get("done"):
            return True
        return dict(item["after"]) if item.get("after") else None

    def note_backfill(self, after: dict[str, Any] | None, done: bool) -> None:
        self._call(
            "PutItem (backfill)",  # pragma: no mutate
            self._ddb.put_item,
            TableName=self._table,
            Item=serialize(
                {"request_id": BACKFILL_ID, "type": "META", "done": done, "after": after}
            ),
        )

    def backfill_page(self, after: dict[str, Any] | None) -> BackfillPage:
        """One page of every request (the listing index), oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "list_pk = :p",
            "ExpressionAttributeValues": serialize({":p": LIST_PARTITION}),
            "Limit": _BACKFILL_PAGE,
        }
        if after:
            kwargs["ExclusiveStartKey"] = serialize(after)
        response = self._call("Query", self._ddb.query, **kwargs)
        records = [item_to_record(deserialize(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return BackfillPage(records, deserialize(last) if last else None)

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
