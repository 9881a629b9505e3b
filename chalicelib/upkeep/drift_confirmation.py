"""Drift findings made from a listing, confirmed by a read by id before they count.

The sweep and the id-filtered listings show most of what the records name, and a
listing can lag behind a resource's tags, its gateway attachment, a route table's
routes and associations, as behind anything else. A finding that is new to the
record (not on it already) and was made from a listing counts only once a read of
that resource by id shows the same:

- `changed` on a VPC, subnet, internet gateway or route table (tags, attachment): the
  resource itself is read by id;
- `route` and `association` findings: the route table is read by id.

`missing` needs no second read: it is only ever made from a read by id answering "not
found" (or from the record itself). A resource already read by id this run is not read
again. At most DRIFT_CONFIRM_LIMIT such reads a run; one that fails ends them for the
run. What a read cannot confirm (it failed, it showed nothing, or the run's reads are
used up) is unknown this run: the record keeps what it said.
"""

from __future__ import annotations

import logging

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.described import Kind
from chalicelib.aws.inventory import Inventory
from chalicelib.errors import PermanentFailure, TransientFailure
from chalicelib.findings import DriftItem, DriftProblem, DriftType
from chalicelib.models import RequestRecord
from chalicelib.upkeep.differences import (
    Comparison,
    Observation,
    compare,
    expected,
    unconfirmed,
)

logger = logging.getLogger("chalicelib.upkeep.drift")

# Findings read from a route table's routes and associations.
_ROUTING = frozenset({DriftType.ROUTE, DriftType.ASSOCIATION})


class Confirmation:
    """One run's reads by id, counted against the run's limit (DRIFT_CONFIRM_LIMIT): the
    drift check's closer looks take from it first (`take`), then the confirmations."""

    def __init__(self, inventory: Inventory, calls: Ec2Calls, limit: int) -> None:
        self._inventory = inventory
        self._calls = calls
        self._left = limit
        # Ids this run read by id (here, or in the drift check's closer looks).
        self.read: set[str] = set()

    def confirmed(
        self,
        record: RequestRecord,
        current: RequestRecord,
        comparison: Comparison,
        observed: dict[str, Observation],
        deployment: str,
    ) -> Comparison:
        """`comparison` (of `current`, the record as it names its resources now), with its
        findings new to `record` and made from a listing confirmed by reads by id, or
        taken back as unknown; and likewise the findings `record` has that the listings no
        longer show (a listing lagging behind a change clears nothing on its own). `observed`
        gains what the reads showed."""
        kinds = {resource_id: kind for kind, resource_id in expected(current)}
        pending: dict[str, list[DriftItem]] = {}
        for item in comparison.items:
            source = _source(item, current)
            if item not in record.drift and source is not None and source not in self.read:
                pending.setdefault(source, []).append(item)
        shown = {i.key for i in comparison.items} | comparison.unknown
        for item in record.drift:
            source = _source(item, current) or item.resource_id
            if item.key not in shown and source in kinds and source not in self.read:
                pending.setdefault(source, []).append(item)
        if not pending:
            return comparison
        unsure: list[DriftItem] = []
        for resource_id, items in pending.items():
            seen = self._one(kinds[resource_id], resource_id)
            if seen is None:
                unsure += items
            else:
                observed[resource_id] = seen
        if len(unsure) < sum(len(items) for items in pending.values()):
            comparison = compare(current, observed.get, deployment)
        return unconfirmed(comparison, unsure)

    def take(self) -> bool:
        """Whether the run may make one more read by id; counts it."""
        if self._left <= 0:
            return False
        self._left -= 1
        return True

    def stop(self) -> None:
        """A read by id failed: no more this run."""
        self._left = 0

    def _one(self, kind: Kind, resource_id: str) -> Observation:
        if not self.take():
            return None
        try:
            seen = self._inventory.one(self._calls, kind, resource_id)
        except (PermanentFailure, TransientFailure) as exc:
            self.stop()
            logger.warning("drift: a read by id to confirm failed (%s): a later run", exc)
            return None
        self.read.add(resource_id)
        return seen


def _source(item: DriftItem, record: RequestRecord) -> str | None:
    """The resource whose listing `item` was made from, or None when it was not made from
    a listing (`missing` is only ever proven by a read by id)."""
    if item.type in _ROUTING:
        return record.route_table_id
    if item.problem is DriftProblem.CHANGED:
        return item.resource_id
    return None
