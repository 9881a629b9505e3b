"""A lease renewal sent with the version the lease held a moment before a transition of
the same worker is answered after that transition landed: DynamoDB refuses it (the version
moved on, by this very worker). That refusal is no other owner's claim: the worker still
holds the record at the version it just wrote, and must not stop at its next fence (a
rollback that just recorded ROLLING_BACK would stop deleting and wait for a redelivery)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from chalicelib.models import Status
from chalicelib.worker.lease import Lease
from support.records import request_record


class RacingStore:
    """A renewal sent at version 7 is answered only after the transition to 8 landed:
    DynamoDB then refuses it (its condition names version 7), as it would."""

    def __init__(self) -> None:
        self.version = 7
        self.renewal_sent = threading.Event()
        self.transitioned = threading.Event()
        self.answered = threading.Event()

    def renew_lease(self, request_id: str, owner: str, version: int, until: float) -> bool:
        self.renewal_sent.set()
        assert self.transitioned.wait(timeout=5)
        ours = version == self.version  # the version condition
        self.answered.set()
        return ours

    def transition(self, record: Any, owner: str, expected: Status, now: float) -> Any:
        assert record.version == self.version
        self.version += 1
        return replace(record, version=self.version)


def test_a_renewal_refused_only_because_of_this_workers_own_transition_keeps_the_lease(
    clock: Any,
) -> None:
    store = RacingStore()
    lease = Lease(store, "r", "me", 0.3, clock, granted_at=clock(), version=7)  # type: ignore[arg-type]
    with lease:
        assert store.renewal_sent.wait(timeout=5)  # a renewal at version 7 is in flight
        record = request_record(status=Status.ROLLING_BACK)
        stopped = lease.transition(record, Status.IN_PROGRESS)
        assert stopped is None  # written: the record is ours at version 8
        assert lease.version == 8
        store.transitioned.set()
        assert store.answered.wait(timeout=5)
        lease.stop()  # the renewal thread has weighed the refusal
        # The worker holds the record (owner "me", version 8, deadline not passed):
        assert lease.held(), "the lease was marked lost by its own renewal's refusal"


# A transition whose answer was lost (it landed) returns only once the store has settled it
# (a backoff, a consistent read: seconds): a renewal refused meanwhile, at the old version,
# is no other owner's claim either.


class SettlingStore:
    """The transition's write lands at once (version 7 -> 8), but its answer is lost: the
    store settles it (TRANSITION_BACKOFF sleep, then a read) before returning. A renewal
    meanwhile, at version 7, is refused, as DynamoDB would."""

    def __init__(self) -> None:
        self.version = 7
        self.landed = threading.Event()
        self.renewal_answered = threading.Event()

    def renew_lease(self, request_id: str, owner: str, version: int, until: float) -> bool:
        if not self.landed.wait(timeout=5):
            return version == self.version
        ours = version == self.version  # the version condition
        self.renewal_answered.set()
        return ours

    def transition(self, record: Any, owner: str, expected: Status, now: float) -> Any:
        assert record.version == self.version
        self.version += 1  # landed
        self.landed.set()
        # The answer was lost: settling (backoff, consistent read) takes a moment.
        assert self.renewal_answered.wait(timeout=5)
        return replace(record, version=self.version)


def test_a_renewal_refused_while_this_workers_transition_settles_keeps_the_lease(
    clock: Any,
) -> None:
    store = SettlingStore()
    lease = Lease(store, "r", "me", 0.3, clock, granted_at=clock(), version=7)  # type: ignore[arg-type]
    with lease:
        stopped = lease.transition(request_record(status=Status.ROLLING_BACK), Status.IN_PROGRESS)
        assert stopped is None  # written: the record is ours at version 8
        assert lease.version == 8
        lease.stop()
        assert lease.held(), "the lease was marked lost by its own renewal's refusal"
