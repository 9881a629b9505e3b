"""Metrics as CloudWatch embedded-metric-format (EMF) lines: no PutMetricData call, no
IAM permission, no latency; CloudWatch Logs turns each line into metrics.

A `Tally` counts what happens inside one unit of work (a job, a reconciler
run) across its threads, without passing a counter through every call: code
deep down says `count("InPlaceRetries")`, and the tally bound around the work
collects it (threads started with a copy of the context share it). The
docs/operating.md, "Operating it" section lists every metric and what to alarm on.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from chalicelib import logs

NAMESPACE = "VpcProvisioner"

# Counted inside a job (see `count`).
IN_PLACE_RETRIES = "InPlaceRetries"
ORPHANS_REMOVED = "OrphansRemoved"
# The reconciler's: SUCCEEDED requests whose record shows drift.
DRIFTED_REQUESTS = "DriftedRequests"


class Unit(StrEnum):
    COUNT = "Count"
    SECONDS = "Seconds"
    MILLISECONDS = "Milliseconds"


class Tally:
    """Counters for one unit of work; safe to add to from several threads."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]


_TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("tally", default=None)


@contextmanager
def tallied() -> Iterator[Tally]:
    """Collect every `count` made inside the block into a fresh Tally."""
    tally = Tally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def count(name: str, amount: int = 1) -> None:
    """Add to the current tally's `name` (nothing happens outside `tallied`)."""
    tally = _TALLY.get()
    if tally is not None:
        tally.add(name, amount)


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _debug_log(line: str) -> None:
    logging.getLogger(__name__).debug("%s", line)


def default_sink() -> Callable[[str], None]:
    """In Lambda, stdout (which Lambda sends to CloudWatch Logs line by line, where
    EMF is read); elsewhere (the local stack, tests, benchmarks) a DEBUG log line."""
    return _stdout if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else _debug_log


class Metrics:
    """Writes EMF lines to `sink` (by default `default_sink()`)."""

    def __init__(
        self, sink: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._sink = sink or default_sink()
        self._clock = clock

    def put(
        self,
        dimensions: Mapping[str, str],
        values: Mapping[str, tuple[float, Unit]],
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """One EMF line: `values` (name -> (value, unit)) under `dimensions`; `properties`
        and the bound log context ride along, searchable in Logs Insights, not metrics."""
        line: dict[str, Any] = {
            **logs.context(),
            **(properties or {}),
            **dimensions,
            **{name: value for name, (value, _) in values.items()},
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [
                            {"Name": name, "Unit": unit.value} for name, (_, unit) in values.items()
                        ],
                    }
                ],
            },
        }
        self._sink(json.dumps(logs.scrub(line), default=str, separators=(",", ":")))
