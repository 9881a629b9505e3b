"""The worker: provisions one request's VPC and subnets, exactly once.

Delivery is at-least-once and the worker can die between any two calls, so
every step can be repeated without effect:

1. Claim the request (a conditional update with a lease): two deliveries at
   once never both work; a dead worker's expired lease is taken over.
2. Create the VPC, tagged at creation with the request id, and checkpoint its
   id at once. A later attempt with no checkpoint looks the VPC up by tag
   first; a first attempt does not (there is nothing to find).
3. Create the subnets concurrently (bounded). A later attempt looks them up by
   VPC + CIDR first. EC2 refuses a second subnet with the same CIDR in a VPC,
   so a subnet can never be duplicated: that refusal means "already made".
4. Record SUCCEEDED.

`CreateVpc`/`CreateSubnet` take no ClientToken, so they are never repeated
blindly: after an ambiguous failure (5xx, timeout) the resource is looked up
before creating again. Throttling means the call did not run: it is retried in
place. Transient failures that outlast the in-place retries go back to SQS;
on the last allowed delivery the request ends FAILED (RetriesExhausted).
Permanent failures roll back what this request created and end FAILED.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from .clock import Clock, system_clock
from .config import Settings
from .ec2 import Ec2Gateway, FoundSubnet, resource_tags, subnet_tags
from .errors import BackendFailure
from .faults import Backoff, Fault, classify, error_code, error_message
from .models import ErrorInfo, RequestRecord, Rollback, Status, SubnetState
from .store import AlreadyFinished, Claimed, LeaseHeld, LeaseLost, Missing, RequestStore

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRIES_EXHAUSTED = "RetriesExhausted"


class PermanentFailure(Exception):
    """AWS refused for good (quota, bad parameter, conflict): roll back and fail."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientFailure(Exception):
    """Still failing after the in-place retries: try again on a later delivery."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RetryLater(Exception):
    """Raised to SQS's consumer: keep the message, deliver it again later."""


class _Cancelled(Exception):
    """A sibling subnet failed; subnets not yet started are not created."""


