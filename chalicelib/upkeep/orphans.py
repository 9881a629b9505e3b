"""Which of a request's tagged resources are orphans, and what its record notes of their
removal. Pure: `upkeep.orphan_removal` reads, deletes and writes.

An orphan is old enough (by its creation tag, past the grace period) and referenced by
nothing: not by its own request's record (unless that request keeps nothing: FAILED,
DELETED, CANCELLED), not by any SUCCEEDED record (`named`). A resource whose request has
no record at all is no one's orphan: the table can be younger than what an earlier table
recorded (a stage destroyed and deployed again, a backup restored), and those networks
are the teams' who asked for them; the reconciler leaves them (and says how many). A
request still being worked on (QUEUED, IN_PROGRESS, ROLLING_BACK) or deleted (DELETING,
DELETE_FAILED) has no orphans: its worker or its teardown owns what it made.

What a FAILED record still names (its rollback could not delete it, or could not believe
a "not found") is removed by id too, listed or not, once FAILED is older than the grace
period: nothing of the request is made after FAILED, so a "not found" then is proof. So is
an orphan a run noted and could not remove, whatever the record's status: it was old then.
A FAILED rollback whose look by tag failed, and of which a complete sweep lists nothing,
is noted complete (a note without deletes): the sweep is the look it missed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from chalicelib.aws.ec2 import Tagged
from chalicelib.aws.faults import first_few
from chalicelib.aws.tally import Removal
from chalicelib.clock import epoch_of
from chalicelib.findings import Orphan, merge_orphans
from chalicelib.models import CLAIMABLE_STATUSES, DeletionReport, RequestRecord, Status
from chalicelib.resource_ids import (
    Resources,
    gone_for_good,
    has_ended,
    known_resources,
    only_remaining,
    said_to_remain,
)

# A request in one of these keeps nothing: whatever carries its tags is an orphan.
_KEEPS_NOTHING = frozenset({Status.FAILED, Status.DELETED, Status.CANCELLED})
# The statuses whose orphans are the reconciler's (the others are a worker's).
_RECONCILED = _KEEPS_NOTHING | {Status.SUCCEEDED}


@dataclass(frozen=True)
class Work:
    """One request's removal: its record, what to remove, and what else the run's sweep
    lists of it (too young, or its record's)."""

    request_id: str
    record: RequestRecord
    orphans: Resources
    besides: tuple[str, ...] = ()
    # What the sweep listed with the request's tags (the rest of `orphans` is removed by
    # id: its tags are read first).
    listed: tuple[str, ...] = ()


def work_of(
    requests: list[str],
    found: Mapping[str, RequestRecord],
    absent: Collection[str],
    listed: Mapping[str, list[Tagged]],
    named: frozenset[str],
    now: float,
    grace_seconds: float,
    limit: int,
) -> tuple[list[Work], set[str]]:
    """A run's removals, in the order of `requests` (after the ledger's cursor), at most
    `limit`; and the requests met on the way with nothing left to note. A request whose
    record is not `found` is skipped: unknown, or proven `absent` (nothing of it is removed,
    nor noted)."""
    work: list[Work] = []
    finished: set[str] = set()
    for request_id in requests:
        record = found.get(request_id)
        if record is None:
            if request_id in absent:
                finished.add(request_id)
            continue
        tagged = listed.get(request_id, [])
        orphans = orphans_of(record, tagged, named, now, grace_seconds)
        if not orphans.all:
            if not comes_back(record):
                finished.add(request_id)
                continue
            if tagged or not _found_nothing_left(record, now, grace_seconds):
                continue
            # Nothing to delete, nothing listed: a note completes the rollback.
        besides = tuple(
            t.resource_id
            for t in tagged
            if t.resource_id not in named and t.resource_id not in orphans.all
        )
        listed_ids = tuple(t.resource_id for t in tagged)
        work.append(Work(request_id, record, orphans, besides, listed_ids))
        if len(work) >= limit:
            break
    return work, finished


def orphans_of(
    record: RequestRecord,
    tagged: list[Tagged],
    named: frozenset[str],
    now: float,
    grace_seconds: float,
) -> Resources:
    """The request's resources to remove: those old enough and unreferenced (by their
    request's `record`, and by any other record that
    may hold resources: `named`), and those whose removal was noted before (a run that
    did not finish). What the record notes removed (a delete answered) is gone, listed or
    not: EC2 never reuses an id, so a listing that still shows it lags."""
    if record.status not in _RECONCILED:
        return Resources()  # still its worker's (or its teardown's)
    lost = record.status is Status.FAILED and record.lost_answers
    if lost and not _long_in_its_status(record, now, grace_seconds):
        return Resources()  # a sweep may not show yet all that its lost answers made
    if record.status in _KEEPS_NOTHING:
        referenced: set[str] = set(named)
    else:
        referenced = set(known_resources(record).all) | named
    removed = gone_for_good(record)

    def eligible(resource: Tagged) -> bool:
        return (
            is_old(resource, now, grace_seconds)
            and resource.resource_id not in referenced
            and resource.resource_id not in removed
        )

    def going(resource: Tagged) -> bool:
        return eligible(resource) or resource.resource_id in removed

    # A VPC goes only with everything of the request in it (what is gone already aside).
    vpcs = [
        v.resource_id
        for v in tagged
        if v.resource_id.startswith("vpc-")
        and eligible(v)
        and all(going(t) for t in tagged if t.vpc_id == v.resource_id)
    ]
    others = [t.resource_id for t in tagged if not t.resource_id.startswith("vpc-") and eligible(t)]
    noted_before = [i for i in intents(record) if i not in referenced]
    # What the sweep does not list and the record says may be there; a VPC only when
    # everything listed in it goes too.
    kept = {t.resource_id for t in tagged} | {t.vpc_id for t in tagged if not going(t)}
    unlisted = [
        i
        for i in _unlisted_names(record, now, grace_seconds)
        if i not in referenced and i not in kept
    ]
    return Resources.of([*vpcs, *others, *noted_before, *unlisted])


def _unlisted_names(record: RequestRecord, now: float, grace_seconds: float) -> tuple[str, ...]:
    """What a run removes by id, listed or not, once the record has been in its status for
    longer than the grace period: the orphans not noted removed (an earlier run's, old
    when it tried, or a creation's duplicate whose delete answered only "not found",
    made moments before: by then old, its "not found" proof); and what a FAILED record
    names (gone after all, removed by a person, still there): nothing of the request is
    made after it."""
    if not _long_in_its_status(record, now, grace_seconds):
        return ()
    if record.status is not Status.FAILED:
        return tuple(o.id for o in record.orphans if o.removed_at is None)
    named = known_resources(record)
    return (named + said_to_remain(record, named)).all


def _long_in_its_status(record: RequestRecord, now: float, grace_seconds: float) -> bool:
    """In its status (FAILED, SUCCEEDED, ...) for longer than the grace period (a record from
    before `history`: by its last write, later still)."""
    at = next((c.at for c in reversed(record.history) if c.status is record.status), None)
    since = epoch_of(at or record.updated_at)
    return since is not None and now - since > grace_seconds


def _found_nothing_left(record: RequestRecord, now: float, grace_seconds: float) -> bool:
    """A FAILED record, long ago, that names nothing and says nothing remains, but whose
    rollback is incomplete all the same (its look by tag failed), or after a lost answer
    (a create may have run unseen): when the run's sweep lists nothing of it either, a note
    completes it (and its block is free)."""
    return (
        record.status is Status.FAILED
        and (record.lost_answers or (record.rollback is not None and not record.rollback.complete))
        and _long_in_its_status(record, now, grace_seconds)
        and not (known_resources(record) + said_to_remain(record, Resources())).all
    )


def comes_back(record: RequestRecord) -> bool:
    """Whether a later run must read this record again, even once EC2 lists nothing of it:
    an orphan a run noted and did not remove (or finish removing), a FAILED request that
    still names something, or a request that may still become FAILED (its worker puts it on
    the ledger before writing FAILED: a run that read it before that must not take it off)."""
    if record.status in CLAIMABLE_STATUSES:
        return True
    if any(o.removed_at is None for o in record.orphans):
        return True
    return record.status is Status.FAILED and not has_ended(record)


def is_old(resource: Tagged, now: float, grace_seconds: float) -> bool:
    """Older than the grace period, by its creation tag (none: never guessed old)."""
    return resource.created_at is not None and now - resource.created_at > grace_seconds


def after(ids: list[str], cursor: str) -> list[str]:
    """`ids` (sorted) from the first one after `cursor`, wrapping around."""
    return [i for i in ids if i > cursor] + [i for i in ids if i <= cursor]


def intents(record: RequestRecord) -> list[str]:
    """The ids whose removal a run noted and did not finish."""
    return [o.id for o in record.orphans if o.removing]


def intended(record: RequestRecord, ids: tuple[str, ...]) -> RequestRecord:
    """The record noting that `ids` are about to be removed (nothing else changes); one it
    notes not removed yet stays as noted: that is the intent already (a later run removes
    it by id, `_unlisted_names`)."""
    noted = {o.id for o in record.orphans if o.removed_at is None}
    news = [Orphan(i, removing=True) for i in ids if i not in noted]
    return replace(record, orphans=merge_orphans(record.orphans, news))


def noted(
    record: RequestRecord, removal: Removal, now: str, besides: tuple[str, ...] = ()
) -> RequestRecord:
    """The record after a removal: removed ids with their time (only on a delete's answer),
    the others with the error; a FAILED record names only what remains.

    A FAILED record's rollback is complete only if nothing is left of the request: none
    of this removal, and nothing `besides` in the run's sweep (its complete look by tag,
    which then stands in for a rollback's look that failed). While the sweep lists more
    (too young to remove yet), the rollback is not complete, and its addresses held."""
    error = "; ".join(removal.errors) or None
    orphans = merge_orphans(
        record.orphans,
        [Orphan(i, removed_at=now) for i in removal.deleted]
        + [Orphan(i, error=error or "not removed") for i in removal.remaining],
    )
    if record.status is not Status.FAILED:
        return replace(record, orphans=orphans)
    gone = set(removal.deleted)
    previous = record.rollback or DeletionReport(deleted=(), remaining=())
    remaining = tuple(i for i in previous.remaining if i not in gone) + tuple(
        i for i in removal.remaining if i not in previous.remaining
    )
    if remaining:
        rollback_error = error
    elif besides:
        rollback_error = f"{first_few(list(besides))} still listed, not yet old enough to remove"
    else:
        rollback_error = None
    return replace(
        only_remaining(record, set(known_resources(record).all) - gone),
        orphans=orphans,
        rollback=replace(previous, remaining=remaining, error=rollback_error),
        # Nothing left, nothing else listed: the complete sweep of a request FAILED long
        # ago (`orphans_of`) shows all that a lost answer made, and it is gone.
        lost_answers=record.lost_answers and bool(remaining or besides),
    )
