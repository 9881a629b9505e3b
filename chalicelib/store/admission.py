"""The POST's one transaction: the request, its idempotency lock (`IdempotencyLock`), its
place under its owner's quota and its address block, written together or not at all, and
what came of it (`Created`, `KeyInUse`, `KeyBusy`, `BlockTaken`, or store/quota.py's
`QuotaFull`). `Admissions` is a mixin of store/api.py's RequestStore, the `api_handler`
function's data access.

Allowed by policy-api.json: PutItem and UpdateItem, in that transaction (the request, its
lock and a shared CIDR's item are Puts; the quota place, store/quota.py's, and a held
block's items, store/block_tree.py's, Updates); GetItem, a lock read on its own
(`live_lock`: a replay whose pool is full).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure
from chalicelib.models import HELD, SHARED, RequestRecord
from chalicelib.store.block_tree import allocation, blocked, conflict_of, shared
from chalicelib.store.items import deserialize, record_to_item, serialize
from chalicelib.store.layout import LOCK_TYPE
from chalicelib.store.quota import Quota, QuotaFull, live_of, take_place
from chalicelib.store.table import Table, error_code


@dataclass(frozen=True)
class IdempotencyLock:
    """Who used which Idempotency-Key for which body, until `ttl_epoch`."""

    caller_sub: str
    key: str
    target_request_id: str
    body_hash: str
    ttl_epoch: int

    @property
    def item_id(self) -> str:
        return lock_id(self.caller_sub, self.key)


def lock_id(caller_sub: str, key: str) -> str:
    """The table key of the lock for (caller, Idempotency-Key)."""
    return f"lock#{caller_sub}#{key}"


@dataclass(frozen=True)
class Created:
    """The request and its lock were written."""


@dataclass(frozen=True)
class KeyInUse:
    """A live lock already holds the key; it points at an earlier request."""

    lock: IdempotencyLock


@dataclass(frozen=True)
class KeyBusy:
    """A concurrent transaction on the same key is in flight; or, with `quota`, on the
    caller's quota item (several POSTs of one user at once); or, with `addresses`, on an
    address block's count (POSTs allocating in the same /16 at once)."""

    quota: bool = False
    addresses: bool = False


@dataclass(frozen=True)
class BlockTaken:
    """The request's block overlaps a held one: its holder (a request id or a VPC id) and
    the holder's block (the request's or one around it) when DynamoDB said, None when only
    a smaller held block inside it is known."""

    holder: str | None
    block: IPv4Network | None = None


class Admissions(Table):
    """Accepts a request. Raises BackendFailure when DynamoDB fails."""

    def live_lock(self, caller_sub: str, key: str, now: float) -> IdempotencyLock | None:
        """The live lock of (caller, Idempotency-Key), strongly consistent; None if none."""
        response = self._call(
            "GetItem",  # pragma: no mutate
            self._ddb.get_item,
            TableName=self._table,
            Key=self._key(lock_id(caller_sub, key)),
            ConsistentRead=True,
        )
        item = deserialize(response.get("Item") or {})
        if item.get("type") != LOCK_TYPE or int(item["ttl_epoch"]) <= now:
            return None
        return _lock(caller_sub, key, item)

    def create(
        self,
        record: RequestRecord,
        lock: IdempotencyLock,
        now: float,
        quota: Quota | None = None,
        attempt: int = 0,
    ) -> Created | KeyInUse | KeyBusy | QuotaFull | BlockTaken:
        """Write the request and its idempotency lock in one transaction; with a `quota`,
        also take a place in its owner's live set (store/quota.py); and hold its block
        as `record.allocation` says (store/block_tree.py): BlockTaken on an overlap.

        The lock is written only if no live lock holds the key (an expired one
        is replaced: TTL deletion is lazy, so expiry is checked here). On a
        live lock, returns it (no extra read: DynamoDB hands back the old item),
        whatever the quota says: a replay is never refused by it. A full set is
        QuotaFull, with its ids. `attempt`: how many calls this POST made before (each one
        answered: refused, or cancelled).
        """
        lock_item = {
            "request_id": lock.item_id,
            "type": LOCK_TYPE,
            "target_request_id": lock.target_request_id,
            "body_hash": lock.body_hash,
            "ttl_epoch": lock.ttl_epoch,
            "created_at": iso_timestamp(now),
        }
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(lock_item),
                    "ConditionExpression": (
                        "attribute_not_exists(request_id) OR ttl_epoch <= :now"
                    ),
                    "ExpressionAttributeValues": serialize({":now": int(now)}),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(record_to_item(record)),
                    "ConditionExpression": "attribute_not_exists(request_id)",
                }
            },
        ]
        if quota is not None:
            items.append(take_place(self._table, quota, record.request_id))
        first_block = len(items)
        if record.allocation == HELD:
            block = IPv4Network(record.cidr)
            items += allocation(self._table, block, record.request_id, record.pool)
        elif record.allocation == SHARED:
            block = IPv4Network(record.cidr)
            items += shared(self._table, block, record.request_id, record.pool)
        try:
            self._ddb.transact_write_items(
                TransactItems=items,
                # Makes botocore's own retry of this call idempotent. One token per call
                # of the POST: a token names one set of items, and a call after an answer
                # (room made, a conflict gone) must not meet the earlier call's outcome.
                ClientRequestToken=str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL,
                        f"{record.request_id}/{record.cidr}/{record.allocation}/{attempt}",
                    )
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
            reasons = exc.response.get("CancellationReasons") or []
            lock_reason = reasons[0] if reasons else {}
            if lock_reason.get("Code") == "ConditionalCheckFailed" and "Item" in lock_reason:
                old = deserialize(lock_reason["Item"])
                return KeyInUse(_lock(lock.caller_sub, lock.key, old))
            quota_reason = reasons[2] if quota is not None and len(reasons) > 2 else {}
            if quota_reason.get("Code") == "ConditionalCheckFailed":
                old = quota_reason.get("Item") or {}
                return QuotaFull(live_of(old), seeded="seeded" in old)
            block_reasons = reasons[first_block:]
            if lock_reason.get("Code") != "ConditionalCheckFailed" and blocked(block_reasons):
                return BlockTaken(*conflict_of(block_reasons))
            # A conflicting transaction in flight, or a failed check whose old
            # item did not come back (seen under concurrency in emulators):
            # either way, trying again shortly settles it.
            if lock_reason.get("Code") == "ConditionalCheckFailed" or any(
                r.get("Code") == "TransactionConflict" for r in reasons
            ):
                return KeyBusy(
                    quota=quota_reason.get("Code") == "TransactionConflict",
                    addresses=any(r.get("Code") == "TransactionConflict" for r in block_reasons),
                )
            raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
        return Created()


def _lock(caller_sub: str, key: str, item: dict[str, Any]) -> IdempotencyLock:
    return IdempotencyLock(
        caller_sub=caller_sub,
        key=key,
        target_request_id=str(item["target_request_id"]),
        body_hash=str(item["body_hash"]),
        ttl_epoch=int(item["ttl_epoch"]),
    )
