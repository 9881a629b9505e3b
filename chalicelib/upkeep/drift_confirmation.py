"""Drift findings made from a listing, confirmed by a read by id before they count.

The sweep and the id-filtered listings show most of what the records name, and a
listing can lag behind a resource's tags, its gateway attachment, a route table's
routes and associations, as behind anything else. A finding that is new to the
record (not on it already) and was made from a listing counts only once a read of
that resource by id shows the same:

- `changed` on a VPC, subnet, internet gateway or route table (tags, attachment): the
  resource itself is read by id;
- `route` and `association` findings: the route table is read by id. A private
  subnet's association is made from the table that routes it (the request's, one
  associated with it, or the VPC's main one), which is read by id; and when that is
  the main one, from the absence of an association of its own, which no read by id can
  show: a second listing, of the tables associated with that very subnet, must not
  show one either (`SUBNET_TABLES`). A recorded one clears on reads of the tables its
  detail names and the request's, besides the one that routes the subnet now.

What the reads show is compared again, and a finding that only then appears is
confirmed in turn (a table read by id no longer associated with the subnet leaves the
main one routing it), until nothing is left to read.

`missing` needs no second read: it is only ever made from a read by id answering "not
found" (or from the record itself). A resource already read by id this run is not read
again. At most DRIFT_CONFIRM_LIMIT such reads a run; one that fails ends them for the
run. What a read cannot confirm (it failed, it showed nothing, or the run's reads are
used up) is unknown this run: the record keeps what it said.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from typing import TypeVar

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.described import Kind, Seen
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
    route_tables,
    routing_table,
    unconfirmed,
)

logger = logging.getLogger("chalicelib.upkeep.drift")

# Findings read from a route table's routes and associations.
_ROUTING = frozenset({DriftType.ROUTE, DriftType.ASSOCIATION})
# What a confirmation reads besides resources by id: the route tables a listing filtered
# by a subnet's association shows (this prefix, then the subnet's id).
SUBNET_TABLES = "tables-of:"
_TABLE_ID = re.compile(r"\brtb-[0-9a-zA-Z]+")
_Shown = TypeVar("_Shown")


class Confirmation:
    """One run's reads by id, counted against the run's limit (DRIFT_CONFIRM_LIMIT): the
    drift check's closer looks take from it first (`take`), then the confirmations."""

    def __init__(self, inventory: Inventory, calls: Ec2Calls, limit: int) -> None:
        self._inventory = inventory
        self._calls = calls
        self._left = limit
        # Ids a read by id showed this run (here, or in the drift check's closer looks), and
        # the subnets whose tables were listed (SUBNET_TABLES + the id).
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
        findings new to `record` and made from a listing confirmed by reads, or taken back
        as unknown; and likewise the findings `record` has that the listings no longer show
        (a listing lagging behind a change clears nothing on its own). `observed` gains
        what the reads showed; `tables` are the ids of the VPC's route tables listed."""
        kinds = {resource_id: kind for kind, resource_id in expected(current)}
        known = route_tables(current, tables) | _named_tables(record.drift)
        tried: set[str] = set()
        while True:
            needed = self._needed(record, current, comparison, observed, known)
            waiting = {source for sources in needed.values() for source in sources} - tried
            if not waiting:
                break
            # Reads by id first: what they show may settle the rest (a main table read
            # without the route a listing showed needs no subnet's tables listed).
            by_id = sorted(s for s in waiting if not s.startswith(SUBNET_TABLES))
            subnets = sorted(s for s in waiting if s.startswith(SUBNET_TABLES))
            tried.update(by_id or subnets)
            for source in by_id:
                known.update(self._look(source, kinds, observed))
            if not by_id:
                known.update(self._subnets(subnets, observed))
            comparison = compare(current, observed.get, sorted(known), deployment)
        needed = self._needed(record, current, comparison, observed, known)
        return unconfirmed(comparison, [i for i, sources in needed.items() if sources])

    def _needed(
        self,
        record: RequestRecord,
        current: RequestRecord,
        comparison: Comparison,
        observed: dict[str, Observation],
        tables: Collection[str],
    ) -> dict[DriftItem, set[str]]:
        """The items `comparison` would add or clear, each with the reads it still waits for
        (none: it is proven)."""

        def routes(subnet_id: str) -> Seen | None:
            return routing_table(subnet_id, tables, observed.get)

        kinds = {resource_id for _, resource_id in expected(current)}
        # An item about one it no longer names (adopted in its place) clears once those
        # adopted are read by id.
        adopted = kinds - {resource_id for _, resource_id in expected(record)}

        def clearing(item: DriftItem) -> set[str]:
            sources = _sources(item, current, routes, clearing=True)
            return sources or {item.resource_id} & kinds or adopted

        recorded = {item.key: item for item in record.drift}
        needed: dict[DriftItem, set[str]] = {}
        for item in comparison.items:
            if item not in record.drift:
                sources = _sources(item, current, routes, clearing=False)
                if item.key in recorded:  # it replaces one: as if that one cleared
                    sources |= clearing(recorded[item.key])
                needed[item] = sources - self.read
        shown = {i.key for i in comparison.items} | comparison.unknown
        for item in record.drift:
            if item.key not in shown:
                needed[item] = clearing(item) - self.read
        return needed

    def _subnets(self, sources: list[str], observed: dict[str, Observation]) -> set[str]:
        """List the route tables associated with these subnets (SUBNET_TABLES + id), one call
        for them all, noting them in `observed` (but for tables read by id) and, when it
        succeeds, the sources in `read`; the tables it showed."""
        listed = self._subnet_tables([s.removeprefix(SUBNET_TABLES) for s in sources])
        if listed is None:
            return set()
        for table in listed:
            if table.resource_id not in self.read:
                observed[table.resource_id] = table
        self.read.update(sources)
        return {table.resource_id for table in listed}

    def _look(
        self, source: str, kinds: dict[str, Kind], observed: dict[str, Observation]
    ) -> set[str]:
        """Read `source` by id, noting what it shows in `observed` (and, when it shows
        something, in `read`); {source} when it is a route table that showed."""
        kind = kinds.get(source, Kind.ROUTE_TABLE)  # a table the record does not name
        seen = self._one(kind, source)
        if seen is None:
            return set()
        observed[source] = seen
        return {source} if kind is Kind.ROUTE_TABLE else set()

    def take(self) -> bool:
        """Whether the run may make one more read by id; counts it."""
        if self._left <= 0:
            return False
        self._left -= 1
        return True

    def stop(self) -> None:
        """A read by id failed: no more this run."""
        self._left = 0

    def _subnet_tables(self, subnet_ids: list[str]) -> list[Seen] | None:
        """The route tables a listing filtered by the subnets' associations shows (None: the
        run's reads are used up, or it failed)."""
        return self._within_budget(
            lambda: self._inventory.tables_in(self._calls, subnet_ids, "association.subnet-id")
        )

    def _one(self, kind: Kind, resource_id: str) -> Observation:
        seen = self._within_budget(lambda: self._inventory.one(self._calls, kind, resource_id))
        if seen is not None:  # an empty answer (EC2 lagging) shows nothing
            self.read.add(resource_id)
        return seen

    def _within_budget(self, read: Callable[[], _Shown]) -> _Shown | None:
        """`read`'s answer, counted against the run's reads; None when they are used up, or
        when it fails (which ends them for the run)."""
        if not self.take():
            return None
        try:
            return read()
        except (PermanentFailure, TransientFailure) as exc:
            self.stop()
            logger.warning("drift: a read to confirm failed (%s): a later run", exc)
            return None


def _sources(
    item: DriftItem,
    record: RequestRecord,
    routes: Callable[[str], Seen | None],
    clearing: bool,
) -> set[str]:
    """What `item` was made from (or, `clearing`, what no longer shows it): none when it was
    not made from a listing (`missing` is only ever proven by a read by id)."""
    if item.type not in _ROUTING:
        return {item.resource_id} if item.problem is DriftProblem.CHANGED else set()
    tables = {record.route_table_id}
    if item.type is DriftType.ASSOCIATION and item.resource_id in private_subnet_ids(record):
        table = routes(item.resource_id)
        if table is not None:
            tables = {table.resource_id}
            if item.resource_id not in table.associations:  # the main one: nothing of its own
                tables.add(SUBNET_TABLES + item.resource_id)
        if clearing:
            tables |= {record.route_table_id, *_named_tables([item])}
    return {t for t in tables if t}


def _named_tables(items: Iterable[DriftItem]) -> set[str]:
    """The route tables association items name in their detail (the table that routed the
    subnet when the item was made)."""
    return {
        table
        for item in items
        if item.type is DriftType.ASSOCIATION
        for table in _TABLE_ID.findall(item.detail)
    }
