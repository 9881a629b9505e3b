"""What one claimed run of the worker came to: values, not exceptions.

The provisioner turns each into what SQS should do with the message, in one
place (`Provisioner._conclude`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.models import ErrorInfo, RequestRecord

RETRIES_EXHAUSTED = "RetriesExhausted"


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
