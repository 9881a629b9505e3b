"""The drift check: every SUCCEEDED record compared with EC2, and the record made to say so.

People with console access delete a subnet, remove a route, strip a tag. Every
reconciler run, before it removes orphans, compares each SUCCEEDED request with
EC2 (its VPC, subnets, internet gateway, route table, the default route, the
associations, and their RequestId and deployment tags: `differences`) and writes on
its record how EC2 differs (`drift`, `drift_detected_at`); once EC2 matches again
both are cleared. The status stays SUCCEEDED.

Its cost grows with pages, not with requests:

1. the records: the status index's SUCCEEDED pages (`store.drift`);
2. EC2: the run's sweep, shared with the orphan removal (`aws.inventory`; its listing
   of every route table shows which one routes each private subnet);
3. only what the sweep did not show is looked at closer: an id-filtered listing per
   kind (pages again; the route tables of the VPCs it showed none of, by VPC), then,
   for what that does not show either, one read by id each,
   at most DRIFT_CONFIRM_LIMIT per run (the rest wait for the next run; where a run
   starts among them moves with time, so none waits for ever behind others). The first
   closer look that fails (after its in-place retries) ends them for the run: a run
   whose EC2 is failing stays short.

It never invents drift (docs/how-it-works.md, "Drift"):

- A record is checked only once its last write is DRIFT_SETTLE_SECONDS older than the
  run's start: all it names was made before the sweep, and EC2's reads had time to
  catch up with the worker's writes (right after a create, a read by id can still
  answer "not found").
- `missing` only on a read by id answering "not found" for that very id: a sweep or a
  listing that does not show a resource proves nothing. A resource proven gone stays
  missing without another read (EC2 never reuses an id).
- `changed` only from a read that showed the resource, and a finding new to the
  record that a listing showed (tags, an attachment, a route, an association) only
  once a read by id shows it too (`drift_confirmation`).
- What no read could tell is unknown: the record's items for it stay as they were.
  A failed or lagging read neither makes drift nor clears it.
- Every write is conditional on the record being SUCCEEDED and at the version read: a
  DELETE (or any other write) in between wins, and the next run reads again.

Each change is logged (an event `drift` per record: what appeared, what cleared), and
the run reports how many SUCCEEDED requests show drift (the DriftedRequests metric).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.described import GONE, Gone, Kind, Seen
from chalicelib.aws.inventory import Inventory, Sweep
from chalicelib.clock import Clock, epoch_of, iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure, PermanentFailure, TransientFailure
from chalicelib.findings import DriftItem, DriftProblem
from chalicelib.models import RequestRecord
from chalicelib.store.drift import DriftStore
from chalicelib.upkeep.differences import (
    Observation,
    adopt,
    compare,
    expected,
    merged,
    private_subnet_ids,
)
from chalicelib.upkeep.drift_confirmation import Confirmation
from chalicelib.upkeep.drift_log import log_change

logger = logging.getLogger(__name__)


@dataclass
class DriftReport:
    """What one drift check found and did."""

    # False: the SUCCEEDED records could not be read (nothing was checked this run).
    complete: bool = True
    checked: int = 0
    # SUCCEEDED requests whose record shows drift after this run (as far as it read them).
    drifted: int = 0
    # Requests whose record this run wrote (drift appeared, changed or cleared).
    changed: list[str] = field(default_factory=list)
    # Items no read could decide this run (kept as recorded).
    unknown: int = 0
    # What the SUCCEEDED records name (and what they are about to adopt, or may: a subnet
    # made again at one of theirs' place): never orphans.
    named: frozenset[str] = frozenset()


class DriftCheck:
    """One drift check per reconciler run. Never raises for AWS failures: what cannot be
    read is unknown (the report says so)."""

    def __init__(
        self, store: DriftStore, inventory: Inventory, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._inventory = inventory
        self._deployment = settings.deployment
        self._settle = settings.drift_settle_seconds
        self._confirm_limit = settings.drift_confirm_limit
        self._clock = clock

    def check(self, sweep: Sweep, calls: Ec2Calls, started: float) -> DriftReport:
        """Compare every settled SUCCEEDED record with `sweep` (taken after `started`) and
        closer looks, and write the records whose drift changed."""
        try:
            records = self._store.succeeded()
        except BackendFailure as exc:
            logger.warning("drift: the SUCCEEDED requests could not be read (%s): not checked", exc)
            return DriftReport(complete=False)
        owner = {rid: r.request_id for r in records for _, rid in expected(r)}
        settled = [r for r in records if self._settled(r, started)]
        confirmation = Confirmation(self._inventory, calls, self._confirm_limit)
        tables = {vpc: [t.resource_id for t in listed] for vpc, listed in sweep.tables.items()}
        observed = self._observe(sweep, calls, settled, confirmation, tables)
        report = DriftReport(checked=len(settled))
        named = set(owner)
        done = {r.request_id for r in settled}
        report.drifted = sum(1 for r in records if r.request_id not in done and r.drift)
        for record in settled:
            adopting = record
            if any(isinstance(observed.get(i), Gone) for _, i in expected(record)):
                mine = record.request_id
                taken = {rid for rid, request_id in owner.items() if request_id != mine}
                adopting = adopt(record, observed.get, sweep, self._deployment, taken)
            named.update(rid for _, rid in expected(adopting))
            in_vpc = tables.get(record.vpc_id or "", [])
            # Adopted only once all of it is proven by reads by id (its "missing" predecessor
            # clears only then: `drift_confirmation`); else what is proven of the record as
            # it is (the gone ones recorded missing need no read next run).
            for current in [adopting, record][: 1 + (adopting != record)]:
                comparison = compare(current, observed.get, in_vpc, self._deployment)
                comparison = confirmation.confirmed(
                    record, current, comparison, observed, in_vpc, self._deployment
                )
                if not comparison.unknown:
                    break
            report.unknown += len(comparison.unknown)
            drift = merged(record.drift, comparison)
            if drift == record.drift and expected(current) == expected(record):
                report.drifted += bool(drift)
                continue
            now = self._clock()
            noted = replace(current, drift=drift, drift_detected_at=_detected(record, drift, now))
            if self._save(noted, now):
                report.changed.append(record.request_id)
                log_change(record, noted)
                report.drifted += bool(drift)
            else:
                report.drifted += bool(record.drift)
        if report.unknown:
            logger.warning(
                "drift: %d item(s) could not be checked this run (a read failed or lagged): "
                "left as recorded",
                report.unknown,
            )
        # A subnet in a record's VPC at one of its subnets' CIDR is that subnet made again (a
        # VPC holds one subnet per CIDR): adopted once the one named is proven gone, never an
        # orphan meanwhile. So is a gateway carrying a record's tags attached to its VPC (one
        # a VPC has at most), or a route table carrying them that routes one of its subnets:
        # live, whatever the sweep shows of the one the record names (made again, tags
        # copied; a listing may lag behind the first's deletion). One that routes none is
        # live too unless a read by id this run showed the record's own (made again, not
        # associated yet); but not one the record notes as an orphan (a duplicate seen
        # beside it). Else it is a lost answer's.
        places = {(r.vpc_id, s.cidr) for r in records if r.vpc_id for s in r.subnets}
        unseen = {
            r.vpc_id: r
            for r in records
            if (t := r.route_table_id)
            and not (t in confirmation.read and isinstance(observed.get(t), Seen))
        }
        named.update(
            s.resource_id
            for s in sweep
            if (s.kind is Kind.SUBNET and (s.vpc_id, s.cidr) in places)
            or (s.kind is Kind.INTERNET_GATEWAY and owner.get(s.vpc_id) == s.request_id)
            or any(owner.get(i) == s.request_id for i in s.associations)
            or (
                s.kind is Kind.ROUTE_TABLE
                and (r := unseen.get(s.vpc_id)) is not None
                and r.request_id == s.request_id
                and all(o.id != s.resource_id for o in r.orphans)  # a duplicate once seen
            )
        )
        report.named = frozenset(named)
        return report

    def _settled(self, record: RequestRecord, started: float) -> bool:
        """Whether the record's last write is DRIFT_SETTLE_SECONDS older than the run's
        start (its timestamp has whole seconds: one more is allowed for)."""
        written = epoch_of(record.updated_at)
        return written is not None and written + 1 + self._settle <= started

    def _observe(
        self,
        sweep: Sweep,
        calls: Ec2Calls,
        records: list[RequestRecord],
        reads: Confirmation,
        tables: dict[str, list[str]],
    ) -> dict[str, Observation]:
        """What is known of every resource these records name: the sweep's view, GONE for
        what a record already says is missing (and the sweep does not show), and a closer
        look at the rest. An id with no entry (or None) is unknown. The reads by id come out
        of the run's (`reads`, whose `read` gains their ids). The route tables of the
        records' VPCs (which one routes each private subnet) are known too: `tables`, the
        ids the sweep listed by VPC, gains those a listing by VPC shows where it listed none."""
        observed: dict[str, Observation] = {}
        wanted: dict[str, Kind] = {}
        unlisted, doubt = set(), set()
        for record in records:
            own = record.route_table_id
            for table in sweep.tables.get(record.vpc_id or "", ()):
                observed[table.resource_id] = table
                if own and table.request_id == record.request_id and table.resource_id != own:
                    wanted[own] = Kind.ROUTE_TABLE
                    doubt.add(own)
            missing = {d.key for d in record.drift if d.problem is DriftProblem.MISSING}
            # A VPC whose tables the sweep did not list, but not one recorded gone (nor
            # one whose private subnets all are): gone is gone.
            private = {(s, Kind.SUBNET.value) for s in private_subnet_ids(record)} - missing
            vpc = record.vpc_id
            if vpc and vpc not in tables and (vpc, Kind.VPC.value) not in missing and private:
                unlisted.add(vpc)
            for kind, resource_id in expected(record):
                seen = sweep.get(resource_id)
                if seen is not None:
                    observed[resource_id] = seen
                elif (resource_id, kind.value) in missing:
                    observed[resource_id] = GONE
                else:
                    wanted[resource_id] = kind
        by_kind: dict[Kind, list[str]] = {}
        for resource_id, kind in wanted.items():
            by_kind.setdefault(kind, []).append(resource_id)
        try:
            for kind, ids in by_kind.items():
                observed.update(self._inventory.described(calls, kind, ids))
            for table in self._inventory.tables_in(calls, sorted(unlisted)) if unlisted else []:
                observed[table.resource_id] = table
                tables.setdefault(table.vpc_id, []).append(table.resource_id)
            left = sorted(i for i in wanted if i not in observed or i in doubt)
            start = int(self._clock()) % len(left) if left else 0
            turn = left[start:] + left[:start]
            done = 0
            while done < len(turn) and reads.take():
                resource_id = turn[done]
                shown = self._inventory.one(calls, wanted[resource_id], resource_id)
                observed[resource_id] = shown
                if shown is not None:
                    reads.read.add(resource_id)
                done += 1
        except (PermanentFailure, TransientFailure) as exc:
            # Each read is retried in place already: more of them would only make the run
            # last (a Lambda's timeout) without telling more. The rest wait for a later run.
            reads.stop()
            logger.warning("drift: a closer look failed (%s): the rest wait for a later run", exc)
            return observed
        if done < len(turn):
            logger.warning(
                "drift: %d resource(s) the listings did not show wait for a later run "
                "(DRIFT_CONFIRM_LIMIT %d)",
                len(turn) - done,
                self._confirm_limit,
            )
        return observed

    def _save(self, record: RequestRecord, now: float) -> bool:
        try:
            written = self._store.save(record, now)
        except BackendFailure as exc:
            logger.warning(
                "request %s: drift note failed (%s): the next run", record.request_id, exc
            )
            return False
        if written is None:
            logger.info("request %s moved on: its drift is checked next run", record.request_id)
        return written is not None


def _detected(record: RequestRecord, drift: list[DriftItem], now: float) -> str | None:
    """When the record's drift was first detected: kept while it lasts, None once cleared."""
    if not drift:
        return None
    if record.drift and record.drift_detected_at:
        return record.drift_detected_at
    return iso_timestamp(now)
