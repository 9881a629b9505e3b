"""The API's use cases: submit a request, read one, list them, delete one.

Each method makes as few sequential AWS calls as the contract allows: a new
submission is one DynamoDB transaction plus one SQS send; a read is one
GetItem; a page is one Query (whichever the listing); a DELETE is one
conditional UpdateItem, plus one SQS send when a teardown is needed (and a
second UpdateItem when the request was not in the state the first one bet on).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .auth import is_admin
from .clock import Clock, iso_timestamp, sort_timestamp, system_clock
from .config import Settings
from .ec2 import ZoneDirectory
from .errors import (
    BackendFailure,
    BackendUnavailable,
    Forbidden,
    IdempotencyConflict,
    IdempotencyKeyReused,
    NotFound,
    RequestBusy,
)
from .jobs import JobQueue
from .models import Caller, Operation, RequestRecord, Status, SubnetState
from .pagination import PageTokenCodec
from .store.api import (
    ALL_REQUESTS,
    Created,
    IdempotencyLock,
    KeyBusy,
    KeyInUse,
    Listing,
    Moved,
    NotMoved,
    RequestStore,
    by_creator,
    by_status,
)
from .validation import (
    ListFilter,
    check_zones,
    is_request_id,
    parse_json_body,
    quote,
    validate_idempotency_key,
    validate_request,
)

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_KEY_BUSY_RETRIES = 3
# How many times DELETE re-evaluates a request whose status moved under it.
_DELETE_ROUNDS = 5
# Seconds a client should wait before retrying a DELETE of a request a worker is on.
_BUSY_RETRY_AFTER_SECONDS = 5
# States whose DELETE starts a teardown (the worker removes what the request made).
_TEARDOWN_SOURCES = (Status.SUCCEEDED, Status.DELETE_FAILED)


@dataclass(frozen=True)
class Submission:
    """The outcome of POST /vpcs: the request, and whether it existed already."""

    record: RequestRecord
    replayed: bool


@dataclass(frozen=True)
class Page:
    records: list[RequestRecord]
    next_token: str | None


@dataclass(frozen=True)
class Deletion:
    """The outcome of DELETE /vpcs/{id}: the request's status after it."""

    request_id: str
    status: Status


