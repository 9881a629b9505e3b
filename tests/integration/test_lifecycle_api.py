"""DELETE /vpcs/{id} and the filtered listings, through chalice.test.Client with moto behind.

Records are put into the status a test needs directly in DynamoDB (the worker's
side is tested elsewhere); every test then checks DynamoDB's item and the jobs
queue, not only the response.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.models import Status
from chalicelib.store.items import deserialize
from devstack.transaction_conflicts import cancelled_answer
from integration.conftest import TABLE, Stack, body, post, set_fields
from support.tokens import auth

ME = "user-1"
OTHER = "user-2"
TERMINAL_ORPHAN = {"id": "vpc-0ld", "removed_at": "2026-11-28T20:40:00Z", "error": None}


# --- helpers ----------------------------------------------------------------------


def _submit(client: Client, sub: str = ME, cidr: str = "10.30.0.0/16") -> str:
    headers = auth(sub=sub, username=sub) if sub != ME else None
    response = post(client, body(cidr=cidr), headers=headers)
    assert response.status_code == 202, response.body
    return str(response.json_body["request_id"])


def _item(stack: Stack, request_id: str) -> dict[str, Any]:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return deserialize(item)


def _in_status(client: Client, stack: Stack, status: Status, sub: str = ME, **fields: Any) -> str:
    """A request of `sub` in `status` (with `fields`), its create job already taken."""
    request_id = _submit(client, sub)
    if status is not Status.QUEUED or fields:
        set_fields(stack, request_id, status=status.value, **fields)
    stack.messages()
    return request_id


def _succeeded(client: Client, stack: Stack, sub: str = ME) -> str:
    return _in_status(
        client,
        stack,
        Status.SUCCEEDED,
        sub,
        vpc_id="vpc-1",
        lease_owner="worker-a",
        lease_until=9_999_999_999,
    )


def _failed_clean(client: Client, stack: Stack) -> str:
    """A FAILED request whose rollback removed everything (and whose orphan is gone)."""
    return _in_status(
        client,
        stack,
        Status.FAILED,
        error={"code": "SubnetLimitExceeded", "message": "too many"},
        rollback={"deleted": ["subnet-1", "vpc-1"], "remaining": [], "error": None},
        orphans=[TERMINAL_ORPHAN],
    )


def _delete(client: Client, request_id: str, **claims: Any) -> Any:
    sub = claims.pop("sub", ME)
    return client.http.request(
        "DELETE", f"/vpcs/{request_id}", headers=auth(sub=sub, username=sub, **claims)
    )


def _jobs(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in stack.messages()]


def _delete_job(request_id: str) -> dict[str, str]:
    return {"request_id": request_id, "operation": "delete"}


def _assert_answer(response: Any, request_id: str, status: Status) -> None:
    assert response.status_code == 202, response.body
    assert response.json_body == {"request_id": request_id, "status": status.value}
    assert response.headers["Location"] == f"/vpcs/{request_id}"


# --- transitions ------------------------------------------------------------------


def test_delete_of_a_queued_request_cancels_it_and_sends_no_job(
    client: Client, stack: Stack, clock: Any
) -> None:
    request_id = _in_status(client, stack, Status.QUEUED)
    clock.advance(30)

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.CANCELLED)
    item = _item(stack, request_id)
    assert item["status"] == "CANCELLED"
    assert item["updated_at"] == iso_timestamp(clock())
    assert _jobs(stack) == []


def test_a_cancelled_request_is_never_provisioned(client: Client, stack: Stack) -> None:
    """The create job sent before the DELETE arrives later and finds nothing to do."""
    request_id = _submit(client)
    [create_job] = stack.messages()
    assert _delete(client, request_id).json_body["status"] == "CANCELLED"

    client.lambda_.invoke("worker", stack.event(create_job))

    assert _item(stack, request_id)["status"] == "CANCELLED"
    assert stack.vpcs(request_id) == []


def test_delete_of_a_succeeded_request_marks_it_deleting_and_sends_a_delete_job(
    client: Client, stack: Stack, clock: Any
) -> None:
    request_id = _succeeded(client, stack)
    clock.advance(30)

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    item = _item(stack, request_id)
    assert item["status"] == "DELETING"
    assert item["lease_until"] == 0  # a worker may claim the teardown at once
    assert item["updated_at"] == iso_timestamp(clock())
    assert item["vpc_id"] == "vpc-1"
    assert _jobs(stack) == [_delete_job(request_id)]


def test_delete_of_a_succeeded_request_makes_two_sequential_aws_calls(
    client: Client, stack: Stack
) -> None:
    request_id = _succeeded(client, stack)
    stack.faults.reset_counts()

    _delete(client, request_id)

    assert stack.faults.log == [("dynamodb", "UpdateItem"), ("sqs", "SendMessage")]


def test_delete_of_a_delete_failed_request_starts_the_teardown_again(
    client: Client, stack: Stack, clock: Any
) -> None:
    request_id = _in_status(
        client,
        stack,
        Status.DELETE_FAILED,
        vpc_id="vpc-1",
        error={"code": "DependencyViolation", "message": "an ENI is in the VPC"},
        teardown={"deleted": ["subnet-1"], "remaining": ["vpc-1"], "error": "in use"},
    )
    clock.advance(30)

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    item = _item(stack, request_id)
    assert (item["status"], item["lease_until"]) == ("DELETING", 0)
    assert item["updated_at"] == iso_timestamp(clock())
    assert _jobs(stack) == [_delete_job(request_id)]


def test_delete_of_a_failed_request_with_nothing_left_is_deleted_at_once(
    client: Client, stack: Stack, clock: Any
) -> None:
    request_id = _failed_clean(client, stack)
    clock.advance(30)
    stack.faults.reset_counts()

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETED)
    item = _item(stack, request_id)
    assert item["status"] == "DELETED"
    assert item["updated_at"] == iso_timestamp(clock())
    assert _jobs(stack) == []
    # The first write bets on SUCCEEDED, and hands the FAILED record back; once DELETED,
    # the request's block is freed (one transaction).
    assert stack.faults.log == [
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "TransactWriteItems"),
    ]
    assert item["allocation"] == "released"


@pytest.mark.parametrize(
    "leftover",
    [
        {"vpc_id": "vpc-1"},
        {"internet_gateway_id": "igw-1"},
        {"route_table_id": "rtb-1"},
        {"rollback": {"deleted": ["subnet-1"], "remaining": ["vpc-1"], "error": None}},
        {"rollback": {"deleted": [], "remaining": [], "error": "DescribeVpcs failed"}},
        {"orphans": [{"id": "vpc-2", "removed_at": None, "error": "DependencyViolation"}]},
    ],
    ids=[
        "vpc",
        "internet-gateway",
        "route-table",
        "rollback-remaining",
        "rollback-error",
        "orphan",
    ],
)
def test_delete_of_a_failed_request_with_something_left_starts_a_teardown(
    client: Client, stack: Stack, leftover: dict[str, Any]
) -> None:
    request_id = _in_status(client, stack, Status.FAILED, **leftover)

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    item = _item(stack, request_id)
    assert (item["status"], item["lease_until"]) == ("DELETING", 0)
    assert _jobs(stack) == [_delete_job(request_id)]


def test_delete_of_a_failed_request_with_a_subnet_left_starts_a_teardown(
    client: Client, stack: Stack
) -> None:
    request_id = _in_status(client, stack, Status.FAILED)
    subnets = _item(stack, request_id)["subnets"]
    subnets[1]["subnet_id"] = "subnet-1"
    set_fields(stack, request_id, subnets=subnets)

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    assert _jobs(stack) == [_delete_job(request_id)]


@pytest.mark.parametrize(
    ("status", "doing"),
    [(Status.IN_PROGRESS, "provisioned"), (Status.ROLLING_BACK, "rolled back")],
)
def test_delete_while_a_worker_is_on_the_request_is_409_with_retry_after(
    client: Client, stack: Stack, status: Status, doing: str
) -> None:
    request_id = _in_status(
        client, stack, status, lease_owner="worker-a", lease_until=9_999_999_999
    )
    before = _item(stack, request_id)

    response = _delete(client, request_id)

    assert response.status_code == 409
    assert response.json_body["Code"] == "ConflictError"
    assert (
        f"it is being {doing}. Retry the DELETE after it finishes."
        in (response.json_body["Message"])
    )
    assert response.headers["Retry-After"] == "5"  # about a worker's next step
    assert _item(stack, request_id) == before
    assert _jobs(stack) == []


@pytest.mark.parametrize("status", [Status.DELETED, Status.CANCELLED])
def test_delete_of_a_deleted_or_cancelled_request_answers_its_status_and_changes_nothing(
    client: Client, stack: Stack, status: Status
) -> None:
    """Nothing but the address block, if it is still held (whoever ended the request may
    have failed to free it: tests/integration/test_ended_blocks_freed.py)."""
    request_id = _in_status(client, stack, status)
    before = _item(stack, request_id)
    assert before["allocation"] == "held"

    response = _delete(client, request_id)

    _assert_answer(response, request_id, status)
    assert _item(stack, request_id) == {**before, "allocation": "released"}
    assert _jobs(stack) == []
    again = _item(stack, request_id)

    _assert_answer(_delete(client, request_id), request_id, status)
    assert _item(stack, request_id) == again


def test_delete_of_a_deleting_request_sends_its_job_again_and_keeps_the_workers_lease(
    client: Client, stack: Stack
) -> None:
    request_id = _in_status(
        client, stack, Status.DELETING, lease_owner="worker-a", lease_until=9_999_999_999
    )
    before = _item(stack, request_id)
    stack.faults.reset_counts()

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    assert _item(stack, request_id) == before  # the teardown's lease is not cut short
    assert _jobs(stack) == [_delete_job(request_id)]
    assert stack.faults.log == [("dynamodb", "UpdateItem"), ("sqs", "SendMessage")]


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda c, s: _in_status(c, s, Status.QUEUED), Status.CANCELLED),
        (_succeeded, Status.DELETING),
        (_failed_clean, Status.DELETED),
    ],
    ids=["queued", "succeeded", "failed"],
)
def test_a_repeated_delete_answers_the_same_status(
    client: Client, stack: Stack, setup: Any, status: Status
) -> None:
    request_id = setup(client, stack)

    first = _delete(client, request_id)
    second = _delete(client, request_id)

    _assert_answer(first, request_id, status)
    _assert_answer(second, request_id, status)
    assert _item(stack, request_id)["status"] == status.value


def test_delete_needs_no_idempotency_key_and_ignores_one(client: Client, stack: Stack) -> None:
    request_id = _succeeded(client, stack)
    headers = {**auth(), "Idempotency-Key": "x" * 300}

    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=headers)

    _assert_answer(response, request_id, Status.DELETING)


# --- who may delete ---------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [Status.QUEUED, Status.SUCCEEDED, Status.FAILED, Status.DELETING, Status.DELETED]
)
def test_another_user_may_not_delete_a_request(
    client: Client, stack: Stack, status: Status
) -> None:
    request_id = _in_status(client, stack, status)
    before = _item(stack, request_id)

    response = _delete(client, request_id, sub=OTHER)

    assert response.status_code == 403
    assert response.json_body["Code"] == "ForbiddenError"
    assert "admins" in response.json_body["Message"]
    assert _item(stack, request_id) == before
    assert _jobs(stack) == []


# The groups are the token's own JSON array (API Gateway's string form of the claim is
# not read: tests/unit/test_auth.py holds both shapes).
@pytest.mark.parametrize("groups", [["admins"], ["devs", "admins"]])
def test_an_admin_may_delete_anyones_request(client: Client, stack: Stack, groups: Any) -> None:
    request_id = _succeeded(client, stack)

    response = _delete(client, request_id, sub=OTHER, **{"cognito:groups": groups})

    _assert_answer(response, request_id, Status.DELETING)
    assert _jobs(stack) == [_delete_job(request_id)]


@pytest.mark.parametrize(
    "groups",
    [["devs"], ["administrators"], ["ops,admins"], ["[admins]"], [], "admins", "[admins]"],
)
def test_other_groups_do_not_allow_deleting_anothers_request(
    client: Client, stack: Stack, groups: Any
) -> None:
    request_id = _succeeded(client, stack)

    response = _delete(client, request_id, sub=OTHER, **{"cognito:groups": groups})

    assert response.status_code == 403
    assert _item(stack, request_id)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "request_id",
    [
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
        "lock%23user-1%23key",
        "00000000-0000-4000-8000-00000000000G",
    ],
)
def test_delete_of_an_unknown_or_malformed_id_is_404_and_writes_nothing(
    client: Client, stack: Stack, request_id: str
) -> None:
    post(client, body(), key="key")
    items_before = stack.truth.dynamodb.scan(TableName=TABLE)["Items"]

    response = _delete(client, request_id)

    assert response.status_code == 404
    assert response.json_body["Code"] == "NotFoundError"
    assert stack.truth.dynamodb.scan(TableName=TABLE)["Items"] == items_before


def test_delete_without_claims_is_401(client: Client, stack: Stack) -> None:
    request_id = _succeeded(client, stack)

    response = client.http.request("DELETE", f"/vpcs/{request_id}")

    assert response.status_code == 401
    assert _item(stack, request_id)["status"] == "SUCCEEDED"


# --- backing services failing -----------------------------------------------------


def test_a_failing_delete_job_send_is_503_and_a_retried_delete_sends_it(
    client: Client, stack: Stack
) -> None:
    request_id = _succeeded(client, stack)
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)

    failed = _delete(client, request_id)

    assert failed.status_code == 503
    assert failed.headers["Retry-After"]
    assert "retry the DELETE" in failed.json_body["Message"]
    assert _item(stack, request_id)["status"] == "DELETING"
    assert _jobs(stack) == []

    retried = _delete(client, request_id)

    _assert_answer(retried, request_id, Status.DELETING)
    assert _jobs(stack) == [_delete_job(request_id)]


def test_a_failing_dynamodb_write_is_503_and_changes_nothing(client: Client, stack: Stack) -> None:
    request_id = _succeeded(client, stack)
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", status=500, times=-1)

    response = _delete(client, request_id)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    stack.faults.clear()
    assert _item(stack, request_id)["status"] == "SUCCEEDED"
    assert _jobs(stack) == []


def test_a_delete_that_meets_a_transaction_on_the_record_is_busy_not_a_503(
    client: Client, stack: Stack
) -> None:
    """A worker's transaction writing the record (DynamoDB refuses a write to an item one
    holds: TransactionConflictException) made DELETE a 503 blaming DynamoDB, which
    schemathesis met on a fresh clone's `make test`: the request is changing state, a 409
    to retry in a second, as for any move that lost its race."""
    request_id = _succeeded(client, stack)
    stack.faults.fail("dynamodb", "UpdateItem", "TransactionConflictException", status=400)

    busy = _delete(client, request_id)

    assert busy.status_code == 409, busy.body
    assert busy.json_body["Code"] == "ConflictError"
    assert busy.headers["Retry-After"] == "1"
    assert _item(stack, request_id)["status"] == "SUCCEEDED"
    _assert_answer(_delete(client, request_id), request_id, Status.DELETING)


def test_a_delete_whose_transaction_meets_the_owners_post_is_busy_not_a_503(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Under a per-user limit, DELETE of a FAILED request puts its place back in its owner's
    set: the move is a transaction (the record and the quota item), which DynamoDB cancels
    (TransactionCanceledException, reason TransactionConflict) while the owner's POST
    holds the quota item. That too is a request changing state: 409, not a 503 blaming
    DynamoDB (an audit, 2026-12-06)."""
    reconfigure(settings, max_live_requests_per_user=3)
    created = post(client, body())
    assert created.status_code == 202, created.body
    request_id = created.json_body["request_id"]
    # FAILED after a lost answer: its DELETE is a teardown, and its move puts its place back.
    set_fields(stack, request_id, status="FAILED", lost_answers=True)
    events = stack.clients.dynamodb.meta.events
    calls: list[int] = []

    def conflict(**_: Any) -> Any:
        # The POST holds the quota item (the second of the two): DynamoDB's answer, as the
        # local stack's conflict simulator gives it.
        if calls:
            return None
        calls.append(1)
        return cancelled_answer([False, True])

    events.register("before-call.dynamodb.TransactWriteItems", conflict)
    try:
        busy = _delete(client, request_id)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", conflict)

    assert calls, "the DELETE's move was not a transaction"
    assert busy.status_code == 409, busy.body
    assert busy.json_body["Code"] == "ConflictError"
    assert busy.headers["Retry-After"] == "1"
    _assert_answer(_delete(client, request_id), request_id, Status.DELETING)


