"""The api_handler's table access: accept a request with its idempotency lock, read, list,
and move a request along DELETE's transitions.

Allowed by policy-api.json: PutItem, UpdateItem and DeleteItem (in transactions: the
request, its lock, its quota place, its address block and, once it ended, freeing it), GetItem,
UpdateItem, and Query on the listing indexes (by_created, by_status, by_creator, by_drift)
and on the pools' (by_pool).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure
from chalicelib.models import HISTORY_LIMIT, RequestRecord, Status, changed
from chalicelib.store.blocks import (
    HELD,
    SHARED,
    AddressBlocks,
    allocation,
    blocked,
    conflict_of,
    shared,
)
from chalicelib.store.items import (
    HISTORY_APPEND,
    deserialize,
    history_append_values,
    history_to_item,
    item_to_record,
    record_to_item,
    serialize,
)
from chalicelib.store.layout import LOCK_TYPE, REQUEST_TYPE, VERSION
from chalicelib.store.listing import Listings
from chalicelib.store.quota import Quota, QuotaFull, give_back, live_of, take_place
from chalicelib.store.table import RecordsRead, Refused, error_code, records_of, version_condition


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
    """The request's block overlaps a held one: its holder (a request id or a VPC id) when
    DynamoDB said, None when only a smaller held block inside it is known."""

    holder: str | None


@dataclass(frozen=True)
class Moved:
    """A transition was written: the request is now in `status`."""

    status: Status


@dataclass(frozen=True)
class NotMoved:
    """A transition's condition failed: the record as it is now (None: no such request)."""

    record: RequestRecord | None


class RequestStore(AddressBlocks, Listings):
    """Accepts, reads and lists requests. Raises BackendFailure when DynamoDB fails."""

    def create(
        self,
        record: RequestRecord,
        lock: IdempotencyLock,
        now: float,
        quota: Quota | None = None,
    ) -> Created | KeyInUse | KeyBusy | QuotaFull | BlockTaken:
        """Write the request and its idempotency lock in one transaction; with a `quota`,
        also take a place in its owner's live set (store/quota.py); and hold its block
        as `record.allocation` says (store/blocks.py): BlockTaken on an overlap.

        The lock is written only if no live lock holds the key (an expired one
        is replaced: TTL deletion is lazy, so expiry is checked here). On a
        live lock, returns it (no extra read: DynamoDB hands back the old item),
        whatever the quota says: a replay is never refused by it. A full set is
        QuotaFull, with its ids.
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
            items.append(shared(self._table, block, record.request_id, record.pool))
        try:
            self._ddb.transact_write_items(
                TransactItems=items,
                # Makes botocore's own retry of this call idempotent (one token per
                # block tried: a token names one set of items).
                ClientRequestToken=str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL, f"{record.request_id}/{record.cidr}/{record.allocation}"
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
                return KeyInUse(
                    IdempotencyLock(
                        caller_sub=lock.caller_sub,
                        key=lock.key,
                        target_request_id=str(old["target_request_id"]),
                        body_hash=str(old["body_hash"]),
                        ttl_epoch=int(old["ttl_epoch"]),
                    )
                )
            quota_reason = reasons[2] if quota is not None and len(reasons) > 2 else {}
            if quota_reason.get("Code") == "ConditionalCheckFailed" and "Item" in quota_reason:
                return QuotaFull(live_of(quota_reason["Item"]))
            block_reasons = reasons[first_block:]
            if lock_reason.get("Code") != "ConditionalCheckFailed" and blocked(block_reasons):
                return BlockTaken(conflict_of(block_reasons))
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

    def records(self, request_ids: Collection[str]) -> RecordsRead:
        """The records of `request_ids` (batch reads; a key never answered is unknown)."""
        return records_of(self._batch_get(request_ids))

    def give_back(self, owner: str, request_ids: Collection[str]) -> None:
        """Take `request_ids` out of `owner`'s live set (idempotent). Raises BackendFailure."""
        arguments = give_back(owner, request_ids)
        self._call("UpdateItem", self._ddb.update_item, TableName=self._table, **arguments)

    def get(self, request_id: str) -> RequestRecord | None:
        """The request record, or None. Strongly consistent: a POST is visible at once."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None

    # --- DELETE's transitions ------------------------------------------------------

    def move(
        self,
        request_id: str,
        target: Status,
        sources: tuple[Status, ...],
        now: float,
        created_by: str | None = None,
        read: RequestRecord | None = None,
    ) -> Moved | NotMoved:
        """Set the request's status to `target` if it is in one of `sources`: one UpdateItem.

        Also required, when given: that `created_by` made the request, and that the
        record is still at the version of `read` (the record the caller read and decided
        on: a decision taken on a read is never written over a newer state). Without
        `read` the write decides by itself, atomically, on the status as it is
        (DELETE's first bet, which reads nothing), and only while the record's history
        has room. Adds the move to the history. Bumps the version, so a worker still
        holding an older one writes nothing more. Moving to DELETING sets
        `lease_until` to 0, so a worker may claim the teardown at once. Sets
        `updated_at`. When the condition fails, returns the record as it is
        (DynamoDB hands the item back: no extra read). Never creates an item.

        Moving to DELETING also clears the record's drift and takes it off the drift
        listing: drift is how EC2 differs from a SUCCEEDED record, and what a teardown
        finds gone is not an error (`teardown` says what went).
        """
        names = {"#status": "status", "#type": "type", "#version": VERSION}
        at = iso_timestamp(now)
        values: dict[str, Any] = {
            ":target": target.value,
            ":request_type": REQUEST_TYPE,
            ":now_iso": at,
            ":zero": 0,
            ":one": 1,
            **{f":s{i}": status.value for i, status in enumerate(sources)},
        }
        assignments = [
            "#status = :target",
            "updated_at = :now_iso",
            "#version = if_not_exists(#version, :zero) + :one",
        ]
        placeholders = ", ".join(f":s{i}" for i in range(len(sources)))
        conditions = ["#type = :request_type", f"#status IN ({placeholders})"]
        if read is None:
            # Nothing read: the move is appended to the history as the item holds it, unless
            # that is full (then the condition fails, and DELETE decides again on the record
            # handed back, with its version: the next branch trims it). A retry never lands
            # twice: the status it moves from is gone.
            assignments.append(HISTORY_APPEND)
            conditions.append("(attribute_not_exists(history) OR size(history) < :limit)")
            values.update({**history_append_values(target, at), ":limit": HISTORY_LIMIT})
        else:
            # Decided on `read`, and written only at its version: the history is the one
            # read, so it is written whole, trimmed to its bound.
            assignments.append("history = :history")
            values[":history"] = history_to_item(changed(read.history, target, at))
            conditions.append(version_condition(read.version, names, values))
        removals = ""
        if target is Status.DELETING:
            assignments += [
                "lease_until = :zero",
                "drift = :no_drift",
                "drift_detected_at = :no_time",
            ]
            values.update({":no_drift": [], ":no_time": None})
            removals = " REMOVE drift_pk"
        if created_by is not None:
            conditions.append("#created_by = :created_by")
            names["#created_by"] = "created_by"
            values[":created_by"] = created_by
        answer = self._conditional_update(
            f"{target.value.lower()}",
            Key=self._key(request_id),
            UpdateExpression="SET " + ", ".join(assignments) + removals,
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if not isinstance(answer, Refused):
            return Moved(target)
        item = answer.item
        if item is None or item.get("type") != REQUEST_TYPE:
            return NotMoved(None)
        return NotMoved(item_to_record(item))
