"""The worker's table access: WorkerStore, the `worker` function's data access. Here its
state transitions and its reads (a record as it is now; what the records of other requests
name);
its claims, leases and checkpoints are store/claims.py's (`Claims`, a mixin), the release
of its requests' address blocks store/blocks.py's.

Allowed by policy-worker.json: UpdateItem (its records, and the reconciler's ledger: a
FAILED request that leaves something is added to it first, store/ledger.py), and GetItem
(the consistent read that settles a write whose answer was lost); Query on the status
index (what the SUCCEEDED records and those at work or left by a teardown name, before a
teardown deletes what only a tag tied to it).

Every write is conditional on the record's version as this worker's claim (or its
last transition) left it, besides the lease (`lease_owner`) and the status the
worker expects: a worker that lost its claim, or a record that moved on, is never
overwritten, even when the record came back to the same status and owner since
(DELETE_FAILED -> DELETING -> a stale DELETE_FAILED); a terminal record is never
rewritten. A claim and every transition bump the version; checkpoints and lease
renewals keep it (they only fill in ids, or extend the lease, under the claim that
the version names).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib import metrics
from chalicelib.backoff import Backoff
from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure, LeaseLost, OutcomeUnknown
from chalicelib.models import HOLDING_STATUSES, WORKING_STATUSES, RequestRecord, Status, changed
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.claims import AlreadyFinished, Claimed, Claims, LeaseHeld, Missing
from chalicelib.store.items import history_to_item, item_to_record, mutable_fields, serialize
from chalicelib.store.layout import VERSION
from chalicelib.store.ledger import LedgerEntries
from chalicelib.store.table import Refused, version_condition

# The claim's outcomes are the worker's too: worker/handler.py takes them from here.
__all__ = ["AlreadyFinished", "Claimed", "LeaseHeld", "Missing", "WorkerStore"]


# Waits between tries of a transition whose answer was lost or that failed: random (many
# workers that met one throttle do not come back together), at most 0.2 s, then 0.4, ...
TRANSITION_BACKOFF = Backoff(base=0.2, cap=2.0)


class WorkerStore(AddressBlocks, Claims, LedgerEntries):
    """Raises BackendFailure when DynamoDB fails, LeaseLost when a write's condition fails."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        write_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(client, table_name, sleep)
        self._write_attempts = write_attempts

    # --- transitions -----------------------------------------------------------

    def transition(
        self, record: RequestRecord, owner: str, expected: Status, now: float
    ) -> RequestRecord:
        """Move the record from `expected` to `record.status`, writing its mutable fields
        and `record.history` with the move added; returns it as written (its version
        bumped, its history as written).

        Conditional on the version being `record.version` (the one this worker's claim,
        or its last transition, left), `owner` holding the lease and the status being
        `expected`. A write whose answer is lost is settled: by the item DynamoDB hands
        back when the condition fails (botocore's retry of a write that had landed),
        else by a consistent read; if the record is at the next version, written by
        us, with our status, it is done. Writes that did not land are retried in place.
        Raises LeaseLost if the record is someone else's or moved on (whatever its
        status and owner say), OutcomeUnknown if DynamoDB cannot tell whether the
        write landed, and BackendFailure if it is known not to have landed.
        """
        target = record.status
        version = record.version
        at = iso_timestamp(now)
        # The history as of `version` (the lease's), and the move: written whole under
        # the version condition, so trimmed to its bound, and the same on a retry.
        # A write that changes no status (a rollback noting what it left, to try again)
        # adds nothing to the history.
        history = record.history if target is expected else changed(record.history, target, at)
        written = replace(record, version=version + 1, history=history)
        # At rest, the lease is over (its owner stays recorded: a lost answer to
        # this write is recognised by it and by the version).
        terminal = target not in WORKING_STATUSES
        fields = {
            **mutable_fields(record),
            "attempts": record.attempts,
            "updated_at": at,
            "history": history_to_item(history),
        }
        assignments = [f"#f_{name} = :f_{name}" for name in fields]
        assignments.append("#version = :next_version")
        if terminal:
            assignments.append("lease_until = :zero")
        names = {"#status": "status", **{f"#f_{name}": name for name in fields}}
        values: dict[str, Any] = {
            ":target": target.value,
            ":expected": expected.value,
            ":owner": owner,
            ":next_version": version + 1,
            **{f":f_{name}": value for name, value in fields.items()},
        }
        if terminal:
            values[":zero"] = 0
        same = version_condition(version, names, values)
        kwargs = {
            "Key": self._key(record.request_id),
            "UpdateExpression": f"SET #status = :target, {', '.join(assignments)}",
            "ConditionExpression": f"{same} AND lease_owner = :owner AND #status = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
        }

        def landed(item: dict[str, Any] | None) -> bool:
            return (
                item is not None
                and int(item.get(VERSION) or 0) == version + 1
                and item.get("status") == target.value
                and item.get("lease_owner") == owner
            )

        def unchanged(item: dict[str, Any] | None) -> bool:
            return (
                item is not None
                and int(item.get(VERSION) or 0) == version
                and item.get("status") == expected.value
                and item.get("lease_owner") == owner
            )

        failure: BackendFailure | None = None
        for attempt in range(1, self._write_attempts + 1):
            if attempt > 1:
                metrics.count(metrics.IN_PLACE_RETRIES)
                self._sleep(TRANSITION_BACKOFF.delay(attempt - 1))
            try:
                answer = self._conditional_update(f"to {target.value}", **kwargs)
            except BackendFailure as exc:
                failure = exc
            else:
                if not isinstance(answer, Refused) or landed(answer.item):
                    return written
                raise LeaseLost(record.request_id)
            # The answer is lost: the write may have landed. Ask.
            try:
                current = self._read_item(record.request_id)
            except BackendFailure as exc:
                failure = OutcomeUnknown(exc.operation, exc.cause)
                continue
            if landed(current):
                return written
            if not unchanged(current):
                raise LeaseLost(record.request_id)
            # Not landed, and still ours: write again. If every try ends here,
            # the write is known not to have landed: a plain BackendFailure.
        assert failure is not None
        raise failure

    def named_by_records(self) -> dict[str, str]:
        """Every resource id a SUCCEEDED record names, or one being made, rolled back or torn
        down (HOLDING_STATUSES), with that record's request id: what a teardown must not
        delete whatever tags it carries (`aws.teardown`). From the status index, every page:
        it may lag behind the last moments' writes, but a record whose resources someone
        retagged has been in its status since long before. Raises BackendFailure (then
        nothing is proven)."""
        return self.named_in((Status.SUCCEEDED, *HOLDING_STATUSES))

    def read(self, request_id: str) -> RequestRecord | None:
        """The record as it is now (strongly consistent), or None."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None
