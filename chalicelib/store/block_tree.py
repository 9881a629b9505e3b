"""The block tree: the items that prove no two live networks overlap, and the
TransactItems that hold, share and free a block (store/blocks.py reads and frees them).

Layout (docs/how-it-works.md, the table): one item per block that is (or was) held or
shared, or contains one, `request_id` = `block#<cidr>`, `type` = ADDRESS_BLOCK:

- a held block (a request's VPC CIDR, or a VPC this deployment did not make) carries
  `holder` (the request id, or the VPC id), `cidr`, and `pool_pk` (its pool's name, or
  OUTSIDE for a block outside every pool: the key of index `by_pool`);
- every block from /16 (the largest VPC) down to a held or shared block's parent carries
  `descendants`: how many held or shared blocks it contains;
- a CIDR that overlaps a held block and is kept anyway is shared: a request's that
  CIDR_OVERLAP=allow let in, or a VPC this deployment did not make that overlaps a live
  allocation. Its item `shared#<holder>` (`shared#<vpc id>#<cidr>` for a VPC) carries
  `holder`, `cidr` and `pool_pk`, for the index; its block's own item counts it in
  `sharers`, and each ancestor in `descendants`, unconditionally (the overlap is allowed).

Allocating a block is part of the transaction that accepts the request: the
block's own item is written only if it is not held, not shared and holds nothing
(`sharers` and `descendants` absent or 0), and each of its ancestors gains one
descendant only if it is neither held nor shared itself. Any overlap, with a block
larger or smaller, held or shared, therefore cancels the transaction, whatever order
concurrent POSTs run in: no lock, no read-then-write, and no reliance on what a process
last read of the pool's index. Shorter prefixes than /16 are never a VPC, so they need
no item.

Releasing is the reverse (the own item's `holder` removed, if still this holder's, or
its `sharers` less one; each ancestor loses one), in one transaction with a write to
the record that is conditional on its version and on `allocation` still saying held
(or shared): a replay after a lost answer is refused by it, so a block is freed
exactly once. Whoever sees a request
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

from ipaddress import IPv4Network
from typing import Any

from chalicelib.addresses import ancestors
from chalicelib.store.items import serialize

BLOCK_TYPE = "ADDRESS_BLOCK"
BLOCK_PREFIX = "block#"
SHARED_PREFIX = "shared#"
# The `pool_pk` of blocks outside every pool (pool names cannot start with "~").
OUTSIDE = "~outside"


def pool_key(pool: str | None) -> str:
    return pool if pool is not None else OUTSIDE


def block_key(block: IPv4Network) -> dict[str, Any]:
    return serialize({"request_id": f"{BLOCK_PREFIX}{block}"})


# Neither held nor shared: the condition of every item a new hold writes.
_FREE = "attribute_not_exists(holder) AND (attribute_not_exists(sharers) OR sharers = :zero)"


def allocation(
    table: str, block: IPv4Network, holder: str, pool: str | None
) -> list[dict[str, Any]]:
    """TransactItems that hold `block` for `holder`; cancelled on any overlap, with a held
    block or a shared one. The own item comes first and hands back what held it
    (`ReturnValuesOnConditionCheckFailure`)."""
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
                f"{_FREE} AND (attribute_not_exists(descendants) OR descendants = :zero)"
            ),
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return [own] + [_count(table, parent, +1, guarded=True) for parent in ancestors(block)]


def shared_key(holder: str, block: IPv4Network) -> str:
    """The `request_id` of a shared CIDR's item: a request has one CIDR, a VPC several."""
    if holder.startswith("vpc-"):
        return f"{SHARED_PREFIX}{holder}#{block}"
    return f"{SHARED_PREFIX}{holder}"


def shared(table: str, block: IPv4Network, holder: str, pool: str | None) -> list[dict[str, Any]]:
    """TransactItems of a CIDR kept although it may overlap held blocks: its item in the
    pool's index, and its marks in the blocks' counts (`sharers` on its own block,
    `descendants` on each ancestor), so that no later hold overlaps it."""
    item = {
        "request_id": shared_key(holder, block),
        "type": BLOCK_TYPE,
        "holder": holder,
        "cidr": str(block),
        "pool_pk": pool_key(pool),
    }
    # Once: the marks below are unconditional, and a transaction applied twice (a retry
    # of one whose answer was lost) would count the CIDR twice, and never free it.
    put = {
        "Put": {
            "TableName": table,
            "Item": serialize(item),
            "ConditionExpression": "attribute_not_exists(request_id)",
        }
    }
    marks = [_count(table, parent, +1) for parent in ancestors(block)]
    return [put, _count(table, block, +1, "sharers"), *marks]


def release(table: str, block: IPv4Network, holder: str) -> list[dict[str, Any]]:
    """TransactItems that free `block`, if `holder` holds it. The own item stays, without
    `holder`, for the counts a shared CIDR may have put on it."""
    own = {
        "Update": {
            "TableName": table,
            "Key": block_key(block),
            "UpdateExpression": "REMOVE holder, cidr, pool_pk, prefix_length",
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": serialize({":holder": holder}),
        }
    }
    return [own] + [_count(table, parent, -1) for parent in ancestors(block)]


def release_shared(table: str, block: IPv4Network, holder: str) -> list[dict[str, Any]]:
    """TransactItems that free a shared CIDR of `holder`: its item and its marks."""
    own = {
        "Delete": {
            "TableName": table,
            "Key": serialize({"request_id": shared_key(holder, block)}),
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": serialize({":holder": holder}),
        }
    }
    marks = [_count(table, parent, -1) for parent in ancestors(block)]
    return [own, _count(table, block, -1, "sharers"), *marks]


def _count(
    table: str, block: IPv4Network, step: int, name: str = "descendants", guarded: bool = False
) -> dict[str, Any]:
    """Add `step` to `block`'s count `name`: a new hold's (`guarded`) only if the block is
    neither held nor shared; a decrease only if the count is not already 0."""
    values: dict[str, Any] = {":step": step, ":type": BLOCK_TYPE}
    if guarded:
        condition = _FREE
        values[":zero"] = 0
    elif step < 0:
        condition = "#count >= :one"
        values[":one"] = 1
    else:
        condition = None
    update: dict[str, Any] = {
        "TableName": table,
        "Key": block_key(block),
        "UpdateExpression": "ADD #count :step SET #type = :type",
        "ExpressionAttributeNames": {"#type": "type", "#count": name},
        "ExpressionAttributeValues": serialize(values),
    }
    if condition is not None:
        update["ConditionExpression"] = condition
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": update}


def conflict_of(reasons: list[dict[str, Any]]) -> tuple[str | None, IPv4Network | None]:
    """The holder a cancelled allocation ran into and its block, when DynamoDB said (a
    held block that contains it, or the block itself); (None, None) when only a count did
    (a smaller block inside is held) or the cancellation was not a failed condition."""
    for reason in reasons:
        if reason.get("Code") != "ConditionalCheckFailed":
            continue
        item = reason.get("Item") or {}
        holder = item.get("holder", {}).get("S")
        if holder:
            cidr = item.get("cidr", {}).get("S")
            return str(holder), IPv4Network(cidr) if cidr else None
    return None, None


def blocked(reasons: list[dict[str, Any]]) -> bool:
    """Whether a cancellation's reasons include a failed block condition (an overlap)."""
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
