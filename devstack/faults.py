"""Fault injection and call counting for boto3 clients, through botocore's event hooks.

`before` faults stop a call before it reaches AWS (moto): the call never ran,
like throttling. `after` faults let the call run and then lose its answer: the
resource exists but the caller saw an error, like a 5xx or a timeout after
AWS acted. `kill` ends the worker right there, as if its process died.
`stale` reads answer as a lagging read would (a list emptied), and
`unprocessed` batch reads hand keys back unprocessed, as DynamoDB does when it
throttles a BatchGetItem (an answer of 200, the keys not read).

Tests add rules in-process. The local stack takes them from a JSON file
(`watch`), so end-to-end tests can make its EC2 calls fail; that file is
read only when DEVSTACK_FAULTS_FILE names it.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError


class WorkerKilled(BaseException):
    """The worker's process died here (not an Exception: nothing in the code catches it)."""


@dataclass
class _Rule:
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
class _Signal:
    service: str
    operation: str
    event: threading.Event
    match: Callable[[dict[str, Any]], bool] | None


@dataclass
class _Gate:
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


class FaultInjector:
    """Attach to clients; then inject faults and read `calls` (service, operation) counts."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str]] = []
        self._in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self._watched: str | None = None
        self._watched_mtime = 0.0
        self._loaded_ids: set[str] = set()
        # The rules each id of the watched file added, to withdraw when the id leaves it.
        self._file_rules: dict[str, list[_Rule]] = {}
        self._gates: list[_Gate] = []
        self._holds: list[Hold] = []
        self._signals: list[_Signal] = []

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
        matcher = functools.partial(_has_params, match) if isinstance(match, dict) else match
        self._rules.append(
            _Rule(
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
        self._rules.append(_Rule(service, operation, when, "", 0, 1, kill=True, match=match))

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
        self._rules.append(_Rule(service, operation, "stale", key, 0, times, match=match))

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
        rule = _Rule("dynamodb", "BatchGetItem", "unprocessed", "", 0, times, match=match)
        rule.share, rule.only = share, frozenset(only) if only is not None else None
        self._rules.append(rule)

    def slow(self, service: str, operation: str, seconds: float) -> None:
        """Make every call take at least `seconds` (the call still runs)."""
        self._rules.append(_Rule(service, operation, "before", "", 0, -1, delay=seconds))

    def gather(self, service: str, operation: str, count: int, timeout: float = 10.0) -> None:
        """Hold calls until `count` of them are in flight at once, then let every call
        through. Proves concurrency without depending on timing: if fewer than
        `count` calls can ever overlap, the gate opens only after `timeout`, and
        `max_in_flight` tells."""
        self._gates.append(_Gate(service, operation, count, timeout, threading.Condition()))

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
        self._signals.append(_Signal(service, operation, event, match))
        return event

    def watch(self, path: str) -> None:
        """Add the rules of a JSON file (a list of objects with an "id"), now and whenever it
        changes. Each id is added once, and withdrawn once the file no longer holds it
        (whether or not the stack saw the file in between); an empty list withdraws every
        rule. Keys: service,
        operation, code, status, times, skip (calls let through first: "before" and
        "after" only), when ("before" | "after" | "stale" | "unprocessed" | "slow"), match
        (parameters the call must have), contains (text the call's parameters must
        contain, as JSON);
        for "stale" `code` names the list emptied, for "slow" `seconds` the delay."""
        self._watched = path
        self._refresh()

    def _refresh(self) -> None:
        if self._watched is None:
            return
        try:
            mtime = os.stat(self._watched).st_mtime
        except FileNotFoundError:
            return
        if mtime == self._watched_mtime:
            return
        self._watched_mtime = mtime
        with open(self._watched) as handle:
            rules = json.load(handle)
        if not rules:
            # The file emptied: its rules are withdrawn (each test starts clean).
            self._rules.clear()
        # A test's rules go when it ends, even if the stack made no call between the file
        # emptying and the next test's rules arriving (it never saw the empty file).
        present = {spec["id"] for spec in rules}
        withdrawn = [
            r for i in list(self._file_rules) if i not in present for r in self._file_rules.pop(i)
        ]
        if withdrawn:
            with self._lock:
                self._rules = [r for r in self._rules if not any(r is w for w in withdrawn)]
        for spec in rules:
            if spec["id"] in self._loaded_ids:
                continue
            self._loaded_ids.add(spec["id"])
            before = len(self._rules)
            self._add_spec(spec)
            self._file_rules[spec["id"]] = self._rules[before:]

    def _add_spec(self, spec: dict[str, Any]) -> None:
        when = spec.get("when", "before")
        expected = dict(spec.get("match") or {})
        contains = spec.get("contains")

        def matches(params: dict[str, Any]) -> bool:
            return _has_params(expected, params) and (
                contains is None or contains in json.dumps(params, default=str)
            )

        times = int(spec.get("times", 1))
        if when == "unprocessed":
            self.unprocessed(times, match=matches, share=float(spec.get("share", 1.0)))
        elif when == "slow":
            rule = _Rule(spec["service"], spec["operation"], "before", "", 0, times)
            rule.delay, rule.match = float(spec["seconds"]), matches
            self._rules.append(rule)
        elif when == "stale":
            rule = _Rule(spec["service"], spec["operation"], "stale", spec["code"], 0, times)
            rule.match = matches
            self._rules.append(rule)
        else:
            self.fail(
                spec["service"],
                spec["operation"],
                spec["code"],
                status=int(spec.get("status", 400)),
                times=times,
                when=when,
                skip=int(spec.get("skip", 0)),
                match=matches,
            )

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

    def _take(
        self, service: str, operation: str, when: str, params: dict[str, Any]
    ) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
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
        return _error_response(rule)

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
            _hand_back(params, parsed, throttled.share, throttled.only)
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
        error = _error_response(rule)[1]
        raise ClientError(error, operation)

    def _done(self, operation: str) -> None:
        with self._lock:
            self._in_flight[operation] -= 1


def _hand_back(
    params: dict[str, Any], parsed: dict[str, Any], share: float, only: frozenset[str] | None
) -> None:
    """Make a BatchGetItem answer hand back the last `share` of its keys (or those of the
    `only` request ids) as unprocessed. A table left with no item is left out of
    `Responses`, as DynamoDB may do."""
    for table, request in params.get("RequestItems", {}).items():
        keys = list(request.get("Keys", []))
        if only is not None:
            back = [k for k in keys if k.get("request_id", {}).get("S") in only]
        else:
            count = max(1, round(len(keys) * share)) if keys else 0
            back = keys[len(keys) - count :]
        if not back:
            continue
        responses = parsed.setdefault("Responses", {})
        kept = [
            item
            for item in responses.get(table, [])
            if {k: item.get(k) for k in back[0]} not in back
        ]
        if kept:
            responses[table] = kept
        else:
            responses.pop(table, None)
        unprocessed = parsed.setdefault("UnprocessedKeys", {})
        unprocessed[table] = {**request, "Keys": back}


def _has_params(expected: dict[str, Any], params: dict[str, Any]) -> bool:
    return all(params.get(key) == value for key, value in expected.items())


def _error_response(rule: _Rule) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": rule.code, "Message": rule.message or f"injected {rule.code}"},
        "ResponseMetadata": {"HTTPStatusCode": rule.status, "RequestId": "injected"},
    }
    return AWSResponse("https://injected.invalid", rule.status, {}, None), parsed
