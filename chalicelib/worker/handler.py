"""The worker: takes one delivery of a request's job and moves the request forward, exactly once.

Delivery is at-least-once and a worker can die between any two calls, so
every step can be repeated without effect:

1. Claim the request (a conditional update with a lease): two deliveries at
   once never both work; a dead worker's expired lease is taken over.
2. A QUEUED or IN_PROGRESS request is created (`create_job`); a ROLLING_BACK
   one is rolled back further, never provisioned (`rollback`).
3. The run's result decides what SQS does with the message (`_conclude`):
   deleted when the request is finished; made visible again after a delay
   growing with its receive count when it is worth another try.

The queue's last receive of a message is different: SQS would move the message to
the dead-letter queue if it came back once more, whatever its request's state, and
a worker that dies (a Lambda timeout) makes it come back. So the worker deletes
the message first, then works. The dead-letter queue gets a letter only from the
worker itself, after it recorded FAILED (DELETE_FAILED) with RetriesExhausted;
anything else unfinished is left to the reaper, which sends the job again.

docs/api.md, "Statuses" section draws the state machine.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from chalicelib import logs, metrics
from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.jobs import DeadLetters, Job, JobQueue
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.teardown import Teardown
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock, epoch_of, system_clock
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure, RetryLater
from chalicelib.metrics import Metrics, Unit
from chalicelib.models import ErrorInfo, Operation, RequestRecord, Status
from chalicelib.resource_ids import has_ended
from chalicelib.store.worker import AlreadyFinished, Claimed, LeaseHeld, Missing, WorkerStore
from chalicelib.worker.create_job import Creation
from chalicelib.worker.delete_job import Deletion
from chalicelib.worker.lease import CheckpointWriter, Lease
from chalicelib.worker.results import RETRIES_EXHAUSTED, Done, Failed, RunResult, Stopped, Transient
from chalicelib.worker.rollback import Rollback

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    DELETED = "DELETED"
    DELETE_FAILED = "DELETE_FAILED"
    # Nothing to do: finished, unknown, or in another worker's hands.
    SKIPPED = "SKIPPED"
    # The last receive could not finish the request: the reaper sends it again.
    DEFERRED = "DEFERRED"


@dataclass
class _JobReport:
    """What one delivery did, for its `job` log line and its metrics."""

    started: float
    outcome: str | None = None
    attempts: int = 0
    created_at: str | None = None


# Outcomes that end a creation: ProvisioningDuration is measured from its submission.
_CREATED_OR_NOT = frozenset({Outcome.SUCCEEDED.value, Outcome.FAILED.value})
_BAD_OUTCOMES = frozenset({Outcome.FAILED.value, Outcome.DELETE_FAILED.value, "ERROR"})


class Provisioner:
    """Runs jobs. `handle` is safe to call any number of times, concurrently, for one request."""

    def __init__(
        self,
        store: WorkerStore,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        queue: JobQueue,
        settings: Settings,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff | None = None,
        metrics_sink: Metrics | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._metrics = metrics_sink or Metrics()
        self._ec2 = ec2
        self._routing = routing
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff(
            base=settings.ec2_backoff_base_seconds, cap=settings.ec2_backoff_cap_seconds
        )

    def handle(self, job: Job) -> Outcome:
        """Move the job's request forward.

        Returns when the message is done with (finished, unknown, or left to
        the reaper on the last receive). Raises RetryLater when it must be
        delivered again, after setting its visibility to the retry delay.
        Logs one `job` line and writes the job's metrics, whatever happens.
        """
        report = _JobReport(started=time.perf_counter())
        with (
            logs.bound(
                request_id=job.request_id,
                operation=job.operation.value,
                receive_count=job.receive_count,
            ),
            metrics.tallied() as tally,
        ):
            try:
                outcome = self._handle(job, report)
                report.outcome = outcome.value
                return outcome
            except RetryLater:
                report.outcome = report.outcome or "RETRY"
                raise
            finally:
                self._report(job, report, tally)

    def _report(self, job: Job, report: _JobReport, tally: metrics.Tally) -> None:
        """The delivery's `job` line and its EMF metrics (see docs/operating.md, "Operating it")."""
        outcome = report.outcome or "ERROR"
        duration_ms = round((time.perf_counter() - report.started) * 1000, 1)
        values: dict[str, tuple[float, Unit]] = {
            "Jobs": (1, Unit.COUNT),
            "JobDuration": (duration_ms, Unit.MILLISECONDS),
            metrics.IN_PLACE_RETRIES: (tally[metrics.IN_PLACE_RETRIES], Unit.COUNT),
            metrics.ORPHANS_REMOVED: (tally[metrics.ORPHANS_REMOVED], Unit.COUNT),
        }
        if report.attempts:
            values["Attempts"] = (report.attempts, Unit.COUNT)
        submitted = epoch_of(report.created_at)
        if job.operation is Operation.CREATE and outcome in _CREATED_OR_NOT and submitted:
            values["ProvisioningDuration"] = (round(self._clock() - submitted, 3), Unit.SECONDS)
        logs.event(
            logger,
            "job",
            logging.WARNING if outcome in _BAD_OUTCOMES else logging.INFO,
            outcome=outcome,
            duration_ms=duration_ms,
            attempts=report.attempts,
            in_place_retries=tally[metrics.IN_PLACE_RETRIES],
            orphans_removed=tally[metrics.ORPHANS_REMOVED],
        )
        self._metrics.put({"Operation": job.operation.value, "Outcome": outcome}, values)

    def _handle(self, job: Job, report: _JobReport) -> Outcome:
        if (
            self._last_receive(job)
            and job.receipt_handle
            and not self._queue.remove(job.receipt_handle)
        ):
            # Working on it now could end with it in the DLQ: leave it to the reaper.
            logger.warning("last receive: the message could not be deleted; left for the reaper")
            return Outcome.DEFERRED
        owner = uuid.uuid4().hex
        now = self._clock()
        try:
            claim = self._store.claim(
                job.request_id, owner, now, self._settings.lease_seconds, job.operation
            )
        except BackendFailure as exc:
            return self._again(job, f"claiming failed: {exc}", self._retry_delay(job))
        match claim:
            case Missing() if self._may_be_stored_yet(job, now):
                # Sent beside the POST's transaction, which may not have landed yet.
                delay = 2 ** max(0, job.receive_count - 1)
                return self._again(job, f"request {job.request_id} is not stored yet", delay)
            case Missing():
                logger.warning("job for unknown request %s dropped", job.request_id)
                return Outcome.SKIPPED
            case AlreadyFinished(record):
                logger.info("request %s already %s", job.request_id, record.status)
                return Outcome.SKIPPED
            case LeaseHeld(record):
                # Come back when that lease runs out: its owner may have died.
                wait = max(1, math.ceil(record.lease_until - now) + 1)
                reason = f"request {job.request_id} is held by another worker"
                return self._again(job, reason, min(wait, self._settings.retry_delay_cap_seconds))
            case Claimed(record):
                report.attempts = record.attempts
                report.created_at = record.created_at
            case _:
                assert_never(claim)
        lease = Lease(
            self._store,
            job.request_id,
            owner,
            self._settings.lease_seconds,
            self._clock,
            now,
            record.version,
            record.history,
        )
        with lease:
            result = self._work(record, owner, lease, job)
        if isinstance(result, Transient):
            # The next delivery may claim at once.
            self._store.release_lease(job.request_id, owner, lease.version)
        return self._conclude(result, job, report)

    def _work(self, record: RequestRecord, owner: str, lease: Lease, job: Job) -> RunResult:
        settings = self._settings
        # On its last try a request ends: FAILED, with whatever could not be undone named.
        final = self._last_receive(job) or record.attempts >= settings.max_attempts
        calls = Ec2Calls(
            settings,
            self._sleep,
            self._backoff,
            fence=lease.check,
            # Could anything exist that this run does not know about? Yes after an
            # earlier attempt (and, later, after an ambiguous failure in this one).
            uncertain=record.attempts > 1,
        )
        # What only a tag ties to the request is deleted once no SUCCEEDED record names it.
        teardown = Teardown(self._ec2, self._routing, calls, claims=self._store.named_by_succeeded)
        if job.operation is Operation.DELETE:
            # A teardown's last try is the message's last receive.
            return Deletion(record, lease, teardown, self._routing, calls).run(
                self._last_receive(job)
            )
        rollback = Rollback(record, lease, teardown)
        if record.status is Status.ROLLING_BACK:
            return rollback.resume(final)
        if record.attempts > settings.max_attempts:
            exhausted = ErrorInfo(
                RETRIES_EXHAUSTED, f"{record.attempts - 1} attempts made, none finished"
            )
            return rollback.start(exhausted, [], final=True)
        checkpoints = CheckpointWriter(
            self._store,
            record.request_id,
            lease,
            owner,
            self._clock,
            self._sleep,
            self._backoff,
            settings.store_write_attempts,
        )
        creation = Creation(
            record,
            lease,
            self._ec2,
            self._routing,
            calls,
            teardown,
            checkpoints,
            settings,
            self._clock,
        )
        result = creation.run()
        match result:
            case Failed(error):
                return rollback.start(error, creation.known_vpcs, final)
            case Transient(code, message) if final:
                exhausted = ErrorInfo(
                    RETRIES_EXHAUSTED,
                    f"Gave up after {record.attempts} attempt(s); last error {code}: {message}",
                )
                return rollback.start(exhausted, creation.known_vpcs, final=True)
            case _:
                return result

    def _conclude(self, result: RunResult, job: Job, report: _JobReport) -> Outcome:
        """What SQS does with the message, for each result: the one place that decides."""
        match result:
            case Done(record) if record.status in (Status.SUCCEEDED, Status.DELETED):
                self._free_addresses(record)
                return Outcome(record.status.value)
            case Done(record):
                exhausted = record.error is not None and record.error.code == RETRIES_EXHAUSTED
                if exhausted and self._last_receive(job):
                    # Recorded FAILED (DELETE_FAILED) first: only then is a letter sent, at
                    # once (before the addresses are freed: a user's DELETE of the FAILED
                    # request may land meanwhile, and the letter would name a DELETED one).
                    self._dead_letter(job)
                self._free_addresses(record)
                return Outcome(record.status.value)
            case Transient(code, message):
                return self._again(
                    job, f"request {job.request_id}: {code}: {message}", self._retry_delay(job)
                )
            case Stopped(reason):
                return self._again(
                    job, f"request {job.request_id}: {reason}", self._retry_delay(job)
                )
            case Failed():
                raise AssertionError("a Failed result is always rolled back first")
            case _:
                assert_never(result)

    def _free_addresses(self, record: RequestRecord) -> None:
        """Free the address block of a request that just ended (DELETED, or FAILED with
        nothing left), at the version a consistent read finds (the run's record does not
        carry the version its last write left); if this fails, the address upkeep frees it.
        A request that has not ended (SUCCEEDED, DELETE_FAILED) keeps its block."""
        if not has_ended(record):
            return
        try:
            current = self._store.read(record.request_id)
        except BackendFailure as exc:
            logger.warning("request %s: freeing its addresses failed (%s)", record.request_id, exc)
            return
        if current is not None and has_ended(current):
            self._store.release_or_leave(current)

    def _dead_letter(self, job: Job) -> None:
        if self._dead_letters is None:
            return
        try:
            self._dead_letters.send(job.request_id, job.operation)
        except BackendFailure as exc:
            logger.error("request %s: its dead letter could not be sent: %s", job.request_id, exc)

    def _again(self, job: Job, reason: str, delay: int) -> Outcome:
        """Deliver the job again after `delay` seconds; on the last receive, leave the
        request to the reaper instead (the dead-letter queue holds FAILED requests only)."""
        if self._last_receive(job):
            logger.warning("%s; last receive: left for the reaper", reason)
            return Outcome.DEFERRED
        if job.receipt_handle:
            self._queue.delay(job.receipt_handle, delay)
        raise RetryLater(reason, delay)

    def _may_be_stored_yet(self, job: Job, now: float) -> bool:
        """Whether a job without a record is young enough that its POST may still store it."""
        grace = self._settings.unstored_job_grace_seconds
        return job.sent_at is not None and now - job.sent_at < grace

    def _last_receive(self, job: Job) -> bool:
        return job.receive_count >= self._settings.max_receive_count

    def _retry_delay(self, job: Job) -> int:
        """Seconds before the next delivery: doubling with each receive, capped."""
        settings = self._settings
        doubling: int = settings.retry_delay_base_seconds * 2 ** max(0, job.receive_count - 1)
        return min(settings.retry_delay_cap_seconds, doubling)
