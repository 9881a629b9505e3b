"""A pool's blocks as the index lists them, and freeing an ended request's block or a
gone VPC's: what every role that ends requests shares. The items and the transactions
that make the table refuse an overlap are store/block_tree.py's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from chalicelib.addresses import VPC_PREFIX_MAX, VPC_PREFIX_MIN
from chalicelib.errors import BackendFailure
from chalicelib.models import HELD, RELEASED, SHARED, RequestRecord
from chalicelib.resource_ids import duplicate_may_hold, vpc_noted
from chalicelib.store.block_tree import (
    BLOCK_PREFIX,
    SHARED_PREFIX,
    allocation,
    blocked,
    conflict_of,
    pool_key,
    release,
    release_shared,
    shared,
)
from chalicelib.store.items import serialize
from chalicelib.store.layout import POOL_INDEX
from chalicelib.store.table import Table, cancelled, version_condition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Taken:
    """A block of a pool that something holds: a request (its id) or a VPC (its id)."""

    block: IPv4Network
    holder: str
    shared: bool = False


class AddressBlocks(Table):
    """Reads a pool's blocks and frees an ended request's block: what every role that
    ends requests shares. Raises BackendFailure when DynamoDB fails."""

    def taken(self, pool: str | None) -> list[Taken]:
        """Every block held in `pool` (None: outside every pool), shared ones included.
        One Query per page of the index (eventually consistent: a transaction decides)."""
        items = self._every_item(
            POOL_INDEX,
            "pool_pk = :p",
            ExpressionAttributeValues=serialize({":p": pool_key(pool)}),
        )
        return [
            Taken(
                IPv4Network(str(item["cidr"])),
                str(item["holder"]),
                shared=str(item["request_id"]).startswith(SHARED_PREFIX),
            )
            for item in items
            if item.get("holder") and item.get("cidr")
        ]

    def holder_within(self, block: IPv4Network) -> str | None:
        """Who holds a block inside `block` (or around it), found by walking down the tree
        from it (one consistent BatchGetItem per level, through the blocks that count some;
        the first with the blocks around it), whatever pool's index it is filed under: one
        filed under a pool since removed or narrowed is in none that covers it now. "" when
        none is held there but one inside, around or equal is shared (no key names who
        shares it); None when nothing overlaps it now (freed meanwhile: a retry decides) or
        the reads could not tell (a key unread proves nothing)."""
        level = [
            block,
            *(block.supernet(new_prefix=p) for p in range(VPC_PREFIX_MIN, block.prefixlen)),
        ]
        shared = False
        while level:
            read = self._batch_get(f"{BLOCK_PREFIX}{b}" for b in level)
            if read.unknown:
                return None
            below: list[IPv4Network] = []
            for inner in level:
                item = read.items.get(f"{BLOCK_PREFIX}{inner}") or {}
                if item.get("holder"):
                    return str(item["holder"])
                shared |= int(item.get("sharers") or 0) > 0
                if (
                    int(item.get("descendants") or 0)
                    and block.prefixlen <= inner.prefixlen < VPC_PREFIX_MAX
                ):
                    below += inner.subnets(1)
            level = below
        return "" if shared else None

    def release_addresses(self, record: RequestRecord) -> bool:
        """Free the block of `record`, an ended request read at `record.version`: exactly
        once (the record's `allocation` moves to released in the same transaction). True
        when this call freed it; False when there was nothing to free, a VPC of it may
        still have it (`vpc_noted`: freed once that orphan is removed), or the record
        moved on (a later run decides again). Raises BackendFailure when the answer is lost."""
        if record.allocation not in (HELD, SHARED) or vpc_noted(record):
            return False
        names = {"#allocation": "allocation"}
        values: dict[str, Any] = {":released": RELEASED, ":was": record.allocation}
        same = version_condition(record.version, names, values)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(record.request_id),
                    "UpdateExpression": "SET #allocation = :released",
                    "ConditionExpression": f"{same} AND #allocation = :was",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": serialize(values),
                }
            }
        ]
        release_items = release if record.allocation == HELD else release_shared
        items += release_items(self._table, IPv4Network(record.cidr), record.request_id)
        return self._transact("release", items)

    def release_or_leave(self, record: RequestRecord) -> None:
        """`release_addresses`, by one who finds the request ended and is not the last
        chance: a failure is logged, and the address upkeep (or the next POST that runs into
        the block) frees it. Not the block of one whose creation lost an answer: a duplicate
        VPC of it may have it, which only the upkeep's listing shows (the worker that has
        just torn it down frees it itself, `release_addresses`)."""
        try:
            if not duplicate_may_hold(record):
                self.release_addresses(record)
        except BackendFailure as exc:
            logger.warning("request %s: freeing its addresses failed (%s)", record.request_id, exc)

    def free_foreign(self, taken: Taken) -> bool:
        """Free the block of a VPC that this deployment did not make and that is gone."""
        free = release_shared if taken.shared else release
        return self._transact("release", free(self._table, taken.block, taken.holder))

    def hold_foreign(
        self, block: IPv4Network, vpc_id: str, pool: str | None, owner: str | None = None
    ) -> bool:
        """Hold the block of a VPC that no live request holds; where it overlaps a held
        block, share it (no later hold overlaps it either). `owner`: the request whose tag
        the VPC carries; when that request holds the block (a POST the upkeep's read of the
        blocks did not show), it is its own: not shared. False when not held (that, or a
        count moved meanwhile: a later run tries again)."""
        reasons = self._transaction("hold", allocation(self._table, block, vpc_id, pool))
        if reasons is None:
            return True
        if not blocked(reasons):
            raise cancelled("hold", reasons)
        if owner is not None and conflict_of(reasons)[0] == owner:
            return False
        return self._transact("share", shared(self._table, block, vpc_id, pool))

    def _transact(self, what: str, items: list[dict[str, Any]]) -> bool:
        """True when the transaction landed, False when a block or count it checks moved
        meanwhile. Raises BackendFailure otherwise."""
        reasons = self._transaction(what, items)
        if reasons is None:
            return True
        if blocked(reasons):
            return False
        raise cancelled(what, reasons)
