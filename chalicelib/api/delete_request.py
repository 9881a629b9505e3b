"""The API's DELETE: cancel a request not yet started, or start tearing down what it made.

QUEUED → CANCELLED; SUCCEEDED or DELETE_FAILED → DELETING and a delete job;
FAILED → DELETED when nothing of it is left, else DELETING and a delete job;
DELETING re-sends the job; DELETED and CANCELLED stay. One conditional
UpdateItem in the usual case, plus one SQS send when a teardown is needed (and
a second UpdateItem when the request was not in the state the first one bet on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.api.auth import is_admin
from chalicelib.api.echo import quote
from chalicelib.aws.jobs import JobQueue
from chalicelib.clock import Clock, system_clock
from chalicelib.errors import (
    BackendFailure,
    BackendUnavailable,
    Forbidden,
    NotFound,
    RequestBusy,
    backend,
    unavailable,
)
from chalicelib.models import Caller, Operation, RequestRecord, Status, is_request_id
from chalicelib.resource_ids import has_ended, holds_nothing
from chalicelib.store.api import Moved, NotMoved, RequestStore
from chalicelib.store.table import conflicted

logger = logging.getLogger(__name__)

# How many times DELETE re-evaluates a request whose status moved under it.
_DELETE_ROUNDS = 5
# Seconds a client should wait before retrying a DELETE of a request a worker is on.
_BUSY_RETRY_AFTER_SECONDS = 5
_CHANGING = "The request is changing state right now; retry the DELETE in a moment."
# States whose DELETE starts a teardown (the worker removes what the request made).
_TEARDOWN_SOURCES = (Status.SUCCEEDED, Status.DELETE_FAILED)


@dataclass(frozen=True)
class Deletion:
    """The outcome of DELETE /vpcs/{id}: the request's status after it."""

    request_id: str
    status: Status