def test_a_delete_whose_write_answer_was_lost_completes_on_retry(
    client: Client, stack: Stack
) -> None:
    """The DELETING write landed but its answer was lost: 503, and the retry finds the
    record DELETING and sends the delete job."""
    request_id = _succeeded(client, stack)
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", status=500, when="after")

    lost = _delete(client, request_id)

    assert lost.status_code == 503
    assert _item(stack, request_id)["status"] == "DELETING"
    retried = _delete(client, request_id)
    _assert_answer(retried, request_id, Status.DELETING)
    assert _jobs(stack) == [_delete_job(request_id)]


# --- races ------------------------------------------------------------------------


def _before_write(stack: Stack, target: Status, action: Any) -> None:
    """Run `action` just before the app's UpdateItem that writes `target` is sent."""

    def hook(params: dict[str, Any], **_: Any) -> None:
        target_value = params.get("ExpressionAttributeValues", {}).get(":target")
        if target_value == {"S": target.value}:
            stack.clients.dynamodb.meta.events.unregister(
                "provide-client-params.dynamodb.UpdateItem", hook
            )
            action()

    stack.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", hook)


def test_a_cancel_that_loses_the_race_to_a_claim_is_409_and_not_cancelled(
    client: Client, stack: Stack
) -> None:
    request_id = _in_status(client, stack, Status.QUEUED)
    _before_write(
        stack,
        Status.CANCELLED,
        lambda: set_fields(stack, request_id, status="IN_PROGRESS", lease_until=9_999_999_999),
    )
    stack.faults.reset_counts()

    response = _delete(client, request_id)

    assert response.status_code == 409
    assert _item(stack, request_id)["status"] == "IN_PROGRESS"
    # Re-evaluated from the item the refused write handed back: no read.
    assert stack.faults.log == [("dynamodb", "UpdateItem"), ("dynamodb", "UpdateItem")]


