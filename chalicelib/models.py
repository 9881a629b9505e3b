"""The typed shapes that cross module boundaries: statuses, records, callers.

The request as asked (a POST /vpcs body) is `request_spec`'s; which resources a record
names, and whether it still holds any, `resource_ids`'s; what the reconciler notes on it
(orphans, drift), `findings`'s.

The record's JSON shape (docs/api.md "The record") is written down once, in
`RequestRecord.to_api`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.findings import DriftItem, Orphan
from chalicelib.request_spec import ProvisioningRequest


class Status(StrEnum):
    """A request's lifecycle state (docs/api.md "Statuses" draws the transitions)."""

    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    ROLLING_BACK = "ROLLING_BACK"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    DELETE_FAILED = "DELETE_FAILED"


class Operation(StrEnum):
    """What a job asks the worker to do with its request."""

    CREATE = "create"
    DELETE = "delete"


# States a worker may claim for each operation; anything else is finished for it.
CLAIMABLE_STATUSES = frozenset({Status.QUEUED, Status.IN_PROGRESS, Status.ROLLING_BACK})
CLAIMABLE = {
    Operation.CREATE: CLAIMABLE_STATUSES,
    Operation.DELETE: frozenset({Status.DELETING}),
}
# States in which a worker is at work (holding a lease); the others are at rest.
WORKING_STATUSES = frozenset({Status.IN_PROGRESS, Status.ROLLING_BACK, Status.DELETING})
# States besides SUCCEEDED whose records name resources in use (being made, rolled back or
# torn down, or left by a teardown that could not finish): what they name is theirs, never
# another request's to delete, whatever tags it carries.
HOLDING_STATUSES = (*sorted(WORKING_STATUSES), Status.DELETE_FAILED)
# The most status changes a record keeps: its first and the latest ones (a request may loop
# DELETE_FAILED -> DELETING without end, and an item holds at most 400 KB).
HISTORY_LIMIT = 20


@dataclass(frozen=True)
class Caller:
    """The authenticated user behind a request, from the authorizer's claims."""

    sub: str
    username: str
    # The user's Cognito groups that the authorizer's claim and the token agree on
    # (chalicelib/api/auth.py).
    groups: frozenset[str] = frozenset()


# A record's `allocation`: how the table holds its VPC's block.
HELD, SHARED, RELEASED = "held", "shared", "released"


@dataclass(frozen=True)
class StatusChange:
    """One entry of a record's `history`: the status it moved to, and when."""

    status: Status
    at: str

    def to_api(self) -> dict[str, str]:
        return {"status": self.status.value, "at": self.at}


def changed(history: tuple[StatusChange, ...], status: Status, at: str) -> tuple[StatusChange, ...]:
    """`history` and the move to `status` at `at`; beyond HISTORY_LIMIT the entries after the
    first give way to the latest (how the request began, and what it does now)."""
    kept = (*history, StatusChange(status, at))
    return kept if len(kept) <= HISTORY_LIMIT else (kept[0], *kept[1 - HISTORY_LIMIT :])