class RequestService:
    """Accepts, reads and lists provisioning requests."""

    def __init__(
        self,
        store: RequestStore,
        queue: JobQueue,
        zones: ZoneDirectory,
        settings: Settings,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._queue = queue
        self._zones = zones
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._new_id = new_id
        self._tokens = PageTokenCodec(settings.page_token_key)

    def submit(
        self, caller: Caller, idempotency_key: str | None, body: bytes | str | None
    ) -> Submission:
        """Accept a provisioning request exactly once per (caller, Idempotency-Key).

        New key: stores the request and its lock in one transaction, then
        enqueues the job. Same key and body: returns the existing request
        (re-enqueueing it if it is still QUEUED, in case the first send failed).
        Raises BadRequest (invalid input), IdempotencyKeyReused (same key, other
        body), IdempotencyConflict (the same key is being accepted concurrently)
        or BackendUnavailable (retry with the same key).
        """
        key = validate_idempotency_key(idempotency_key)
        request = validate_request(parse_json_body(body))
        check_zones(request, self._backend(self._zones.names), self._settings.region)

        now = self._clock()
        record = RequestRecord(
            request_id=self._new_id(),
            status=Status.QUEUED,
            created_by=caller.sub,
            created_by_username=caller.username,
            created_at=iso_timestamp(now),
            created_sort=sort_timestamp(now),
            updated_at=iso_timestamp(now),
            request=request,
            subnets=[SubnetState(cidr=s.cidr, az=s.az, name=s.name) for s in request.subnets],
        )
        lock = IdempotencyLock(
            caller_sub=caller.sub,
            key=key,
            target_request_id=record.request_id,
            body_hash=request.fingerprint(),
            ttl_epoch=int(now) + self._settings.idempotency_ttl_seconds,
        )
        for attempt in range(_KEY_BUSY_RETRIES):
            try:
                outcome = self._store.create(record, lock, now)
            except BackendFailure as exc:
                # The transaction may have landed (a timeout, a lost answer): send
                # the job anyway, so a stored request never waits for the reaper. A
                # job for a request that was not stored is dropped by the worker.
                with contextlib.suppress(BackendFailure):
                    self._queue.send(record.request_id)
                raise self._unavailable(exc) from exc
            if isinstance(outcome, Created):
                self._enqueue(record.request_id)
                return Submission(record, replayed=False)
            if isinstance(outcome, KeyInUse):
                return self._replay(outcome.lock, lock.body_hash)
            assert isinstance(outcome, KeyBusy)
            self._sleep(0.05 * 2**attempt)
        raise IdempotencyConflict(
            "Another request with this Idempotency-Key is being accepted right now; "
            "retry in a second to get its result."
        )

    def _replay(self, lock: IdempotencyLock, body_hash: str) -> Submission:
        if lock.body_hash != body_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a new request."
            )
        existing = self._backend(lambda: self._store.get(lock.target_request_id))
        if existing is None:
            raise IdempotencyConflict(
                "This Idempotency-Key is held by a request that cannot be read right now; retry."
            )
        if existing.status is Status.QUEUED:
            # The first send may have failed (the caller got a 503): send again.
            # A duplicate job is harmless; the worker claims each request once.
            self._enqueue(existing.request_id)
        return Submission(existing, replayed=True)

    def _enqueue(self, request_id: str) -> None:
        try:
            self._queue.send(request_id)
        except BackendFailure as exc:
            raise BackendUnavailable(
                "The request was stored but could not be queued; retry with the same "
                "Idempotency-Key to complete it."
            ) from exc

    def get(self, request_id: str) -> RequestRecord:
        """The record of `request_id`. Raises NotFound (also for ids of the wrong form)."""
        if not is_request_id(request_id):
            raise NotFound(f"No request with id {quote(request_id)}.")
        record = self._backend(lambda: self._store.get(request_id))
        if record is None:
            raise NotFound(f"No request with id {quote(request_id)}.")
        return record

    def list(
        self,
        limit: int,
        next_token: str | None,
        which: ListFilter | None = None,
        caller: Caller | None = None,
    ) -> Page:
        """A page of records, newest first: all of them, those in one status, or the caller's.

        Each listing is one Query on its own index. A `next_token` is bound to
        the listing that issued it (and to the status, or the caller, it shows):
        raises BadRequest for a token that is not ours or not this listing's.
        """
        scope, listing = self._listing(caller, which or ListFilter())
        start = (
            self._tokens.decode(
                next_token,
                scope,
                listing.key_attributes,
                fixed={listing.partition_attribute: listing.partition_value},
            )
            if next_token is not None
            else None
        )
        records, position = self._backend(lambda: self._store.list_page(limit, start, listing))
        token = self._tokens.encode(position, scope) if position else None
        return Page(records, token)

    @staticmethod
    def _listing(caller: Caller | None, which: ListFilter) -> tuple[str, Listing]:
        """The token scope and the index query of a listing."""
        if which.status is not None:
            return "status", by_status(which.status)
        if which.mine:
            if caller is None:
                raise TypeError("listing the caller's own requests needs the caller")
            return "created_by", by_creator(caller.sub)
        return "all", ALL_REQUESTS

    def delete(self, caller: Caller, request_id: str) -> Deletion:
        """DELETE /vpcs/{id}: cancel a request not yet started, or tear down what it made.

        QUEUED → CANCELLED; SUCCEEDED or DELETE_FAILED → DELETING and a delete
        job; FAILED → DELETED when nothing of it is left, else DELETING and a
        delete job; DELETING re-sends the job; DELETED and CANCELLED stay.
        Idempotent: every transition is a write conditional on the status it
        leaves, re-evaluated on the record DynamoDB hands back when it fails.

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
        answer = self._backend(
            lambda: self._store.move(
                request_id,
                Status.DELETING,
                _TEARDOWN_SOURCES,
                now,
                created_by=None if admin else caller.sub,
            )
        )
        for _ in range(_DELETE_ROUNDS):
            if isinstance(answer, Moved):
                if answer.status is Status.DELETING:
                    self._enqueue_delete(request_id)
                return Deletion(request_id, answer.status)
            assert isinstance(answer, NotMoved)
            record = answer.record
            if record is None:
                # DynamoDB hands back the item whenever one exists; make sure anyway
                # before saying it does not.
                record = self._backend(lambda: self._store.get(request_id))
                if record is None:
                    raise NotFound(f"No request with id {quote(request_id)}.")
            if not admin and record.created_by != caller.sub:
                raise Forbidden(
                    "Only the user who created this request, or a member of the 'admins' "
                    "group, may delete it."
                )
            step = self._next_deletion_step(record, now)
            if step is None:
                if record.status is Status.DELETING:
                    # The earlier send may have failed: send again (the worker
                    # tears a request down once, whatever the duplicates).
                    self._enqueue_delete(request_id)
                return Deletion(request_id, record.status)
            answer = step
        raise RequestBusy(
            "The request is changing state right now; retry the DELETE in a moment.",
            retry_after_seconds=1,
        )

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
            target, unchanged = Status.CANCELLED, None
        elif status is Status.FAILED and _nothing_left(record):
            target, unchanged = Status.DELETED, record
        else:  # SUCCEEDED, DELETE_FAILED, or FAILED with something left
            target, unchanged = Status.DELETING, None
        return self._backend(
            lambda: self._store.move(record.request_id, target, (status,), now, unchanged=unchanged)
        )

    def _enqueue_delete(self, request_id: str) -> None:
        try:
            self._queue.send(request_id, Operation.DELETE)
        except BackendFailure as exc:
            logger.warning("answering 503: %s", exc)
            raise BackendUnavailable(
                "The request is DELETING but its delete job could not be queued; "
                "retry the DELETE to complete it."
            ) from exc

    @classmethod
    def _backend(cls, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except BackendFailure as exc:
            raise cls._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: BackendFailure) -> BackendUnavailable:
        logger.warning("answering 503: %s", exc)
        return BackendUnavailable(
            f"A backing service is unavailable ({exc.operation}); retry shortly."
        )


def _nothing_left(record: RequestRecord) -> bool:
    """Whether nothing of a FAILED request is known to exist in EC2: no ids, a rollback
    that completed (or none), and every orphan removed."""
    return (
        record.vpc_id is None
        and all(subnet.subnet_id is None for subnet in record.subnets)
        and record.internet_gateway_id is None
        and record.route_table_id is None
        and (record.rollback is None or record.rollback.complete)
        and all(orphan.removed_at is not None for orphan in record.orphans)
    )
