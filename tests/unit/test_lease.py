"""The lease, known locally: its deadline, its renewals, and the fence it gives the worker."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chalicelib.errors import BackendFailure, LeaseLost
from chalicelib.worker.lease import Lease


class FakeStore:
    """Stands in for WorkerStore.renew_lease: answers as told, records the deadlines asked."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked: list[float] = []
        self.renewed = threading.Event()

    def renew_lease(self, request_id: str, owner: str, version: int, until: float) -> bool:
        assert version == 7  # the claim's version names the lease
        self.asked.append(until)
        answer = self.answers.pop(0) if self.answers else True
        self.renewed.set()
        if isinstance(answer, BaseException):
            raise answer
        return bool(answer)


def lease(store: FakeStore, clock: Any, seconds: float = 0.3) -> Lease:
    return Lease(store, "r", "me", seconds, clock, granted_at=clock(), version=7)  # type: ignore[arg-type]


def test_the_lease_is_held_until_its_deadline_and_then_lost_for_good(clock: Any) -> None:
    store = FakeStore([])
    held = lease(store, clock, seconds=60)

    held.check()
    clock.advance(59.9)
    assert held.held()
    clock.advance(0.1)
    assert not held.held()
    with pytest.raises(LeaseLost):
        held.check()
    clock.advance(-30)  # even if the clock went back, a lost lease stays lost
    assert not held.held()


def test_a_renewal_extends_the_deadline_from_when_it_was_sent(clock: Any) -> None:
    store = FakeStore([])
    start = clock()
    with lease(store, clock, seconds=0.3) as held:
        clock.advance(0.2)
        # A renewal sent from now on asks for now + 0.3.
        deadline = time.monotonic() + 5
        while not any(until >= start + 0.5 for until in store.asked):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        clock.advance(0.2)  # past the first deadline, within the renewed one
        assert held.held()


def test_failing_renewals_do_not_extend_the_deadline(clock: Any) -> None:
    """DynamoDB errors on every renewal: nothing tells the worker its lease is gone but
    its own clock, and the deadline passes on time."""
    failure = BackendFailure("UpdateItem", RuntimeError("boom"))
    store = FakeStore([failure] * 100)
    with lease(store, clock, seconds=0.3) as held:
        assert store.renewed.wait(timeout=5)
        clock.advance(0.3)
        assert not held.held()


def _renewer_ended() -> bool:
    """Whether lease "r"'s renewal thread has ended (waits up to 5 s for it)."""
    for thread in threading.enumerate():
        if thread.name == "lease-r":
            thread.join(timeout=5)
            return not thread.is_alive()
    return True


def test_a_renewal_that_finds_another_owner_loses_the_lease_at_once(clock: Any) -> None:
    store = FakeStore([False])
    with lease(store, clock, seconds=0.3) as held:
        assert store.renewed.wait(timeout=5)
        assert _renewer_ended()  # it stops once it has marked the lease lost
        assert not held.held()


def test_a_lapsed_lease_is_never_renewed(clock: Any) -> None:
    """Once the deadline has passed another worker may hold the request: renewing then
    would only make this worker believe it still does."""
    store = FakeStore([])
    with lease(store, clock, seconds=0.3):
        clock.advance(1)
        assert _renewer_ended()  # its first wake finds the deadline passed: it stops
    assert store.asked == []