def test_a_failed_request_that_gains_a_leftover_meanwhile_is_torn_down_not_deleted(
    client: Client, stack: Stack
) -> None:
    """The reconciler notes an undeletable orphan between DELETE's read and its write:
    the DELETED write is refused, and the DELETE starts a teardown instead."""
    request_id = _failed_clean(client, stack)
    orphan = {"id": "vpc-2", "removed_at": None, "error": "DependencyViolation"}
    _before_write(
        stack,
        Status.DELETED,
        lambda: set_fields(stack, request_id, orphans=[TERMINAL_ORPHAN, orphan]),
    )

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETING)
    assert _item(stack, request_id)["status"] == "DELETING"
    assert _jobs(stack) == [_delete_job(request_id)]


def test_a_delete_that_loses_the_race_to_another_delete_answers_the_status_it_made(
    client: Client, stack: Stack
) -> None:
    """Between DELETE's first answer (FAILED) and its DELETED write, another DELETE
    wrote DELETED: the refused write is re-evaluated, never a 5xx."""
    request_id = _failed_clean(client, stack)
    _before_write(stack, Status.DELETED, lambda: set_fields(stack, request_id, status="DELETED"))

    response = _delete(client, request_id)

    _assert_answer(response, request_id, Status.DELETED)


def test_concurrent_deletes_all_answer_deleting(client: Client, stack: Stack) -> None:
    request_id = _succeeded(client, stack)
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def delete() -> None:
        barrier.wait()
        results.append(_delete(client, request_id))

    threads = [threading.Thread(target=delete) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in results] == [202] * 6
    assert {r.json_body["status"] for r in results} == {"DELETING"}
    assert _item(stack, request_id)["status"] == "DELETING"
    # Each DELETE either moved the record or found it DELETING: each sent the job.
    assert _jobs(stack) == [_delete_job(request_id)] * 6


