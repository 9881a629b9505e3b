"""Table access: the DynamoDB calls every data-access class makes (BatchGetItem with its
unprocessed keys asked again, conditional updates, the records of a status and what they
name), with
DynamoDB's failures as BackendFailure, and what they answer (`Refused`, `BatchRead`,
`RecordsRead`). The items' layout is `layout`'s, their format `items`'."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.backoff import Backoff
from chalicelib.errors import BackendFailure
from chalicelib.models import RequestRecord, Status
from chalicelib.resource_ids import known_resources
from chalicelib.store.items import deserialize, item_to_record, serialize
from chalicelib.store.layout import REQUEST_TYPE, STATUS_INDEX, VERSION

_BATCH_GET_LIMIT = 100
# Rounds of UnprocessedKeys (throttled reads) retried before giving up on them, and
# the backoff between rounds (full jitter: throttled readers do not retry in step).
_BATCH_GET_ROUNDS = 5
_BATCH_GET_BACKOFF = Backoff(base=0.05, cap=1.0)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """A conditional write whose condition failed, and the item as it is (None: no item)."""

    item: dict[str, Any] | None


@dataclass(frozen=True)
class BatchRead:
    """What a batch read learned: the items found, by key; the keys DynamoDB answered for
    without an item (`absent`: proven not to exist, by a strongly consistent read); and
    every other key asked for (`unknown`: unprocessed after the retries, or never
    answered). A key that is unknown is never taken for absent."""

    items: dict[str, dict[str, Any]]
    absent: frozenset[str]
    unknown: frozenset[str]


@dataclass(frozen=True)
class RecordsRead:
    """Request records read in a batch: `found` by id, `absent` (no such request, proven),
    `unknown` (the read could not tell: nothing may be concluded about them)."""

    found: dict[str, RequestRecord]
    absent: frozenset[str]
    unknown: frozenset[str]


def cancelled(what: str, reasons: list[dict[str, Any]]) -> BackendFailure:
    """A transaction DynamoDB cancelled for reasons its writer cannot settle (a conflict
    with another one in flight): try again later."""
    codes = ", ".join(str(r.get("Code")) for r in reasons)
    return BackendFailure(f"DynamoDB TransactWriteItems ({what})", RuntimeError(codes))


def version_condition(expected: int, names: dict[str, str], values: dict[str, Any]) -> str:
    """The condition "the record is still at version `expected`" (0: an item written before
    versions existed), adding its names and values."""
    names["#version"] = VERSION
    if expected == 0:
        return "attribute_not_exists(#version)"
    values[":expected_version"] = expected
    return "#version = :expected_version"


class Table:
    """The calls every data-access class makes, with DynamoDB's failures as BackendFailure."""

    def __init__(
        self, client: Any, table_name: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._sleep = sleep

    def _key(self, request_id: str) -> dict[str, Any]:
        return serialize({"request_id": request_id})

    def _call(self, operation: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(method(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure(f"DynamoDB {operation}", exc) from exc

    def _transaction(self, what: str, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Write `items` in one transaction: None when it landed, DynamoDB's reasons (one
        per item) when it cancelled it. Raises BackendFailure on other failures."""
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if error_code(exc) == "TransactionCanceledException" and reasons:
                return list(reasons)
            raise BackendFailure(f"DynamoDB TransactWriteItems ({what})", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure(f"DynamoDB TransactWriteItems ({what})", exc) from exc
        return None

    def _conditional_update(self, operation: str, **kwargs: Any) -> dict[str, Any] | Refused:
        """An UpdateItem of one request: its answer, or `Refused` with the item as it is
        when the condition failed (no extra read). Raises BackendFailure on other failures."""
        try:
            return dict(
                self._ddb.update_item(
                    TableName=self._table, ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                item = exc.response.get("Item")
                return Refused(deserialize(item) if item else None)
            raise BackendFailure(f"DynamoDB UpdateItem ({operation})", exc) from exc
        except BotoCoreError as exc:
            raise BackendFailure(f"DynamoDB UpdateItem ({operation})", exc) from exc

    def _records(self, request_ids: Iterable[str]) -> RecordsRead:
        """The records of these requests (BatchGetItem, strongly consistent): found, proven
        absent, or unknown. Raises BackendFailure when a call fails (nothing is proven)."""
        return records_of(self._batch_get(request_ids))

    def _batch_get(self, keys: Iterable[str]) -> BatchRead:
        """Items by key, in batches of 100; keys DynamoDB hands back unprocessed are asked
        again after a jittered backoff, and are `unknown` if they never come back."""
        ids = sorted(set(keys))
        items: dict[str, dict[str, Any]] = {}
        answered: set[str] = set()
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            pending = ids[start : start + _BATCH_GET_LIMIT]
            for round_ in range(1, _BATCH_GET_ROUNDS + 1):
                response = self._call(
                    "BatchGetItem",  # pragma: no mutate
                    self._ddb.batch_get_item,
                    RequestItems={
                        self._table: {
                            "Keys": [self._key(i) for i in pending],
                            "ConsistentRead": True,
                        }
                    },
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    data = deserialize(item)
                    items[str(data["request_id"])] = data
                unprocessed = {
                    str(deserialize(key)["request_id"])
                    for key in response.get("UnprocessedKeys", {})
                    .get(self._table, {})
                    .get("Keys", [])
                }
                # Only a key that was asked for and not handed back was answered.
                answered.update(i for i in pending if i not in unprocessed)
                pending = [i for i in pending if i in unprocessed]
                if not pending:
                    break
                if round_ < _BATCH_GET_ROUNDS:
                    self._sleep(_BATCH_GET_BACKOFF.delay(round_))
            if pending:
                logger.warning(
                    "BatchGetItem: %d key(s) still unprocessed after %d rounds: unknown",
                    len(pending),
                    _BATCH_GET_ROUNDS,
                )
        absent = frozenset(answered - set(items))
        unknown = frozenset(set(ids) - answered)
        return BatchRead(items, absent, unknown)

    def _every_item(
        self, index: str, condition: str, **expression: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of one Query of `index` (deserialized), page after page: a page that
        fails raises BackendFailure, so a caller never mistakes part for all."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": index,
                "KeyConditionExpression": condition,
                **expression,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._call("Query", self._ddb.query, **kwargs)
            yield from (deserialize(i) for i in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def succeeded(self) -> list[RequestRecord]:
        """Every SUCCEEDED record, as the status index shows it (it may lag), oldest first:
        one Query per page, every page."""
        return self._in_status(Status.SUCCEEDED)

    def named_in(self, statuses: Iterable[Status]) -> dict[str, str]:
        """Every resource id a record in one of `statuses` names, with that record's request
        id, from the status index (every page of one Query per status). Raises
        BackendFailure (then nothing is proven)."""
        return {
            resource_id: record.request_id
            for status in statuses
            for record in self._in_status(status)
            for resource_id in known_resources(record).all
        }

    def _in_status(self, status: Status) -> list[RequestRecord]:
        items = self._every_item(
            STATUS_INDEX,
            "#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize({":status": status.value}),
        )
        return [item_to_record(i) for i in items]

    def _read_item(self, request_id: str) -> dict[str, Any] | None:
        """The item of a request, strongly consistent; None if absent or not a request."""
        response = self._call(
            "GetItem",  # pragma: no mutate
            self._ddb.get_item,
            TableName=self._table,
            Key=self._key(request_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = deserialize(item)
        return data if data.get("type") == REQUEST_TYPE else None


def records_of(read: BatchRead) -> RecordsRead:
    """The request records of a batch read (an item that is not a request proves that no
    request has its id)."""
    found: dict[str, RequestRecord] = {}
    absent = set(read.absent)
    for request_id, data in read.items.items():
        if data.get("type") == REQUEST_TYPE:
            found[request_id] = item_to_record(data)
        else:
            absent.add(request_id)
    return RecordsRead(found, frozenset(absent), read.unknown)


def error_code(exc: BaseException) -> str:
    """A ClientError's code ("" for any other failure)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def conflicted(failure: BackendFailure) -> bool:
    """Whether DynamoDB refused a single-item write because a transaction was writing the
    item (TransactionConflictException), or cancelled a transaction because another one
    held one of its items (`cancelled`, TransactionConflict): nothing written, busy for a
    moment. Both say so in their text (a cancellation in its reasons' codes)."""
    return "TransactionConflict" in str(failure.cause)
