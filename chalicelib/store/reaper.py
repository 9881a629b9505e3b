"""The reaper's table access: find requests that stalled, note that they were re-sent, and
read the requests of dead letters.

Allowed by policy-reaper.json: Query on the status index, UpdateItem, BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib.clock import iso_timestamp
from chalicelib.models import RequestRecord, Status
from chalicelib.store.items import decimal, deserialize, item_to_record, serialize
from chalicelib.store.layout import STATUS_INDEX, VERSION
from chalicelib.store.table import RecordsRead, Refused, Table, version_condition


class ReaperStore(Table):
    """Raises BackendFailure when DynamoDB fails."""

    def stale_requests(
        self, status: Status, created_before: str, limit: int, now: float, stale: float
    ) -> Iterator[RequestRecord]:
        """Up to `limit` records in `status` created before `created_before` (a sort
        timestamp), oldest first, that have stalled: no live lease at `now`, untouched and not
        re-sent since `stale`. Those that have not stalled are left out by DynamoDB's filter,
        so they never use up the `limit`: however many older requests are busy (a teardown
        tried again and again, a lease held), a stalled one behind them is reached. Reads on
        page after page until `limit` are found or the index has no more."""
        start: dict[str, Any] | None = None
        seen = 0
        while seen < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": STATUS_INDEX,
                "KeyConditionExpression": "#status = :status AND created_sort < :before",
                "FilterExpression": (
                    "(attribute_not_exists(lease_until) OR lease_until <= :now) "
                    "AND updated_at <= :stale_at "
                    "AND (attribute_not_exists(requeued_at) OR requeued_at < :stale)"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(
                    {
                        ":status": status.value,
                        ":before": created_before,
                        ":now": decimal(now),
                        ":stale_at": iso_timestamp(stale),
                        ":stale": decimal(stale),
                    }
                ),
                "ScanIndexForward": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._call("Query", self._ddb.query, **kwargs)
            for item in response.get("Items", [])[: limit - seen]:
                seen += 1
                yield item_to_record(deserialize(item))
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def oldest(self, status: Status) -> RequestRecord | None:
        """The earliest-created record in `status`, if any (one query of the status index)."""
        response = self._call(
            "Query",
            self._ddb.query,
            TableName=self._table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize({":status": status.value}),
            ScanIndexForward=True,
            Limit=1,
        )
        items = response.get("Items", [])
        return item_to_record(deserialize(items[0])) if items else None

    def records(self, request_ids: Iterable[str]) -> RecordsRead:
        """The records of these requests (strongly consistent): found, absent or unknown."""
        return self._records(request_ids)

    def mark_requeued(self, record: RequestRecord, now: float, not_since: float) -> bool:
        """Note that the reaper re-sends this request (before it sends: two runs never both
        send); False if another run did so since `not_since`, or the record moved on from
        the version read (then the reaper leaves it alone: the index it was read from may
        lag). This run's own note, refused to botocore's retry of a write whose answer was
        lost, is known by its time: True. Keeps the version: a note, not a transition.
        Raises BackendFailure when DynamoDB fails (the note may have landed)."""
        names = {"#status": "status"}
        values = {
            ":status": record.status.value,
            ":now": decimal(now),
            ":since": decimal(not_since),
        }
        same = version_condition(record.version, names, values)
        answer = self._conditional_update(
            "requeue",
            Key=self._key(record.request_id),
            UpdateExpression="SET requeued_at = :now",
            ConditionExpression=(
                f"{same} AND #status = :status "
                "AND (attribute_not_exists(requeued_at) OR requeued_at < :since) "
                "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
            ),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if isinstance(answer, Refused):
            return _noted(answer.item, record, now)
        return True

    def unmark_requeued(self, record: RequestRecord, now: float) -> None:
        """Take back this run's note (its send failed): the next run finds the request
        stalled again, rather than after another STALE_AFTER_SECONDS. Only the note written
        at `now`, whatever else changed. Raises BackendFailure when DynamoDB fails."""
        self._conditional_update(
            "requeue-taken-back",
            Key=self._key(record.request_id),
            UpdateExpression="REMOVE requeued_at",
            ConditionExpression="requeued_at = :now",
            ExpressionAttributeValues=serialize({":now": decimal(now)}),
        )


def _noted(item: dict[str, Any] | None, record: RequestRecord, now: float) -> bool:
    """Whether `item` (as a refused note found it) holds the note of the run at `now` on the
    record as read: that run's own write, landed before."""
    return (
        item is not None
        and item.get("requeued_at") == decimal(now)
        and int(item.get(VERSION) or 0) == record.version
        and item.get("status") == record.status.value
    )