@dataclass(frozen=True)
class ErrorInfo:
    """Why a request failed: the AWS (or our own) error code and message."""

    code: str
    message: str

    def to_api(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class DeletionReport:
    """What a rollback (or a DELETE's teardown) deleted, and whether anything is left."""

    deleted: tuple[str, ...]
    remaining: tuple[str, ...]
    error: str | None = None
    # Of `deleted`, those whose delete answered only "not found" (EC2's reads lag its
    # creates): a later look that lists one puts it back in doubt (`tally.with_earlier`).
    not_found: tuple[str, ...] = ()

    @property
    def answered(self) -> tuple[str, ...]:
        """What a delete's answer proved gone (ids are never reused: for good)."""
        return tuple(i for i in self.deleted if i not in self.not_found)

    @property
    def complete(self) -> bool:
        """Nothing of the request is known to remain (and no lookup failed)."""
        return not self.remaining and self.error is None

    def to_api(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "deleted": list(self.deleted),
            "remaining": list(self.remaining),
            "error": self.error,
        }


@dataclass
class SubnetState:
    """A requested subnet and, once it exists, its id."""

    cidr: str
    az: str
    name: str | None = None
    subnet_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {"cidr": self.cidr, "az": self.az, "name": self.name, "subnet_id": self.subnet_id}


@dataclass
class RequestRecord:
    """One provisioning request as stored, plus the worker's bookkeeping."""

    request_id: str
    status: Status
    created_by: str
    created_by_username: str
    created_at: str
    updated_at: str
    request: ProvisioningRequest
    # Creation time to the microsecond: the listing's sort key (not shown by the API).
    created_sort: str = ""
    vpc_id: str | None = None
    subnets: list[SubnetState] = field(default_factory=list)
    internet_gateway_id: str | None = None
    route_table_id: str | None = None
    error: ErrorInfo | None = None
    rollback: DeletionReport | None = None
    # What DELETE's teardown deleted, and what it could not (DELETE_FAILED).
    teardown: DeletionReport | None = None
    orphans: list[Orphan] = field(default_factory=list)
    # How EC2 differs from a SUCCEEDED record (the reconciler's drift check), and since
    # when: [] and None while it matches.
    drift: list[DriftItem] = field(default_factory=list)
    drift_detected_at: str | None = None
    attempts: int = 0
    # A create's answer was lost while the request was made: EC2 may hold something of it
    # (a second VPC made when a look lagged) that the record does not name. Its teardown
    # then wants two looks by tag in a row finding nothing new (aws/teardown.py).
    lost_answers: bool = False
    # Its job's send failed when it was accepted (QUEUED): a replay of its POST sends it.
    unsent: bool = False
    lease_owner: str | None = None
    lease_until: float = 0.0
    # The VPC's CIDR block: as asked, or as allocated from `pool` (None: an explicit block
    # outside every pool).
    cidr: str = ""
    pool: str | None = None
    # How the table holds the block (store/blocks.py): HELD (a block item, freed once the
    # request has ended), SHARED (CIDR_OVERLAP=allow let it overlap a held block: a shared
    # item), RELEASED (freed), "" (a record from before pools: the backfill's).
    allocation: str = ""
    # Every status the record moved to, and when, oldest first (`changed`); () on an item
    # written before histories existed.
    history: tuple[StatusChange, ...] = ()
    # Bumped by every transition (a claim, a status change, a reconciler's note); every
    # write is conditional on the version its writer read, so a late write of an old
    # worker never lands on a newer state. 0: an item written before versions existed.
    version: int = 0

    def to_api(self) -> dict[str, Any]:
        """The record as the API returns it (docs/api.md "The record"; `Record` in openapi.yaml)."""
        return {
            "request_id": self.request_id,
            "status": self.status.value,
            "created_by": self.created_by,
            "created_by_username": self.created_by_username,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "request": self.request.to_json(),
            "cidr": self.cidr or self.request.vpc.cidr,
            "pool": self.pool,
            "vpc_id": self.vpc_id,
            "subnets": [s.to_api() for s in self.subnets],
            "internet_gateway_id": self.internet_gateway_id,
            "route_table_id": self.route_table_id,
            "error": self.error.to_api() if self.error else None,
            "rollback": self.rollback.to_api() if self.rollback else None,
            "teardown": self.teardown.to_api() if self.teardown else None,
            "orphans": [o.to_api() for o in self.orphans],
            "drift": [d.to_api() for d in self.drift],
            "drift_detected_at": self.drift_detected_at,
            "attempts": self.attempts,
            "history": [c.to_api() for c in self.history],
        }


def is_request_id(value: str) -> bool:
    """True if `value` has the form of a request id (a canonical lowercase UUID)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