# --- filtered listings ------------------------------------------------------------


def _url(query: str, **params: Any) -> str:
    """/vpcs with the filter `query` (such as "status=FAILED", or "") and `params`."""
    parts = [query] if query else []
    parts += [f"{name}={value}" for name, value in params.items() if value is not None]
    return "/vpcs" + ("?" + "&".join(parts) if parts else "")


def _pages(client: Client, query: str, limit: int, sub: str = ME) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        url = _url(query, limit=limit, next_token=token)
        response = client.http.get(url, headers=auth(sub=sub))
        assert response.status_code == 200, response.body
        pages.append([item["request_id"] for item in response.json_body["items"]])
        token = response.json_body["next_token"]
        if token is None:
            return pages


def test_a_status_listing_shows_that_status_newest_first_in_full_pages(
    client: Client, stack: Stack, clock: Any
) -> None:
    succeeded = []
    for index in range(7):
        request_id = _submit(client)
        if index % 3 != 1:  # 5 of the 7
            set_fields(stack, request_id, status="SUCCEEDED")
            succeeded.append(request_id)
        clock.advance(1)

    pages = _pages(client, "status=SUCCEEDED", limit=2)

    newest_first = succeeded[::-1]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    page = client.http.get("/vpcs?status=QUEUED", headers=auth()).json_body
    assert all(item["status"] == "QUEUED" for item in page["items"])
    assert len(page["items"]) == 2


