"""POST /vpcs: accept a provisioning request exactly once per caller and Idempotency-Key.

A new submission is one DynamoDB transaction (record, idempotency lock, address block,
the caller's place under the quota) plus one SQS send, at once when planning read the
pool: no POST waits for more than two calls in a row. A repeat replays the stored request.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from ipaddress import IPv4Network

from chalicelib import logs
from chalicelib.api.address_planner import AddressPlanner
from chalicelib.api.idempotency_key import validate_idempotency_key
from chalicelib.api.json_body import parse_json_body
from chalicelib.api.quota import LiveRequestLimit
from chalicelib.api.validation import check_zones, validate_request
from chalicelib.aws.jobs import JobQueue
from chalicelib.aws.zones import ZoneDirectory
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock, iso_timestamp, sort_timestamp, system_clock
from chalicelib.config import Settings
from chalicelib.errors import (
    BackendFailure,
    BackendUnavailable,
    BadRequest,
    IdempotencyConflict,
    IdempotencyKeyReused,
    PoolExhausted,
    backend,
    unavailable,
)
from chalicelib.models import HELD, Caller, RequestRecord, Status, StatusChange, SubnetState
from chalicelib.request_spec import ProvisioningRequest
from chalicelib.store.admission import BlockTaken, Created, IdempotencyLock, KeyBusy, KeyInUse
from chalicelib.store.api import RequestStore
from chalicelib.store.quota import Quota, QuotaFull

# Tries of a transaction that met another writing one of its items (TransactionConflict:
# the same key sent twice at once, the user's quota, a /16's count) before a 503, each
# after a random wait that doubles (at most 0.05, 0.1, ... 1 s: 3.6 s in all). Explicit
# CIDRs of one /16 cannot move elsewhere: with three tries at fixed waits, POSTs that met
# once met again (of twelve at once, some answered 503 in every run;
# tests/integration/test_address_contention.py).
_KEY_BUSY_RETRIES = 8
_BUSY_BACKOFF = Backoff(base=0.05, cap=1.0)
# Blocks tried by one POST before it answers 503 (concurrent POSTs taking the same ones).
_BLOCK_RETRIES = 8
# How many times a sized POST that meets another writing its /16's count moves on to
# another /16 (block_conflicts.after_busy) before it waits and tries again.
_BUSY_MOVES = 8


def _still_busy(on_quota: bool, on_addresses: bool) -> Exception:
    """What a POST whose transaction kept meeting others says: retry shortly."""
    if on_addresses:
        return _addresses_busy()
    if on_quota:
        return BackendUnavailable(
            "Several of your requests are being accepted at once; retry in a second "
            "with the same Idempotency-Key.",
            retry_after_seconds=1,
        )
    return IdempotencyConflict(
        "Another request with this Idempotency-Key is being accepted right now; "
        "retry in a second to get its result."
    )


def _addresses_busy() -> BackendUnavailable:
    """Concurrent POSTs keep taking the blocks (or the /16's count) this one tries."""
    return BackendUnavailable(
        "Many requests are taking addresses at once; retry in a second with the same "
        "Idempotency-Key.",
        retry_after_seconds=1,
    )


@dataclass(frozen=True)
class Submission:
    """The outcome of POST /vpcs: the request, and whether it existed already."""

    record: RequestRecord
    replayed: bool


class SubmitService:
    """Accepts provisioning requests."""

    def __init__(
        self,
        store: RequestStore,
        addresses: AddressPlanner,
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
        self._limit = LiveRequestLimit(store, settings.max_live_requests_per_user)
        self._addresses = addresses

    def submit(
        self, caller: Caller, idempotency_key: str | None, body: bytes | str | None
    ) -> Submission:
        """Accept a provisioning request exactly once per (caller, Idempotency-Key).

        New key: stores the request and its lock in one transaction, then
        enqueues the job. Same key and body: returns the existing request
        (re-enqueueing it if it is still QUEUED, in case the first send failed).
        Raises BadRequest (invalid input), IdempotencyKeyReused (same key, other
        body), IdempotencyConflict (the same key is being accepted concurrently),
        QuotaExceeded (the caller has as many live requests as a user may; a replay
        never is) or BackendUnavailable (retry with the same key).
        """
        key = validate_idempotency_key(idempotency_key)
        request = validate_request(parse_json_body(body))
        zones = backend(self._zones.names)
        try:
            check_zones(request, zones, self._settings.region)
            plan = self._addresses.plan(request, sorted(zones))
        except (BadRequest, PoolExhausted):
            # A replay gets its answer: its own request may hold the pool's last block, or
            # the stage's pools (or the region's zones) changed since it was accepted.
            held = backend(lambda: self._store.live_lock(caller.sub, key, self._clock()))
            if held is None:
                raise
            return self._replay(held, request.fingerprint())

        now = self._clock()
        at = iso_timestamp(now)
        record = RequestRecord(
            request_id=self._new_id(),
            status=Status.QUEUED,
            created_by=caller.sub,
            created_by_username=caller.username,
            created_at=at,
            created_sort=sort_timestamp(now),
            updated_at=at,
            history=(StatusChange(Status.QUEUED, at),),
            request=request,
            cidr=str(plan.cidr),
            pool=plan.pool,
            allocation=HELD,
            subnets=[
                SubnetState(cidr=str(block), az=az, name=spec.name)
                for (block, az), spec in zip(plan.subnets, request.subnets, strict=True)
            ],
        )
        lock = IdempotencyLock(
            caller_sub=caller.sub,
            key=key,
            target_request_id=record.request_id,
            body_hash=request.fingerprint(),
            ttl_epoch=int(now) + self._settings.idempotency_ttl_seconds,
        )
        # Reading the pool cost a call already: the job goes out beside the transaction,
        # so the caller still waits for two calls in a row. If the request is never
        # stored, the worker drops its job (after waiting a little for the record).
        sending = self._queue.send_soon(record.request_id) if plan.read_pool else None
        quota = self._limit.place_for(caller)
        stored = False
        try:
            submission = self._store_and_send(record, request, lock, now, quota, sending)
            stored = not submission.replayed
            return submission
        finally:
            self._limit.settle(quota, stored)
            if sending is not None:
                with contextlib.suppress(BackendFailure):
                    sending.result()  # answered before the POST is: nothing left behind

    def _store_and_send(
        self,
        record: RequestRecord,
        request: ProvisioningRequest,
        lock: IdempotencyLock,
        now: float,
        quota: Quota | None,
        sending: Future[None] | None,
    ) -> Submission:
        """The transaction (again after a block conflict or with room made), then the job."""
        busy_on_quota = busy_on_addresses = False
        quota_seeded = False  # by this POST
        attempt = conflicts = calls = 0
        busy: list[IPv4Network] = []
        try:
            while attempt < _KEY_BUSY_RETRIES:
                try:
                    outcome = self._store.create(record, lock, now, quota, attempt=calls)
                    calls += 1
                except BackendFailure as exc:
                    # The transaction may have landed (a timeout, a lost answer): send
                    # the job anyway, so a stored request never waits for the reaper. A
                    # job for a request that was not stored is dropped by the worker;
                    # one whose send fails is marked unsent if stored, for the replay.
                    with contextlib.suppress(BackendFailure, BackendUnavailable):
                        self._enqueue(record.request_id, sending)
                    raise unavailable(exc) from exc
                if isinstance(outcome, Created):
                    # Bound once stored: a refused POST's lines name no request GET finds.
                    logs.bind(request_id=record.request_id)
                    self._addresses.accepted(record)
                    self._enqueue(record.request_id, sending)
                    return Submission(record, replayed=False)
                if isinstance(outcome, BlockTaken):
                    conflicts += 1
                    if conflicts > _BLOCK_RETRIES:
                        raise _addresses_busy()
                    record = self._addresses.after_conflict(record, request, outcome)
                    continue
                if isinstance(outcome, KeyInUse):
                    self._addresses.unused(record)
                    return self._replay(outcome.lock, lock.body_hash)
                if isinstance(outcome, QuotaFull):
                    assert quota is not None
                    # Seeded with the user's earlier live requests, or room made (ended
                    # requests taken out): the POST tries again; when another POST of the
                    # user's was writing the set too, it waits as when busy.
                    if self._limit.after_full(quota, outcome, quota_seeded):
                        quota_seeded |= not outcome.seeded
                        continue
                    outcome = KeyBusy(quota=True)
                assert isinstance(outcome, KeyBusy)
                if outcome.addresses and request.vpc.cidr is None and len(busy) < _BUSY_MOVES:
                    moved = self._addresses.after_busy(record, request, busy)
                    if moved is not None:
                        record = moved
                        continue
                busy_on_quota = outcome.quota
                busy_on_addresses = outcome.addresses
                attempt += 1
                if attempt < _KEY_BUSY_RETRIES:
                    self._sleep(_BUSY_BACKOFF.delay(attempt))
            raise _still_busy(busy_on_quota, busy_on_addresses)
        except BaseException:
            # A block this POST picked and never stored: free for this process's next POSTs.
            self._addresses.unused(record)
            raise

    def _replay(self, lock: IdempotencyLock, body_hash: str) -> Submission:
        if lock.body_hash != body_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a new request."
            )
        logs.bind(request_id=lock.target_request_id, replayed=True)
        existing = backend(lambda: self._store.get(lock.target_request_id))
        if existing is None:
            raise IdempotencyConflict(
                "This Idempotency-Key is held by a request that cannot be read right now; retry."
            )
        if existing.status is Status.QUEUED and existing.unsent:
            # The first send failed (the caller got a 503): send it now. Otherwise its job
            # is on its way (or the send's answer was lost and so was the mark's write:
            # the reaper sends it), and a replay sends no second one.
            self._enqueue(existing.request_id)
            # Sent: the next replays send nothing (if this write fails, one of them may send
            # again, a duplicate the worker's claim absorbs).
            with contextlib.suppress(BackendFailure):
                self._store.mark_unsent(existing.request_id, unsent=False)
        return Submission(existing, replayed=True)

    def _enqueue(self, request_id: str, sending: Future[None] | None = None) -> None:
        """Send the job (or wait for the send already under way); if it fails, mark the
        record unsent (while it is QUEUED: none that was never stored) so a replay sends it.
        Raises BackendUnavailable then."""
        try:
            if sending is None:
                self._queue.send(request_id)
            else:
                sending.result()
        except BackendFailure as exc:
            with contextlib.suppress(BackendFailure):
                self._store.mark_unsent(request_id)
            raise BackendUnavailable(
                "The request was stored but could not be queued; retry with the same "
                "Idempotency-Key to complete it."
            ) from exc
