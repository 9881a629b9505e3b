"""Quota items: the live requests of each user, for MAX_LIVE_REQUESTS_PER_USER.

Layout (docs/how-it-works.md, the table): `request_id` = `quota#<sub>`, `type` = QUOTA, `live`
= the string set of the user's live request ids. No index key: never listed.

A POST adds its request id to the set in the transaction that stores the request,
only if the set is smaller than the limit: concurrent POSTs of one user never get
past it. A request leaves the set by a set deletion, which is idempotent: repeated
(a lost answer, two cleanups at once), it changes nothing, so each request's place
comes back exactly once. Ended requests are taken out when a POST finds the set
full (the API reads their records first), so the limit never counts one. A FAILED
request that held nothing when it was taken out is live again once a DELETE moves it
to DELETING (its teardown looks in EC2 again): that move puts it back (`put_back`).

A place is taken only in a `seeded` item: the user's live requests from before the
limit applied to them (no limit, an admin then, an earlier version) are in no set, so
the first limited POST that finds no seeded item puts them in from the by-creator
index (`seed`), once, and tries again. An admin's POST under a limit takes no place and
marks the admin's item unseeded (`take_place` of a Quota of 0): what they made as an
admin counts once they are limited again. Under no limit (0), a user's first POST in
each API process marks their item unseeded the same way (api/quota.py; the POSTs after
it touch no item, so the user's POSTs at once do not wait on each other), so a limit
turned on, off and on again counts what they made meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from chalicelib.store.items import serialize

QUOTA_TYPE = "QUOTA"
QUOTA_PREFIX = "quota#"


@dataclass(frozen=True)
class Quota:
    """Whose quota a POST takes a place in, and its size (0: an admin's, exempt)."""

    owner: str  # the caller's sub
    limit: int


@dataclass(frozen=True)
class QuotaFull:
    """The owner's set already holds `limit` ids (these)."""

    live: frozenset[str]
    seeded: bool = True  # False: the set was never seeded with the owner's earlier requests


def quota_key(owner: str) -> dict[str, Any]:
    return serialize({"request_id": f"{QUOTA_PREFIX}{owner}"})


def take_place(table: str, quota: Quota, request_id: str) -> dict[str, Any]:
    """A TransactItem adding `request_id` to the owner's live set, if it has room. A
    cancelled one hands the set back (ReturnValuesOnConditionCheckFailure). Of a Quota of
    0: marking the set unseeded, taking no place."""
    if not quota.limit:
        return {
            "Update": {
                "TableName": table,
                "Key": quota_key(quota.owner),
                "UpdateExpression": "REMOVE seeded SET #type = :type",
                "ExpressionAttributeNames": {"#type": "type"},
                "ExpressionAttributeValues": serialize({":type": QUOTA_TYPE}),
            }
        }
    item = put_back(table, quota.owner, request_id)
    item["Update"].update(
        ConditionExpression="attribute_exists(seeded) AND "
        "(attribute_not_exists(live) OR size(live) < :limit)",
        ExpressionAttributeValues=serialize(
            {":id": {request_id}, ":type": QUOTA_TYPE, ":limit": quota.limit}
        ),
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return item


def put_back(table: str, owner: str, request_id: str) -> dict[str, Any]:
    """A TransactItem adding `request_id` to the owner's live set, whatever its size: a
    request live again (DELETE of a FAILED one) after its place may have been given back.
    Idempotent: a set holds an id once."""
    return {
        "Update": {
            "TableName": table,
            "Key": quota_key(owner),
            "UpdateExpression": "ADD live :id SET #type = :type",
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": serialize({":id": {request_id}, ":type": QUOTA_TYPE}),
        }
    }


def seed(owner: str, live: Collection[str]) -> dict[str, Any]:
    """UpdateItem arguments (without the table) adding the owner's `live` requests to the
    set and marking it seeded, unless it is: a second seed, raced or repeated, adds nothing."""
    values: dict[str, Any] = {":type": QUOTA_TYPE, ":yes": True}
    add = ""
    if live:  # DynamoDB holds no empty set
        values[":ids"] = set(live)
        add = " ADD live :ids"
    return {
        "Key": quota_key(owner),
        "UpdateExpression": "SET seeded = :yes, #type = :type" + add,
        "ConditionExpression": "attribute_not_exists(seeded)",
        "ExpressionAttributeNames": {"#type": "type"},
        "ExpressionAttributeValues": serialize(values),
    }


def give_back(owner: str, request_ids: Collection[str]) -> dict[str, Any]:
    """UpdateItem arguments (without the table) taking `request_ids` out of the set."""
    return {
        "Key": quota_key(owner),
        "UpdateExpression": "DELETE live :ids",
        "ExpressionAttributeValues": serialize({":ids": set(request_ids)}),
    }


def live_of(item: dict[str, Any] | None) -> frozenset[str]:
    """The live set of a quota item as DynamoDB hands it back (typed)."""
    return frozenset((item or {}).get("live", {}).get("SS", []))