def test_a_full_last_page_of_a_status_listing_has_no_next_token(
    client: Client, stack: Stack
) -> None:
    for _ in range(4):
        set_fields(stack, _submit(client), status="FAILED")

    assert [len(page) for page in _pages(client, "status=FAILED", limit=2)] == [2, 2]


def test_a_status_listing_is_one_query_on_the_status_index(client: Client, stack: Stack) -> None:
    for _ in range(3):
        _submit(client)
    on_status_index = stack.faults.signal(
        "dynamodb", "Query", match=lambda p: p.get("IndexName") == "by_status"
    )
    stack.faults.reset_counts()

    page = client.http.get("/vpcs?status=QUEUED&limit=2", headers=auth()).json_body

    assert len(page["items"]) == 2
    assert page["next_token"]
    assert stack.faults.log == [("dynamodb", "Query")]
    assert on_status_index.is_set()


def test_a_deleted_request_leaves_the_succeeded_listing_for_the_deleting_one(
    client: Client, stack: Stack
) -> None:
    request_id = _succeeded(client, stack)
    _delete(client, request_id)

    def listed(status: str) -> list[str]:
        page = client.http.get(f"/vpcs?status={status}", headers=auth()).json_body
        return [item["request_id"] for item in page["items"]]

    assert listed("SUCCEEDED") == []
    assert listed("DELETING") == [request_id]