class DeleteService:
    """Deletes requests on behalf of their creator or an admin."""

    def __init__(
        self,
        store: RequestStore,
        queue: JobQueue,
        clock: Clock = system_clock,
        live_request_limit: int = 0,
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        # MAX_LIVE_REQUESTS_PER_USER (0: none): a FAILED request DELETE makes live again
        # takes its place back.
        self._limit = live_request_limit

    def delete(self, caller: Caller, request_id: str) -> Deletion:
        """DELETE /vpcs/{id}: cancel a request not yet started, or tear down what it made.

        QUEUED → CANCELLED; SUCCEEDED or DELETE_FAILED → DELETING and a delete
        job; FAILED → DELETED when its record proves nothing of it is left, else
        (something left, or a create whose answer was lost) DELETING and a delete
        job; DELETING re-sends the job; DELETED and CANCELLED stay.
        Idempotent: every transition is a write conditional on the status it
        leaves (and, when decided on a read, on the version read), re-evaluated on
        the record DynamoDB hands back when it fails.

        Raises NotFound (also for ids of the wrong form), Forbidden (neither the
        creator nor an admin), RequestBusy (a worker is provisioning or rolling
        it back: retry after it finishes) or BackendUnavailable (retry the DELETE).
        """
        if not is_request_id(request_id):
            raise NotFound(f"No request with id {quote(request_id)}.")
        now = self._clock()
        admin = is_admin(caller)
        # The usual case in one call: a request that exists (SUCCEEDED) and is the
        # caller's starts its teardown; any other answer comes with the record.
        answer = _moving(
            lambda: self._store.move(
                request_id,
                Status.DELETING,
                _TEARDOWN_SOURCES,
                now,
                created_by=None if admin else caller.sub,
            )
        )
        decided_on: RequestRecord | None = None
        for _ in range(_DELETE_ROUNDS):
            if isinstance(answer, Moved):
                if answer.status is Status.DELETING:
                    self._enqueue_delete(request_id)
                elif decided_on is not None:
                    # CANCELLED, or DELETED with nothing left: the request has ended.
                    self._free(
                        replace(decided_on, status=answer.status, version=decided_on.version + 1)
                    )
                return Deletion(request_id, answer.status)
            assert isinstance(answer, NotMoved)
            record = answer.record
            if record is None:
                # DynamoDB hands back the item whenever one exists; make sure anyway
                # before saying it does not.
                record = backend(lambda: self._store.get(request_id))
                if record is None:
                    raise NotFound(f"No request with id {quote(request_id)}.")
            if not admin and record.created_by != caller.sub:
                raise Forbidden(
                    "Only the user who created this request, or a member of the 'admins' "
                    "group, may delete it."
                )
            decided_on = record
            step = self._next_deletion_step(record, now)
            if step is None:
                if record.status is Status.DELETING:
                    # The earlier send may have failed: send again (the worker
                    # tears a request down once, whatever the duplicates).
                    self._enqueue_delete(request_id)
                elif has_ended(record):
                    # Ended, and maybe by a write whose answer was lost (this DELETE's
                    # retry): its block may still be held. Freed at the version read, once.
                    self._free(record)
                return Deletion(request_id, record.status)
            answer = step
        raise RequestBusy(_CHANGING, retry_after_seconds=1)

    def _next_deletion_step(self, record: RequestRecord, now: float) -> Moved | NotMoved | None:
        """Write DELETE's transition from the record's status; None when there is none to
        write (the status is DELETE's answer already). Raises RequestBusy."""
        status = record.status
        if status in (Status.IN_PROGRESS, Status.ROLLING_BACK):
            doing = "provisioned" if status is Status.IN_PROGRESS else "rolled back"
            raise RequestBusy(
                f"The request is {status.value}: it is being {doing}. Retry the DELETE "
                "after it finishes.",
                retry_after_seconds=_BUSY_RETRY_AFTER_SECONDS,
            )
        if status in (Status.DELETING, Status.DELETED, Status.CANCELLED):
            return None
        if status is Status.QUEUED:
            target = Status.CANCELLED
        elif status is Status.FAILED and holds_nothing(record) and not record.lost_answers:
            # Every create answered (none may have run unseen), and the rollback deleted
            # what they made: the record itself proves nothing is left.
            target = Status.DELETED
        else:
            # SUCCEEDED, DELETE_FAILED, FAILED with something left, or FAILED after a
            # lost answer (a create may have run unseen, and the rollback's looks by tag
            # may have lagged): a teardown looks in EC2 again before DELETED.
            target = Status.DELETING
        # A FAILED request's place in its user's limit may have been given back (it held
        # nothing, `has_ended`); DELETING, it is live again: the move puts it back.
        place_of = (
            record.created_by
            if self._limit > 0 and status is Status.FAILED and target is Status.DELETING
            else None
        )
        # Decided on this read: written only if the record is still at its version.
        return _moving(
            lambda: self._store.move(
                record.request_id, target, (status,), now, read=record, place_of=place_of
            )
        )

    def _free(self, record: RequestRecord) -> None:
        """Free the address block of a request that just ended; if this fails, the
        address upkeep (or the next POST that needs the block) frees it."""
        self._store.release_or_leave(record)

    def _enqueue_delete(self, request_id: str) -> None:
        try:
            self._queue.send(request_id, Operation.DELETE)
        except BackendFailure as exc:
            logger.warning("answering 503: %s", exc)
            raise BackendUnavailable(
                "The request is DELETING but its delete job could not be queued; "
                "retry the DELETE to complete it."
            ) from exc


def _moving(call: Callable[[], Moved | NotMoved]) -> Moved | NotMoved:
    """`call()`, a move of the record; one that met a transaction writing it (a worker's:
    DynamoDB's TransactionConflictException) is RequestBusy, any other failure a 503."""
    try:
        return call()
    except BackendFailure as exc:
        if conflicted(exc):
            raise RequestBusy(_CHANGING, retry_after_seconds=1) from exc
        raise unavailable(exc) from exc
