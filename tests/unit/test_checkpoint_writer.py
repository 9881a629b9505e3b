"""The checkpoint writer (worker/checkpoints.py) at the moment a run ends: a run that ends
without a finishing write (a throttle past its tries, the message to come back) leaves
the record naming the ids it knew; a run that ends with one (SUCCEEDED) adds no write.

Before: `close` dropped every id its thread had not written yet, so an IN_PROGRESS record
could lack the VPC its run had made (seen under `-n 2`: the thread had not woken before
the run ended), and the next attempt depended on a look by tag that may lag."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.backoff import Backoff
from chalicelib.errors import BackendFailure
from chalicelib.worker.checkpoints import CheckpointWriter


class _Lease:
    version = 7

    def held(self) -> bool:
        return True

    def lose(self) -> None:
        raise AssertionError("the lease is held")


class _Store:
    """Records each checkpoint; `fail_first` refuses the first try (after `before_first`)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.written: list[tuple[dict[str, str], dict[int, str]]] = []
        self.tries = 0
        self.fail_first = fail_first
        self.before_first = threading.Event()
        self.before_first.set()

    def checkpoint(
        self, request_id: str, owner: str, version: int, ids: Any, subnets: Any, now: float
    ) -> None:
        self.tries += 1
        if self.tries == 1:
            assert self.before_first.wait(10)
            if self.fail_first:
                raise BackendFailure("UpdateItem", RuntimeError("throttled"))
        self.written.append((dict(ids), dict(subnets)))


def _writer(store: _Store) -> CheckpointWriter:
    return CheckpointWriter(
        store,  # type: ignore[arg-type]
        "req-1",
        _Lease(),  # type: ignore[arg-type]
        "owner-1",
        lambda: 0.0,
        lambda _seconds: None,
        Backoff(0.01, 0.01),
        3,
    )


def _until(condition: Any) -> None:
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError("never came")


def _closed_in_flight(writer: CheckpointWriter, store: _Store) -> threading.Thread:
    """`close` from another thread (it waits for the write in flight), once the first try
    is in flight; the try goes on once the writer is closed."""
    _until(lambda: store.tries == 1)
    closer = threading.Thread(target=writer.close)
    closer.start()
    _until(lambda: writer._closed)  # the moment close began
    store.before_first.set()
    closer.join(10)
    assert not closer.is_alive()
    return closer


def test_ids_not_yet_written_when_the_run_ends_are_written_by_close() -> None:
    """The VPC's first try fails just as the run ends (its subnet throttled past its
    tries): the write is not retried in place any more, but close writes it once."""
    store = _Store(fail_first=True)
    store.before_first.clear()
    writer = _writer(store)
    writer.network(vpc_id="vpc-1")
    _closed_in_flight(writer, store)

    assert store.written == [({"vpc_id": "vpc-1"}, {})]


def test_ids_given_just_before_close_are_written() -> None:
    """Ids the thread has not picked up yet when the run closes the writer still land."""
    store = _Store()
    store.before_first.clear()
    writer = _writer(store)
    writer.network(vpc_id="vpc-1")
    _until(lambda: store.tries == 1)  # in flight, held
    writer.subnet(0, "subnet-1")  # not picked up yet
    _closed_in_flight(writer, store)

    assert [ids | {f"s{i}": s for i, s in subnets.items()} for ids, subnets in store.written] == [
        {"vpc_id": "vpc-1"},
        {"s0": "subnet-1"},
    ]


def test_after_a_finishing_write_that_landed_close_adds_no_write() -> None:
    store = _Store()
    store.before_first.clear()
    writer = _writer(store)
    writer.network(vpc_id="vpc-1")
    _until(lambda: store.tries == 1)  # in flight, held
    writer.subnet(0, "subnet-1")
    writer.finish()
    store.before_first.set()
    writer.all_written()
    writer.close()

    assert store.written == [({"vpc_id": "vpc-1"}, {})]  # the one in flight only


def test_after_a_finishing_write_that_did_not_land_close_writes_what_it_carried() -> None:
    """finish, then SUCCEEDED refused (or the look for duplicates failed): the ids the
    finishing write was to carry land with close, the VPC's with its subnet's."""
    store = _Store(fail_first=True)
    store.before_first.clear()
    writer = _writer(store)
    writer.network(vpc_id="vpc-1")
    _until(lambda: store.tries == 1)  # in flight, to fail
    writer.subnet(0, "subnet-1", wake=False)  # the last subnet's: for the finishing write
    writer.finish()
    store.before_first.set()
    writer.close()

    assert store.written == [({"vpc_id": "vpc-1"}, {0: "subnet-1"})]


def test_an_id_given_without_waking_rides_the_next_write() -> None:
    store = _Store()
    store.before_first.clear()
    writer = _writer(store)
    writer.subnet(1, "subnet-2", wake=False)
    writer.network(vpc_id="vpc-1")
    store.before_first.set()
    _until(lambda: store.written)
    writer.all_written()
    writer.close()

    assert store.written == [({"vpc_id": "vpc-1"}, {1: "subnet-2"})]


def test_close_with_nothing_to_write_writes_nothing() -> None:
    store = _Store()
    writer = _writer(store)
    writer.close()

    assert store.tries == 0