def test_created_by_me_shows_only_the_callers_requests_newest_first(
    client: Client, clock: Any
) -> None:
    mine, theirs = [], []
    for index in range(7):
        if index % 2:
            theirs.append(_submit(client, OTHER))
        else:
            mine.append(_submit(client))
        clock.advance(1)

    newest_first = mine[::-1]
    assert len(mine) == 4
    assert _pages(client, "created_by=me", limit=2) == [newest_first[0:2], newest_first[2:4]]
    assert _pages(client, "created_by=me", limit=3, sub=OTHER) == [theirs[::-1]]


def test_created_by_me_is_one_query_on_the_creator_index(client: Client, stack: Stack) -> None:
    for _ in range(3):
        _submit(client)
    on_creator_index = stack.faults.signal(
        "dynamodb", "Query", match=lambda p: p.get("IndexName") == "by_creator"
    )
    stack.faults.reset_counts()

    page = client.http.get("/vpcs?created_by=me&limit=3", headers=auth()).json_body

    assert len(page["items"]) == 3
    assert page["next_token"] is None
    assert stack.faults.log == [("dynamodb", "Query")]
    assert on_creator_index.is_set()


def test_lock_items_never_appear_in_filtered_listings(client: Client, stack: Stack) -> None:
    ids = [post(client, body(), key=f"key-{i}").json_body["request_id"] for i in range(3)]
    locks = [
        i
        for i in stack.truth.dynamodb.scan(TableName=TABLE)["Items"]
        if i["type"]["S"] == "IDEMPOTENCY_LOCK"
    ]
    assert len(locks) == 3

    for query in ("created_by=me", "status=QUEUED"):
        page = client.http.get(f"/vpcs?{query}&limit=50", headers=auth()).json_body
        assert sorted(item["request_id"] for item in page["items"]) == sorted(ids), query


