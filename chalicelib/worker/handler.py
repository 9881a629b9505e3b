"""The worker: takes one delivery of a request's job and moves the request forward, exactly once.

Delivery is at-least-once and a worker can die between any two calls, so
every step can be repeated without effect:

1. Claim the request (a conditional update with a lease): two deliveries at
   once never both work; a dead worker's expired lease is taken over.
2. The claimed request's job is run (`job_runner`): a QUEUED or IN_PROGRESS
   request is created (`create_job`); a ROLLING_BACK one is rolled back further,
   never provisioned (`rollback`).
3. The run's result decides what SQS does with the message (`_conclude`):
   deleted when the request is finished; made visible again after a delay
   growing with its receive count when it is worth another try (`redelivery`).

On the queue's last receive the worker deletes the message first, then works: see
`redelivery` for why, and for the one way into the dead-letter queue. Each delivery
logs one `job` line and writes its metrics (`job_report`).

docs/api.md, "Statuses" section draws the state machine.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import assert_never

from chalicelib import logs, metrics
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.jobs import DeadLetters, Job, JobQueue
from chalicelib.aws.routing import RoutingGateway
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock, system_clock
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure, RetryLater
from chalicelib.metrics import Metrics
from chalicelib.models import RequestRecord, Status
from chalicelib.resource_ids import has_ended
from chalicelib.store.table import conflicted
from chalicelib.store.worker import AlreadyFinished, Claimed, LeaseHeld, Missing, WorkerStore
from chalicelib.worker.job_report import JobReport, report_job
from chalicelib.worker.job_runner import JobRunner
from chalicelib.worker.lease import Lease
from chalicelib.worker.redelivery import Redelivery
from chalicelib.worker.results import (
    RETRIES_EXHAUSTED,
    Done,
    Failed,
    Outcome,
    RunResult,
    Stopped,
    Transient,
)

logger = logging.getLogger(__name__)


# The longest wait for a job whose record is not stored yet (see Provisioner.handle).
_UNSTORED_DELAY_CAP = 15


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
        self._redelivery = Redelivery(settings, queue, dead_letters)
        self._metrics = metrics_sink or Metrics()
        self._queue = queue
        self._settings = settings
        self._clock = clock
        backoff = backoff or Backoff(
            base=settings.ec2_backoff_base_seconds, cap=settings.ec2_backoff_cap_seconds
        )
        self._runner = JobRunner(store, ec2, routing, settings, clock, sleep, backoff)

    def handle(self, job: Job) -> Outcome:
        """Move the job's request forward.

        Returns when the message is done with (finished, unknown, or left to
        the reaper on the last receive). Raises RetryLater when it must be
        delivered again, after setting its visibility to the retry delay.
        Logs one `job` line and writes the job's metrics, whatever happens.
        """
        report = JobReport(started=time.perf_counter())
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
            except RetryLater as exc:
                report.outcome = report.outcome or "RETRY"
                report.quiet = exc.quiet
                raise
            finally:
                report_job(job, report, tally, self._clock, self._metrics)

    def _handle(self, job: Job, report: JobReport) -> Outcome:
        if (
            self._redelivery.last_receive(job)
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
            if conflicted(exc):
                # A transaction is writing the record: most often the POST's own, its job
                # sent beside it (a sized POST's). Back in 1 s, quiet the first time, as
                # for a record not stored yet: the usual race of milliseconds.
                reason = f"request {job.request_id} is being written"
                return self._redelivery.again(job, reason, 1, job.receive_count == 1)
            return self._redelivery.again(
                job, f"claiming failed: {exc}", self._redelivery.retry_delay(job)
            )
        match claim:
            case Missing() if self._redelivery.may_be_stored_yet(job, now):
                # Sent beside the POST's transaction, which may not have landed yet: back in
                # 1 s (the usual race, milliseconds), then 4, then 15 s a time, so that the
                # receives before the last span the API's whole 29 s (a slow transaction's).
                # The first of them is the usual race: its lines are DEBUG (`quiet`).
                delay = min(_UNSTORED_DELAY_CAP, 4 ** max(0, job.receive_count - 1))
                reason = f"request {job.request_id} is not stored yet"
                return self._redelivery.again(job, reason, delay, job.receive_count == 1)
            case Missing():
                logger.warning("job for unknown request %s dropped", job.request_id)
                return Outcome.SKIPPED
            case AlreadyFinished(record):
                logger.info("request %s already %s", job.request_id, record.status)
                # The write that ended it may have landed with its answer lost (and its
                # block not freed then): freed now, at the version the claim read, once.
                if has_ended(record):
                    self._store.release_or_leave(record)
                return Outcome.SKIPPED
            case LeaseHeld(record):
                # Come back when that lease runs out: its owner may have died.
                wait = max(1, math.ceil(record.lease_until - now) + 1)
                reason = f"request {job.request_id} is held by another worker"
                return self._redelivery.again(
                    job, reason, min(wait, self._settings.retry_delay_cap_seconds)
                )
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
            last_receive = self._redelivery.last_receive(job)
            result = self._runner.run(record, owner, lease, job.operation, last_receive)
        if isinstance(result, Transient):
            # The next delivery may claim at once.
            self._store.release_lease(job.request_id, owner, lease.version)
        return self._conclude(result, job, report)

    def _conclude(self, result: RunResult, job: Job, report: JobReport) -> Outcome:
        """What SQS does with the message, for each result: the one place that decides."""
        match result:
            case Done(record) if record.status in (Status.SUCCEEDED, Status.DELETED):
                self._free_addresses(record)
                return Outcome(record.status.value)
            case Done(record):
                exhausted = record.error is not None and record.error.code == RETRIES_EXHAUSTED
                if exhausted and self._redelivery.last_receive(job):
                    # Recorded FAILED (DELETE_FAILED) first: only then is a letter sent, at
                    # once (before the addresses are freed: a user's DELETE of the FAILED
                    # request may land meanwhile, and the letter would name a DELETED one).
                    self._redelivery.dead_letter(job)
                self._free_addresses(record)
                return Outcome(record.status.value)
            case Transient(code, message):
                return self._redelivery.again(
                    job,
                    f"request {job.request_id}: {code}: {message}",
                    self._redelivery.retry_delay(job),
                )
            case Stopped(reason):
                return self._redelivery.again(
                    job, f"request {job.request_id}: {reason}", self._redelivery.retry_delay(job)
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
            if current is not None and has_ended(current):
                self._store.release_addresses(current)
        except BackendFailure as exc:
            logger.warning("request %s: freeing its addresses failed (%s)", record.request_id, exc)
