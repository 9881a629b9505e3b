"""Drift findings made from a listing, confirmed by a read by id before they count.

The sweep and the id-filtered listings show most of what the records name, and a
listing can lag behind a resource's tags, its gateway attachment, a route table's
routes and associations, as behind anything else. A finding that is new to the
record (not on it already) and was made from a listing counts only once a read of
that resource by id shows the same:

- `changed` on a VPC, subnet, internet gateway or route table (tags, attachment): the
  resource itself is read by id;
- `route` and `association` findings: the route table is read by id; for a private
  subnet's association, the table that routes it too (another, or the VPC's main one).

`missing` needs no second read: it is only ever made from a read by id answering "not
found" (or from the record itself). A resource already read by id this run is not read
again. At most DRIFT_CONFIRM_LIMIT such reads a run; one that fails ends them for the
run. What a read cannot confirm (it failed, it showed nothing, or the run's reads are
used up) is unknown this run: the record keeps what it said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

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
    private_subnet_ids,
    routing_table,
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
        tables: Collection[str],
        deployment: str,
    ) -> Comparison:
        """`comparison` (of `current`, the record as it names its resources now), with its
        findings new to `record` and made from a listing confirmed by reads by id, or
        taken back as unknown; and likewise the findings `record` has that the listings no
        longer show (a listing lagging behind a change clears nothing on its own). `observed`
        gains what the reads showed."""
        kinds = {resource_id: kind for kind, resource_id in expected(current)}

        def routers(subnet_id: str) -> str | None:
            table = routing_table(subnet_id, tables, observed.get)
            return table.resource_id if table else None

        pending: dict[str, list[DriftItem]] = {}

        def wait_for(item: DriftItem, sources: Collection[str]) -> None:
            for source in sources:
                if source not in self.read:
                    pending.setdefault(source, []).append(item)

        for item in comparison.items:
            if item not in record.drift:
                wait_for(item, _sources(item, current, routers, clearing=False))
        shown = {i.key for i in comparison.items} | comparison.unknown
        for item in record.drift:
            sources = _sources(item, current, routers, clearing=True)
            sources = sources or {item.resource_id} & kinds.keys()
            if item.key not in shown:
                wait_for(item, sources)
        unsure: list[DriftItem] = []
        for resource_id, items in pending.items():
            # A source that is not a resource the record names is a route table (`_sources`).
            seen = self._one(kinds.get(resource_id, Kind.ROUTE_TABLE), resource_id)
            if seen is None:
                unsure += items
            else:
                observed[resource_id] = seen
        if len(set(unsure)) < len({i for items in pending.values() for i in items}):
            comparison = compare(current, observed.get, tables, deployment)
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


def _sources(
    item: DriftItem, record: RequestRecord, routing: Callable[[str], str | None], clearing: bool
) -> set[str]:
    """The resources whose listing `item` was made from (or, `clearing`, whose listing no
    longer shows it): none when it was not made from a listing (`missing` is only ever
    proven by a read by id). A private subnet's association is made from the table that
    routes it; it clears by that table and the request's (a subnet associated with the
    request's table, "though private", that a listing shows routed by another)."""
    if item.type in _ROUTING:
        tables = {record.route_table_id}
        if item.type is DriftType.ASSOCIATION and item.resource_id in private_subnet_ids(record):
            routed = routing(item.resource_id) or record.route_table_id
            tables = {routed} | (tables if clearing else set())
        return {t for t in tables if t}
    if item.problem is DriftProblem.CHANGED:
        return {item.resource_id}
    return set()
