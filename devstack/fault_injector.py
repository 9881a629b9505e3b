"""Fault injection and call counting for boto3 clients, through botocore's event hooks.

`before` faults stop a call before it reaches AWS (moto): the call never ran,
like throttling. `after` faults let the call run and then lose its answer: the
resource exists but the caller saw an error, like a 5xx or a timeout after
AWS acted. `kill` ends the worker right there, as if its process died.
`stale` reads answer as a lagging read would (a list emptied), and
`unprocessed` batch reads hand keys back unprocessed, as DynamoDB does when it
throttles a BatchGetItem (an answer of 200, the keys not read).

Tests add rules in-process. The local stack takes them from a JSON file
(`watch`, `faults_file.py`), so end-to-end tests can make its EC2 calls fail; that
file is read only when DEVSTACK_FAULTS_FILE names it. The rules and what calls they
match are in `fault_rules.py`, the answers they forge in `fault_answers.py`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .fault_answers import error_response, hand_back
from .fault_rules import Gate, Hold, Rule, Signal, WorkerKilled, has_params, take
from .faults_file import FaultsFile


class FaultInjector:
    """Attach to clients; then inject faults and read `calls` (service, operation) counts."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str]] = []
        self._in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self._watched: FaultsFile | None = None
        self._gates: list[Gate] = []
        self._holds: list[Hold] = []
        self._signals: list[Signal] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._remember_params)
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-parameter-build", self._remember_params)
        client.meta.events.unregister("before-call", self._before_call)
        client.meta.events.unregister("after-call", self._after_call)

    # --- injection -------------------------------------------------------------

    def fail(
        self,
        service: str,
        operation: str,
        code: str,
        status: int = 400,
        times: int = 1,
        when: str = "before",
        skip: int = 0,
        match: dict[str, Any] | Callable[[dict[str, Any]], bool] | None = None,
        message: str = "",
    ) -> None:
        """Let `skip` calls through, then fail the next `times` with `code` (-1: all of them).

        With `match` (parameter values, or a predicate of the parameters), only
        the calls it matches count. `message`: the error's (AWS's words), instead of
        "injected CODE".
        """
        matcher = functools.partial(has_params, match) if isinstance(match, dict) else match
        self._rules.append(
            Rule(
                service,
                operation,
                when,
                code,
                status,
                times,
                skip=skip,
                match=matcher,
                message=message,
            )
        )

    def kill(
        self,
        service: str,
        operation: str,
        when: str = "after",
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Kill the worker at the next call (after it ran, by default) whose parameters match."""
        self._rules.append(Rule(service, operation, when, "", 0, 1, kill=True, match=match))

    def stale(
        self,
        service: str,
        operation: str,
        key: str,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Let the next read (that `match`es) run but answer with `key` empty, as an
        eventually consistent read that does not see a fresh write yet."""
        self._rules.append(Rule(service, operation, "stale", key, 0, times, match=match))

    def unprocessed(
        self,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
        share: float = 1.0,
        only: set[str] | None = None,
    ) -> None:
        """Let the next BatchGetItem (`times`; -1: every one) run, then hand back a `share`
        of the keys it asked for (the last ones, at least one), or the keys of `only`
        request ids, as UnprocessedKeys, their items dropped from the answer: a
        throttled batch read."""
        rule = Rule("dynamodb", "BatchGetItem", "unprocessed", "", 0, times, match=match)
        rule.share, rule.only = share, frozenset(only) if only is not None else None
        self._rules.append(rule)

    def slow(self, service: str, operation: str, seconds: float) -> None:
        """Make every call take at least `seconds` (the call still runs)."""
        self._rules.append(Rule(service, operation, "before", "", 0, -1, delay=seconds))

    def gather(self, service: str, operation: str, count: int, timeout: float = 10.0) -> None:
        """Hold calls until `count` of them are in flight at once, then let every call
        through. Proves concurrency without depending on timing: if fewer than
        `count` calls can ever overlap, the gate opens only after `timeout`, and
        `max_in_flight` tells."""
        self._gates.append(Gate(service, operation, count, timeout, threading.Condition()))

    def hold(
        self,
        service: str,
        operation: str,
        until: threading.Event,
        match: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> Hold:
        """Hold every matching call until `until` is set (at most `timeout` seconds), then
        let it go on (to the other rules). Orders calls across threads without sleeping."""
        hold = Hold(service, operation, until, match, timeout)
        self._holds.append(hold)
        return hold

    def signal(
        self,
        service: str,
        operation: str,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> threading.Event:
        """An event set once a matching call has run and answered (without an injected fault)."""
        event = threading.Event()
        self._signals.append(Signal(service, operation, event, match))
        return event

    def watch(self, path: str) -> None:
        """Add the rules of a JSON file (`faults_file.py` says what it holds), now and
        whenever it changes."""
        self._watched = FaultsFile(path)
        self._refresh()

    def _refresh(self) -> None:
        if self._watched is not None:
            self._watched.refresh(self._rules, self._lock)

    def clear(self) -> None:
        self._rules.clear()
        self._gates.clear()
        self._holds.clear()
        self._signals.clear()

    def count(self, service: str, operation: str | None = None) -> int:
        if operation is None:
            return sum(n for (s, _), n in self.calls.items() if s == service)
        return self.calls[(service, operation)]

    def reset_counts(self) -> None:
        self.calls.clear()
        self.log.clear()
        self.max_in_flight.clear()

    # --- hooks -----------------------------------------------------------------

    def _take(self, service: str, operation: str, when: str, params: dict[str, Any]) -> Rule | None:
        with self._lock:
            return take(self._rules, service, operation, when, params)

    def _remember_params(self, params: Any, context: Any, **_: Any) -> None:
        context["_faults_params"] = dict(params)

    def _before_call(self, model: Any, context: Any, **_: Any) -> Any:
        self._refresh()
        service = model.service_model.endpoint_prefix
        operation = model.name
        with self._lock:
            self.calls[(service, operation)] += 1
            self.log.append((service, operation))
            self._in_flight[operation] += 1
            self.max_in_flight[operation] = max(
                self.max_in_flight[operation], self._in_flight[operation]
            )
        context["_faults_injected"] = False
        for gate in self._gates:
            if gate.service == service and gate.operation == operation:
                gate.arrive(lambda: self._in_flight[operation])
        params = context.get("_faults_params", {})
        for hold in list(self._holds):
            if (
                (hold.service, hold.operation) == (service, operation)
                and (hold.match is None or hold.match(params))
                and not hold.until.wait(timeout=hold.timeout)
            ):
                hold.timeouts += 1
        rule = self._take(service, operation, "before", params)
        if rule is None:
            return None
        if rule.delay:
            time.sleep(rule.delay)
            return None
        if rule.kill:
            self._done(operation)
            raise WorkerKilled(f"killed before {operation}")
        context["_faults_injected"] = True
        return error_response(rule)

    def _after_call(
        self, model: Any, http_response: Any, parsed: Any, context: Any, **_: Any
    ) -> None:
        operation = model.name
        self._done(operation)
        if context.get("_faults_injected") or http_response.status_code >= 300:
            return
        params = context.get("_faults_params", {})
        service = model.service_model.endpoint_prefix
        for signal in list(self._signals):
            if (signal.service, signal.operation) == (service, operation) and (
                signal.match is None or signal.match(params)
            ):
                signal.event.set()
        stale = self._take(service, operation, "stale", params)
        if stale is not None:
            parsed[stale.code] = []
        throttled = self._take(service, operation, "unprocessed", params)
        if throttled is not None:
            hand_back(params, parsed, throttled.share, throttled.only)
        rule = self._take(
            model.service_model.endpoint_prefix,
            operation,
            "after",
            context.get("_faults_params", {}),
        )
        if rule is None:
            return
        if rule.kill:
            raise WorkerKilled(f"killed after {operation} ran")
        error = error_response(rule)[1]
        raise ClientError(error, operation)

    def _done(self, operation: str) -> None:
        with self._lock:
            self._in_flight[operation] -= 1
