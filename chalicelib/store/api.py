"""The api_handler's table access: accept a request with its idempotency lock, read, list.

Allowed by policy-api.json: PutItem (in a transaction), GetItem, and Query on
the listing index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..clock import iso_timestamp
from ..errors import BackendFailure
from ..models import RequestRecord
from .table import (
    LIST_INDEX,
    LIST_KEY_ATTRIBUTES,
    LIST_PARTITION,
    LOCK_TYPE,
    Table,
    deserialize,
    error_code,
    item_to_record,
    record_to_item,
    serialize,
)


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
    """A concurrent transaction on the same key is in flight."""


class RequestStore(Table):
    """Accepts, reads and lists requests. Raises BackendFailure when DynamoDB fails."""

    def create(
        self, record: RequestRecord, lock: IdempotencyLock, now: float
    ) -> Created | KeyInUse | KeyBusy:
        """Write the request and its idempotency lock in one transaction.

        The lock is written only if no live lock holds the key (an expired one
        is replaced: TTL deletion is lazy, so expiry is checked here). On a
        live lock, returns it (no extra read: DynamoDB hands back the old item).
        """
        lock_item = {
            "request_id": lock.item_id,
            "type": LOCK_TYPE,
            "target_request_id": lock.target_request_id,
            "body_hash": lock.body_hash,
            "ttl_epoch": lock.ttl_epoch,
            "created_at": iso_timestamp(now),
        }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
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
                ],
                # Makes botocore's own retry of this call idempotent.
                ClientRequestToken=record.request_id,
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
            # A conflicting transaction in flight, or a failed check whose old
            # item did not come back (seen under concurrency in emulators):
            # either way, trying again shortly settles it.
            if lock_reason.get("Code") == "ConditionalCheckFailed" or any(
                r.get("Code") == "TransactionConflict" for r in reasons
            ):
                return KeyBusy()
            raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
        return Created()

    def get(self, request_id: str) -> RequestRecord | None:
        """The request record, or None. Strongly consistent: a POST is visible at once."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None

    def list_page(
        self, limit: int, start: dict[str, str] | None
    ) -> tuple[list[RequestRecord], dict[str, str] | None]:
        """Up to `limit` records, newest first, after `start`; and the position of the last one
        if more follow.

        One Query in the usual case: it asks for limit + 1 items so that a full
        final page is not followed by an empty one.
        """
        items: list[dict[str, Any]] = []
        exclusive_start = start
        while len(items) <= limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": LIST_INDEX,
                "KeyConditionExpression": "list_pk = :p",
                "ExpressionAttributeValues": serialize({":p": LIST_PARTITION}),
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(items),
            }
            if exclusive_start:
                kwargs["ExclusiveStartKey"] = serialize(exclusive_start)
            response = self._call("Query", self._ddb.query, **kwargs)
            items.extend(deserialize(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            exclusive_start = {k: str(v) for k, v in deserialize(last).items()}
        records = [item_to_record(i) for i in items[:limit]]
        if len(items) <= limit:
            return records, None
        final = items[limit - 1]
        return records, {name: str(final[name]) for name in LIST_KEY_ATTRIBUTES}
