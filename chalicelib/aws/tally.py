"""What a teardown (`aws.teardown`) came to: `Removal`, and how its parts add up. Pure.

`deleted` holds only ids whose delete call answered (or answered "not found" for that very
id); `remaining` the request's own ids that did not go, each with its failure; `claimed`
what was found by the request's tag but may be another request's, never deleted and never
this request's. A removal is `complete` only when nothing remains and nothing is unknown
(a lookup failed, or something turned up after the last deletes). Its `report`, what a
record keeps, counts as remaining what may still be the request's (`undecided`): the
next try deletes it by id even if its look by tag lags.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TypeGuard

from chalicelib.aws.faults import DeleteFailed
from chalicelib.errors import PermanentFailure, TransientFailure
from chalicelib.models import DeletionReport
from chalicelib.resource_ids import Resources

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Removal:
    """What a teardown deleted (or found gone), what is still there, and why."""

    deleted: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    failures: tuple[DeleteFailed, ...] = ()
    # A lookup that failed (and AWS's code for it): nothing can be called complete.
    lookup_error: str | None = None
    lookup_code: str = ""
    transient: bool = False
    # Found by tag after the last round of deletes, never tried: a lagging listing (or
    # a late create) leaves the teardown incomplete, but it has not failed.
    unconfirmed: tuple[str, ...] = ()
    # Found by tag but named by another request's record (or not provably by none): never
    # deleted, never this request's (not in `remaining`); the teardown is incomplete.
    claimed: tuple[DeleteFailed, ...] = ()
    # Of `claimed`, the ids whose owner could not be read (OwnerUnknown): maybe this
    # request's, so a record keeps them as remaining.
    undecided: tuple[str, ...] = ()
    # Of `deleted`, what only "not found" answered for (`Teardown.request`; across tries,
    # `with_earlier`).
    not_found: tuple[str, ...] = ()

    @property
    def refusals(self) -> tuple[DeleteFailed, ...]:
        """Deletes that failed, then what was left alone as maybe another request's."""
        return (*self.failures, *self.claimed)

    @property
    def errors(self) -> tuple[str, ...]:
        # Once each: what a VPC's refusal holds back carries that refusal too.
        found = tuple(dict.fromkeys(str(f) for f in self.refusals))
        if self.unconfirmed:
            found = (*found, f"found after the deletes: {', '.join(self.unconfirmed)}")
        return (*found, f"lookup failed: {self.lookup_error}") if self.lookup_error else found

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.errors


@dataclass
class Progress:
    """One pass of deletes as it goes: each id deleted, or remaining with its failure."""

    deleted: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    failures: list[DeleteFailed] = field(default_factory=list)

    def record(self, resource_id: str, failure: DeleteFailed | None) -> None:
        if failure is None:
            self.deleted.append(resource_id)
        else:
            self.remaining.append(resource_id)
            self.failures.append(failure)

    def removal(self) -> Removal:
        if self.failures:
            logger.warning("teardown incomplete: %s", "; ".join(map(str, self.failures)))
        return Removal(
            deleted=tuple(self.deleted),
            remaining=tuple(self.remaining),
            failures=tuple(self.failures),
            transient=any(f.transient for f in self.failures),
        )


def held(failure: DeleteFailed | None) -> TypeGuard[DeleteFailed]:
    """Whether a delete was refused for what still depends on the resource."""
    return failure is not None and failure.code == "DependencyViolation"


def unlooked(removal: Removal, exc: PermanentFailure | TransientFailure) -> Removal:
    """`removal`, incomplete because a lookup by tag failed."""
    return replace(
        removal,
        lookup_error=str(exc),
        lookup_code=exc.code,
        transient=isinstance(exc, TransientFailure) or removal.transient,
    )


def left_alone(
    found: Resources, extra: list[str], reason: str
) -> tuple[Resources, dict[str, DeleteFailed]]:
    """`found` less `extra`, whose owners could not be read: each a failure that may clear."""
    message = f"found by tag, not named by the record; who else names it is unknown ({reason})"
    return Resources.of([i for i in found.all if i not in extra]), {
        i: DeleteFailed("Teardown", "OwnerUnknown", f"{i}: {message}", True) for i in extra
    }


def with_claimed(removal: Removal, left: dict[str, DeleteFailed]) -> Removal:
    """`removal` with what it left alone, by id, as maybe another request's
    (`Ownership.unclaimed`): named by another record, or undecided (a failure that may
    clear: who else names it could not be read)."""
    claimed = tuple(left.values())
    undecided = tuple(i for i, failure in left.items() if failure.transient)
    transient = removal.transient or bool(undecided)
    return replace(removal, claimed=claimed, undecided=undecided, transient=transient)


def with_earlier(removal: Removal, earlier: DeletionReport | None) -> Removal:
    """`removal` with what earlier tries deleted deleted too, and not remaining, but for
    what a look lists again (it remains, as this try did not delete it) after an earlier
    "not found" (that answer may have lagged behind its making). A delete that answered
    stands (a later "not found" for it too): a look that lists what it deleted lags. The
    result's `not_found`: what no delete ever answered for, in this try (`removal.not_found`)
    or an earlier one."""
    now = removal.not_found
    before, doubtful = (earlier.deleted, earlier.not_found) if earlier else ((), ())
    still = tuple(i for i in removal.remaining if i not in before or i in doubtful)
    deleted = tuple(i for i in dict.fromkeys((*before, *removal.deleted)) if i not in still)
    answered = {i for i in before if i not in doubtful} | {
        i for i in removal.deleted if i not in now
    }
    not_found = tuple(i for i in deleted if i not in answered)
    return replace(removal, deleted=deleted, remaining=still, not_found=not_found)


def report(removal: Removal) -> DeletionReport:
    """What a record keeps of a teardown or a rollback: what went, what may remain (the
    request's own ids that did not go, and those whose owner could not be read), why."""
    return DeletionReport(
        not_found=removal.not_found,
        deleted=removal.deleted,
        remaining=(*removal.remaining, *removal.undecided),
        error="; ".join(removal.errors) or None,
    )


def merged(first: Removal, second: Removal) -> Removal:
    """Two rounds of one teardown as one (the second retried all the first had left)."""
    return Removal(
        deleted=tuple(dict.fromkeys((*first.deleted, *second.deleted))),
        remaining=second.remaining,
        failures=second.failures,
        transient=second.transient,
    )
