"""What the reconciler finds about a request and notes on its record: orphans (resources
tagged with it that it does not name, and their removal) and drift (how EC2 no longer
matches a SUCCEEDED record). Pure shapes; `models.RequestRecord` carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Orphan:
    """A resource tagged with a request that the request does not reference, and its removal.

    `removing` is noted before the reconciler sends the delete (intent first: a
    record never names as live what may already be gone, and the next run
    finishes a removal whose note was lost); `removed_at` is set once a delete
    answered; `error` says why it is not gone (yet).
    """

    id: str
    removed_at: str | None = None
    error: str | None = None
    removing: bool = False

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "removed_at": self.removed_at, "error": self.error}


def merge_orphans(known: list[Orphan], news: list[Orphan]) -> list[Orphan]:
    """`known` with each of `news` replacing the entry of the same id, or appended."""
    merged = {orphan.id: orphan for orphan in known}
    merged.update({orphan.id: orphan for orphan in news})
    return list(merged.values())


class DriftType(StrEnum):
    """What kind of thing a drift item is about (docs/api.md "Drift")."""

    VPC = "vpc"
    SUBNET = "subnet"
    INTERNET_GATEWAY = "internet_gateway"
    ROUTE_TABLE = "route_table"
    ROUTE = "route"
    ASSOCIATION = "association"


class DriftProblem(StrEnum):
    MISSING = "missing"
    CHANGED = "changed"


@dataclass(frozen=True)
class DriftItem:
    """One way EC2 no longer matches a SUCCEEDED record, as the reconciler proved it.

    `resource_id` is the resource the record names (for a route, its route table; for
    an association, the subnet, which may be one the record does not name: someone's,
    associated with its route table); `detail` says what differs, for a person.
    """

    type: DriftType
    resource_id: str
    problem: DriftProblem
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        """What the item is about (one item per resource and type)."""
        return self.resource_id, self.type.value

    def to_api(self) -> dict[str, str]:
        return {
            "resource_id": self.resource_id,
            "type": self.type.value,
            "problem": self.problem.value,
            "detail": self.detail,
        }
