"""Removes the orphans a reconciler run found, only on proof (docs/how-it-works.md
"Convergence never destroys and never lies"): `orphans` (pure) says which resources
those are and what their records note; this reads the records, deletes and writes.

- The records come from one strongly consistent BatchGetItem. A key DynamoDB
  hands back unprocessed (after jittered retries), or never answers, is
  *unknown*: that request's resources are left alone this run (and a key answered
  without an item, "no such request", leaves them alone for good).
- Intent before action: the ids it is about to remove are noted on the record
  (`orphans[].removing`), and the request is added to the ledger's pending
  ones, before any delete is sent; then the deletes; then the outcome is noted
  (`removed_at` only on a delete's answer, "not found" included). A run that
  dies, or whose last note is lost, leaves the request pending: a later run
  sends the deletes again (gone answers "not found") and finishes the note.
  A worker puts a FAILED request that leaves something on the ledger before it
  writes FAILED; it stays pending until its record names nothing (`comes_back`).
- Every note is conditional on the version of the record it read: a record
  that moved on is never overwritten (the next run looks again).
- A request comes off the ledger only when its record, read after the run's claim of the
  ledger, says nothing may be left and nothing may change (`comes_back`: not while its
  worker may still write FAILED).
- Fair and bounded: at most RECONCILE_BATCH_LIMIT requests per run, and none taken once
  the run is RECONCILE_RUN_SECONDS old, starting after the one the last run ended on
  (the ledger's cursor), so requests whose orphans cannot be removed never keep the
  others waiting, even when their teardowns are slow.

A request that is not finished (QUEUED, IN_PROGRESS, ROLLING_BACK) is its
worker's, and one being deleted (DELETING, DELETE_FAILED) its teardown's:
left alone. The grace period is longer than the worker's timeout, and a
resource's age comes from its creation tag, so no worker can still be working
on what is deleted here. Nor is anything a SUCCEEDED record names ever an
orphan, whatever its tags now say (someone changed them: that is drift), nor anything
a record being made, rolled back or torn down names (HOLDING_STATUSES; read in the
runs that find a possible orphan).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from chalicelib import metrics
from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway, Tagged
from chalicelib.aws.faults import first_few
from chalicelib.aws.inventory import Sweep
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.tally import Removal
from chalicelib.aws.teardown import Teardown
from chalicelib.clock import Clock, iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.models import HOLDING_STATUSES, RequestRecord, is_request_id
from chalicelib.resource_ids import Resources, has_ended
from chalicelib.store.ledger import Ledger
from chalicelib.store.reconciler import ReconcilerStore
from chalicelib.upkeep.drift import DriftReport
from chalicelib.upkeep.orphans import Work, after, comes_back, intended, is_old, noted, work_of

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What a reconciler run did: its orphans (filled here), then its drift check's."""

    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Requests whose records could not be read this run: nothing of theirs was touched.
    unknown: list[str] = field(default_factory=list)
    # Requests the table has no record of, whose tagged resources EC2 lists: left alone.
    unrecorded: list[str] = field(default_factory=list)
    drift: DriftReport = field(default_factory=DriftReport)

    @property
    def acted(self) -> bool:
        """Whether the run found anything to do (an idle one is logged at DEBUG)."""
        return bool(self.removed or self.failed or self.unknown or self.drift.changed)


