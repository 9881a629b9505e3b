"""The reconciler's table access: read the records of the requests EC2 has resources for,
and note what was done about their orphans.

Allowed by policy-reconciler.json: BatchGetItem, UpdateItem.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..clock import iso_timestamp
from ..models import RequestRecord
from .table import (
    REQUEST_TYPE,
    Refused,
    Table,
    deserialize,
    item_to_record,
    mutable_fields,
    serialize,
)

_BATCH_GET_LIMIT = 100
_BATCH_GET_ROUNDS = 5


class ReconcilerStore(Table):
    """Raises BackendFailure when DynamoDB fails."""

    def records(self, request_ids: Iterable[str]) -> dict[str, RequestRecord]:
        """The records of these requests that exist (strongly consistent), by id."""
        ids = sorted(set(request_ids))
        found: dict[str, RequestRecord] = {}
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            keys: list[dict[str, Any]] = [
                self._key(i) for i in ids[start : start + _BATCH_GET_LIMIT]
            ]
            for _ in range(_BATCH_GET_ROUNDS):
                if not keys:
                    break
                response = self._call(
                    "BatchGetItem",
                    self._ddb.batch_get_item,
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}},
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    data = deserialize(item)
                    if data.get("type") == REQUEST_TYPE:
                        record = item_to_record(data)
                        found[record.request_id] = record
                keys = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return found

    def save_orphans(self, record: RequestRecord, previous: RequestRecord, now: float) -> bool:
        """Write `record`'s orphans and ids, if the record is still as `previous` read it.

        Conditional on the status and the orphans list being unchanged, so two
        reconciler runs, or a worker, never overwrite each other. Returns False
        when the record moved on (the next run looks again).
        """
        fields = mutable_fields(record)
        answer = self._conditional_update(
            "orphans",
            Key=self._key(record.request_id),
            UpdateExpression=(
                "SET vpc_id = :vpc, subnets = :subnets, #error = :error, #rollback = :rollback, "
                "orphans = :orphans, updated_at = :now_iso"
            ),
            ConditionExpression=(
                "#status = :status AND (orphans = :previous OR attribute_not_exists(orphans))"
            ),
            ExpressionAttributeNames={
                "#status": "status",
                "#error": "error",
                "#rollback": "rollback",
            },
            ExpressionAttributeValues=serialize(
                {
                    ":vpc": fields["vpc_id"],
                    ":subnets": fields["subnets"],
                    ":error": fields["error"],
                    ":rollback": fields["rollback"],
                    ":orphans": fields["orphans"],
                    ":now_iso": iso_timestamp(now),
                    ":status": previous.status.value,
                    ":previous": mutable_fields(previous)["orphans"],
                }
            ),
        )
        return not isinstance(answer, Refused)
