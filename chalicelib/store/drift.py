"""The reconciler's drift access: read the SUCCEEDED requests, and write what their records
say about drift.

Allowed by policy-reconciler.json (the reconciler's role, like `store.reconciler`):
Query on the status index, UpdateItem.

The SUCCEEDED requests come from the `by_status` index, page by page (its cost grows
with the pages, not with one read per request). An index read may lag: every write
is conditional on the record still being SUCCEEDED and at the version read, so a
record that moved on (a DELETE, another note) is never written over; the next run
reads it again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.clock import iso_timestamp
from chalicelib.models import RequestRecord, Status
from chalicelib.store.items import drift_to_item, mutable_fields, serialize
from chalicelib.store.layout import DRIFT_PARTITION, REQUEST_TYPE, VERSION
from chalicelib.store.table import Refused, Table, version_condition


class DriftStore(Table):
    """Raises BackendFailure when DynamoDB fails."""

    def save(self, record: RequestRecord, now: float) -> RequestRecord | None:
        """Write the record's drift, `drift_detected_at` and the ids of what it names (a
        restored subnet, gateway or route table it adopts: no longer an orphan of its
        `orphans`, which is written too), if it is still SUCCEEDED and
        at `record.version`; bumps the version. The drift index's key is set while there
        is drift and removed with it (the index holds only drifted records). Returns the
        record as written, or None when it moved on (nothing written). Raises
        BackendFailure (then it may or may not have landed: a later run reads again)."""
        fields = mutable_fields(record)
        names = {"#status": "status", "#type": "type", "#version": VERSION}
        values: dict[str, Any] = {
            ":succeeded": Status.SUCCEEDED.value,
            ":request_type": REQUEST_TYPE,
            ":subnets": fields["subnets"],
            ":gateway": fields["internet_gateway_id"],
            ":table": fields["route_table_id"],
            ":orphans": fields["orphans"],
            ":drift": drift_to_item(record.drift),
            ":detected": record.drift_detected_at,
            ":now_iso": iso_timestamp(now),
            ":next_version": record.version + 1,
        }
        same = version_condition(record.version, names, values)
        expression = (
            "SET subnets = :subnets, internet_gateway_id = :gateway, route_table_id = :table, "
            "orphans = :orphans, drift = :drift, drift_detected_at = :detected, "
            "updated_at = :now_iso, #version = :next_version"
        )
        if record.drift:
            expression += ", drift_pk = :drift_pk"
            values[":drift_pk"] = DRIFT_PARTITION
        else:
            expression += " REMOVE drift_pk"
        answer = self._conditional_update(
            "drift note",  # pragma: no mutate
            Key=self._key(record.request_id),
            UpdateExpression=expression,
            ConditionExpression=f"#type = :request_type AND #status = :succeeded AND {same}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if isinstance(answer, Refused):
            return None
        return replace(record, version=record.version + 1, updated_at=iso_timestamp(now))