@dataclass(frozen=True)
class Job:
    """One delivery of a request's message."""

    request_id: str
    receive_count: int = 1


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class Provisioner:
    """Runs jobs. `handle` is safe to call any number of times, concurrently, for one request."""

    def __init__(
        self,
        store: RequestStore,
        ec2: Ec2Gateway,
        settings: Settings,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self._store = store
        self._ec2 = ec2
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff(
            base=settings.ec2_backoff_base_seconds, cap=settings.ec2_backoff_cap_seconds
        )

    def handle(self, job: Job) -> Outcome:
        """Provision the job's request.

        Returns SKIPPED when there is nothing to do (finished, unknown, or taken
        over by another worker). Raises RetryLater when the message must be
        delivered again (another worker holds a live lease, or a transient
        failure outlasted the in-place retries).
        """
        owner = uuid.uuid4().hex
        try:
            claim = self._store.claim(
                job.request_id, owner, self._clock(), self._settings.lease_seconds
            )
        except BackendFailure as exc:
            raise RetryLater(str(exc)) from exc
        if isinstance(claim, Missing):
            logger.warning("job for unknown request %s dropped", job.request_id)
            return Outcome.SKIPPED
        if isinstance(claim, AlreadyFinished):
            logger.info("request %s already %s", job.request_id, claim.record.status)
            return Outcome.SKIPPED
        if isinstance(claim, LeaseHeld):
            raise RetryLater(
                f"request {job.request_id} is being provisioned by another worker "
                f"(lease until {claim.record.lease_until:.0f})"
            )
        assert isinstance(claim, Claimed)
        with _LeaseKeeper(self._store, job.request_id, owner, self._settings, self._clock) as lease:
            run = _Run(self, claim.record, owner, lease, job)
            return run.execute()


class _LeaseKeeper:
    """Renews the worker's lease in the background, every third of its length."""

    def __init__(
        self, store: RequestStore, request_id: str, owner: str, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._request_id = request_id
        self._owner = owner
        self._lease = settings.lease_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{request_id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check(self) -> None:
        """Raise LeaseLost if a renewal found the lease taken by another worker."""
        if self._lost.is_set():
            raise LeaseLost(self._request_id)

    def _renew(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                held = self._store.renew_lease(
                    self._request_id, self._owner, self._clock() + self._lease
                )
            except BackendFailure:
                logger.warning("lease renewal for %s failed; retrying", self._request_id)
                continue
            if not held:
                self._lost.set()
                return


class _CheckpointWriter:
    """Records subnet ids as they appear, in as few writes as possible, off the EC2 threads.

    One background thread writes every id that arrived since its last write in
    a single UpdateItem. `close` waits for the write in flight and drops the
    ids not yet written: the caller's final write records them anyway.
    """

    def __init__(self, store: RequestStore, request_id: str, owner: str, clock: Clock) -> None:
        self._store = store
        self._request_id = request_id
        self._owner = owner
        self._clock = clock
        self._pending: dict[int, str] = {}
        self._failures: list[BaseException] = []
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)
        self._thread.start()

    def add(self, index: int, subnet_id: str) -> None:
        with self._wake:
            self._pending[index] = subnet_id
            self._wake.notify()

    def close(self) -> list[BaseException]:
        """Stop; returns the failures of the writes made (LeaseLost, BackendFailure)."""
        with self._wake:
            self._closed = True
            self._pending.clear()
            self._wake.notify()
        self._thread.join()
        return self._failures

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                batch, self._pending = self._pending, {}
            try:
                self._store.checkpoint_subnets(self._request_id, self._owner, batch, self._clock())
            except (LeaseLost, BackendFailure) as exc:
                self._failures.append(exc)
                return


class _Run:
    """One claimed attempt at one request."""

    def __init__(
        self,
        provisioner: Provisioner,
        record: RequestRecord,
        owner: str,
        lease: _LeaseKeeper,
        job: Job,
    ) -> None:
        self._settings = provisioner._settings
        self._store = provisioner._store
        self._ec2 = provisioner._ec2
        self._clock = provisioner._clock
        self._sleep = provisioner._sleep
        self._backoff = provisioner._backoff
        self._record = record
        self._owner = owner
        self._lease = lease
        self._job = job
        # Could anything exist that this run does not know about? Yes after an
        # earlier attempt, or after an ambiguous failure in this one.
        self._uncertain = record.attempts > 1
        self._created_vpcs: list[str] = []
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    @property
    def _request_id(self) -> str:
        return self._record.request_id

    # --- the attempt -----------------------------------------------------------

    def execute(self) -> Outcome:
        record = self._record
        try:
            if record.attempts > self._settings.max_attempts:
                raise TransientFailure(
                    RETRIES_EXHAUSTED, f"{record.attempts - 1} attempts made, none finished"
                )
            self._provision()
            record.status = Status.SUCCEEDED
            record.error = None
            self._store.finish(record, self._owner, self._clock())
            logger.info("request %s succeeded: %s", self._request_id, record.vpc_id)
            return Outcome.SUCCEEDED
        except PermanentFailure as failure:
            logger.warning("request %s failed: %s", self._request_id, failure)
            self._fail(ErrorInfo(failure.code, failure.message))
            return Outcome.FAILED
        except LeaseLost:
            logger.warning("request %s: lease lost to another worker; stopping", self._request_id)
            return Outcome.SKIPPED
        except (TransientFailure, BackendFailure) as failure:
            return self._after_transient(failure)

    def _after_transient(self, failure: TransientFailure | BackendFailure) -> Outcome:
        code, message = (
            (failure.code, failure.message)
            if isinstance(failure, TransientFailure)
            else (error_code(failure.cause), str(failure))
        )
        last_delivery = self._job.receive_count >= self._settings.max_receive_count
        out_of_attempts = self._record.attempts >= self._settings.max_attempts
        if code == RETRIES_EXHAUSTED or last_delivery or out_of_attempts:
            detail = message if code == RETRIES_EXHAUSTED else f"last error {code}: {message}"
            try:
                self._fail(
                    ErrorInfo(
                        RETRIES_EXHAUSTED,
                        f"Gave up after {self._record.attempts} attempt(s); {detail}",
                    )
                )
            except (LeaseLost, BackendFailure) as exc:
                logger.error("request %s: could not record failure: %s", self._request_id, exc)
            if code == RETRIES_EXHAUSTED:
                return Outcome.FAILED
            # The record says FAILED; failing the delivery sends the message to the DLQ.
            raise RetryLater(f"request {self._request_id}: retries exhausted ({code})")
        # Stop renewing first, or a late renewal would re-take the released lease.
        self._lease.stop()
        self._store.release_lease(self._request_id, self._owner)
        raise RetryLater(f"request {self._request_id}: {code}: {message}")

    def _provision(self) -> None:
        record = self._record
        vpc_is_new = False
        if record.vpc_id is None:
            record.vpc_id, vpc_is_new = self._ensure_vpc()
            self._store.checkpoint_vpc(self._request_id, self._owner, record.vpc_id, self._clock())
        self._ensure_subnets(record.vpc_id, look_first=not vpc_is_new)
        if self._uncertain:
            self._remove_duplicate_vpcs(keep=record.vpc_id)

    def _remove_duplicate_vpcs(self, keep: str) -> None:
        """Tear down any other VPC tagged with this request before declaring success.

        Only after an ambiguous failure or an earlier attempt: EC2's reads are
        eventually consistent, so a lookup right after a lost CreateVpc answer
        can miss the VPC that call made, and a second one gets created. Seconds
        later, this second look finds the first, which would otherwise be orphaned.
        """
        for vpc_id in self._read("DescribeVpcs", lambda: self._ec2.find_vpcs(self._request_id)):
            if vpc_id != keep:
                logger.error(
                    "request %s: duplicate VPC %s found; deleting it", self._request_id, vpc_id
                )
                self._teardown_vpc(vpc_id, deleted=[], remaining=[])

    # --- VPC -------------------------------------------------------------------

    def _ensure_vpc(self) -> tuple[str, bool]:
        """The request's VPC, created if absent. True when it was made by this run."""
        spec = self._record.request.vpc
        tags = resource_tags(self._settings.project_tag, self._request_id, spec.name)
        if self._uncertain:
            existing = self._find_vpc()
            if existing:
                return existing, False

        def create() -> str:
            vpc_id = self._ec2.create_vpc(spec.cidr, tags)
            self._created_vpcs.append(vpc_id)
            return vpc_id

        vpc_id = self._create_once("CreateVpc", create, self._find_vpc)
        # Made (or found after an ambiguous create) by this run: nobody else knows
        # its id, so it has no subnets yet.
        return vpc_id, True

    def _find_vpc(self) -> str | None:
        """The request's VPC by tag (the first, if a race made several: the others are
        removed before the request succeeds, by _remove_duplicate_vpcs)."""
        found = self._read("DescribeVpcs", lambda: self._ec2.find_vpcs(self._request_id))
        if not found:
            return None
        keep = found[0]
        with self._lock:
            if keep not in self._created_vpcs:
                self._created_vpcs.append(keep)
        return keep

    # --- subnets -----------------------------------------------------------------

    def _ensure_subnets(self, vpc_id: str, look_first: bool) -> None:
        record = self._record
        pending = [i for i, s in enumerate(record.subnets) if not s.subnet_id]
        if not pending:
            return
        if look_first:
            existing = self._read("DescribeSubnets", lambda: self._ec2.find_subnets(vpc_id))
            for index in list(pending):
                subnet = record.subnets[index]
                found = existing.get(subnet.cidr)
                if found is not None:
                    subnet.subnet_id = self._adopt_subnet(vpc_id, subnet, found)
                    pending.remove(index)
        if not pending:
            return

        workers = max(1, min(len(pending), self._settings.subnet_concurrency))
        failures: list[BaseException] = []
        checkpoints = _CheckpointWriter(self._store, self._request_id, self._owner, self._clock)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="subnet") as pool:
            creations = {pool.submit(self._create_subnet, vpc_id, i): i for i in pending}
            outstanding = len(creations)
            for future in as_completed(creations):
                outstanding -= 1
                index = creations[future]
                try:
                    subnet_id = future.result()
                except _Cancelled:
                    continue
                except (PermanentFailure, TransientFailure, LeaseLost, BackendFailure) as exc:
                    failures.append(exc)
                    self._cancel.set()
                    continue
                record.subnets[index].subnet_id = subnet_id
                if outstanding and not self._cancel.is_set():
                    # The last subnets' ids go into the final write instead.
                    checkpoints.add(index, subnet_id)
        failures.extend(checkpoints.close())
        if failures:
            # A permanent failure wins: it decides the outcome (roll back, FAILED).
            permanent = [f for f in failures if isinstance(f, PermanentFailure)]
            raise (permanent or failures)[0]

    def _create_subnet(self, vpc_id: str, index: int) -> str:
        if self._cancel.is_set():
            raise _Cancelled()
        subnet = self._record.subnets[index]
        tags = subnet_tags(self._settings.project_tag, self._request_id, subnet.name)

        def find() -> str | None:
            found = self._read("DescribeSubnets", lambda: self._ec2.find_subnets(vpc_id)).get(
                subnet.cidr
            )
            return self._adopt_subnet(vpc_id, subnet, found) if found else None

        try:
            return self._create_once(
                "CreateSubnet",
                lambda: self._ec2.create_subnet(vpc_id, subnet.cidr, subnet.az, tags),
                find,
                # EC2 refuses a CIDR already used in the VPC: if that subnet is
                # ours (an earlier, lost answer), it is the one we want.
                adopt_on="InvalidSubnet.Conflict",
            )
        except (PermanentFailure, TransientFailure, LeaseLost):
            # Subnets not started yet are not worth creating: the attempt has failed.
            self._cancel.set()
            raise

    def _adopt_subnet(self, vpc_id: str, subnet: SubnetState, found: FoundSubnet) -> str:
        if found.request_id != self._request_id:
            raise PermanentFailure(
                "InvalidSubnet.Conflict",
                f"{subnet.cidr} in {vpc_id} is already used by {found.subnet_id}, "
                "which this request did not create",
            )
        return found.subnet_id

    # --- calls with retries -------------------------------------------------------

    def _create_once(
        self,
        operation: str,
        create: Callable[[], str],
        find: Callable[[], str | None],
        adopt_on: str | None = None,
    ) -> str:
        """Create a resource, never twice: after an ambiguous failure, `find` before creating."""
        look_first = False
        last: BaseException | None = None
        for attempt in range(1, self._settings.ec2_max_attempts + 1):
            self._lease.check()
            if look_first:
                found = find()
                if found:
                    return found
            try:
                return create()
            except (ClientError, BotoCoreError) as exc:
                last = exc
                fault = classify(exc)
                if adopt_on and error_code(exc) == adopt_on:
                    found = find()
                    if found:
                        return found
                if fault is Fault.PERMANENT:
                    raise PermanentFailure(error_code(exc), error_message(exc)) from exc
                delay = self._backoff.delay(attempt)
                if fault is Fault.AMBIGUOUS:
                    with self._lock:
                        self._uncertain = True
                    look_first = True
                    delay = max(delay, self._settings.ambiguous_lookup_delay_seconds)
                logger.warning(
                    "request %s: %s attempt %d failed (%s, %s); retrying in %.2fs",
                    self._request_id,
                    operation,
                    attempt,
                    error_code(exc),
                    fault.value,
                    delay,
                )
                if attempt < self._settings.ec2_max_attempts:
                    self._sleep(delay)
        assert last is not None
        raise TransientFailure(error_code(last), f"{operation}: {error_message(last)}")

    def _read(self, operation: str, call: Callable[[], T]) -> T:
        """A read-only call, retried in place on anything but a permanent error."""
        for attempt in range(1, self._settings.ec2_max_attempts + 1):
            try:
                return call()
            except (ClientError, BotoCoreError) as exc:
                if classify(exc) is Fault.PERMANENT:
                    raise PermanentFailure(error_code(exc), error_message(exc)) from exc
                if attempt == self._settings.ec2_max_attempts:
                    raise TransientFailure(
                        error_code(exc), f"{operation}: {error_message(exc)}"
                    ) from exc
                self._sleep(self._backoff.delay(attempt))
        raise AssertionError("unreachable")

    def _delete(self, operation: str, call: Callable[[], None]) -> str | None:
        """Delete with retries (deletes are idempotent). Returns None, or the error that won."""
        for attempt in range(1, self._settings.ec2_max_attempts + 1):
            try:
                call()
                return None
            except (ClientError, BotoCoreError) as exc:
                code = error_code(exc)
                # Right after its subnets are deleted, a VPC can still report
                # them for a moment: DependencyViolation is worth retrying here.
                retryable = classify(exc) is not Fault.PERMANENT or code == "DependencyViolation"
                if not retryable or attempt == self._settings.ec2_max_attempts:
                    return f"{operation}: {code}: {error_message(exc)}"
                self._sleep(self._backoff.delay(attempt))
        raise AssertionError("unreachable")

    # --- failure and rollback ----------------------------------------------------

    def _fail(self, error: ErrorInfo) -> None:
        """Delete what this request created, then record FAILED with the error and the rollback."""
        rollback = self._rollback()
        record = self._record
        remaining = set(rollback.remaining)
        record.vpc_id = record.vpc_id if record.vpc_id in remaining else None
        for subnet in record.subnets:
            if subnet.subnet_id not in remaining:
                subnet.subnet_id = None
        summary = (
            "nothing had been created"
            if not rollback.deleted and rollback.complete
            else f"rolled back: deleted {', '.join(rollback.deleted)}"
            if rollback.complete
            else f"rollback incomplete, still present: {', '.join(rollback.remaining)}"
        )
        record.status = Status.FAILED
        record.error = ErrorInfo(error.code, f"{error.message} ({summary})")
        record.rollback = rollback
        self._store.finish(record, self._owner, self._clock())

    def _rollback(self) -> Rollback:
        vpcs = list(self._created_vpcs)
        if self._record.vpc_id and self._record.vpc_id not in vpcs:
            vpcs.append(self._record.vpc_id)
        if self._uncertain:
            try:
                found = self._read("DescribeVpcs", lambda: self._ec2.find_vpcs(self._request_id))
            except (PermanentFailure, TransientFailure) as exc:
                return Rollback(deleted=(), remaining=tuple(vpcs), error=str(exc))
            vpcs.extend(v for v in found if v not in vpcs)
        deleted: list[str] = []
        remaining: list[str] = []
        errors: list[str] = []
        for vpc_id in vpcs:
            error = self._teardown_vpc(vpc_id, deleted, remaining)
            if error:
                errors.append(error)
        return Rollback(
            deleted=tuple(deleted), remaining=tuple(remaining), error="; ".join(errors) or None
        )

    def _teardown_vpc(self, vpc_id: str, deleted: list[str], remaining: list[str]) -> str | None:
        """Delete this request's subnets in `vpc_id`, then the VPC. Returns the first error."""
        subnet_ids = [
            s.subnet_id
            for s in self._record.subnets
            if s.subnet_id and vpc_id == self._record.vpc_id
        ]
        if self._uncertain or vpc_id != self._record.vpc_id:
            try:
                found = self._read("DescribeSubnets", lambda: self._ec2.find_subnets(vpc_id))
            except (PermanentFailure, TransientFailure) as exc:
                remaining.extend([*subnet_ids, vpc_id])
                return str(exc)
            subnet_ids.extend(
                f.subnet_id
                for f in found.values()
                if f.request_id == self._request_id and f.subnet_id not in subnet_ids
            )
        first_error: str | None = None
        for subnet_id in subnet_ids:
            error = self._delete(
                "DeleteSubnet", functools.partial(self._ec2.delete_subnet, subnet_id)
            )
            (remaining if error else deleted).append(subnet_id)
            first_error = first_error or error
        if first_error:
            remaining.append(vpc_id)
            return first_error
        error = self._delete("DeleteVpc", lambda: self._ec2.delete_vpc(vpc_id))
        (remaining if error else deleted).append(vpc_id)
        return error
