"""Address-block items: how the table proves that no two live networks overlap.

Layout (docs/how-it-works.md, the table): one item per block that is held or contains a
held block, `request_id` = `block#<cidr>`, `type` = ADDRESS_BLOCK:

- a held block (a request's VPC CIDR, or a VPC this deployment did not make) carries
  `holder` (the request id, or the VPC id), `cidr`, and `pool_pk` (its pool's name, or
  OUTSIDE for a block outside every pool: the key of index `by_pool`);
- every block from /16 (the largest VPC) down to a held block's parent carries
  `descendants`: how many held blocks it contains;
- a CIDR that CIDR_OVERLAP=allow let overlap a held block is `shared#<request id>`
  (`holder`, `cidr`, `pool_pk`): no block item can hold it, yet sized allocations, which
  read the pool's index, keep away from it.

Allocating a block is part of the transaction that accepts the request: the
block's own item is written only if it is not held and holds nothing
(`descendants` absent or 0), and each of its ancestors gains one descendant
only if it is not held itself. Any overlap, with a block larger or smaller,
therefore cancels the transaction, whatever order concurrent POSTs run in: no
lock, no read-then-write. Shorter prefixes than /16 are never a VPC, so they
need no item.

Releasing is the reverse (the own item deleted, if still this holder's; each
ancestor loses one), in one transaction with a write to the record that is
conditional on its version and on `allocation` still saying held: a replay after a
lost answer is refused by it, so a block is freed exactly once. Whoever sees a request
end frees its block at once (the API on DELETE, the worker, the reconciler); the
address upkeep frees what they missed, and a POST that runs into an ended request's
block frees it before trying again.

Writes to one /16 serialize on its counter (DynamoDB cancels concurrent
transactions on one item: TransactionConflict): a pool's allocations in different
/16s do not contend, and a sized POST that meets a busy /16 moves on to the lowest
free block of another (api/block_conflicts.py `after_busy`), so simultaneous POSTs
spread over the pool's /16s instead of taking turns on one count. Ancestors whose
count returns to 0 stay as small items.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.addresses import ancestors
from chalicelib.errors import BackendFailure
from chalicelib.models import RequestRecord
from chalicelib.store.items import serialize
from chalicelib.store.layout import POOL_INDEX
from chalicelib.store.table import Table, error_code, version_condition

logger = logging.getLogger(__name__)

BLOCK_TYPE = "ADDRESS_BLOCK"
BLOCK_PREFIX = "block#"
SHARED_PREFIX = "shared#"
# The `pool_pk` of blocks outside every pool (pool names cannot start with "~").
OUTSIDE = "~outside"
# A record's `allocation`.
HELD, SHARED, RELEASED = "held", "shared", "released"


@dataclass(frozen=True)
class Taken:
    """A block of a pool that something holds: a request (its id) or a VPC (its id)."""

    block: IPv4Network
    holder: str
    shared: bool = False


def pool_key(pool: str | None) -> str:
    return pool if pool is not None else OUTSIDE


def block_key(block: IPv4Network) -> dict[str, Any]:
    return serialize({"request_id": f"{BLOCK_PREFIX}{block}"})


def allocation(
    table: str, block: IPv4Network, holder: str, pool: str | None
) -> list[dict[str, Any]]:
    """TransactItems that hold `block` for `holder`; cancelled on any overlap. The own
    item comes first and hands back what held it (`ReturnValuesOnConditionCheckFailure`)."""
    values: dict[str, Any] = {
        ":holder": holder,
        ":type": BLOCK_TYPE,
        ":prefix": block.prefixlen,
        ":cidr": str(block),
        ":pool": pool_key(pool),
        ":zero": 0,
    }
    own = {
        "Update": {
            "TableName": table,
            "Key": block_key(block),
            "UpdateExpression": (
                "SET holder = :holder, #type = :type, prefix_length = :prefix, "
                "cidr = :cidr, pool_pk = :pool"
            ),
            "ConditionExpression": (
                "attribute_not_exists(holder) "
                "AND (attribute_not_exists(descendants) OR descendants = :zero)"
            ),
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return [own] + [_count(table, parent, +1) for parent in ancestors(block)]


def shared(table: str, block: IPv4Network, request_id: str, pool: str | None) -> dict[str, Any]:
    """The TransactItem of a CIDR that may overlap held blocks (CIDR_OVERLAP=allow)."""
    item = {
        "request_id": f"{SHARED_PREFIX}{request_id}",
        "type": BLOCK_TYPE,
        "holder": request_id,
        "cidr": str(block),
        "pool_pk": pool_key(pool),
    }
    return {"Put": {"TableName": table, "Item": serialize(item)}}


def release(table: str, block: IPv4Network, holder: str) -> list[dict[str, Any]]:
    """TransactItems that free `block`, if `holder` holds it."""
    own = {
        "Delete": {
            "TableName": table,
            "Key": block_key(block),
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": serialize({":holder": holder}),
        }
    }
    return [own] + [_count(table, parent, -1) for parent in ancestors(block)]


def release_shared(table: str, request_id: str) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": table,
            "Key": serialize({"request_id": f"{SHARED_PREFIX}{request_id}"}),
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": serialize({":holder": request_id}),
        }
    }


def _count(table: str, parent: IPv4Network, step: int) -> dict[str, Any]:
    values: dict[str, Any] = {":step": step, ":type": BLOCK_TYPE}
    if step > 0:
        condition = "attribute_not_exists(holder)"
    else:
        condition = "descendants >= :one"
        values[":one"] = 1
    return {
        "Update": {
            "TableName": table,
            "Key": block_key(parent),
            "UpdateExpression": "ADD descendants :step SET #type = :type",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def conflict_of(reasons: list[dict[str, Any]]) -> str | None:
    """The holder a cancelled allocation ran into, when DynamoDB said (a held block
    that contains it, or the block itself); None when only a count did (a smaller block
    inside is held) or the cancellation was not a failed condition."""
    for reason in reasons:
        if reason.get("Code") != "ConditionalCheckFailed":
            continue
        holder = (reason.get("Item") or {}).get("holder", {}).get("S")
        if holder:
            return str(holder)
    return None


def blocked(reasons: list[dict[str, Any]]) -> bool:
    """Whether a cancellation's reasons include a failed block condition (an overlap)."""
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


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

    def release_addresses(self, record: RequestRecord) -> bool:
        """Free the block of `record`, an ended request read at `record.version`: exactly
        once (the record's `allocation` moves to released in the same transaction). True
        when this call freed it; False when there was nothing to free or the record moved
        on (a later run decides again). Raises BackendFailure when the answer is lost."""
        if record.allocation not in (HELD, SHARED):
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
        if record.allocation == HELD:
            items += release(self._table, IPv4Network(record.cidr), record.request_id)
        else:
            items.append(release_shared(self._table, record.request_id))
        return self._transact("release", items)

    def release_or_leave(self, record: RequestRecord) -> None:
        """`release_addresses`, by one who saw the request end and is not the last chance:
        a failure is logged, and the address upkeep (or the next POST that runs into the
        block) frees it."""
        try:
            self.release_addresses(record)
        except BackendFailure as exc:
            logger.warning("request %s: freeing its addresses failed (%s)", record.request_id, exc)

    def free_foreign(self, block: IPv4Network, vpc_id: str) -> bool:
        """Free the block of a VPC that this deployment did not make and that is gone."""
        return self._transact("release", release(self._table, block, vpc_id))

    def hold_foreign(self, block: IPv4Network, vpc_id: str, pool: str | None) -> bool:
        """Hold the block of a VPC that this deployment did not make; False when it
        overlaps a held block (it is held once that one is freed)."""
        return self._transact("hold", allocation(self._table, block, vpc_id, pool))

    def _transact(self, what: str, items: list[dict[str, Any]]) -> bool:
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException" and blocked(
                exc.response.get("CancellationReasons") or []
            ):
                return False
            raise BackendFailure(f"DynamoDB TransactWriteItems ({what})", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure(f"DynamoDB TransactWriteItems ({what})", exc) from exc
        return True
