"""What the reconciler may remove of a FAILED request that EC2 no longer lists, and which
requests it must read again (chalicelib/upkeep/orphans.py): pure, no AWS.

A FAILED record that still names something is removed by id, listed or not, once FAILED
is older than the grace period (nothing of the request is made after FAILED: a "not
found" is then proof); before that, a "not found" may be EC2's lag, and nothing is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.aws.ec2 import Tagged
from chalicelib.clock import epoch_of, iso_timestamp
from chalicelib.findings import Orphan
from chalicelib.models import DeletionReport, RequestRecord, Status, StatusChange
from chalicelib.upkeep.orphans import _found_nothing_left, comes_back, orphans_of
from support.records import REQUEST_ID, request_record

VPC, SUBNET = "vpc-1", "subnet-1"
GRACE = 900.0
FAILED_AT = "2026-12-01T10:00:00Z"
T = epoch_of(FAILED_AT) or 0.0


def failed(**changes: Any) -> RequestRecord:
    """A FAILED request whose rollback could not delete its VPC (a subnet went)."""
    was = {
        "status": Status.FAILED,
        "created_at": "2026-12-01T09:59:00Z",
        "updated_at": FAILED_AT,
        "vpc_id": VPC,
        "rollback": DeletionReport(
            deleted=(SUBNET,), remaining=(VPC,), error="DependencyViolation"
        ),
        "history": (
            StatusChange(Status.QUEUED, "2026-12-01T09:59:00Z"),
            StatusChange(Status.ROLLING_BACK, "2026-12-01T09:59:30Z"),
            StatusChange(Status.FAILED, FAILED_AT),
        ),
    }
    return request_record(**{**was, **changes})


def removed(record: RequestRecord, at: float, tagged: list[Tagged] | None = None) -> set[str]:
    return set(orphans_of(record, tagged or [], frozenset(), at, GRACE).all)


def test_what_a_failed_record_names_goes_by_id_once_failed_is_older_than_the_grace() -> None:
    assert removed(failed(), T + GRACE + 1) == {VPC}


def test_nothing_goes_by_id_until_failed_is_older_than_the_grace_the_last_second_included() -> None:
    assert removed(failed(), T + GRACE - 60) == set()
    assert removed(failed(), T + GRACE) == set()


def test_the_grace_runs_from_failed_not_from_the_rollback_that_began_long_before() -> None:
    """A rollback held up for an hour (ROLLING_BACK, retried), then FAILED a minute ago:
    what it names may have been deleted moments ago, its "not found" still lag."""
    record = failed(
        history=(
            StatusChange(Status.ROLLING_BACK, iso_timestamp(T - 3600)),
            StatusChange(Status.FAILED, iso_timestamp(T + GRACE)),
        )
    )

    assert removed(record, T + GRACE + 60) == set()


def test_a_record_from_before_history_counts_from_its_last_write() -> None:
    old = failed(history=(), updated_at=FAILED_AT)

    assert removed(old, T + GRACE + 1) == {VPC}
    assert removed(old, T + 60) == set()


def test_what_a_succeeded_record_names_is_never_removed_by_id() -> None:
    assert set(orphans_of(failed(), [], frozenset({VPC}), T + GRACE + 1, GRACE).all) == set()


def test_a_listed_vpc_keeps_the_listings_rules_and_goes_only_with_what_is_young_in_it() -> None:
    """Listed, it is the sweep's: its age is its creation tag's. Unlisted, it still waits
    while something listed in it is younger than the grace period."""
    young_subnet = Tagged("subnet-2", REQUEST_ID, T + GRACE, VPC)
    young_vpc = Tagged(VPC, REQUEST_ID, T + GRACE, VPC)

    assert removed(failed(), T + GRACE + 1, [young_subnet]) == set()
    assert removed(failed(), T + GRACE + 1, [young_vpc]) == set()


def test_an_orphan_a_failed_record_notes_unremoved_goes_by_id_too() -> None:
    record = failed(orphans=[Orphan("vpc-2", error="DependencyViolation")])

    assert removed(record, T + GRACE + 1) == {VPC, "vpc-2"}


def test_a_later_run_comes_back_to_what_may_still_change_and_to_nothing_else() -> None:
    nothing_left = failed(vpc_id=None, rollback=DeletionReport(deleted=(SUBNET, VPC), remaining=()))

    assert comes_back(failed())  # names a VPC
    for may_still_fail in (Status.QUEUED, Status.IN_PROGRESS, Status.ROLLING_BACK):
        assert comes_back(replace(nothing_left, status=may_still_fail))  # FAILED may follow
    assert comes_back(replace(nothing_left, orphans=[Orphan("vpc-2", removing=True)]))
    not_removed = [Orphan("vpc-2", error="DependencyViolation")]
    assert comes_back(replace(nothing_left, status=Status.DELETED, orphans=not_removed))
    assert not comes_back(nothing_left)
    assert not comes_back(replace(nothing_left, status=Status.SUCCEEDED))
    assert not comes_back(replace(nothing_left, status=Status.DELETED))


def test_a_removal_noted_and_unfinished_is_sent_again_though_ec2_lists_it_no_more() -> None:
    """A run noted it, deleted, and lost its last note: the next one sends the delete again
    (gone answers "not found") to finish the note, before any grace, whatever the status."""
    succeeded = failed(
        status=Status.SUCCEEDED, rollback=None, orphans=[Orphan("vpc-2", removing=True)]
    )

    assert removed(succeeded, T + 1) == {"vpc-2"}
    assert removed(replace(succeeded, status=Status.FAILED), T + 1) == {"vpc-2"}


def test_a_removal_noted_of_what_its_own_succeeded_record_names_is_never_sent() -> None:
    record = failed(status=Status.SUCCEEDED, rollback=None, orphans=[Orphan(VPC, removing=True)])

    assert removed(record, T + GRACE + 1) == set()


def test_a_sweep_completes_a_failed_record_only_after_a_rollback_unlooked_or_lost_answer() -> None:
    """`_found_nothing_left`: a FAILED record long ago, naming nothing, is completed by a
    sweep that lists nothing of it only when its rollback could not look, or after a lost
    answer; one with no rollback at all (it failed before making anything) or a complete
    one has nothing to complete."""
    later = T + GRACE + 1
    nothing = {"vpc_id": None}
    incomplete = DeletionReport(deleted=(), remaining=(), error="LookupFailed")
    assert _found_nothing_left(failed(**nothing, rollback=incomplete), later, GRACE)
    assert _found_nothing_left(failed(**nothing, rollback=None, lost_answers=True), later, GRACE)
    assert not _found_nothing_left(failed(**nothing, rollback=None), later, GRACE)
    complete = DeletionReport(deleted=(VPC,), remaining=())
    assert not _found_nothing_left(failed(**nothing, rollback=complete), later, GRACE)
