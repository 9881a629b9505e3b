"""MAX_LIVE_REQUESTS_PER_USER: a POST over the limit is a 429 saying how many are live and
how to free one; admins are exempt, replays never refused, concurrent POSTs never get
past it, and an ended request frees its place exactly once."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.models import Operation, Status
from chalicelib.store.admission import KeyBusy
from chalicelib.store.api import NotMoved
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, body, deliver, live_set, post, record, set_fields
from support.tokens import auth

LIMIT = 3


@pytest.fixture
def limited(settings: Settings, reconfigure: Any) -> Services:
    services: Services = reconfigure(settings, max_live_requests_per_user=LIMIT)
    return services


def _post_as(client: Client, sub: str, key: str | None = None, **claims: Any) -> Any:
    return client.http.post(
        "/vpcs",
        headers={
            **auth(sub=sub, username=sub, **claims),
            "Content-Type": "application/json",
            "Idempotency-Key": key or str(uuid.uuid4()),
        },
        body=json.dumps(body()),
    )


def _fill(client: Client) -> list[str]:
    ids = []
    for _ in range(LIMIT):
        response = post(client, body())
        assert response.status_code == 202, response.body
        ids.append(response.json_body["request_id"])
    return ids


def test_a_post_over_the_limit_is_429_saying_how_many_are_live_and_how_to_free_one(
    client: Client, stack: Stack, limited: Services
) -> None:
    ids = _fill(client)

    response = post(client, body())

    assert response.status_code == 429
    assert response.json_body["Code"] == "QuotaExceeded"
    message = response.json_body["Message"]
    assert f"{LIMIT} live requests" in message
    assert "DELETE" in message
    assert live_set(stack, "user-1") == set(ids)
    assert len(stack.messages()) == LIMIT  # nothing queued for the refused one


def test_a_replay_at_the_limit_is_never_refused(
    client: Client, stack: Stack, limited: Services
) -> None:
    first = post(client, body(), key="k-1")
    for _ in range(LIMIT - 1):
        post(client, body())

    again = post(client, body(), key="k-1")

    assert again.status_code == 202
    assert again.json_body["request_id"] == first.json_body["request_id"]


def test_admins_are_exempt_and_other_users_have_their_own_places(
    client: Client, stack: Stack, limited: Services
) -> None:
    _fill(client)

    admins: dict[str, Any] = {"cognito:groups": ["admins"]}
    for _ in range(LIMIT + 1):
        assert _post_as(client, "admin-1", **admins).status_code == 202
    assert _post_as(client, "user-2").status_code == 202
    assert live_set(stack, "admin-1") == set()


def test_a_cancelled_request_frees_its_place(
    client: Client, stack: Stack, limited: Services
) -> None:
    ids = _fill(client)
    cancelled = client.http.request("DELETE", f"/vpcs/{ids[0]}", headers=auth())
    assert cancelled.json_body["status"] == "CANCELLED"

    response = post(client, body())

    assert response.status_code == 202
    assert live_set(stack, "user-1") == {*ids[1:], response.json_body["request_id"]}


def test_a_failed_request_counts_while_something_is_left_and_not_once_nothing_is(
    client: Client, stack: Stack, limited: Services
) -> None:
    ids = _fill(client)
    # Provisioned, then marked FAILED by hand: its VPC is still there.
    deliver(client, ids[0])
    _set(stack, ids[0], "FAILED")
    assert post(client, body()).status_code == 429

    _set(stack, ids[0], "FAILED", clear_ids=True)

    assert post(client, body()).status_code == 202


def test_a_failed_request_made_live_again_by_delete_takes_its_place_back(
    client: Client, stack: Stack, limited: Services, clock: Any, settings: Settings
) -> None:
    """A FAILED request that names nothing after a lost answer still counts (a create may
    have run unseen: the reconciler makes sure, then frees it). One whose place was given
    back all the same (a record from before 2026-12-06, when it counted as ended) is made
    live again by its DELETE, a teardown (DELETING: it may find what a lost create made):
    that move puts it back into the set in the same transaction, so the limit counts it
    until its teardown ends; DELETED, it leaves the set again."""
    ids = _fill(client)
    # Failed with nothing left by its record, after a lost answer (never provisioned here).
    set_fields(stack, ids[0], status="FAILED", lost_answers=True)
    assert post(client, body()).status_code == 429  # it may hold what a lost create made
    store = limited.submissions._limit._store
    assert store.give_back("user-1", {ids[0]: store.get(ids[0])}) == frozenset({ids[0]})  # before

    deleted = client.http.request("DELETE", f"/vpcs/{ids[0]}", headers=auth())

    assert deleted.json_body["status"] == "DELETING"
    assert live_set(stack, "user-1") == set(ids)
    assert post(client, body()).status_code == 429  # three live at a limit of three
    clock.advance(settings.drift_settle_seconds + 1)  # EC2's looks caught up
    deliver(client, ids[0], operation=Operation.DELETE)
    assert record(client, ids[0])["status"] == "DELETED"
    room = post(client, body())
    assert room.status_code == 202, room.body  # DELETED: its place is given back
    assert live_set(stack, "user-1") == {*ids[1:], room.json_body["request_id"]}


def _a_post_making_room_while(
    client: Client, stack: Stack, limited: Services, ended: dict[str, Any], write: Any
) -> tuple[list[str], Any]:
    """A POST at the limit whose set holds a request ended as `ended` says (fields of its
    record), which `write(ids[0])` writes again between the POST's reads of the set's
    records and its give back. The set's ids and the POST's answer."""
    ids = _fill(client)
    set_fields(stack, ids[0], **ended)
    store = limited.submissions._limit._store
    records = store.records
    written: list[bool] = []

    def records_then_write(request_ids: Any) -> Any:
        read = records(request_ids)
        if not written:
            written.append(write(ids[0]))
        return read

    store.records = records_then_write  # type: ignore[method-assign]
    try:
        answer = post(client, body())
    finally:
        del store.records
    assert written == [True], "the write between the reads and the give back did not land"
    return ids, answer


def test_a_delete_making_a_request_live_between_a_post_reading_it_ended_and_its_give_back(
    client: Client, stack: Stack, limited: Services
) -> None:
    """A POST at the limit finds one request ended (FAILED, an answer lost: perhaps
    something left); before it gives that place back, the owner's DELETE makes it live again
    (DELETING). The give back is conditional on each record being as read: that one stays
    in the set, and the POST, reading it afresh, is refused (a review found the place
    given back to a request a DELETE had made live again, 2026-12-06)."""

    def delete(request_id: str) -> bool:
        deleted = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
        return bool(deleted.json_body["status"] == "DELETING")

    ids, refused = _a_post_making_room_while(
        client, stack, limited, {"status": "FAILED", "lost_answers": True}, delete
    )

    assert refused.status_code == 429, refused.body
    assert live_set(stack, "user-1") == set(ids)


@pytest.mark.parametrize(
    ("ended", "how"),
    [("FAILED", "the owner's DELETE: DELETED"), ("CANCELLED", "a note: a new version")],
)
def test_a_request_written_again_still_ended_while_a_post_makes_room_makes_room(
    client: Client, stack: Stack, limited: Services, ended: str, how: str
) -> None:
    """The same when the write leaves it ended: the give back refused for a version that
    moved is no "nothing ended" (a review: 429 "You have 3 live requests" with two live);
    the POST reads the record again and gives its place back (docs/api.md: over the limit
    only when it would give the user more live requests)."""

    def write_again(request_id: str) -> bool:
        if ended == "FAILED":
            deleted = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
            return bool(deleted.json_body["status"] == "DELETED")
        set_fields(stack, request_id, status="CANCELLED")
        return True

    ids, accepted = _a_post_making_room_while(
        client, stack, limited, {"status": ended}, write_again
    )

    assert accepted.status_code == 202, accepted.body
    assert live_set(stack, "user-1") == {*ids[1:], accepted.json_body["request_id"]}


@pytest.mark.parametrize("limit", [0, 1])
def test_delete_puts_a_place_back_at_any_limit_and_without_one_takes_none(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, limit: int
) -> None:
    """At a limit of one, as at three: the FAILED request DELETE makes live again counts
    (its place given back as a record from before 2026-12-06 had it). Without a limit
    nothing is counted, so nothing is put back (no quota item at all)."""
    services = reconfigure(settings, max_live_requests_per_user=limit)
    first = post(client, body()).json_body["request_id"]
    set_fields(stack, first, status="FAILED", lost_answers=True)
    store = services.submissions._store
    if limit:
        assert store.give_back("user-1", {first: store.get(first)}) == frozenset({first})

    deleted = client.http.request("DELETE", f"/vpcs/{first}", headers=auth())

    assert deleted.json_body["status"] == "DELETING"
    assert live_set(stack, "user-1") == ({first} if limit else set())


def test_a_move_that_puts_a_place_back_is_refused_whole_on_a_moved_record(
    client: Client, stack: Stack, limited: Services
) -> None:
    """The move and the place are one transaction: when the record moved on since it was
    read, neither lands, and DELETE gets the record as it is (to decide again)."""
    ids = _fill(client)
    store = limited.deletes._store
    read = store.get(ids[0])
    assert read is not None
    set_fields(stack, ids[0], status="FAILED")  # moved on: a newer version
    store.give_back("user-1", {ids[0]: store.get(ids[0])})

    answer = store.move(
        ids[0], Status.DELETING, (Status.FAILED,), 0.0, read=read, place_of="user-1"
    )

    assert isinstance(answer, NotMoved)
    assert answer.record is not None
    assert (answer.record.status, answer.record.version) == (Status.FAILED, read.version + 1)
    assert ids[0] not in live_set(stack, "user-1")


def test_each_transaction_of_a_post_has_a_token_of_its_own(
    client: Client, stack: Stack, limited: Services
) -> None:
    """The POST's transactions after the first (room made, a block or the key busy) are
    new calls: each has a ClientRequestToken of its own (DynamoDB must not answer one with
    an earlier one's outcome); botocore's own retries of one call keep that call's."""
    ids = _fill(client)
    set_fields(stack, ids[0], status="DELETED")
    tokens: list[str | None] = []
    events = stack.clients.dynamodb.meta.events
    remember = lambda params, **_: tokens.append(params.get("ClientRequestToken"))  # noqa: E731
    events.register("provide-client-params.dynamodb.TransactWriteItems", remember)
    try:
        assert post(client, body()).status_code == 202
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", remember)

    posts = [t for t in tokens if t is not None]  # a block freed on the way has none
    assert len(posts) >= 2  # QuotaFull, then (room made) the calls that stored it
    assert len(set(posts)) == len(posts)


def test_records_that_cannot_be_read_count_as_live_and_the_post_is_a_503_not_a_false_429(
    client: Client, stack: Stack, limited: Services
) -> None:
    ids = _fill(client)
    _set(stack, ids[0], "DELETED")
    stack.faults.unprocessed(times=-1)  # every BatchGetItem throttled: nothing is known

    refused = post(client, body(), key="k-unread")

    assert refused.status_code == 503, refused.body
    assert refused.headers["Retry-After"]
    assert "same Idempotency-Key" in refused.json_body["Message"]
    assert ids[0] in live_set(stack, "user-1")
    stack.faults.clear()
    assert post(client, body(), key="k-unread").status_code == 202  # room made: it had ended


def test_ten_simultaneous_posts_at_a_limit_of_three_accept_exactly_three(
    client: Client, stack: Stack, limited: Services
) -> None:
    results: list[int] = []
    barrier = threading.Barrier(10)

    def submit() -> None:
        barrier.wait()
        results.append(post(client, body()).status_code)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [202] * LIMIT + [429] * (10 - LIMIT)
    assert len(live_set(stack, "user-1")) == LIMIT


def test_a_place_given_back_twice_comes_back_once(
    client: Client, stack: Stack, limited: Services
) -> None:
    """Taking an id out of the set is idempotent: a repeat (a lost answer) changes nothing."""
    ids = _fill(client)
    store = limited.submissions._store

    store.give_back("user-1", {ids[0]: store.get(ids[0])})
    store.give_back("user-1", {ids[0]: store.get(ids[0])})

    assert live_set(stack, "user-1") == set(ids[1:])


def test_without_a_limit_no_place_is_taken(client: Client, stack: Stack) -> None:
    for _ in range(LIMIT + 1):
        assert post(client, body()).status_code == 202
    assert live_set(stack, "user-1") == set()


def _set(stack: Stack, request_id: str, status: str, clear_ids: bool = False) -> None:
    """Set a record's status by hand; with `clear_ids`, as if nothing of it were left."""
    update = "SET #s = :s"
    values: dict[str, Any] = {":s": {"S": status}}
    if clear_ids:
        update += ", vpc_id = :null, subnets[0].subnet_id = :null, subnets[1].subnet_id = :null"
        values[":null"] = {"NULL": True}
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression=update,
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values,
    )


