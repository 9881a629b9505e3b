"""DELETE's teardown: removes exactly what a request made, then records DELETED.

The API has recorded DELETING and sent a delete job; the worker claims the
DELETING request (a lease, as for creation) and:

1. tears down what the record names and whatever carries the request's tags
   in this deployment (route table associations, route tables, the internet
   gateway, subnets, the VPC), fenced by the lease and idempotent; a deletion
   counts only on a delete's answer (`aws.teardown`). The teardown first checks
   the VPCs for network interfaces: this service never makes any, so any is
   someone else's (an instance, a load balancer). Deleting would fail half way
   and leave them without their gateway: nothing is deleted, and the record
   says DELETE_FAILED, naming them. A later DELETE tries again;
2. records DELETED only when the look by tag after the deletes found nothing
   that did not answer a delete; DELETE_FAILED with AWS's code and message and
   what is still there when AWS refused; and stays DELETING for the next
   delivery (the reaper's, after the last receive) when a failure may clear by
   itself, or when EC2's listings still show something new: a lagging read
   ends a teardown in neither DELETED nor DELETE_FAILED. Every write is
   conditional on the version this claim left (no stale DELETE_FAILED over a
   newer DELETE).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from chalicelib.aws.tally import Removal, report, with_earlier
from chalicelib.aws.teardown import Teardown
from chalicelib.clock import Clock, iso_timestamp
from chalicelib.errors import LeaseLost, PermanentFailure, TransientFailure
from chalicelib.models import ErrorInfo, RequestRecord, Status
from chalicelib.resource_ids import (
    Resources,
    gone_for_good,
    known_resources,
    only_remaining,
    settled,
    unanswered,
)
from chalicelib.worker.lease import Lease
from chalicelib.worker.results import RETRIES_EXHAUSTED, Done, RunResult, Stopped, Transient

logger = logging.getLogger(__name__)


class DeleteJob:
    """Deletes one claimed DELETING request's resources. Never raises for AWS failures."""

    def __init__(
        self,
        record: RequestRecord,
        lease: Lease,
        teardown: Teardown,
        clock: Clock,
        looks_may_lag: bool = False,
    ) -> None:
        self._record = record
        self._lease = lease
        self._teardown = teardown
        self._clock = clock
        # Whether its creation lost an answer and ended less than DRIFT_SETTLE_SECONDS ago:
        # a look by tag that finds nothing proves nothing yet (a VPC it made may not be
        # listed, and DELETED would free that VPC's CIDR for the next POST).
        self._looks_may_lag = looks_may_lag

    def run(self, final: bool) -> RunResult:
        """Delete and record the outcome. `final`: the last try (the message's last
        receive, or the request's last attempt)."""
        record = self._record
        gone, known, recorded = self._left()
        try:
            self._lease.check()
            # The proof: the user asked (this claim found the record DELETING, which only
            # DELETE writes), the lease is checked before every delete, and nothing in the
            # VPCs is someone else's (no interface: `Teardown.remove` reads that first, and
            # deletes nothing if there is one). Recorded deleted: what answered. What
            # the record says remains is deleted by id too (a lagging look proves nothing),
            # and only once no other request's record names it (SUCCEEDED, or at work).
            # Only what still carries the request's tags: one a person untagged is left.
            removal = self._teardown.request(
                record.request_id,
                known,
                network=True,
                recorded=recorded,
                tags_checked=True,
                gone=gone,
            )
            removal = with_earlier(removal, record.teardown)
        except LeaseLost:
            return Stopped("the lease was lost")
        except PermanentFailure as failure:
            return self._failed(ErrorInfo(failure.code, failure.message), self._untried())
        except TransientFailure as failure:
            if not final:
                return Transient(failure.code, failure.message)
            return self._failed(
                ErrorInfo(RETRIES_EXHAUSTED, f"{failure.code}: {failure.message}"),
                self._untried(),
            )
        if removal.complete and not self._looks_may_lag:
            return self._write(
                replace(
                    only_remaining(self._settled(removal), set()),
                    status=Status.DELETED,
                    error=None,
                    teardown=report(removal),
                )
            )
        if removal.complete or removal.unconfirmed or (removal.transient and not final):
            # EC2's listings lag (or may, so soon after a lost answer: a VPC it made may not
            # be listed yet, and DELETED would free its CIDR for the next POST): neither
            # DELETED nor DELETE_FAILED on what they show (on the last receive the reaper
            # sends the request again). What this try could
            # not delete is written first, still DELETING: the next try's look by tag may
            # not list it, and must not call it gone.
            # A teardown that deleted everything did not fail: the tries that may die after it
            # (give_up past MAX_ATTEMPTS) count from none.
            held = replace(self._settled(removal), teardown=report(removal))
            if removal.complete:
                held = replace(held, attempts=0)
            stopped = self._lease.transition(held, Status.DELETING)
            return stopped or Transient("DeleteIncomplete", "; ".join(removal.errors))
        first = removal.refusals[0] if removal.refusals else None
        # AWS's code for what refused for good (a delete, else a lookup): what to fix.
        code = RETRIES_EXHAUSTED
        if not removal.transient:
            code = first.code if first else removal.lookup_code or code
        message = first.message if first else "; ".join(removal.errors)
        return self._failed(
            ErrorInfo(code, f"{message}{_still_present(removal)}"),
            removal,
        )

    def give_up(self, tries: int) -> RunResult:
        """DELETE_FAILED without another try: what the record names may remain, but for
        what the earlier tries deleted (kept in the record's report: said deleted still,
        never said to remain)."""
        return self._failed(
            ErrorInfo(RETRIES_EXHAUSTED, f"{tries} teardown(s) tried, none finished"),
            self._untried(),
        )

    def _untried(self) -> Removal:
        """What the record names may remain, but for what earlier tries deleted (kept, with
        which of those only "not found" answered for)."""
        _, known, recorded = self._left()
        return with_earlier(Removal(remaining=(known + recorded).all), self._record.teardown)

    def _left(self) -> tuple[set[str], Resources, Resources]:
        """What a delete answered for, in this DELETE's tries, the rollback's or the
        reconciler's (`gone_for_good`: EC2 never reusing an id, neither tried again nor said
        to remain again);
        and, but for what this DELETE's tries deleted, the ids the record names and those it
        says may remain besides (a look by tag that misses them, EC2's reads lagging, must
        not end in DELETED with them still there)."""
        record = self._record
        earlier = record.teardown.answered if record.teardown else ()
        return gone_for_good(record), *unanswered(record, earlier, known_resources(record))

    def _failed(self, error: ErrorInfo, removal: Removal) -> RunResult:
        record = replace(
            only_remaining(self._settled(removal), set(removal.remaining)),
            status=Status.DELETE_FAILED,
            error=error,
            teardown=report(removal),
        )
        logger.warning("request %s: delete failed: %s", record.request_id, error)
        return self._write(record)

    def _settled(self, removal: Removal) -> RequestRecord:
        """The record with what this teardown deleted no longer said to remain."""
        return settled(self._record, removal.deleted, iso_timestamp(self._clock()))

    def _write(self, record: RequestRecord) -> RunResult:
        return self._lease.transition(record, Status.DELETING) or Done(record)


def _still_present(removal: Removal) -> str:
    """What of the request is left, as the error's tail (nothing: none)."""
    others = f", {len(removal.claimed)} of another request's left alone" if removal.claimed else ""
    return f" (still present: {', '.join(removal.remaining) or 'none of its own'}{others})"
