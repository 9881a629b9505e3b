"""The local stack's faults file: the JSON file (DEVSTACK_FAULTS_FILE) through which the
end-to-end tests hand rules to the stack's fault injector (`fault_injector.py`, `watch`).

The file is a list of objects with an "id". Each id's rule is added once, and
withdrawn once the file no longer holds it (whether or not the stack saw the file in
between); an empty list withdraws every rule. Keys: service, operation, code, status,
times, skip (calls let through first: "before" and "after" only), when ("before" |
"after" | "stale" | "unprocessed" | "slow"), match (parameters the call must have),
contains (text the call's parameters must contain, as JSON); for "stale" `code` names
the list emptied, for "slow" `seconds` the delay, for "unprocessed" `share` the share
of the keys handed back.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from .fault_rules import Rule, has_params


class FaultsFile:
    """One watched file, and the rules each of its ids added."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime = 0.0
        self._loaded_ids: set[str] = set()
        # The rules each id of the file added, to withdraw when the id leaves it.
        self._file_rules: dict[str, list[Rule]] = {}

    def refresh(self, rules: list[Rule], lock: threading.Lock) -> None:
        """Bring `rules` (the injector's, guarded by `lock`) up to date with the file, if
        it changed since the last look."""
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        with open(self.path) as handle:
            specs = json.load(handle)
        if not specs:
            # The file emptied: its rules are withdrawn (each test starts clean).
            rules.clear()
        # A test's rules go when it ends, even if the stack made no call between the file
        # emptying and the next test's rules arriving (it never saw the empty file).
        present = {spec["id"] for spec in specs}
        withdrawn = [
            r for i in list(self._file_rules) if i not in present for r in self._file_rules.pop(i)
        ]
        if withdrawn:
            with lock:
                rules[:] = [r for r in rules if not any(r is w for w in withdrawn)]
        for spec in specs:
            if spec["id"] in self._loaded_ids:
                continue
            self._loaded_ids.add(spec["id"])
            rule = rule_of(spec)
            rules.append(rule)
            self._file_rules[spec["id"]] = [rule]


def rule_of(spec: dict[str, Any]) -> Rule:
    """The rule one object of the file stands for."""
    when = spec.get("when", "before")
    expected = dict(spec.get("match") or {})
    contains = spec.get("contains")

    def matches(params: dict[str, Any]) -> bool:
        return has_params(expected, params) and (
            contains is None or contains in json.dumps(params, default=str)
        )

    times = int(spec.get("times", 1))
    if when == "unprocessed":
        rule = Rule("dynamodb", "BatchGetItem", "unprocessed", "", 0, times, match=matches)
        rule.share = float(spec.get("share", 1.0))
        return rule
    if when == "slow":
        rule = Rule(spec["service"], spec["operation"], "before", "", 0, times)
        rule.delay, rule.match = float(spec["seconds"]), matches
        return rule
    if when == "stale":
        rule = Rule(spec["service"], spec["operation"], "stale", spec["code"], 0, times)
        rule.match = matches
        return rule
    return Rule(
        spec["service"],
        spec["operation"],
        when,
        spec["code"],
        int(spec.get("status", 400)),
        times,
        skip=int(spec.get("skip", 0)),
        match=matches,
    )
