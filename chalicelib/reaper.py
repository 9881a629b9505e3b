"""Pushes requests that stalled: the guarantee that no record stays unfinished forever.

A request can stall when its job was never sent (the SQS send failed and the
caller never retried), or when its message's last receive could not finish
it (a claim that failed, a lease lost, a write whose outcome was unknown).
The reaper sends such requests (QUEUED, or IN_PROGRESS / ROLLING_BACK with an
expired lease) to the worker again; the worker's claim makes a duplicate
harmless, and its attempt limit (MAX_ATTEMPTS) ends a request that can never
succeed as FAILED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .clock import Clock, sort_timestamp, system_clock
from .config import Settings
from .jobs import JobQueue
from .models import Status
from .store.reaper import ReaperStore

logger = logging.getLogger(__name__)

BATCH_LIMIT = 100


@dataclass
class ReaperReport:
    requeued: list[str] = field(default_factory=list)


class Reaper:
    """One sweep over stalled requests. Safe to run concurrently with itself and the worker."""

    def __init__(
        self, store: ReaperStore, queue: JobQueue, settings: Settings, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._queue = queue
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
        for status in (Status.QUEUED, Status.IN_PROGRESS, Status.ROLLING_BACK):
            for record in self._store.stale_requests(status, sort_timestamp(stale), BATCH_LIMIT):
                if record.lease_until > now:
                    continue
                if self._store.mark_requeued(record.request_id, status, now, not_since=stale):
                    self._queue.send(record.request_id)
                    report.requeued.append(record.request_id)
        if report.requeued:
            logger.warning(
                "re-sent %d stalled request(s): %s", len(report.requeued), report.requeued
            )
        return report
