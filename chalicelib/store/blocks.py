"""Address-block items: how the table proves that no two live networks overlap.

Layout (docs/how-it-works.md, the table): one item per block that is held or contains a
held block, `request_id` = `block#<cidr>`, `type` = ADDRESS_BLOCK:

- a held block (a request's VPC CIDR) carries `holder` (the request id) and
  `pool` (its pool's name; absent for a CIDR outside every pool);
- every block from /16 (the largest VPC) down to a held block's parent carries
  `descendants`: how many held blocks it contains.

Allocating a block is part of the transaction that accepts the request: the
block's own item is written only if it is not held and holds nothing
(`descendants` absent or 0), and each of its ancestors gains one descendant
only if it is not held itself. Any overlap, with a block larger or smaller,
therefore cancels the transaction, whatever order concurrent POSTs run in: no
lock, no read-then-write. Shorter prefixes than /16 are never a VPC, so they
need no item. Releasing is the reverse (the own item deleted, if still this
request's; each ancestor loses one), written in the same transaction as the
record's final transition, which is conditional on the record's version: a
replay after a lost answer is refused with it, so a block is freed exactly once.

Writes to one /16 serialize on its counter (DynamoDB refuses concurrent
transactions on one item): a pool's allocations in different /16s do not
contend. Ancestors whose count returns to 0 stay as small items.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from chalicelib.addresses import ancestors
from chalicelib.store.table import serialize

BLOCK_TYPE = "ADDRESS_BLOCK"
BLOCK_PREFIX = "block#"


def block_key(block: IPv4Network) -> dict[str, Any]:
    return serialize({"request_id": f"{BLOCK_PREFIX}{block}"})


def allocation(
    table: str, block: IPv4Network, request_id: str, pool: str | None
) -> list[dict[str, Any]]:
    """TransactItems that hold `block` for `request_id`; cancelled on any overlap. The own
    item comes first and hands back what held it (`ReturnValuesOnConditionCheckFailure`)."""
    values: dict[str, Any] = {
        ":holder": request_id,
        ":type": BLOCK_TYPE,
        ":prefix": block.prefixlen,
        ":zero": 0,
    }
    names = {"#type": "type"}
    assignments = "holder = :holder, #type = :type, prefix_length = :prefix"
    if pool is not None:
        values[":pool"] = pool
        names["#pool"] = "pool"  # a reserved word
        assignments += ", #pool = :pool"
    own = {
        "Update": {
            "TableName": table,
            "Key": block_key(block),
            "UpdateExpression": f"SET {assignments}",
            "ConditionExpression": (
                "attribute_not_exists(holder) "
                "AND (attribute_not_exists(descendants) OR descendants = :zero)"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return [own] + [_count(table, parent, +1) for parent in ancestors(block)]


def release(table: str, block: IPv4Network, request_id: str) -> list[dict[str, Any]]:
    """TransactItems that free `block`, if `request_id` holds it."""
    own = {
        "Delete": {
            "TableName": table,
            "Key": block_key(block),
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": serialize({":holder": request_id}),
        }
    }
    return [own] + [_count(table, parent, -1) for parent in ancestors(block)]


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
    """The request id a cancelled allocation ran into, when DynamoDB said (a held block
    that contains it, or the block itself); None when only a count did (a smaller block
    inside is held) or the cancellation was not a failed condition."""
    for reason in reasons:
        if reason.get("Code") != "ConditionalCheckFailed":
            continue
        holder = (reason.get("Item") or {}).get("holder", {}).get("S")
        if holder:
            return str(holder)
    return None
