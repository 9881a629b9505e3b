"""The ids a create job records as they appear (the VPC's, the subnets', the gateway's and
the route table's), written off the EC2 threads, each write conditional on the version
of the worker's lease (worker/lease.py): nothing written late lands on a newer state.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from chalicelib import metrics
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock
from chalicelib.errors import BackendFailure, LeaseLost
from chalicelib.store.worker import WorkerStore
from chalicelib.worker.lease import Lease

logger = logging.getLogger(__name__)


class CheckpointWriter:
    """Records ids as they appear (the VPC's, the subnets', the gateway's and the route
    table's), off the EC2 threads.

    One background thread writes everything that arrived since its last write
    in a single UpdateItem, retrying a failed write in place. A write that fails
    all its tries goes again with the next one (its ids with the newer): the ids land
    together, in the order they appeared, or not at all, so the record never names
    a subnet without its VPC (a later attempt whose look by tag lagged would take that
    VPC, and the subnets in it, for a duplicate to delete). An id given with
    `wake=False` (the last subnets': the finishing write carries them) waits for
    the next write or for `close`.

    `finish` stops the writing without waiting for the write in flight, for the run's
    finishing write: that write carries every id and is conditional on the same
    version, so the write in flight may land before it (the same values) or after
    it (refused: the record is no longer IN_PROGRESS), and neither changes what the
    record says. (A refusal then marks the lease lost, too late to matter: the
    finishing write checked it before it was sent.) Once that write landed, the run
    says `all_written`.

    `close` (the run calls it before it returns, so nothing of the job outlives it)
    waits for the write in flight, then, unless `all_written`, writes what is not
    written yet (one try): a run that ends without its finishing write landing (a
    throttle past its tries, a refused SUCCEEDED, a failed look for duplicates: the
    message comes back) leaves the record naming every id it knew, not an IN_PROGRESS
    record without the VPC it made, whose next attempt would rest on a look by tag
    that may lag (and, lagging twice, make a second VPC). A crash before it is covered
    by the lookups by tag and the reconciler. A write that finds the lease gone marks
    it lost, so the run stops at its next fence.
    """

    def __init__(
        self,
        store: WorkerStore,
        request_id: str,
        lease: Lease,
        owner: str,
        clock: Clock,
        sleep: Callable[[float], None],
        backoff: Backoff,
        attempts: int,
    ) -> None:
        self._store = store
        self._request_id = request_id
        self._lease = lease
        self._owner = owner
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._attempts = attempts
        self._ids: dict[str, str] = {}
        self._subnets: dict[int, str] = {}
        self._closed = False
        self._all_written = False
        # Ids given without waking the thread (the next write, or `close`, takes them).
        self._held: dict[int, str] = {}
        self._wake = threading.Condition()
        # In the job's context: its retries count in the job's tally, its lines carry the id.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._run,),
            name="checkpoints",
            daemon=True,
        )
        self._thread.start()

    def network(self, **ids: str) -> None:
        """Record top-level ids: `vpc_id`, `internet_gateway_id`, `route_table_id`."""
        with self._wake:
            self._ids.update(ids)
            self._wake.notify()

    def subnet(self, index: int, subnet_id: str, wake: bool = True) -> None:
        """Record a subnet's id; `wake=False` keeps it for the next write or `close`."""
        with self._wake:
            if wake:
                self._subnets[index] = subnet_id
                self._wake.notify()
            else:
                self._held[index] = subnet_id

    def finish(self) -> None:
        """Stop writing, without waiting for the write in flight: the finishing write
        goes out beside it (idempotent)."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def all_written(self) -> None:
        """The finishing write landed, with every id: `close` writes nothing more."""
        self._all_written = True

    def close(self) -> None:
        """Stop, after the write in flight, and write what is not written yet unless the
        finishing write landed (one try; idempotent)."""
        self.finish()
        self._thread.join()
        subnets = {**self._held, **self._subnets}
        if not self._all_written and (self._ids or subnets):
            self._all_written = True  # by this write, or never: a second close adds none
            self._write(self._ids, subnets)

    def _run(self) -> None:
        carried: tuple[dict[str, str], dict[int, str]] = ({}, {})
        while True:
            with self._wake:
                while not self._ids and not self._subnets and not self._closed:
                    self._wake.wait()
                ids = {**carried[0], **self._ids}
                subnets = {**self._held, **carried[1], **self._subnets}
                if self._closed:
                    self._ids, self._subnets = ids, subnets  # for close to write
                    return
                self._ids, self._subnets, self._held = {}, {}, {}
            written = self._write(ids, subnets)
            if written is False:
                return
            carried = ({}, {}) if written else (ids, subnets)

    def _write(self, ids: dict[str, str], subnets: dict[int, str]) -> bool | None:
        """One checkpoint, retried in place; False when the lease is gone, None when every
        try failed (not fatal: the next write carries these ids, and the final one all)."""
        for attempt in range(1, self._attempts + 1):
            if not self._lease.held():
                return False
            try:
                self._store.checkpoint(
                    self._request_id, self._owner, self._lease.version, ids, subnets, self._clock()
                )
                return True
            except LeaseLost:
                self._lease.lose()
                return False
            except BackendFailure as exc:
                logger.warning(
                    "request %s: checkpoint attempt %d failed: %s", self._request_id, attempt, exc
                )
                if attempt < self._attempts and not self._closed:
                    metrics.count(metrics.IN_PLACE_RETRIES)
                    self._sleep(self._backoff.delay(attempt))
                if self._closed:
                    break
        return None
