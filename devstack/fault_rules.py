"""What the fault injector (`fault_injector.py`) can do to a call, and to which calls.

A `Rule` is one fault: its kind (`when`: "before" stops the call, "after" loses
its answer, "stale" empties a list of it, "unprocessed" hands a batch read's keys
back; `kill` ends the worker, `delay` only slows the call), its schedule (`skip`
calls let through first, then `times` of them, -1 for all) and the calls it
matches (`match`, a predicate of the call's parameters). `take` picks the rule a
call meets. `Hold`, `Signal` and `Gate` order calls across threads instead of
failing them. `WorkerKilled` is what a `kill` raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class WorkerKilled(BaseException):
    """The worker's process died here (not an Exception: nothing in the code catches it)."""


@dataclass
class Rule:
    service: str
    operation: str
    when: str  # "before" | "after"
    code: str
    status: int
    times: int
    kill: bool = False
    delay: float = 0.0
    skip: int = 0
    match: Callable[[dict[str, Any]], bool] | None = None
    # For "unprocessed": the share of a batch's keys handed back (or exactly these ids).
    share: float = 1.0
    only: frozenset[str] | None = None
    # The error's message (default: "injected CODE").
    message: str = ""


@dataclass
class Hold:
    """Calls held until an event; `timeouts` counts those released by the timeout instead."""

    service: str
    operation: str
    until: threading.Event
    match: Callable[[dict[str, Any]], bool] | None
    timeout: float
    timeouts: int = 0


@dataclass
class Signal:
    service: str
    operation: str
    event: threading.Event
    match: Callable[[dict[str, Any]], bool] | None


@dataclass
class Gate:
    service: str
    operation: str
    count: int
    timeout: float
    condition: threading.Condition
    opened: bool = False

    def arrive(self, in_flight: Callable[[], int]) -> None:
        with self.condition:
            if not self.opened and in_flight() >= self.count:
                self.opened = True
                self.condition.notify_all()
            self.condition.wait_for(lambda: self.opened, timeout=self.timeout)
            self.opened = True


def take(
    rules: list[Rule], service: str, operation: str, when: str, params: dict[str, Any]
) -> Rule | None:
    """The first of `rules` that this call meets, counted off its schedule (None: a call
    it lets through, or no rule). The caller holds the lock that guards `rules`."""
    for rule in rules:
        if (
            rule.service == service
            and rule.operation == operation
            and rule.when == when
            and rule.times != 0
            and (rule.match is None or rule.match(params))
        ):
            if rule.skip > 0:
                rule.skip -= 1
                return None
            if rule.times > 0:
                rule.times -= 1
            return rule
    return None


def has_params(expected: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a call's parameters hold every value of `expected`."""
    return all(params.get(key) == value for key, value in expected.items())