class OrphanRemoval:
    """The orphans' part of a reconciler run (`upkeep.reconciler`), which has claimed the
    ledger and listed EC2 before."""

    def __init__(
        self,
        store: ReconcilerStore,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._store = store
        self._ec2 = ec2
        self._routing = routing
        self._clock = clock
        self._grace = settings.reconcile_grace_seconds
        # Requests handled per run: bounds a run's duration (the rest wait for the next).
        self._batch_limit = settings.reconcile_batch_limit

    def run(
        self, calls: Ec2Calls, sweep: Sweep, named: frozenset[str], deadline: float, ledger: Ledger
    ) -> ReconcileReport:
        """The orphans: `sweep` is the run's listing, `named` what SUCCEEDED records name
        (what records at work or left by a teardown name is read here, when needed),
        `ledger` as this run's claim read it (before any record); no request is taken after
        `deadline` (the first always is)."""
        listed: dict[str, list[Tagged]] = defaultdict(list)
        for seen in sweep:
            listed[seen.request_id].append(seen)
        # A RequestId tag that names no request (a person blanked or changed it) is no
        # proof of anything, and no key to read: what carries it is left alone.
        misnamed = [
            t.resource_id for i in list(listed) if not is_request_id(i) for t in listed.pop(i)
        ]
        if misnamed:
            logger.warning("left alone, their RequestId tag names no request: %s", misnamed[:20])
        # Only a request with a resource that may be an orphan (old enough, and named by no
        # SUCCEEDED record) needs its record read: the others have nothing to remove. While
        # EC2 matches every record a run reads none but the ledger's.
        early, grace = self._clock(), self._grace

        def candidates_besides(named: frozenset[str]) -> list[str]:
            return [
                request_id
                for request_id, tagged in listed.items()
                if any(is_old(t, early, grace) and t.resource_id not in named for t in tagged)
            ]

        candidates = candidates_besides(named)
        if candidates or ledger.pending:
            # What a record at work, or left by a teardown, names is that request's, whatever
            # tags it carries (a tag someone copied): read only when something may be an
            # orphan (listed, or what the ledger's records say may remain), so a run while
            # EC2 matches the records costs no more.
            try:
                named |= frozenset(self._store.named_in(HOLDING_STATUSES))
            except BackendFailure as exc:
                logger.warning("no orphan is removed this run: %s", exc)
                return ReconcileReport()
            candidates = candidates_besides(named)
        # No call when there is nothing to read (while EC2 matches every record).
        records = self._store.records(set(candidates) | ledger.pending)
        found, absent, unknown = dict(records.found), set(records.absent), set(records.unknown)
        report = ReconcileReport(
            unknown=sorted(unknown & (listed.keys() | ledger.pending)),
            unrecorded=sorted(absent & listed.keys()),
        )
        if report.unknown:
            logger.warning(
                "records of %d request(s) could not be read: their resources are left alone "
                "this run",
                len(report.unknown),
            )
        if report.unrecorded:
            logger.warning(
                "%d request(s) the table has no record of have tagged resources "
                "(docs/deploy.md): left alone, e.g. %s",
                len(report.unrecorded),
                first_few(report.unrecorded),
            )
        order = after(sorted(listed.keys() | ledger.pending), ledger.cursor)
        work, finished = work_of(  # finished: pending requests with nothing left to note
            [i for i in order if i not in unknown],
            found,
            absent,
            listed,
            named,
            self._clock(),
            grace,
            self._batch_limit,
        )
        if not work:
            if finished & ledger.pending:
                self._settle(finished & ledger.pending, ledger.cursor, ledger)
            return report
        # Before any intent is noted: a later run must find these even once their
        # resources are gone from EC2's listings. If this fails, nothing is deleted.
        ledger = self._store.add_pending([w.request_id for w in work])
        teardown = Teardown(self._ec2, self._routing, calls)
        taken = 0
        for item in work:
            if taken and self._clock() > deadline:
                # Ends with its cursor saved, well before the function's timeout would cut
                # it off (and the next run would start over on the same requests).
                logger.warning(
                    "out of time after %d of %d request(s): the next run goes on from there",
                    taken,
                    len(work),
                )
                break
            if self._remove(item, teardown, report):
                finished.add(item.request_id)
            taken += 1
        self._settle(finished & ledger.pending, work[taken - 1].request_id, ledger)
        return report

    def _settle(self, finished: set[str], cursor: str, ledger: Ledger) -> None:
        """Take the finished requests off the ledger and move its cursor; if that fails they
        stay pending (a later run finds nothing left to note and takes them off)."""
        try:
            self._store.settle(finished, cursor, ledger)
        except BackendFailure as exc:
            logger.warning("the ledger could not be updated (%s): the next run does it", exc)

    def _remove(self, work: Work, teardown: Teardown, report: ReconcileReport) -> bool:
        """Note the intent, delete, note the outcome. True when the record says it all and
        a later run has nothing to come back to (`comes_back`)."""
        record = work.record
        if not work.orphans.all:
            # Nothing to delete: the sweep found nothing left of a FAILED request whose
            # rollback could not look (`orphans.noted` completes it).
            logger.info("request %s: nothing of it is left, noted", work.request_id)
            return self._note(record, Removal())
        logger.warning(
            "request %s (%s): removing orphans %s",
            work.request_id,
            record.status.value,
            list(work.orphans.all),
        )
        intent = self._save(intended(record, work.orphans.all), record)
        if intent is None:
            return False  # moved on, or unknown: the next run decides again
        # The proof, for every id: its request's record read strongly consistent, it is
        # older than the grace period by its creation tag, neither that record nor any
        # SUCCEEDED one names it (`orphans_of`), and the intent is noted at the version read
        # (or was, by an earlier run). Recorded removed: what a delete answered.
        # And only what still carries the request's tags: one a person untagged (what a
        # FAILED record names, found by id and not by the sweep) is left, named.
        refused = teardown.ownership.untagged(
            work.request_id, work.orphans, Resources.of(work.listed)
        )
        # What is kept may be in another of its VPCs: each VPC's own answer decides.
        removal = teardown.remove(work.orphans, work.request_id, refused, refusals_hold=False)
        report.removed.extend(removal.deleted)
        report.failed.extend(removal.remaining)
        metrics.count(metrics.ORPHANS_REMOVED, len(removal.deleted))
        return self._note(intent, removal, work.besides)

    def _note(self, record: RequestRecord, removal: Removal, besides: tuple[str, ...] = ()) -> bool:
        """Note the removal's outcome; True when the record then says it all."""
        written = self._save(noted(record, removal, iso_timestamp(self._clock()), besides), record)
        if written is not None and has_ended(written):
            # A FAILED request with nothing left any more: its addresses are free.
            self._store.release_or_leave(written)
        # A record that still says something may be there stays on the ledger: it may go
        # from EC2's listings before it is noted gone (removed by a person).
        return written is not None and not comes_back(written)

    def _save(self, record: RequestRecord, read: RequestRecord) -> RequestRecord | None:
        """The record as written (conditional on its version), or None if it was refused
        or its outcome is unknown; `read` itself when nothing changed, not written again (an
        orphan that again could not be removed, for the same reason: its record's
        `updated_at` rests, which the drift check waits on, and a run costs no writes)."""
        if record == read:
            return read
        try:
            written = self._store.save(record, self._clock())
        except BackendFailure as exc:
            logger.warning(
                "request %s: note failed (%s): left for the next run", record.request_id, exc
            )
            return None
        if written is None:
            logger.info("request %s moved on: left for the next run", record.request_id)
        return written
