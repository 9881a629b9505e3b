"""Undoing a failed request: a recorded state, then a teardown, then FAILED.

Before anything is deleted, the record says ROLLING_BACK, with the error and
every id the worker knows (conditional on its lease, so a worker that lost
the request never deletes a thing). Any later claim of a ROLLING_BACK
request continues the rollback and never provisions. The teardown is
idempotent, so a crash anywhere in it is finished by the next claim.

A FAILED request that leaves something (a delete refused, or one whose answer was lost
and whose "not found" cannot yet be believed) is the reconciler's from then on: it is put
on the reconciler's ledger before FAILED is written, so that the reconciler reads the
record again even once EC2 no longer lists what it names (gone after all, or removed by
a person), and settles it by id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from chalicelib.aws.tally import Removal, report, with_earlier
from chalicelib.aws.teardown import Teardown
from chalicelib.clock import Clock, iso_timestamp
from chalicelib.errors import BackendFailure, LeaseLost
from chalicelib.models import ErrorInfo, RequestRecord, Status
from chalicelib.resource_ids import (
    Resources,
    gone_for_good,
    has_ended,
    known_resources,
    only_remaining,
    settled,
    unanswered,
)
from chalicelib.worker.lease import Lease
from chalicelib.worker.results import Done, RunResult, Stopped, Transient

logger = logging.getLogger(__name__)


class Rollback:
    """Rolls one claimed request back. Never raises for AWS or DynamoDB failures."""

    def __init__(
        self,
        record: RequestRecord,
        lease: Lease,
        teardown: Teardown,
        clock: Clock,
        leave_to_reconciler: Callable[[list[str]], object],
    ) -> None:
        self._record = record
        self._lease = lease
        self._teardown = teardown
        self._clock = clock
        # Puts requests on the reconciler's ledger (WorkerStore.add_pending).
        self._leave_to_reconciler = leave_to_reconciler

    def start(self, error: ErrorInfo, known_vpcs: list[str], final: bool) -> RunResult:
        """Record ROLLING_BACK with `error`, then continue as `resume` does."""
        pending = replace(self._record, status=Status.ROLLING_BACK, error=error)
        stopped = self._lease.transition(pending, Status.IN_PROGRESS)
        if stopped:
            return stopped
        self._record = pending
        logger.warning("request %s rolling back: %s", pending.request_id, error.code)
        return self.resume(final, known_vpcs)

    def resume(self, final: bool, known_vpcs: list[str] | None = None) -> RunResult:
        """Tear down what the request made and record FAILED with what happened.

        If some deletion failed in a way that may clear, and this is not the
        last try (`final`), the record stays ROLLING_BACK for the next claim.
        On the last try, FAILED says what remains: the reconciler removes it.
        """
        record = self._record
        # What an earlier try deleted (a delete's answer, in the record's report) is gone:
        # neither tried again nor said to remain, whatever a lagging look still lists.
        earlier = record.rollback.answered if record.rollback else ()
        # What an earlier try could not delete (written below): its look by tag may lag now.
        known, recorded = unanswered(
            record, earlier, known_resources(record) + Resources(vpcs=tuple(known_vpcs or ()))
        )
        # The proof: ROLLING_BACK is recorded (at this lease's version) before this runs,
        # so no record names the request's resources as live; the lease is checked
        # before every delete. Recorded deleted: what a delete answered for.
        try:
            removal = self._teardown.request(
                record.request_id,
                known,
                network=record.request.has_public_subnets,
                recorded=recorded,
                gone=gone_for_good(record),
            )
        except LeaseLost:
            return Stopped("the lease was lost during the rollback")
        removal = with_earlier(removal, record.rollback)
        if removal.transient and not final:
            # Tried again later: what this try found and could not delete is written first
            # (the next try's look by tag may not list it, and must not call it gone).
            held = replace(record, rollback=report(removal))
            stopped = self._lease.transition(held, Status.ROLLING_BACK)
            if stopped:
                return stopped
            return Transient("RollbackIncomplete", "; ".join(removal.errors))
        failed = replace(
            _failed(record, removal, iso_timestamp(self._clock())), lost_answers=self._uncertain()
        )
        if not has_ended(failed):
            # Intent first: the reconciler must come back to what FAILED names even once
            # EC2's listings no longer show it (or, after a lost answer, make sure nothing
            # is left). Without that, no FAILED is written yet.
            try:
                self._leave_to_reconciler([record.request_id])
            except BackendFailure as exc:
                return Transient("LedgerUnavailable", f"leaving it to the reconciler: {exc}")
        stopped = self._lease.transition(failed, Status.ROLLING_BACK)
        if stopped:
            return stopped
        logger.warning("request %s failed: %s", record.request_id, failed.error)
        return Done(failed)

    def _uncertain(self) -> bool:
        """What the FAILED record says of lost answers: once true, always (a create may
        have run unseen before this run, on an earlier attempt or in it; a DELETE of the
        FAILED request then looks in EC2 again before DELETED). Only FAILED needs it: a
        later claim of a ROLLING_BACK request is a later attempt, uncertain anyway."""
        return self._record.lost_answers or self._teardown.uncertain


def _failed(record: RequestRecord, removal: Removal, now: str) -> RequestRecord:
    """The FAILED record: AWS's error, what the rollback did (`rollback`: what the
    reconciler removes later is noted there and in `orphans`, never in the error's text,
    which would go stale), ids of what remains only, and the orphans it deleted (a
    duplicate noted earlier) said removed at `now`."""
    return replace(
        only_remaining(settled(record, removal.deleted, now), set(removal.remaining)),
        status=Status.FAILED,
        error=record.error or ErrorInfo("Unknown", "the request failed"),
        rollback=report(removal),
    )
