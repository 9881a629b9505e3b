"""What one delivery of a job did: its `job` log line and its EMF metrics.

docs/operating.md, "Operating it" section names the fields and metrics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from chalicelib import logs, metrics
from chalicelib.aws.jobs import Job
from chalicelib.clock import Clock, epoch_of
from chalicelib.metrics import Metrics, Unit
from chalicelib.models import Operation
from chalicelib.worker.results import Outcome

logger = logging.getLogger(__name__)

# Outcomes that end a creation: ProvisioningDuration is measured from its submission.
_CREATED_OR_NOT = frozenset({Outcome.SUCCEEDED.value, Outcome.FAILED.value})
_BAD_OUTCOMES = frozenset({Outcome.FAILED.value, Outcome.DELETE_FAILED.value, "ERROR"})


@dataclass
class JobReport:
    """What one delivery did, for its `job` log line and its metrics."""

    started: float
    outcome: str | None = None
    attempts: int = 0
    created_at: str | None = None
    quiet: bool = False


def report_job(
    job: Job, report: JobReport, tally: metrics.Tally, clock: Clock, sink: Metrics
) -> None:
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
        values["ProvisioningDuration"] = (round(clock() - submitted, 3), Unit.SECONDS)
    level = logging.DEBUG if report.quiet else logging.INFO  # quiet: the usual race
    logs.event(
        logger,
        "job",
        logging.WARNING if outcome in _BAD_OUTCOMES else level,
        outcome=outcome,
        duration_ms=duration_ms,
        attempts=report.attempts,
        in_place_retries=tally[metrics.IN_PLACE_RETRIES],
        orphans_removed=tally[metrics.ORPHANS_REMOVED],
    )
    sink.put({"Operation": job.operation.value, "Outcome": outcome}, values)
