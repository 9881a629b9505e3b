"""When a job's message is delivered again, and what its last receive may still do.

A run worth another try makes the message visible again after a delay doubling with
its receive count (`retry_delay`), capped. The queue's last receive of a message is
different: SQS would move the message to the dead-letter queue if it came back once
more, whatever its request's state, and a worker that dies (a Lambda timeout) makes it
come back. So on the last receive the handler deletes the message first, then works,
and never asks for it again (`again` leaves the request to the reaper, which sends the
job again). The dead-letter queue gets a letter only from the worker itself, after it
recorded FAILED (DELETE_FAILED) with RetriesExhausted (`dead_letter`).
"""

from __future__ import annotations

import logging

from chalicelib.aws.jobs import DeadLetters, Job, JobQueue
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure, RetryLater
from chalicelib.worker.results import Outcome

logger = logging.getLogger(__name__)


class Redelivery:
    """The delivery policy of the jobs queue, for the provisioner's messages."""

    def __init__(
        self, settings: Settings, queue: JobQueue, dead_letters: DeadLetters | None = None
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._dead_letters = dead_letters

    def last_receive(self, job: Job) -> bool:
        return job.receive_count >= self._settings.max_receive_count

    def again(self, job: Job, reason: str, delay: int, quiet: bool = False) -> Outcome:
        """Deliver the job again after `delay` seconds; on the last receive, leave the
        request to the reaper instead (the dead-letter queue holds FAILED requests only)."""
        if self.last_receive(job):
            logger.warning("%s; last receive: left for the reaper", reason)
            return Outcome.DEFERRED
        if job.receipt_handle:
            self._queue.delay(job.receipt_handle, delay)
        raise RetryLater(reason, delay, quiet)

    def retry_delay(self, job: Job) -> int:
        """Seconds before the next delivery: doubling with each receive, capped."""
        settings = self._settings
        doubling: int = settings.retry_delay_base_seconds * 2 ** max(0, job.receive_count - 1)
        return min(settings.retry_delay_cap_seconds, doubling)

    def may_be_stored_yet(self, job: Job, now: float) -> bool:
        """Whether a job without a record is young enough that its POST may still store it."""
        grace = self._settings.unstored_job_grace_seconds
        return job.sent_at is not None and now - job.sent_at < grace

    def dead_letter(self, job: Job) -> None:
        """Send the job's dead letter; if that fails, it is logged and the request stays FAILED."""
        if self._dead_letters is None:
            return
        try:
            self._dead_letters.send(job.request_id, job.operation)
        except BackendFailure as exc:
            logger.error("request %s: its dead letter could not be sent: %s", job.request_id, exc)
