"""The worker's table access: claims and leases, checkpoints, and state transitions.

Allowed by policy-worker.json: UpdateItem, and GetItem (the consistent read
that settles a write whose answer was lost); Query on the status index (what the
SUCCEEDED records name, before a teardown deletes what only a tag tied to it).

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

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import metrics
from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure, LeaseLost, OutcomeUnknown
from chalicelib.models import (
    CLAIMABLE,
    WORKING_STATUSES,
    Operation,
    RequestRecord,
    Status,
    changed,
)
from chalicelib.resource_ids import known_resources
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.layout import (
    HISTORY_APPEND,
    REQUEST_TYPE,
    VERSION,
    decimal,
    deserialize,
    history_append_values,
    history_to_item,
    item_to_record,
    mutable_fields,
    serialize,
)
from chalicelib.store.table import Refused, version_condition

logger = logging.getLogger(__name__)


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

# The top-level resource ids a checkpoint may record.
CHECKPOINTED_IDS = frozenset({"vpc_id", "internet_gateway_id", "route_table_id"})

# What a claim sets, for each status it takes a request from.
_CLAIMED_STATUS = {
    Status.QUEUED: Status.IN_PROGRESS,
    Status.IN_PROGRESS: Status.IN_PROGRESS,
    Status.ROLLING_BACK: Status.ROLLING_BACK,
    Status.DELETING: Status.DELETING,
}


class WorkerStore(AddressBlocks):
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

    # --- claims and leases -----------------------------------------------------

    def claim(
        self,
        request_id: str,
        owner: str,
        now: float,
        lease_seconds: float,
        operation: Operation = Operation.CREATE,
    ) -> ClaimResult:
        """Take the request for `owner` until now + lease_seconds, counting an attempt.

        To create, only a QUEUED, IN_PROGRESS or ROLLING_BACK request without a
        live lease can be claimed; QUEUED becomes IN_PROGRESS (in its history too),
        the others keep their status (a rollback is continued, never turned back into
        provisioning). To delete, only a DELETING one. Returns the record as
        claimed: one UpdateItem, no separate read, except for a request a lapsed
        lease left IN_PROGRESS or ROLLING_BACK (a second, conditional UpdateItem).
        """
        claimable = CLAIMABLE[operation]
        first = Status.DELETING if operation is Operation.DELETE else Status.QUEUED
        answer = self._claim(request_id, owner, now, lease_seconds, first)
        if operation is Operation.CREATE and isinstance(answer, Refused) and answer.item:
            old = answer.item
            status = old.get("status")
            if (
                old.get("type") == REQUEST_TYPE
                and status in (Status.IN_PROGRESS, Status.ROLLING_BACK)
                and float(old.get("lease_until") or 0) <= now
            ):
                answer = self._claim(request_id, owner, now, lease_seconds, Status(status))
        if not isinstance(answer, Refused):
            return Claimed(item_to_record(deserialize(answer["Attributes"])))
        if answer.item is None or answer.item.get("type") != REQUEST_TYPE:
            return Missing()
        record = item_to_record(answer.item)
        if record.lease_owner == owner:
            # Our own claim, whose answer was lost and which botocore retried.
            return Claimed(record)
        if record.status not in claimable:
            return AlreadyFinished(record)
        return LeaseHeld(record)

    def _claim(
        self, request_id: str, owner: str, now: float, lease_seconds: float, source: Status
    ) -> dict[str, Any] | Refused:
        claimed = _CLAIMED_STATUS[source]
        at = iso_timestamp(now)
        values: dict[str, Any] = {
            ":claimed": claimed.value,
            ":owner": owner,
            ":until": decimal(now + lease_seconds),
            ":now": decimal(now),
            ":now_iso": at,
            ":zero": 0,
            ":one": 1,
            ":request_type": REQUEST_TYPE,
            ":s0": source.value,
        }
        # A claim is a transition: it bumps the version, so whatever the previous
        # holder still has in flight is refused.
        expression = (
            "SET #status = :claimed, lease_owner = :owner, lease_until = :until, "
            "updated_at = :now_iso, attempts = if_not_exists(attempts, :zero) + :one, "
            "#version = if_not_exists(#version, :zero) + :one"
        )
        if claimed is not source:
            # QUEUED -> IN_PROGRESS, once in a request's life, on a history of one entry:
            # appended (a claim reads nothing), no bound to keep.
            expression += f", {HISTORY_APPEND}"
            values.update(history_append_values(claimed, at))
        return self._conditional_update(
            "claim",
            Key=self._key(request_id),
            UpdateExpression=expression,
            ConditionExpression=(
                "#type = :request_type AND #status IN (:s0) "
                "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
            ),
            ExpressionAttributeNames={"#status": "status", "#type": "type", "#version": VERSION},
            ExpressionAttributeValues=serialize(values),
            ReturnValues="ALL_NEW",
        )

    def renew_lease(self, request_id: str, owner: str, version: int, until: float) -> bool:
        """Extend this worker's lease to `until`, if the record is still at `version` (the
        claim's, or this worker's last transition's). False if the lease is no longer ours."""
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":until": decimal(until),
            ":owner": owner,
            **{f":s{i}": s.value for i, s in enumerate(sorted(WORKING_STATUSES))},
        }
        same = version_condition(version, names, values)
        answer = self._conditional_update(
            "renew lease",
            Key=self._key(request_id),
            UpdateExpression="SET lease_until = :until",
            ConditionExpression=f"{same} AND lease_owner = :owner AND #status IN (:s0, :s1, :s2)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        return not isinstance(answer, Refused)

    def release_lease(self, request_id: str, owner: str, version: int) -> None:
        """Let the next delivery claim at once (best effort: the lease expires anyway)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":zero": 0, ":owner": owner}
        same = version_condition(version, names, values)
        try:
            self._conditional_update(
                "release lease",
                Key=self._key(request_id),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression=f"{same} AND lease_owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )
        except BackendFailure as exc:
            logger.info("request %s: releasing the lease failed (%s); it expires", request_id, exc)

    # --- checkpoints -----------------------------------------------------------

    def checkpoint(
        self,
        request_id: str,
        owner: str,
        version: int,
        ids: dict[str, str],
        subnet_ids: dict[int, str],
        now: float,
    ) -> None:
        """Record resource ids of an IN_PROGRESS request: `ids` by attribute (`vpc_id`,
        `internet_gateway_id`, `route_table_id`), and some subnet ids by position.

        Conditional on the claim's `version` (it is kept: a checkpoint only fills in
        ids). Idempotent (repeating it writes the same values). Raises LeaseLost if
        the claim was lost, BackendFailure if DynamoDB failed.
        """
        unknown = set(ids) - CHECKPOINTED_IDS
        if unknown:
            raise ValueError(f"not checkpointed attributes: {sorted(unknown)}")
        assignments = [f"subnets[{int(i)}].subnet_id = :s{int(i)}" for i in sorted(subnet_ids)]
        values: dict[str, Any] = {f":s{int(i)}": sid for i, sid in subnet_ids.items()}
        for name, value in sorted(ids.items()):
            assignments.append(f"{name} = :{name}")
            values[f":{name}"] = value
        names = {"#status": "status"}
        values.update(
            {":now_iso": iso_timestamp(now), ":owner": owner, ":working": Status.IN_PROGRESS.value}
        )
        same = version_condition(version, names, values)
        answer = self._conditional_update(
            "checkpoint",
            Key=self._key(request_id),
            UpdateExpression=f"SET {', '.join(assignments)}, updated_at = :now_iso",
            ConditionExpression=f"{same} AND lease_owner = :owner AND #status = :working",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )
        if isinstance(answer, Refused):
            raise LeaseLost(request_id)

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
        history = changed(record.history, target, at)
        written = replace(record, version=version + 1, history=history)
        # At rest, the lease is over (its owner stays recorded: a lost answer to
        # this write is recognised by it and by the version).
        terminal = target not in WORKING_STATUSES
        fields = {**mutable_fields(record), "updated_at": at, "history": history_to_item(history)}
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
                self._sleep(0.1 * 2 ** (attempt - 1))
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

    def named_by_succeeded(self) -> dict[str, str]:
        """Every resource id a SUCCEEDED record names, with that record's request id: what
        a teardown must not delete whatever tags it carries (`aws.teardown`). From the
        status index, every page: it may lag behind the last moments' writes, but a record
        whose resources someone retagged has been SUCCEEDED since long before. Raises
        BackendFailure (then nothing is proven)."""
        return {
            resource_id: record.request_id
            for record in self.succeeded()
            for resource_id in known_resources(record).all
        }

    def read(self, request_id: str) -> RequestRecord | None:
        """The record as it is now (strongly consistent), or None."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None
