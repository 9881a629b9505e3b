"""Pushes requests that stalled: the guarantee that no record stays unfinished forever.

A request can stall when its job was never sent (the SQS send failed and the
caller never retried), or when its message's last receive could not finish
it (a claim that failed, a lease lost, a write whose outcome was unknown).
The reaper sends such requests (QUEUED, or IN_PROGRESS / ROLLING_BACK /
DELETING with an expired lease, untouched for STALE_AFTER_SECONDS) to the
worker again; the worker's claim makes a duplicate harmless, and its attempt
limit (MAX_ATTEMPTS) ends a request that can never succeed as FAILED.

It also keeps the dead-letter queue truthful. The worker sends a message there
only for a request it recorded FAILED, but a worker that dies on a message's
last receive (a Lambda timeout) sends it there too. So the reaper reads the
DLQ: a letter whose request is FAILED (or DELETE_FAILED) stays, for a person
to read; one whose request SUCCEEDED (DELETED, CANCELLED) is deleted; one whose
request is unfinished is sent to the worker again and deleted. Letters that
are not jobs stay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from chalicelib.aws.jobs import DeadLetter, DeadLetters, JobQueue
from chalicelib.clock import Clock, epoch_of, sort_timestamp, system_clock
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.metrics import Metrics, Unit
from chalicelib.models import Operation, RequestRecord, Status
from chalicelib.store.reaper import ReaperStore

logger = logging.getLogger(__name__)

BATCH_LIMIT = 100


# Unfinished creations: their jobs are re-sent (DELETING gets a delete job).
_RESEND = (Status.QUEUED, Status.IN_PROGRESS, Status.ROLLING_BACK)
# Every dead letter is examined each run (each is hidden from the run's next receive
# meanwhile, and those kept are visible again when the run ends: a letter behind a
# hundred kept ones is reached too), until this long after the run began: well within
# the reaper's timeout (60 s) and the hiding.
DEAD_LETTER_SECONDS = 40
DEAD_LETTER_HIDE_SECONDS = 60


@dataclass
class ReaperReport:
    requeued: list[str] = field(default_factory=list)
    # Dead letters of requests that were not FAILED: removed (and re-sent if unfinished).
    revived: list[str] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        """Whether the sweep changed anything (an idle one is logged at DEBUG)."""
        return bool(self.requeued or self.revived)


class Reaper:
    """One sweep over stalled requests. Safe to run concurrently with itself and the worker."""

    def __init__(
        self,
        store: ReaperStore,
        queue: JobQueue,
        dead_letters: DeadLetters,
        settings: Settings,
        clock: Clock = system_clock,
        metrics_sink: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics_sink or Metrics()
        self._queue = queue
        self._dead_letters = dead_letters
        self._settings = settings
        self._clock = clock

    def run(self) -> ReaperReport:
        """Re-send every request QUEUED, or IN_PROGRESS / ROLLING_BACK with an expired lease,
        for too long.

        Raises BackendFailure if DynamoDB or SQS fails (the next run retries).
        """
        report = ReaperReport()
        now = self._clock()
        stale = now - self._settings.stale_after_seconds
        for status in (*_RESEND, Status.DELETING):
            stalled = self._store.stale_requests(
                status, sort_timestamp(stale), BATCH_LIMIT, now, stale
            )
            for record in stalled:
                if self._requeue(record, now, stale):
                    report.requeued.append(record.request_id)
        if report.requeued:
            logger.warning(
                "re-sent %d stalled request(s): %s", len(report.requeued), report.requeued
            )
        self._prune_dead_letters(report, now + DEAD_LETTER_SECONDS)
        self._measure(report, now)
        return report

    def _requeue(self, record: RequestRecord, now: float, stale: float) -> bool:
        """Note the request re-sent, then send its job; whether it was sent.

        Only stalled ones come (no live lease, untouched: the query's filter); the index
        may lag, so the note is conditional on the record as it is now. A note must never
        hold back a job it did not see sent (the next runs skip a noted request for
        STALE_AFTER_SECONDS): a note whose outcome is unknown is taken as landed, and the job
        sent all the same (a second job is harmless: the worker's claim absorbs it); one
        whose send then fails is taken back before the failure is raised."""
        try:
            noted = self._store.mark_requeued(record, now, not_since=stale)
        except BackendFailure as exc:
            logger.warning(
                "the re-send of request %s could not be noted (%s): sent all the same",
                record.request_id,
                exc,
            )
            noted = True
        if not noted:
            return False
        try:
            self._queue.send(record.request_id, _operation(record.status))
        except BackendFailure:
            try:
                self._store.unmark_requeued(record, now)
            except BackendFailure as exc:
                logger.warning(
                    "request %s: its failed re-send stays noted (%s): sent again after "
                    "STALE_AFTER_SECONDS",
                    record.request_id,
                    exc,
                )
            raise
        return True

    def _measure(self, report: ReaperReport, now: float) -> None:
        """The run's metrics, and the age of the oldest QUEUED request: a growing age means
        jobs are not being worked (the worker failing, its queue mapping disabled)."""
        values: dict[str, tuple[float, Unit]] = {
            "Requeued": (len(report.requeued), Unit.COUNT),
            "DeadLettersRevived": (len(report.revived), Unit.COUNT),
        }
        try:
            oldest = self._store.oldest(Status.QUEUED)
        except BackendFailure as exc:
            # The sweep is done; a missing data point is better than a failed run.
            logger.warning("could not read the oldest QUEUED request: %s", exc)
        else:
            submitted = epoch_of(oldest.created_at) if oldest else None
            age = max(0.0, now - submitted) if submitted else 0.0
            values["OldestQueuedAge"] = (age, Unit.SECONDS)
        self._metrics.put({"Function": "reaper"}, values)

    def _prune_dead_letters(self, report: ReaperReport, until: float) -> None:
        kept: list[DeadLetter] = []
        try:
            self._sweep(report, kept, until)
        finally:
            self._dead_letters.release(kept)

    def _sweep(self, report: ReaperReport, kept: list[DeadLetter], until: float) -> None:
        while self._clock() < until:
            letters = self._dead_letters.receive(DEAD_LETTER_HIDE_SECONDS)
            if not letters:
                return
            read = self._store.records(letter.request_id for letter in letters if letter.request_id)
            for letter in letters:
                record = read.found.get(letter.request_id or "")
                if record is None and letter.request_id in read.absent:
                    # The job of a POST whose request was never stored (refused, replayed):
                    # proven by a strongly consistent read. Should that POST's write land
                    # late, its request is QUEUED and the sweep above sends it again.
                    self._dead_letters.delete(letter)
                    logger.warning(
                        "dead letter of request %s removed: no such request", letter.request_id
                    )
                    continue
                # Not a job, or its record could not be read this time: left for a person
                # (or the next run).
                if record is None or record.status in (Status.FAILED, Status.DELETE_FAILED):
                    kept.append(letter)  # a person's to read
                    continue
                unfinished = record.status in (*_RESEND, Status.DELETING)
                if unfinished:
                    self._queue.send(record.request_id, _operation(record.status))
                self._dead_letters.delete(letter)
                report.revived.append(record.request_id)
                logger.warning(
                    "dead letter of request %s (%s) removed%s",
                    record.request_id,
                    record.status.value,
                    "; job re-sent" if unfinished else "",
                )


def _operation(status: Status) -> Operation:
    return Operation.DELETE if status is Status.DELETING else Operation.CREATE
