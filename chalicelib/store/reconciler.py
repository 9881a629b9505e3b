"""The reconciler's table access: read the records of the requests EC2 has resources for,
note what it is about to remove and what it removed, and keep its ledger.

Allowed by policy-reconciler.json: BatchGetItem, UpdateItem.

The ledger (store/ledger.py) names the requests a run must read even once their
resources are gone from EC2's listings (`pending`: a removal noted but not finished, or
a FAILED request that leaves something), and where the last run stopped (`cursor`), so
that every run starts where the last one ended (resources that cannot be removed never
keep the others waiting). It also holds the run under way (`run_owner`, `run_until`):
one run at a time, so that no run takes a request off the ledger that another run has
just put on it (the schedule may start a run while the last one still works, and
EventBridge may start one twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from chalicelib.clock import iso_timestamp
from chalicelib.models import RequestRecord
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.items import decimal, deserialize, mutable_fields, serialize
from chalicelib.store.layout import VERSION
from chalicelib.store.ledger import LEDGER_ID, LEDGER_TYPE, Ledger, LedgerEntries, ledger_of
from chalicelib.store.table import RecordsRead, Refused, version_condition


class ReconcilerStore(AddressBlocks, LedgerEntries):
    """Raises BackendFailure when DynamoDB fails."""

    def claim_run(self, owner: str, now: float, until: float) -> Ledger | None:
        """Make this run (`owner`) the one under way until `until`, unless another run is
        (its `run_until` not passed); returns the ledger as it then is (read strongly
        consistent, before any record), or None when another run is under way."""
        names = {"#type": "type", "#owner": "run_owner", "#until": "run_until"}
        values = {
            ":type": LEDGER_TYPE,
            ":owner": owner,
            ":until": decimal(until),
            ":now": decimal(now),
        }
        answer = self._conditional_update(
            "UpdateItem (reconciler run)",  # pragma: no mutate
            Key=self._key(LEDGER_ID),
            UpdateExpression="SET #type = :type, #owner = :owner, #until = :until",
            # Its own claim again (a retry after a lost answer) is taken too.
            ConditionExpression=(
                "attribute_not_exists(#until) OR #until < :now OR #owner = :owner"
            ),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
            ReturnValues="ALL_NEW",
        )
        if isinstance(answer, Refused):
            return None
        return ledger_of(deserialize(answer.get("Attributes") or {}))

    def release_run(self, owner: str) -> None:
        """End the run `owner` (if it is still the one under way); the next run need not
        wait for its `run_until`."""
        self._conditional_update(
            "UpdateItem (reconciler run)",  # pragma: no mutate
            Key=self._key(LEDGER_ID),
            UpdateExpression="REMOVE #owner, #until",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "run_owner", "#until": "run_until"},
            ExpressionAttributeValues=serialize({":owner": owner}),
        )

    def records(self, request_ids: Iterable[str]) -> RecordsRead:
        """The records of these requests (one strongly consistent BatchGetItem per 100; keys
        left unprocessed are retried, then reported unknown): found, absent or unknown."""
        return self._records(request_ids)

    def save(self, record: RequestRecord, now: float) -> RequestRecord | None:
        """Write the record's ids, rollback, orphans and lost answers (all a reconciler's note
        changes), if it is still at `record.version` (the version read); bumps it. Returns
        the record as written, or None when it moved on (nothing written: the caller
        decides again on a fresh read).
        Raises BackendFailure when the answer is lost (it may or may not have landed)."""
        fields = mutable_fields(record)
        names = {"#rollback": "rollback", "#version": VERSION}
        values = {
            ":vpc": fields["vpc_id"],
            ":subnets": fields["subnets"],
            ":gateway": fields["internet_gateway_id"],
            ":table": fields["route_table_id"],
            ":rollback": fields["rollback"],
            ":orphans": fields["orphans"],
            ":lost": fields["lost_answers"],
            ":now_iso": iso_timestamp(now),
            ":next_version": record.version + 1,
        }
        same = version_condition(record.version, names, values)
        answer = self._conditional_update(
            "reconciler note",  # pragma: no mutate
            Key=self._key(record.request_id),
            UpdateExpression=(
                "SET vpc_id = :vpc, subnets = :subnets, internet_gateway_id = :gateway, "
                "route_table_id = :table, #rollback = :rollback, "
                "orphans = :orphans, lost_answers = :lost, updated_at = :now_iso, "
                "#version = :next_version"
            ),
            ConditionExpression=same,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if isinstance(answer, Refused):
            return None
        return replace(record, version=record.version + 1)

    def settle(self, finished: Iterable[str], cursor: str, ledger: Ledger) -> None:
        """Take `finished` off the pending requests and move the cursor, if the ledger is
        still at `ledger.version` (a worker may have added one of them again since).
        When refused, the cursor alone is moved (unconditionally: where to start next is a
        hint) and the finished ones stay pending until a later run."""
        ids = sorted(set(finished))
        names = {"#type": "type", "#version": VERSION, "#cursor": "cursor"}
        values: dict[str, Any] = {":type": LEDGER_TYPE, ":cursor": cursor, ":one": 1}
        same = version_condition(ledger.version, names, values)
        expression = "SET #type = :type, #cursor = :cursor ADD #version :one"
        if ids:
            expression += " DELETE #pending :ids"
            values[":ids"] = set(ids)
            names["#pending"] = "pending"
        answer = self._conditional_update(
            "ledger",  # pragma: no mutate
            Key=self._key(LEDGER_ID),
            UpdateExpression=expression,
            ConditionExpression=same,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if not isinstance(answer, Refused):
            return
        self._call(
            "UpdateItem (ledger cursor)",  # pragma: no mutate
            self._ddb.update_item,
            TableName=self._table,
            Key=self._key(LEDGER_ID),
            UpdateExpression="SET #type = :type, #cursor = :cursor",
            ExpressionAttributeNames={"#type": "type", "#cursor": "cursor"},
            ExpressionAttributeValues=serialize({":type": LEDGER_TYPE, ":cursor": cursor}),
        )
