"""How every EC2 call is made: creates never repeated blindly, reads and deletes retried.

`CreateVpc` and `CreateSubnet` take no ClientToken, so a create whose answer
was lost (a 5xx, a timeout) is never simply repeated: the resource is looked
up first. Throttling means the call did not run: it is retried in place with
backoff. Every create and delete is fenced: before it, and after a create
returns, the caller's `fence` raises LeaseLost if the worker can no longer
prove it holds the request, and the worker stops touching the world.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import metrics
from chalicelib.aws.faults import (
    FINAL,
    Already,
    DeleteFailed,
    Fault,
    classify,
    error_code,
    error_message,
    is_lag,
)
from chalicelib.backoff import Backoff
from chalicelib.config import Settings
from chalicelib.errors import PermanentFailure, TransientFailure

logger = logging.getLogger(__name__)

T = TypeVar("T")


def no_fence() -> None:
    """The fence of a caller that holds no lease (the reconciler)."""


class Ec2Calls:
    """The call discipline of one worker run (or one reconciler pass). Thread-safe.

    `uncertain` turns True after any ambiguous failure: something may exist
    that this run does not know about.
    """

    def __init__(
        self,
        settings: Settings,
        sleep: Callable[[float], None],
        backoff: Backoff,
        fence: Callable[[], None] = no_fence,
        uncertain: bool = False,
        made: Collection[str] = (),
    ) -> None:
        """`made`: ids made moments ago before this run (by the creation a DELETE follows
        closely): EC2 may not see them yet either."""
        self._attempts = settings.ec2_max_attempts
        self._lookup_delay = settings.ambiguous_lookup_delay_seconds
        self._sleep = sleep
        self._backoff = backoff
        self._fence = fence
        self._lock = threading.Lock()
        self.uncertain = uncertain
        # Ids this job's creates answered with (or adopted): made moments ago.
        self._made: set[str] = set(made)
        # Ids whose last delete (or detach) found them "not found", no delete answering.
        self._not_found: set[str] = set()

    def _wait(self, seconds: float) -> None:
        """Wait before retrying a call in place (counted: the InPlaceRetries metric)."""
        metrics.count(metrics.IN_PLACE_RETRIES)
        self._sleep(seconds)

    def pause(self) -> None:
        """Wait as long as EC2's reads may lag behind its writes, before reading again."""
        self._wait(self._lookup_delay)

    def create_once(
        self,
        operation: str,
        create: Callable[[], str],
        find: Callable[[], str | None],
        conflict: str | None = None,
        parent_is_fresh: bool = False,
    ) -> str:
        """Create a resource, never twice: after an ambiguous failure, `find` before creating.

        `conflict`: the error code AWS gives when the resource exists already
        (a subnet's CIDR in its VPC); `find` then adopts ours, raises
        PermanentFailure for someone else's, and if it sees nothing yet
        (eventual consistency) the call is retried. `parent_is_fresh`: the
        resource the call names was made moments ago, so its NotFound (or an
        UnauthorizedOperation, IAM not seeing its tags yet) is EC2's lag,
        retried; otherwise NotFound is permanent.
        Raises PermanentFailure, TransientFailure (in-place retries used up)
        or LeaseLost (from the fence).
        """
        look_first = False
        last: BaseException | None = None
        for attempt in range(1, self._attempts + 1):
            self._fence()
            if look_first:
                found = find()
                if found:
                    self._note_made(found)
                    return found
                # The look (retried reads, the records' pages) may have outlasted the lease:
                # fenced again right before the create.
                self._fence()
            try:
                made = create()
            except (ClientError, BotoCoreError) as exc:
                last = exc
                fault = classify(exc)
                code = error_code(exc)
                if conflict and code == conflict:
                    found = find()
                    if found:
                        self._note_made(found)
                        return found
                    # EC2 says it exists, the lookup cannot see it yet: look again later.
                    fault, look_first = Fault.AMBIGUOUS, True
                elif not is_lag(fault, code, parent_is_fresh) and fault in FINAL:
                    raise PermanentFailure(code, error_message(exc)) from exc
                delay = self._backoff.delay(attempt)
                if fault is Fault.AMBIGUOUS:
                    self.mark_uncertain()
                    look_first = True
                    delay = max(delay, self._lookup_delay)
                logger.warning(
                    "%s attempt %d failed (%s, %s); retrying in %.2fs",
                    operation,
                    attempt,
                    code,
                    fault.value,
                    delay,
                )
                if attempt < self._attempts:
                    self._wait(delay)
                continue
            # It exists now. A worker that lost its lease meanwhile stops here and
            # leaves it, tagged, to the reconciler.
            self._note_made(made)
            self._fence()
            return made
        assert last is not None
        raise TransientFailure(error_code(last), f"{operation}: {error_message(last)}")

    def change(
        self,
        operation: str,
        call: Callable[[], None],
        already: tuple[Already, ...] = (),
        fresh: bool = True,
    ) -> None:
        """Make an idempotent change (attach, route, associate, modify), retried in place.

        Repeating it is safe, so an ambiguous failure is simply retried. `already`:
        the answers AWS gives when the change was made before (a lost answer, an
        earlier attempt), each with its `confirm` read of what is in place: True, the change
        we want (our VPC, our gateway): done; False, someone else's: PermanentFailure;
        None, nothing visible yet (EC2's reads lag behind its writes): the call is
        repeated after a wait, and a TransientFailure when the attempts run out.
        One lagging read never makes a request fail. `fresh`: what the call names
        was made moments ago, so NotFound is EC2's lag. Fenced. Raises
        PermanentFailure, TransientFailure or LeaseLost.
        """
        last: BaseException | None = None
        for attempt in range(1, self._attempts + 1):
            self._fence()
            try:
                call()
                self._fence()
                return
            except (ClientError, BotoCoreError) as exc:
                last = exc
                code, fault = error_code(exc), classify(exc)
                delay = self._backoff.delay(attempt)
                answer = next((a for a in already if a.answered(exc)), None)
                if answer is not None:
                    seen = self.read(f"{operation} (check)", answer.confirm)
                    if seen is True:
                        return
                    if seen is False:
                        raise PermanentFailure(code, error_message(exc)) from exc
                    # Done, says EC2; not visible yet, says its read: look again later.
                    delay = max(delay, self._lookup_delay)
                elif not is_lag(fault, code, fresh) and fault in FINAL:
                    raise PermanentFailure(code, error_message(exc)) from exc
                logger.warning("%s attempt %d failed (%s)", operation, attempt, code)
                if attempt < self._attempts:
                    self._wait(delay)
        assert last is not None
        raise TransientFailure(error_code(last), f"{operation}: {error_message(last)}")

    def read(self, operation: str, call: Callable[[], T]) -> T:
        """A read-only call, retried in place on anything but a permanent error.

        Raises PermanentFailure or TransientFailure.
        """
        for attempt in range(1, self._attempts + 1):
            try:
                return call()
            except (ClientError, BotoCoreError) as exc:
                if classify(exc) is Fault.PERMANENT:
                    raise PermanentFailure(error_code(exc), error_message(exc)) from exc
                if attempt == self._attempts:
                    raise TransientFailure(
                        error_code(exc), f"{operation}: {error_message(exc)}"
                    ) from exc
                self._wait(self._backoff.delay(attempt))
        raise AssertionError("unreachable")

    def delete(
        self,
        operation: str,
        call: Callable[[], None],
        gone: Callable[[], bool | None],
        resource_id: str | None = None,
        settling: bool = True,
    ) -> DeleteFailed | None:
        """Delete with retries (deletes are idempotent; "not found" is done). Fenced.

        Returns None only on evidence that the resource is gone: the call answered,
        or answered "not found". A tag-conditioned delete of a resource that is
        already gone may be answered UnauthorizedOperation instead of NotFound;
        but more often that answer means the tag condition failed (the resource is
        not ours to delete), so only `gone`, a by-id read answering "not found",
        makes it done; a read that lists it does not, and one that lists nothing (lagging)
        or fails (throttled) decides nothing: a failure that may clear, tried later.
        `resource_id`: what the call deletes (or detaches, disassociates). If this job
        made it moments ago, "not found" (and UnauthorizedOperation, IAM not seeing its
        tags yet) is EC2's lag, never evidence: retried, then a failure that may clear
        (a later try, once EC2 has caught up, deletes it by id or finds it gone).
        `settling`: something in it was just deleted, so a DependencyViolation may be
        EC2 catching up: retried in place (else answered at once, for the caller to weigh).
        UnauthorizedOperation after an earlier try whose answer was lost (it may have
        deleted the resource, which a read may still list for a moment) is a failure that
        may clear too: tried again, then left for a later try, never a final refusal.
        Returns why not otherwise. Raises LeaseLost.
        """
        fresh = self.fresh(resource_id)
        may_have_run = False
        for attempt in range(1, self._attempts + 1):
            self._fence()
            try:
                call()
                self._gone(resource_id, answered=True)
                return None
            except (ClientError, BotoCoreError) as exc:
                code = error_code(exc)
                fault = classify(exc)
                lag = is_lag(fault, code, fresh)
                proof = (
                    self._proven_gone(gone)
                    if code == "UnauthorizedOperation" and not lag
                    else False
                )
                if (fault is Fault.NOT_FOUND and not lag) or proof is True:
                    self._gone(resource_id, answered=False)
                    return None
                # Refused, and the read by id that could prove it gone did not answer, or
                # listed nothing: it may be gone all the same (deleted by an earlier
                # delivery's lost answer, or by someone else). Such a read proves nothing.
                unread = proof is None
                # Right after its subnets are deleted, a VPC can still report
                # them for a moment: DependencyViolation is worth retrying here, when
                # something in it was just deleted (`settling`).
                settles = settling and code == "DependencyViolation"
                # Refused after a try that may have deleted it: gone, and still listed?
                unseen = may_have_run and code == "UnauthorizedOperation"
                may_have_run = may_have_run or fault is Fault.AMBIGUOUS
                transient = lag or fault is not Fault.PERMANENT or settles or unseen or unread
                if not transient or attempt == self._attempts:
                    message = error_message(exc)
                    if lag:
                        message += " (made moments ago: EC2 may not see it yet; tried later)"
                    elif unseen:
                        message += " (an earlier try may have deleted it: tried later)"
                    elif unread:
                        message += " (whether it is gone could not be told: tried later)"
                    return DeleteFailed(
                        operation,
                        code,
                        message,
                        lag or fault is not Fault.PERMANENT or unseen or unread,
                    )
                self._wait(self._backoff.delay(attempt))
        raise AssertionError("unreachable")

    def _gone(self, resource_id: str | None, answered: bool) -> None:
        if resource_id is not None:
            with self._lock:
                (self._not_found.discard if answered else self._not_found.add)(resource_id)

    def found_not_found(self, resource_ids: Collection[str]) -> set[str]:
        """Of `resource_ids`, those whose last delete here was answered "not found" (or
        UnauthorizedOperation, then a read by id "not found"), not by a delete that ran.
        For an older resource that is evidence it is gone; but EC2's reads lag its writes
        (one made moments ago, by another job, may be "not found" to a delete): a look
        that lists such an id afterwards contradicts the answer, which then proves nothing."""
        with self._lock:
            return self._not_found.intersection(resource_ids)

    def fresh(self, resource_id: str | None) -> bool:
        """Whether `resource_id` was made moments ago (`made`, or by this run): EC2's reads
        may not show it, or its tags, yet."""
        with self._lock:
            return resource_id in self._made

    def _note_made(self, resource_id: str) -> None:
        with self._lock:
            self._made.add(resource_id)

    def mark_uncertain(self) -> None:
        with self._lock:
            self.uncertain = True

    def _proven_gone(self, gone: Callable[[], bool | None]) -> bool | None:
        """True when the read by id answers "not found", False when it lists the resource
        (or is refused for good), None when it lists nothing (EC2 lagging) or could not be
        made (a throttle, a fault that may clear): such a read proves nothing, neither way."""
        try:
            return self.read("Describe", gone)  # pragma: no mutate
        except PermanentFailure:
            return False
        except TransientFailure:
            return None
