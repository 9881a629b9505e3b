"""Time, injectable: every module takes a `Clock` so tests can move time forward."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns the current time in seconds since the epoch."""

system_clock: Clock = time.time


def iso_timestamp(epoch: float) -> str:
    """`2026-11-28T20:17:26Z`: the record's created_at/updated_at format (whole seconds, UTC)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sort_timestamp(epoch: float) -> str:
    """`2026-11-28T20:17:26.123456Z`: sorts like the time it names, to the microsecond."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_of(text: str | None) -> float | None:
    """The epoch of an `iso_timestamp`, or None for a missing or malformed one."""
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
