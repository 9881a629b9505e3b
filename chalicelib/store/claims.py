"""The worker's hold on a request in the table: the claim (and what it found: `Claimed`,
`AlreadyFinished`, `LeaseHeld`, `Missing`), the lease's renewals and its release, and
the checkpoints written under the claim. `Claims` is a mixin of store/worker.py's
WorkerStore, the `worker` function's data access.

Allowed by policy-worker.json: UpdateItem (each of these is one conditional UpdateItem;
a claim that meets a lapsed lease, two).

A claim is a transition: it bumps the record's version. Renewals, the release and
checkpoints keep it: they are conditional on it (the claim's, or the worker's last
transition's) and on `lease_owner`, so a worker that lost its claim writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure, LeaseLost
from chalicelib.models import (
    CLAIMABLE,
    WORKING_STATUSES,
    Operation,
    RequestRecord,
    Status,
)
from chalicelib.store.items import (
    HISTORY_APPEND,
    decimal,
    deserialize,
    history_append_values,
    item_to_record,
    serialize,
)
from chalicelib.store.layout import REQUEST_TYPE, VERSION
from chalicelib.store.table import Refused, Table, version_condition

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


class Claims(Table):
    """Claims, leases and checkpoints. Raises BackendFailure when DynamoDB fails, LeaseLost
    when a checkpoint's condition fails (a refused claim or renewal says so in its answer;
    a release is best effort)."""

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
