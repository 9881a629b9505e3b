"""The DynamoDB single table: request records and idempotency locks.

Layout (SPEC "Data model"):

- request items: `request_id` = the id, `type` = VPC_REQUEST, the record's
  fields, and the keys of two sparse indexes: `list_pk` + `created_sort`
  (index `by_created`, the listing) and `status` + `created_sort` (index
  `by_status`, used to find requests that need another push).
- lock items: `request_id` = `lock#<sub>#<key>`, `type` = IDEMPOTENCY_LOCK,
  `target_request_id`, `body_hash`, `ttl_epoch`. They carry neither index key,
  so they never appear in a listing.

Every worker write is conditional on the worker's lease (`lease_owner`), so a
worker that lost its claim cannot overwrite the one that took over.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from .clock import iso_timestamp
from .errors import BackendFailure
from .models import (
    PENDING_STATUSES,
    ErrorInfo,
    ProvisioningRequest,
    RequestRecord,
    Rollback,
    Status,
    SubnetState,
)

REQUEST_TYPE = "VPC_REQUEST"
LOCK_TYPE = "IDEMPOTENCY_LOCK"
LIST_INDEX = "by_created"
STATUS_INDEX = "by_status"
LIST_PARTITION = REQUEST_TYPE
# The attributes of a position in the listing index (DynamoDB's LastEvaluatedKey).
LIST_KEY_ATTRIBUTES = ("request_id", "list_pk", "created_sort")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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


@dataclass(frozen=True)
class Claimed:
    record: RequestRecord


@dataclass(frozen=True)
class AlreadyFinished:
    record: RequestRecord


@dataclass(frozen=True)
class LeaseHeld:
    record: RequestRecord


@dataclass(frozen=True)
class Missing:
    pass


ClaimResult = Claimed | AlreadyFinished | LeaseHeld | Missing


class LeaseLost(Exception):
    """Another worker holds the request now; this one must stop writing."""


class RequestStore:
    """All DynamoDB access. Raises BackendFailure when DynamoDB fails."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    # --- API -----------------------------------------------------------------

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
                            "Item": _serialize(lock_item),
                            "ConditionExpression": (
                                "attribute_not_exists(request_id) OR ttl_epoch <= :now"
                            ),
                            "ExpressionAttributeValues": _serialize({":now": int(now)}),
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _serialize(record_to_item(record)),
                            "ConditionExpression": "attribute_not_exists(request_id)",
                        }
                    },
                ],
                # Makes botocore's own retry of this call idempotent.
                ClientRequestToken=record.request_id,
            )
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise BackendFailure("DynamoDB TransactWriteItems", exc) from exc
            reasons = exc.response.get("CancellationReasons") or []
            lock_reason = reasons[0] if reasons else {}
            if lock_reason.get("Code") == "ConditionalCheckFailed" and "Item" in lock_reason:
                old = _deserialize(lock_reason["Item"])
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
        response = self._call(
            "GetItem",
            self._ddb.get_item,
            TableName=self._table,
            Key=_serialize({"request_id": request_id}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = _deserialize(item)
        if data.get("type") != REQUEST_TYPE:
            return None
        return item_to_record(data)

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
                "ExpressionAttributeValues": _serialize({":p": LIST_PARTITION}),
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(items),
            }
            if exclusive_start:
                kwargs["ExclusiveStartKey"] = _serialize(exclusive_start)
            response = self._call("Query", self._ddb.query, **kwargs)
            items.extend(_deserialize(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            exclusive_start = {k: str(v) for k, v in _deserialize(last).items()}
        records = [item_to_record(i) for i in items[:limit]]
        if len(items) <= limit:
            return records, None
        final = items[limit - 1]
        return records, {name: str(final[name]) for name in LIST_KEY_ATTRIBUTES}

    # --- Worker --------------------------------------------------------------

    def claim(self, request_id: str, owner: str, now: float, lease_seconds: float) -> ClaimResult:
        """Take the request for this worker until now + lease_seconds, counting an attempt.

        Succeeds only if the request is QUEUED or IN_PROGRESS and nobody holds a
        live lease on it. Returns the record as claimed (no separate read).
        """
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key=_serialize({"request_id": request_id}),
                UpdateExpression=(
                    "SET #status = :in_progress, lease_owner = :owner, lease_until = :until, "
                    "updated_at = :now_iso, attempts = if_not_exists(attempts, :zero) + :one"
                ),
                ConditionExpression=(
                    "#type = :request_type AND #status IN (:queued, :in_progress) "
                    "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
                ),
                ExpressionAttributeNames={"#status": "status", "#type": "type"},
                ExpressionAttributeValues=_serialize(
                    {
                        ":in_progress": Status.IN_PROGRESS.value,
                        ":queued": Status.QUEUED.value,
                        ":owner": owner,
                        ":until": _decimal(now + lease_seconds),
                        ":now": _decimal(now),
                        ":now_iso": iso_timestamp(now),
                        ":zero": 0,
                        ":one": 1,
                        ":request_type": REQUEST_TYPE,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise BackendFailure("DynamoDB UpdateItem (claim)", exc) from exc
            old = exc.response.get("Item")
            if not old:
                return Missing()
            data = _deserialize(old)
            if data.get("type") != REQUEST_TYPE:
                return Missing()
            record = item_to_record(data)
            if record.lease_owner == owner:
                # Our own claim, whose answer was lost and which botocore retried.
                return Claimed(record)
            if record.status not in PENDING_STATUSES:
                return AlreadyFinished(record)
            return LeaseHeld(record)
        except BotoCoreError as exc:
            raise BackendFailure("DynamoDB UpdateItem (claim)", exc) from exc
        return Claimed(item_to_record(_deserialize(response["Attributes"])))

    def renew_lease(self, request_id: str, owner: str, until: float) -> bool:
        """Extend this worker's lease. False if the lease is no longer ours."""
        try:
            self._owned_update(
                request_id,
                owner,
                "SET lease_until = :until",
                {":until": _decimal(until)},
                require_in_progress=True,
            )
        except LeaseLost:
            return False
        return True

    def release_lease(self, request_id: str, owner: str) -> None:
        """Let the next delivery claim at once (best effort; the lease expires anyway)."""
        with contextlib.suppress(LeaseLost, BackendFailure):
            self._owned_update(request_id, owner, "SET lease_until = :zero", {":zero": 0})

    def checkpoint_vpc(self, request_id: str, owner: str, vpc_id: str, now: float) -> None:
        """Record the VPC id as soon as it exists. Raises LeaseLost if the claim was lost."""
        self._owned_update(
            request_id,
            owner,
            "SET vpc_id = :vpc, updated_at = :now_iso",
            {":vpc": vpc_id, ":now_iso": iso_timestamp(now)},
            require_in_progress=True,
        )

    def checkpoint_subnets(
        self, request_id: str, owner: str, subnet_ids: dict[int, str], now: float
    ) -> None:
        """Record the ids of some subnets (by position) in one write.

        Raises LeaseLost if the claim was lost.
        """
        assignments = [f"subnets[{int(i)}].subnet_id = :s{int(i)}" for i in sorted(subnet_ids)]
        values: dict[str, Any] = {f":s{int(i)}": sid for i, sid in subnet_ids.items()}
        self._owned_update(
            request_id,
            owner,
            f"SET {', '.join(assignments)}, updated_at = :now_iso",
            {**values, ":now_iso": iso_timestamp(now)},
            require_in_progress=True,
        )

    def finish(self, record: RequestRecord, owner: str, now: float) -> None:
        """Write the worker's final state of `record` (status, ids, error, rollback).

        Idempotent for the same owner. Raises LeaseLost if the claim was lost.
        """
        values: dict[str, Any] = {
            ":status": record.status.value,
            ":vpc": record.vpc_id,
            ":subnets": [_subnet_to_item(s) for s in record.subnets],
            ":error": record.error.to_api() if record.error else None,
            ":rollback": _rollback_to_item(record.rollback),
            ":now_iso": iso_timestamp(now),
            ":zero": 0,
        }
        self._owned_update(
            record.request_id,
            owner,
            "SET #status = :status, vpc_id = :vpc, subnets = :subnets, #error = :error, "
            "#rollback = :rollback, updated_at = :now_iso, lease_until = :zero",
            values,
            names={"#status": "status", "#error": "error", "#rollback": "rollback"},
        )

    # --- Reaper --------------------------------------------------------------

    def stale_requests(
        self, status: Status, created_before: str, limit: int
    ) -> Iterator[RequestRecord]:
        """Records in `status` created before `created_before` (a sort timestamp), oldest first."""
        start: dict[str, Any] | None = None
        seen = 0
        while seen < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": STATUS_INDEX,
                "KeyConditionExpression": "#status = :status AND created_sort < :before",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _serialize(
                    {":status": status.value, ":before": created_before}
                ),
                "ScanIndexForward": True,
                "Limit": limit - seen,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._call("Query", self._ddb.query, **kwargs)
            for item in response.get("Items", []):
                seen += 1
                yield item_to_record(_deserialize(item))
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def mark_requeued(self, request_id: str, status: Status, now: float, not_since: float) -> bool:
        """Note that the reaper re-sent this request; False if another run did so since `not_since`
        or the status moved on (then the reaper leaves it alone)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_serialize({"request_id": request_id}),
                UpdateExpression="SET requeued_at = :now",
                ConditionExpression=(
                    "#status = :status "
                    "AND (attribute_not_exists(requeued_at) OR requeued_at < :since) "
                    "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_serialize(
                    {":status": status.value, ":now": _decimal(now), ":since": _decimal(not_since)}
                ),
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise BackendFailure("DynamoDB UpdateItem (requeue)", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure("DynamoDB UpdateItem (requeue)", exc) from exc
        return True

    # --- helpers -------------------------------------------------------------

    def _owned_update(
        self,
        request_id: str,
        owner: str,
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        require_in_progress: bool = False,
    ) -> None:
        condition = "lease_owner = :owner"
        all_values = {**values, ":owner": owner}
        all_names = dict(names or {})
        if require_in_progress:
            condition += " AND #status = :in_progress_state"
            all_values[":in_progress_state"] = Status.IN_PROGRESS.value
            all_names["#status"] = "status"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": _serialize({"request_id": request_id}),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": _serialize(all_values),
        }
        if all_names:
            kwargs["ExpressionAttributeNames"] = all_names
        try:
            self._ddb.update_item(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(request_id) from exc
            raise BackendFailure("DynamoDB UpdateItem", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure("DynamoDB UpdateItem", exc) from exc

    def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(method(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure(f"DynamoDB {operation}", exc) from exc


# --- item <-> record ---------------------------------------------------------


def record_to_item(record: RequestRecord) -> dict[str, Any]:
    """The DynamoDB item (plain Python values) of a new request record."""
    item: dict[str, Any] = {
        "request_id": record.request_id,
        "type": REQUEST_TYPE,
        "list_pk": LIST_PARTITION,
        "created_sort": record.created_sort,
        "status": record.status.value,
        "created_by": record.created_by,
        "created_by_username": record.created_by_username,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "request": record.request.to_json(),
        "subnets": [_subnet_to_item(s) for s in record.subnets],
        "attempts": record.attempts,
        "vpc_id": record.vpc_id,
        "error": record.error.to_api() if record.error else None,
        "rollback": _rollback_to_item(record.rollback),
    }
    return item


def item_to_record(item: dict[str, Any]) -> RequestRecord:
    """Rebuild a record from its item (as deserialized)."""
    error = item.get("error")
    return RequestRecord(
        request_id=str(item["request_id"]),
        status=Status(str(item["status"])),
        created_by=str(item["created_by"]),
        created_by_username=str(item.get("created_by_username") or ""),
        created_at=str(item["created_at"]),
        created_sort=str(item.get("created_sort") or item["created_at"]),
        updated_at=str(item["updated_at"]),
        request=ProvisioningRequest.from_json(item["request"]),
        vpc_id=item.get("vpc_id") or None,
        subnets=[
            SubnetState(
                cidr=str(s["cidr"]),
                az=str(s["az"]),
                name=s.get("name"),
                subnet_id=s.get("subnet_id") or None,
            )
            for s in item.get("subnets") or []
        ],
        error=ErrorInfo(code=str(error["code"]), message=str(error["message"])) if error else None,
        rollback=_rollback_from_item(item.get("rollback")),
        attempts=int(item.get("attempts") or 0),
        lease_owner=item.get("lease_owner"),
        lease_until=float(item.get("lease_until") or 0),
    )


def _subnet_to_item(subnet: SubnetState) -> dict[str, Any]:
    return {
        "cidr": subnet.cidr,
        "az": subnet.az,
        "name": subnet.name,
        "subnet_id": subnet.subnet_id,
    }


def _rollback_to_item(rollback: Rollback | None) -> dict[str, Any] | None:
    if rollback is None:
        return None
    return {
        "deleted": list(rollback.deleted),
        "remaining": list(rollback.remaining),
        "error": rollback.error,
    }


def _rollback_from_item(data: Any) -> Rollback | None:
    if not data:
        return None
    return Rollback(
        deleted=tuple(data.get("deleted") or ()),
        remaining=tuple(data.get("remaining") or ()),
        error=data.get("error"),
    )


def new_request_id() -> str:
    return str(uuid.uuid4())


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _serialize(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in data.items()}


def _deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