def test_a_lost_answer_while_making_room_is_retried_with_the_same_key_and_counts_once(
    client: Client, stack: Stack, limited: Services
) -> None:
    ids = _fill(client)
    _set(stack, ids[0], "DELETED")
    stack.faults.fail(
        "dynamodb",
        "TransactWriteItems",
        "InternalServerError",
        500,
        when="after",  # the place was given back; its answer is lost
        match=lambda p: "DELETE live" in str(p.get("TransactItems")),
    )

    lost = post(client, body(), key="k-lost")
    again = post(client, body(), key="k-lost")

    assert lost.status_code == 503
    assert again.status_code == 202
    assert live_set(stack, "user-1") == {*ids[1:], again.json_body["request_id"]}


def test_posts_of_one_user_contending_for_the_quota_item_get_a_503_to_retry(
    client: Client, stack: Stack, limited: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real DynamoDB cancels concurrent transactions on one item (TransactionConflict):
    after the retries inside, the client is told to retry with the same key, not that
    its Idempotency-Key is in use."""
    monkeypatch.setattr(
        limited.submissions._store,  # the transaction's answer under test
        "create",
        lambda *args, **kwargs: KeyBusy(quota=True),
    )

    response = post(client, body())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "same Idempotency-Key" in response.json_body["Message"]
