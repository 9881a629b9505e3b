"""The worker's table access: claims and leases, checkpoints, and state transitions.

Allowed by policy-worker.json: UpdateItem, and GetItem (the consistent read
that settles a write whose answer was lost).

Every write is conditional on the worker's lease (`lease_owner`) and on the
status the worker expects, so a worker that lost its claim, or a record that
moved on, is never overwritten; a terminal record is never rewritten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..clock import iso_timestamp
from ..errors import BackendFailure, LeaseLost, OutcomeUnknown
from ..models import CLAIMABLE, WORKING_STATUSES, Operation, RequestRecord, Status
from .table import (
    REQUEST_TYPE,
    Refused,
    Table,
    decimal,
    deserialize,
    item_to_record,
    mutable_fields,
    serialize,
)

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


class WorkerStore(Table):
    """Raises BackendFailure when DynamoDB fails, LeaseLost when a write's condition fails."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        write_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(client, table_name)
        self._write_attempts = write_attempts
        self._sleep = sleep

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
        live lease can be claimed; QUEUED becomes IN_PROGRESS, the others keep
        their status (a rollback is continued, never turned back into
        provisioning). To delete, only a DELETING one. Returns the record as
        claimed: one UpdateItem, no separate read, except for a ROLLING_BACK
        request (a second, conditional UpdateItem).
        """
        claimable = CLAIMABLE[operation]
        first = Status.DELETING if operation is Operation.DELETE else Status.QUEUED
        answer = self._claim(request_id, owner, now, lease_seconds, first)
        if operation is Operation.CREATE and isinstance(answer, Refused) and answer.item:
            old = answer.item
            if (
                old.get("type") == REQUEST_TYPE
                and old.get("status") == Status.ROLLING_BACK.value
                and float(old.get("lease_until") or 0) <= now
            ):
                answer = self._claim(request_id, owner, now, lease_seconds, Status.ROLLING_BACK)
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
        sources = (Status.QUEUED, Status.IN_PROGRESS) if source is Status.QUEUED else (source,)
        values = {
            ":claimed": _CLAIMED_STATUS[source].value,
            ":owner": owner,
            ":until": decimal(now + lease_seconds),
            ":now": decimal(now),
            ":now_iso": iso_timestamp(now),
            ":zero": 0,
            ":one": 1,
            ":request_type": REQUEST_TYPE,
            **{f":s{i}": status.value for i, status in enumerate(sources)},
        }
        placeholders = ", ".join(f":s{i}" for i in range(len(sources)))
        return self._conditional_update(
            "claim",
            Key=self._key(request_id),
            UpdateExpression=(
                "SET #status = :claimed, lease_owner = :owner, lease_until = :until, "
                "updated_at = :now_iso, attempts = if_not_exists(attempts, :zero) + :one"
            ),
            ConditionExpression=(
                f"#type = :request_type AND #status IN ({placeholders}) "
                "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
            ),
            ExpressionAttributeNames={"#status": "status", "#type": "type"},
            ExpressionAttributeValues=serialize(values),
            ReturnValues="ALL_NEW",
        )

    def renew_lease(self, request_id: str, owner: str, until: float) -> bool:
        """Extend this worker's lease to `until`. False if the lease is no longer ours."""
        answer = self._conditional_update(
            "renew lease",
            Key=self._key(request_id),
            UpdateExpression="SET lease_until = :until",
            ConditionExpression="lease_owner = :owner AND #status IN (:s0, :s1, :s2)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize(
                {
                    ":until": decimal(until),
                    ":owner": owner,
                    **{f":s{i}": s.value for i, s in enumerate(sorted(WORKING_STATUSES))},
                }
            ),
        )
        return not isinstance(answer, Refused)

    def release_lease(self, request_id: str, owner: str) -> None:
        """Let the next delivery claim at once (best effort: the lease expires anyway)."""
        try:
            self._conditional_update(
                "release lease",
                Key=self._key(request_id),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues=serialize({":zero": 0, ":owner": owner}),
            )
        except BackendFailure as exc:
            logger.info("request %s: releasing the lease failed (%s); it expires", request_id, exc)

    # --- checkpoints -----------------------------------------------------------

    def checkpoint(
        self,
        request_id: str,
        owner: str,
        ids: dict[str, str],
        subnet_ids: dict[int, str],
        now: float,
    ) -> None:
        """Record resource ids of an IN_PROGRESS request: `ids` by attribute (`vpc_id`,
        `internet_gateway_id`, `route_table_id`), and some subnet ids by position.

        Idempotent (repeating it writes the same values). Raises LeaseLost if
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
        answer = self._conditional_update(
            "checkpoint",
            Key=self._key(request_id),
            UpdateExpression=f"SET {', '.join(assignments)}, updated_at = :now_iso",
            ConditionExpression="lease_owner = :owner AND #status = :working",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize(
                {
                    **values,
                    ":now_iso": iso_timestamp(now),
                    ":owner": owner,
                    ":working": Status.IN_PROGRESS.value,
                }
            ),
        )
        if isinstance(answer, Refused):
            raise LeaseLost(request_id)

    # --- transitions -----------------------------------------------------------

    def transition(self, record: RequestRecord, owner: str, expected: Status, now: float) -> None:
        """Move the record from `expected` to `record.status`, writing its mutable fields.

        Conditional on `owner` holding the lease and the status being `expected`.
        A write whose answer is lost is settled: by the item DynamoDB hands
        back when the condition fails (botocore's retry of a write that had
        landed), else by a consistent read; if the record already says what
        we wrote, it is done. Writes that did not land are retried in place.
        Raises LeaseLost if the record is someone else's or moved on,
        OutcomeUnknown if DynamoDB cannot tell whether the write landed, and
        BackendFailure if it is known not to have landed.
        """
        target = record.status
        # At rest, the lease is over (its owner stays recorded: a lost answer to
        # this write is recognised by it).
        terminal = target not in WORKING_STATUSES
        fields = {**mutable_fields(record), "updated_at": iso_timestamp(now)}
        assignments = [f"#f_{name} = :f_{name}" for name in fields]
        if terminal:
            assignments.append("lease_until = :zero")
        values: dict[str, Any] = {
            ":target": target.value,
            ":expected": expected.value,
            ":owner": owner,
            **{f":f_{name}": value for name, value in fields.items()},
        }
        if terminal:
            values[":zero"] = 0
        kwargs = {
            "Key": self._key(record.request_id),
            "UpdateExpression": f"SET #status = :target, {', '.join(assignments)}",
            "ConditionExpression": "lease_owner = :owner AND #status = :expected",
            "ExpressionAttributeNames": {
                "#status": "status",
                **{f"#f_{name}": name for name in fields},
            },
            "ExpressionAttributeValues": serialize(values),
        }

        def landed(item: dict[str, Any] | None) -> bool:
            return (
                item is not None
                and item.get("status") == target.value
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
                    return
                raise LeaseLost(record.request_id)
            # The answer is lost: the write may have landed. Ask.
            try:
                current = self._read_item(record.request_id)
            except BackendFailure as exc:
                failure = OutcomeUnknown(exc.operation, exc.cause)
                continue
            if landed(current):
                return
            if current is None or not (
                current.get("status") == expected.value and current.get("lease_owner") == owner
            ):
                raise LeaseLost(record.request_id)
            # Not landed, and still ours: write again. If every try ends here,
            # the write is known not to have landed: a plain BackendFailure.
        assert failure is not None
        raise failure

    def read(self, request_id: str) -> RequestRecord | None:
        """The record as it is now (strongly consistent), or None."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None