@pytest.mark.parametrize("query", ["status=DELETED", "created_by=me"])
def test_an_empty_filtered_listing_is_one_empty_page(client: Client, query: str) -> None:
    _submit(client)  # QUEUED, and user-1's

    response = client.http.get(f"/vpcs?{query}", headers=auth(sub=OTHER))

    assert response.json_body == {"items": [], "next_token": None}


def _token(client: Client, query: str, sub: str = ME) -> str:
    page = client.http.get(_url(query, limit=1), headers=auth(sub=sub)).json_body
    assert page["next_token"], page
    return str(page["next_token"])


def test_a_next_token_is_bound_to_its_listing_its_status_and_its_caller(
    client: Client, stack: Stack
) -> None:
    for sub in (ME, ME, OTHER, OTHER):
        set_fields(stack, _submit(client, sub), status="SUCCEEDED")
    for sub in (ME, OTHER):
        _submit(client, sub)
        _submit(client, sub)
    tokens = {
        "all": _token(client, ""),
        "status=SUCCEEDED": _token(client, "status=SUCCEEDED"),
        "status=QUEUED": _token(client, "status=QUEUED"),
        "created_by=me": _token(client, "created_by=me"),
    }
    for issued_by, token in tokens.items():
        for used_with in ("", "status=SUCCEEDED", "status=QUEUED", "created_by=me"):
            response = client.http.get(_url(used_with, next_token=token), headers=auth())
            expected = 200 if (used_with or "all") == issued_by else 400
            assert response.status_code == expected, (issued_by, used_with)
            if expected == 400:
                assert "next_token" in response.json_body["Message"]
    # Another caller's created_by=me token shows their listing, not mine.
    theirs = _token(client, "created_by=me", sub=OTHER)
    response = client.http.get(f"/vpcs?created_by=me&next_token={theirs}", headers=auth())
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["status=SUCCEEDED", "created_by=me"])
def test_tampered_filtered_next_tokens_are_400(client: Client, stack: Stack, query: str) -> None:
    for _ in range(3):
        set_fields(stack, _submit(client), status="SUCCEEDED")
    token = _token(client, query)
    payload, signature = token.split(".")
    for bad in (
        payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature,
        payload + "." + signature[::-1],
        "garbage",
    ):
        response = client.http.get(f"/vpcs?{query}&next_token={bad}", headers=auth())
        assert response.status_code == 400, bad


@pytest.mark.parametrize("status", ["succeeded", "BOGUS", "", "DONE" * 500])
def test_an_unknown_status_is_400_naming_the_valid_ones(client: Client, status: str) -> None:
    response = client.http.get(f"/vpcs?status={status}", headers=auth())

    assert response.status_code == 400
    message = response.json_body["Message"]
    assert all(s.value in message for s in Status)
    assert len(message) < 400


@pytest.mark.parametrize("created_by", ["user-1", "ME", "", "you"])
def test_created_by_accepts_only_me(client: Client, created_by: str) -> None:
    response = client.http.get(f"/vpcs?created_by={created_by}", headers=auth())

    assert response.status_code == 400
    assert "'me'" in response.json_body["Message"]


def test_both_filters_at_once_are_400(client: Client) -> None:
    response = client.http.get("/vpcs?status=SUCCEEDED&created_by=me", headers=auth())

    assert response.status_code == 400
    assert "not both" in response.json_body["Message"]


def test_a_failing_filtered_query_is_503(client: Client, stack: Stack) -> None:
    stack.faults.fail("dynamodb", "Query", "ProvisionedThroughputExceededException")

    response = client.http.get("/vpcs?created_by=me", headers=auth())

    assert response.status_code == 503
    assert response.headers["Retry-After"]
