"""What a teardown's try keeps of the earlier tries' deletions (`tally.with_earlier`), and
the record's note of which of them only "not found" answered for (`not_found`). Pure."""

from __future__ import annotations

from chalicelib.aws.faults import DeleteFailed
from chalicelib.aws.tally import Removal, report, with_earlier
from chalicelib.findings import Orphan
from chalicelib.models import DeletionReport, Status
from chalicelib.resource_ids import gone_for_good
from chalicelib.store.items import item_to_record, record_to_item
from support.records import request_record

ANSWERED, NOT_FOUND, VPC = "subnet-answered", "subnet-notfound", "vpc-1"
EARLIER = DeletionReport(deleted=(ANSWERED, NOT_FOUND), remaining=(VPC,), not_found=(NOT_FOUND,))


def test_a_delete_that_answered_stands_when_a_look_lists_it_again() -> None:
    # This try's look listed both again and could send no delete (they remain).
    kept = with_earlier(Removal(remaining=(ANSWERED, NOT_FOUND, VPC)), EARLIER)
    assert kept.deleted == (ANSWERED,)
    assert kept.remaining == (NOT_FOUND, VPC)  # the "not found" may have lagged
    assert kept.not_found == ()


def test_an_earlier_not_found_stays_noted_until_a_delete_answers_for_it() -> None:
    unlisted = with_earlier(Removal(remaining=(VPC,)), EARLIER)
    assert unlisted.deleted == (ANSWERED, NOT_FOUND)
    assert unlisted.not_found == (NOT_FOUND,)  # still only a "not found"

    answered = with_earlier(Removal(deleted=(NOT_FOUND, VPC)), EARLIER)
    assert answered.not_found == ()
    assert answered.complete

    again = with_earlier(Removal(deleted=(NOT_FOUND, VPC), not_found=(NOT_FOUND,)), EARLIER)
    assert again.not_found == (NOT_FOUND,)


def test_this_tries_not_found_answers_are_noted_and_reach_the_record() -> None:
    removal = with_earlier(Removal(deleted=("subnet-new", VPC), not_found=("subnet-new",)), None)
    assert removal.not_found == ("subnet-new",)
    record = request_record(status=Status.DELETING, teardown=report(removal))
    assert item_to_record(record_to_item(record)).teardown == report(removal)
    assert report(removal).to_api() == {
        "complete": True,
        "deleted": ["subnet-new", VPC],
        "remaining": [],
        "error": None,
    }


def test_a_refusal_that_holds_back_several_ids_is_said_once() -> None:
    """What a VPC's refusal (its tag stripped, say) holds back carries that refusal too: the
    record's error said the same sentence once per id (a black-box review, 2026-12-06)."""
    refusal = DeleteFailed("Teardown", "NotTagged", "vpc-1 lost its RequestId tag", False)
    held = Removal(remaining=("subnet-1", "subnet-2", VPC), failures=(refusal,) * 3)
    assert held.errors == (str(refusal),)
    assert report(held).error == str(refusal)


def test_a_later_not_found_never_makes_an_answered_delete_doubtful() -> None:
    # A lagging look listed the deleted subnet; its second delete answered "not found".
    later = with_earlier(Removal(deleted=(ANSWERED, VPC), not_found=(ANSWERED,)), EARLIER)
    assert later.not_found == (NOT_FOUND,)
    listed_again = with_earlier(Removal(remaining=(ANSWERED, VPC)), report(later))
    assert ANSWERED in listed_again.deleted


def test_an_orphan_noted_removed_that_a_report_says_remains_is_not_gone_for_good() -> None:
    """A try noted it removed on a "not found" (doubted); the next listed it and could not
    delete it: `with_earlier` moves it to `remaining`, its orphan note stays."""
    first = DeletionReport(deleted=(VPC,), remaining=(), not_found=(VPC,))
    second = report(with_earlier(Removal(remaining=(VPC,)), first))
    assert second.remaining == (VPC,)
    assert second.not_found == ()
    record = request_record(
        status=Status.DELETING,
        orphans=[Orphan(VPC, removed_at="2026-12-01T00:00:00Z")],
        teardown=second,
    )

    assert VPC not in gone_for_good(record)
