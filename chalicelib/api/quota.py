"""The per-user limit on live requests (MAX_LIVE_REQUESTS_PER_USER), for POST /vpcs.

A user's live requests are the ids in their quota item (store/quota.py): a POST
takes a place there in the same transaction that stores the request, so
concurrent POSTs never get past the limit. When the set is full, the records of
its ids are read (one BatchGetItem) and the ended ones (CANCELLED, DELETED,
FAILED with nothing left) are taken out; only if none has ended is the POST a
429. A record that cannot be read right now counts as live: with none ended among the
rest, the POST is a 503 to retry, not a 429 that may be false. Admins, and every
user when the limit is 0, take no place at all (an admin's POST, and a user's first
POST in a process under no limit, mark their set unseeded in its transaction: no call
more); so the first limited POST of a user whose set is not seeded puts their live
requests in it first (`seed`).
"""

from __future__ import annotations

import logging

from chalicelib.api.auth import is_admin
from chalicelib.errors import BackendUnavailable, QuotaExceeded, backend
from chalicelib.models import Caller, RequestRecord
from chalicelib.resource_ids import has_ended
from chalicelib.store.api import RequestStore
from chalicelib.store.listing import by_creator
from chalicelib.store.quota import Quota, QuotaFull

logger = logging.getLogger(__name__)

SEED_PAGE = 1000  # records a page of the by-creator index holds while seeding


class LiveRequestLimit:
    def __init__(self, store: RequestStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        # The users whose set this process marked unseeded (or a POST is marking) under no limit.
        self._unseeded: set[str] = set()

    def place_for(self, caller: Caller) -> Quota | None:
        """The quota a POST of `caller` takes a place in: of 0 for an admin (exempt: its
        transaction marks their set unseeded, store/quota.py); with no limit, None, but for
        the user's first POST in this process, of 0 too (once their set is marked, it
        stays so until a limited POST seeds it: `settle`)."""
        if self._limit > 0:
            return Quota(caller.sub, 0 if is_admin(caller) else self._limit)
        if caller.sub in self._unseeded:
            return None
        self._unseeded.add(caller.sub)  # the POSTs meanwhile need not mark it again
        return Quota(caller.sub, 0)

    def settle(self, quota: Quota | None, stored: bool) -> None:
        """After a POST with `quota`: under no limit, a mark whose transaction was not
        `stored` (a replay, a failure) is left to the user's next POST."""
        if quota and self._limit <= 0 and not stored:
            self._unseeded.discard(quota.owner)

    def after_full(self, quota: Quota, full: QuotaFull, seeded: bool) -> bool:
        """A POST's place was refused: True when it may try again (the set was seeded, once
        per POST: `seeded` says whether this POST did already; or ended requests were taken
        out of it), False when another POST of the owner's was writing the set (busy).
        Raises QuotaExceeded (nothing in the set has ended), or BackendUnavailable."""
        if full.seeded:
            # Again after each give-back that took something out: one takes out 99 at most,
            # and a set seeded with a user's earlier requests may hold more.
            taken = self._make_room(quota, full.live)
            if taken == 0:
                raise self._exceeded(full.live)
            return taken is not None
        if seeded:
            return False  # seeded, and the item still says not (an emulator's answer): busy
        return backend(lambda: self._seed(quota.owner))

    def _seed(self, owner: str) -> bool:
        """Put the owner's live requests, made while no limit counted them, in their set
        (every page of the by-creator index; a record that has not ended counts); False
        when another POST's transaction was writing the set."""
        live: list[str] = []
        start = None
        while True:
            page, start = self._store.list_page(SEED_PAGE, start, by_creator(owner))
            live += [r.request_id for r in page if not has_ended(r)]
            if start is None:
                break
        if not self._store.seed_quota(owner, live):
            return False
        logger.info("seeded the live set of %s: %d request(s)", owner, len(live))
        return True

    def _make_room(self, quota: Quota, live: frozenset[str]) -> int | None:
        """Take the ended requests out of the owner's full set; how many were taken out
        (None: another POST of the owner's was writing the set, or those records were
        written since read: busy, read again). Raises BackendUnavailable if DynamoDB
        failed."""
        read = backend(lambda: self._store.records(live))
        ended: dict[str, RequestRecord | None] = {
            r: record for r, record in read.found.items() if has_ended(record)
        }
        ended.update(dict.fromkeys(read.absent))
        if not ended:
            if read.unknown:  # perhaps ended: a 429 could be false
                raise BackendUnavailable(
                    "Your live requests could not all be read; retry with the same Idempotency-Key."
                )
            return 0
        # Each only while its record is as read: one a DELETE made live again stays counted.
        taken = backend(lambda: self._store.give_back(quota.owner, ended))
        if taken is None:
            return None
        logger.info("%d ended request(s) left the live set of %s", len(taken), quota.owner)
        return len(taken) or None

    def _exceeded(self, live: frozenset[str]) -> QuotaExceeded:
        return QuotaExceeded(
            f"You have {len(live)} live request{'' if len(live) == 1 else 's'} and a user "
            f"may have {self._limit}: "
            "DELETE one you no longer need (a QUEUED one is cancelled at once, "
            "a SUCCEEDED one torn down), or wait for one to fail; "
            "'vpcctl list --mine' lists yours."
        )
