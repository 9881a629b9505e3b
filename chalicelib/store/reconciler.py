"""The reconciler's table access: read the records of the requests EC2 has resources for,
and note what was done about their orphans.

Allowed by policy-reconciler.json: BatchGetItem, UpdateItem.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..clock import iso_timestamp
from ..models import RequestRecord
from .table import Refused, Table, mutable_fields, serialize


class ReconcilerStore(Table):
    """Raises BackendFailure when DynamoDB fails."""

    def records(self, request_ids: Iterable[str]) -> dict[str, RequestRecord]:
        """The records of these requests that exist (strongly consistent), by id."""
        return self._records(request_ids)

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
