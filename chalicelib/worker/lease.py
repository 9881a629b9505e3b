"""A worker's hold on one request: the lease it renews (its checkpoints: worker/checkpoints.py).

The claim is named by the record's version: every write of this worker (its
renewals, checkpoints and transitions) is conditional on the version its claim, or
its own last transition, left, so nothing it writes late lands on a newer state.
The status history at that version is the lease's too: a transition writes it whole,
with its own move added, whatever history the record it is given carries.

The lease's deadline is known locally: the time the claim (or the last
successful renewal) was sent, plus the lease's length. DynamoDB's copy
(`lease_until`) is never earlier, so once the local deadline has passed
another worker may have claimed the request: from then on this worker writes
and deletes nothing (`check` raises LeaseLost). A renewal that fails does not
extend the deadline; renewals stop once it has passed, and a lost lease stays
lost.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from dataclasses import replace

from chalicelib.aws.faults import error_code
from chalicelib.clock import Clock
from chalicelib.errors import BackendFailure, LeaseLost, OutcomeUnknown
from chalicelib.models import RequestRecord, Status, StatusChange
from chalicelib.store.worker import WorkerStore
from chalicelib.worker.results import Stopped, Transient

logger = logging.getLogger(__name__)


class Lease:
    """Renews the lease every third of its length, in the background, while it is held."""

    def __init__(
        self,
        store: WorkerStore,
        request_id: str,
        owner: str,
        seconds: float,
        clock: Clock,
        granted_at: float,
        version: int,
        history: tuple[StatusChange, ...] = (),
    ) -> None:
        self._store = store
        self._request_id = request_id
        self._owner = owner
        self._seconds = seconds
        self._clock = clock
        self._deadline = granted_at + seconds
        self._version = version
        self._history = history
        self._lost = False
        # Transitions begun (this worker's writes that move `version`), and in flight.
        self._moves = 0
        self._moving = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # In the job's context: its log lines carry the request id (logs.py).
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._renew,),
            name=f"lease-{request_id}",
            daemon=True,
        )

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing (idempotent). The lease itself runs out, or is released."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def held(self) -> bool:
        """Whether this worker can still prove it holds the request."""
        with self._lock:
            if not self._lost and self._clock() >= self._deadline:
                self._lost = True
                logger.warning("request %s: lease deadline passed", self._request_id)
            return not self._lost

    def check(self) -> None:
        """Raise LeaseLost unless the lease is held: the fence before touching the world."""
        if not self.held():
            raise LeaseLost(self._request_id)

    def lose(self) -> None:
        """Record that a conditional write found the lease gone."""
        with self._lock:
            self._lost = True

    @property
    def version(self) -> int:
        """The record's version as this claim (or its last transition) left it."""
        with self._lock:
            return self._version

    def transition(self, record: RequestRecord, expected: Status) -> Stopped | Transient | None:
        """Record `record` (its status, from `expected`) as this lease's owner, if it still is,
        conditional on the version this lease last wrote (whatever `record.version` and
        `record.history` say).

        Returns None when written, else what the run comes to: Stopped when the
        lease is gone or the write's outcome is unknown, Transient when the
        write is known not to have landed.
        """
        try:
            self.check()
            with self._lock:
                self._moves += 1
                self._moving = True
            try:
                written = self._store.transition(
                    replace(record, version=self.version, history=self._history),
                    self._owner,
                    expected,
                    self._clock(),
                )
            finally:
                with self._lock:
                    self._moving = False
            with self._lock:
                self._version = written.version
                self._history = written.history
        except LeaseLost:
            return Stopped(f"the lease was lost before recording {record.status.value}")
        except OutcomeUnknown as exc:
            return Stopped(f"recording {record.status.value} may or may not have landed ({exc})")
        except BackendFailure as exc:
            return Transient(error_code(exc.cause), f"recording {record.status.value}: {exc}")
        return None

    def _renew(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            if not self.held():
                return
            with self._lock:
                sent, version, moves = self._clock(), self._version, self._moves
            try:
                ours = self._store.renew_lease(
                    self._request_id, self._owner, version, sent + self._seconds
                )
            except BackendFailure as exc:
                logger.warning("request %s: lease renewal failed: %s", self._request_id, exc)
                continue
            if not ours:
                with self._lock:
                    moved = self._moving or self._moves != moves or self._version != version
                if moved:
                    # This worker's own transition landed meanwhile (only its writes move
                    # `version`), or may have (in flight, its answer lost and being
                    # settled): the record may be ours at a newer version. The deadline
                    # stays as it was; the next renewal names the version then known.
                    continue
                self.lose()
                return
            with self._lock:
                if not self._lost:
                    self._deadline = max(self._deadline, sent + self._seconds)
