"""What one claimed run of the worker came to (`RunResult`: values, not exceptions), and
what one delivery of a job came to (`Outcome`).

The provisioner turns each run's result into what SQS should do with the message, in
one place (`Provisioner._conclude`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.models import ErrorInfo, RequestRecord

RETRIES_EXHAUSTED = "RetriesExhausted"


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    DELETED = "DELETED"
    DELETE_FAILED = "DELETE_FAILED"
    # Nothing to do: finished, unknown, or in another worker's hands.
    SKIPPED = "SKIPPED"
    # The last receive could not finish the request: the reaper sends it again.
    DEFERRED = "DEFERRED"


@dataclass(frozen=True)
class Done:
    """The run recorded a terminal status (SUCCEEDED, or FAILED after the rollback)."""

    record: RequestRecord


@dataclass(frozen=True)
class Failed:
    """AWS refused for good: the request is to be rolled back and fail with `error`."""

    error: ErrorInfo


@dataclass(frozen=True)
class Transient:
    """Something failed that may clear by itself: worth a later delivery."""

    code: str
    message: str


@dataclass(frozen=True)
class Stopped:
    """The run stopped touching the world: its lease is gone, or a write's outcome unknown."""

    reason: str


RunResult = Done | Failed | Transient | Stopped
