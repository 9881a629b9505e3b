"""The REST API through chalice.test.Client, with moto behind it: every route and status."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.jobs import Job
from chalicelib.store import listing
from chalicelib.wiring import Services
from chalicelib.worker.results import Outcome
from integration.conftest import Stack, body, deliver, post
from support.tokens import auth, claims_token


def test_post_accepts_a_request_and_answers_202_with_its_location(
    client: Client, stack: Stack
) -> None:
    response = post(client, body(name="apps"))

    assert response.status_code == 202
    payload = response.json_body
    assert payload["status"] == "QUEUED"
    assert response.headers["Location"] == f"/vpcs/{payload['request_id']}"
    assert "Idempotent-Replayed" not in response.headers
    jobs = stack.messages()
    assert [json.loads(m["Body"]) for m in jobs] == [{"request_id": payload["request_id"]}]


def test_post_makes_two_sequential_aws_calls(client: Client, stack: Stack) -> None:
    post(client, body("10.31.0.0/16"))  # warms the per-process Availability Zone cache
    stack.faults.reset_counts()

    post(client, body())

    assert stack.faults.log == [("dynamodb", "TransactWriteItems"), ("sqs", "SendMessage")]


def test_get_returns_the_full_record(client: Client) -> None:
    request_id = post(client, body(name="apps")).json_body["request_id"]

    response = client.http.get(f"/vpcs/{request_id}", headers=auth())

    assert response.status_code == 200
    record = response.json_body
    assert record == {
        "request_id": request_id,
        "status": "QUEUED",
        "created_by": "user-1",
        "created_by_username": "alice",
        "created_at": record["created_at"],
        "updated_at": record["created_at"],
        "request": body(name="apps"),
        "cidr": "10.30.0.0/16",
        "pool": "default",
        "vpc_id": None,
        "subnets": [
            {"cidr": "10.30.0.0/24", "az": "us-east-1a", "name": "net-0", "subnet_id": None},
            {"cidr": "10.30.1.0/24", "az": "us-east-1b", "name": "net-1", "subnet_id": None},
        ],
        "internet_gateway_id": None,
        "route_table_id": None,
        "error": None,
        "rollback": None,
        "teardown": None,
        "orphans": [],
        "drift": [],
        "drift_detected_at": None,
        "attempts": 0,
        "history": [{"status": "QUEUED", "at": record["created_at"]}],
    }
    assert record["created_at"].endswith("Z")
    assert len(record["created_at"]) == 20


def test_get_makes_one_aws_call(client: Client, stack: Stack) -> None:
    request_id = post(client, body()).json_body["request_id"]
    stack.faults.reset_counts()

    client.http.get(f"/vpcs/{request_id}", headers=auth())

    assert stack.faults.log == [("dynamodb", "GetItem")]


@pytest.mark.parametrize(
    "request_id",
    [
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
        "lock%23user-1%23key",
        "00000000-0000-4000-8000-00000000000G",
    ],
)
def test_get_unknown_or_malformed_id_is_404(client: Client, request_id: str) -> None:
    response = client.http.get(f"/vpcs/{request_id}", headers=auth())

    assert response.status_code == 404
    assert response.json_body["Code"] == "NotFoundError"


def test_get_never_serves_an_idempotency_lock_item(client: Client, stack: Stack) -> None:
    post(client, body(), key="my-key")
    lock_id = "lock#user-1#my-key"
    assert stack.truth.dynamodb.get_item(
        TableName="vpc-provisioner-test", Key={"request_id": {"S": lock_id}}
    ).get("Item")

    response = client.http.get("/vpcs/lock%23user-1%23my-key", headers=auth())

    assert response.status_code == 404


# --- authentication ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/vpcs"),
        ("POST", "/vpcs"),
        ("GET", "/vpcs/00000000-0000-4000-8000-000000000000"),
        ("DELETE", "/vpcs/00000000-0000-4000-8000-000000000000"),
    ],
)
def test_every_route_refuses_a_request_without_claims(
    client: Client, method: str, path: str
) -> None:
    response = client.http.request(method, path, headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    assert response.json_body["Code"] == "UnauthorizedError"


def test_only_the_console_is_served_without_claims(client: Client) -> None:
    """Its page and its files; nothing else (above). (The stage's app client in the page:
    tests/unit/test_console_site.py, tests/e2e/test_console.py.)"""
    page = client.http.get("/console")
    script = client.http.get("/console/app.js")
    other = client.http.get("/console/stack.json")

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/console/app.js?v=' in page.body
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert script.status_code == 200
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert other.status_code == 404
    assert other.json_body["Code"] == "NotFoundError"


def test_claims_of_an_access_token_are_refused(client: Client) -> None:
    token = claims_token(token_use="access")

    response = client.http.get("/vpcs", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_claims_without_a_subject_are_refused(client: Client) -> None:
    response = client.http.get("/vpcs", headers=auth(sub=""))

    assert response.status_code == 401


# --- validation -------------------------------------------------------------------


def _subnet(cidr: str, az: str = "us-east-1a", **extra: Any) -> dict[str, Any]:
    return {"cidr": cidr, "az": az, **extra}


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ("{not json", "not valid JSON"),
        # Longer than Python's int() limit (4,300 digits): once a 500.
        ('{"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [], "n": ' + "9" * 5000 + "}", "digits"),
        ("", "empty"),
        ("[]", "must be a JSON object"),
        ({"vpc": {"cidr": "10.0.0.0/16"}}, "subnets"),
        ({"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [], "extra": 1}, "extra"),
        ({"vpc": {"cidr": 10}, "subnets": [_subnet("10.0.1.0/24")]}, "vpc.cidr"),
        ({"vpc": {"cidr": "10.0.0.1/16"}, "subnets": [_subnet("10.0.1.0/24")]}, "host bits"),
        ({"vpc": {"cidr": "10.0.0.0/15"}, "subnets": [_subnet("10.0.1.0/24")]}, "/15"),
        ({"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [_subnet("10.1.1.0/24")]}, "not inside"),
        (
            {
                "vpc": {"cidr": "10.0.0.0/16"},
                "subnets": [_subnet("10.0.0.0/24"), _subnet("10.0.0.0/25")],
            },
            "subnets[1].cidr",
        ),
        (
            {"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [_subnet("10.0.1.0/24", az="eu-west-1a")]},
            "az",
        ),
        (
            {
                "vpc": {"cidr": "10.0.0.0/16"},
                # A null zone, sent on purpose (it must be refused).
                "subnets": [_subnet("10.0.1.0/24", az=None)],  # type: ignore[arg-type]
            },
            "az",
        ),
        ({"vpc": {"cidr": "10.0.0.0/16"}, "subnets": "10.0.1.0/24"}, "subnets must be an array"),
        (
            {"vpc": {"cidr": "10.0.0.0/16", "name": "a<b"}, "subnets": [_subnet("10.0.1.0/24")]},
            "vpc.name",
        ),
        ({"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [_subnet("10.0.1.0/24", name="")]}, "name"),
        (
            {"vpc": {"cidr": "10.0.0.0/16"}, "subnets": [_subnet("10.0.1.0/24", public="yes")]},
            "subnets[0].public must be true or false",
        ),
        (
            '{"vpc": {"cidr": "10.0.0.0/16"}, "vpc": {"cidr": "10.0.0.0/16"}, "subnets": []}',
            "repeats",
        ),
    ],
)
def test_invalid_bodies_get_400_naming_what_is_wrong(
    client: Client, stack: Stack, payload: Any, names: str
) -> None:
    response = post(client, payload)

    assert response.status_code == 400, response.body
    assert response.json_body["Code"] == "BadRequestError"
    assert names in response.json_body["Message"]
    assert stack.messages() == []


def test_fifty_one_subnets_are_refused(client: Client) -> None:
    payload = {
        "vpc": {"cidr": "10.0.0.0/16"},
        "subnets": [_subnet(f"10.0.{i}.0/24") for i in range(51)],
    }

    response = post(client, payload)

    assert response.status_code == 400
    assert "1 to 50" in response.json_body["Message"]


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\tkey", "naïve"])
def test_idempotency_key_must_be_1_to_255_printable_ascii(client: Client, key: str | None) -> None:
    headers = {**auth(), "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key

    response = client.http.post("/vpcs", headers=headers, body=json.dumps(body()))

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json_body["Message"]


def test_a_body_that_is_not_json_by_content_type_is_415_saying_what_to_send(
    client: Client,
) -> None:
    response = post(client, body(), headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.json_body["Code"] == "UnsupportedMediaType"
    assert "Content-Type: application/json" in response.json_body["Message"]
    assert "'text/plain'" in response.json_body["Message"]


def test_a_get_naming_a_content_type_is_told_it_has_no_body(client: Client) -> None:
    response = client.http.get("/vpcs", headers={**auth(), "Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.json_body["Message"].startswith(
        "A GET has no body: leave Content-Type out (or send 'application/json')"
    )


def test_the_console_is_served_whatever_content_type_its_get_names(client: Client) -> None:
    """openapi.yaml: GET /console answers 200, 413 or 429, and its assets 200 or 404 (no
    415); a browser or a script naming a Content-Type on a GET gets the page."""
    page = client.http.get("/console", headers={"Content-Type": "text/plain"})
    asset = client.http.get("/console/app.js", headers={"Content-Type": "text/html"})
    unknown = client.http.get("/console/nope.js", headers={"Content-Type": "text/html"})

    assert (page.status_code, asset.status_code, unknown.status_code) == (200, 200, 404)


def test_a_415_never_echoes_an_unbounded_content_type(client: Client) -> None:
    response = post(client, body(), headers={"Content-Type": "text/" + "x" * 10_000})

    assert response.status_code == 415
    assert len(response.json_body["Message"]) < 200


# --- idempotency ------------------------------------------------------------------


def test_replay_returns_the_same_request_with_the_replayed_header(
    client: Client, stack: Stack
) -> None:
    first = post(client, body(), key="k-1")

    replay = post(client, body(), key="k-1")

    assert replay.status_code == 202
    assert replay.json_body == first.json_body
    assert replay.headers["Idempotent-Replayed"] == "true"
    items = stack.truth.dynamodb.scan(TableName="vpc-provisioner-test")["Items"]
    assert sum(1 for i in items if i["type"]["S"] == "VPC_REQUEST") == 1


def test_replay_with_keys_in_another_order_is_the_same_body(client: Client) -> None:
    first = post(client, body(), key="k-1")
    reordered = json.dumps(dict(reversed(list(body().items()))))

    replay = post(client, reordered, key="k-1")

    assert replay.json_body["request_id"] == first.json_body["request_id"]


def test_same_key_with_a_different_body_is_422(client: Client) -> None:
    post(client, body(), key="k-1")

    response = post(client, body(subnets=3), key="k-1")

    assert response.status_code == 422
    assert response.json_body["Code"] == "UnprocessableEntityError"


def test_the_key_is_scoped_to_the_caller(client: Client) -> None:
    mine = post(client, body(), key="shared")

    theirs = post(client, body(), key="shared", headers=auth(sub="user-2", username="bob"))

    assert theirs.status_code == 202
    assert theirs.json_body["request_id"] != mine.json_body["request_id"]


def test_the_key_can_be_reused_after_the_idempotency_window(
    client: Client, clock: Any, services: Services
) -> None:
    first = post(client, body(), key="k-1")
    clock.advance(services.settings.idempotency_ttl_seconds + 1)

    again = post(client, body(subnets=3), key="k-1")

    assert again.status_code == 202
    assert "Idempotent-Replayed" not in again.headers
    assert again.json_body["request_id"] != first.json_body["request_id"]


def test_concurrent_posts_with_one_key_create_exactly_one_request(
    client: Client, stack: Stack
) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        results.append(post(client, body(), key="race"))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {r.status_code for r in results} <= {202, 409}, [r.json_body for r in results]
    ids = {r.json_body["request_id"] for r in results if r.status_code == 202}
    assert len(ids) == 1
    items = stack.truth.dynamodb.scan(TableName="vpc-provisioner-test")["Items"]
    assert sum(1 for i in items if i["type"]["S"] == "VPC_REQUEST") == 1


def test_a_replay_of_a_queued_request_whose_job_went_out_sends_no_second_job(
    client: Client, stack: Stack
) -> None:
    request_id = post(client, body(), key="k-1").json_body["request_id"]
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [request_id]

    replay = post(client, body(), key="k-1")

    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert stack.messages() == []


def test_a_replay_of_a_queued_request_whose_send_failed_sends_its_job(
    client: Client, stack: Stack
) -> None:
    """The first POST stored the request, its job's send failed (503): the record says so,
    and the replay sends the job; the replays after it send none (a client retrying its
    POST while the worker is busy queues no job per retry)."""
    stack.faults.fail("sqs", "SendMessage", "InternalError", status=500, times=-1)
    first = post(client, body(), key="k-1")
    assert first.status_code == 503
    assert stack.messages() == []
    stack.faults.clear()

    replay = post(client, body(), key="k-1")

    assert replay.status_code == 202
    request_id = replay.json_body["request_id"]
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [request_id]
    for _ in range(3):
        assert post(client, body(), key="k-1").json_body["status"] == "QUEUED"
    assert stack.messages() == []


@pytest.mark.parametrize("sized", [False, True], ids=["explicit-cidr", "sized"])
def test_a_replay_after_a_lost_transaction_answer_and_a_failed_send_sends_its_job(
    client: Client, stack: Stack, sized: bool
) -> None:
    """docs/api.md, Idempotency: a replay of a request whose first send failed sends its
    job; here the transaction landed with its answer lost (the POST's 503), and the send it
    makes anyway failed too: the record, stored, is marked unsent, so the replay sends the
    job (a review found it sending none: the request waited for the reaper)."""
    payload = (
        {"vpc": {"netmask_length": 20}, "subnets": [{"netmask_length": 24}]} if sized else body()
    )
    stack.faults.fail(
        "dynamodb", "TransactWriteItems", "InternalServerError", status=500, when="after"
    )
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)

    failed = post(client, payload, key="k-1")
    assert failed.status_code == 503
    assert stack.messages() == []  # the job was never enqueued

    replay = post(client, payload, key="k-1")

    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    request_id = replay.json_body["request_id"]
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [request_id]


# --- backing services failing -----------------------------------------------------


def test_a_failing_dynamodb_write_whose_job_fails_to_send_too_never_says_it_was_stored(
    client: Client, stack: Stack
) -> None:
    """The transaction failed before it ran, and the job sent anyway failed too: the 503
    says a backing service failed (openapi.yaml: retry with the same key), never "The
    request was stored" (the send's own message, for a request known stored): nothing was."""
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500)
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)

    response = post(client, body(), key="k-1")

    assert response.status_code == 503
    message = response.json_body["Message"]
    assert message.startswith("A backing service is unavailable"), message
    items = stack.truth.dynamodb.scan(TableName="vpc-provisioner-test")["Items"]
    assert not [i for i in items if i["type"]["S"] == "VPC_REQUEST"]
    assert post(client, body(), key="k-1").status_code == 202


def test_a_failing_dynamodb_write_is_503_with_retry_after_and_its_job_is_harmless(
    client: Client, stack: Stack, services: Services
) -> None:
    """The transaction failed before it ran: the job sent anyway (the outcome could
    have been unknown) names a request that does not exist, and the worker drops it."""
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500)

    response = post(client, body(), key="k-1")

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json_body["Code"] == "ServiceUnavailable"
    [job] = stack.messages()
    orphan_job = json.loads(job["Body"])["request_id"]
    assert services.provisioner.handle(Job(orphan_job)) is Outcome.SKIPPED
    retry = post(client, body(), key="k-1")
    assert retry.status_code == 202
    assert "Idempotent-Replayed" not in retry.headers
    assert stack.vpcs() == []


def test_a_post_whose_transaction_answer_is_lost_still_sends_the_job(
    client: Client, stack: Stack
) -> None:
    """The transaction landed but its answer was lost (a timeout): the caller gets a 503,
    yet the job was sent, so the stored request is provisioned without waiting for the
    reaper; the caller's replay finds it."""
    stack.faults.fail(
        "dynamodb", "TransactWriteItems", "InternalServerError", status=500, when="after"
    )

    response = post(client, body(), key="k-lost")

    assert response.status_code == 503
    [job] = stack.messages()
    request_id = json.loads(job["Body"])["request_id"]
    deliver(client, request_id)
    replay = post(client, body(), key="k-lost")
    assert replay.status_code == 202
    assert replay.json_body == {
        "request_id": request_id,
        "status": "SUCCEEDED",
        "cidr": "10.30.0.0/16",
    }
    assert len(stack.vpcs(request_id)) == 1


def test_a_failing_sqs_send_is_503_and_the_replay_enqueues_the_request(
    client: Client, stack: Stack
) -> None:
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)

    failed = post(client, body(), key="k-1")
    assert failed.status_code == 503
    assert "same Idempotency-Key" in failed.json_body["Message"]
    assert stack.messages() == []

    replay = post(client, body(), key="k-1")

    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [
        replay.json_body["request_id"]
    ]


def test_a_failing_availability_zone_lookup_is_503(client: Client, stack: Stack) -> None:
    stack.faults.fail("ec2", "DescribeAvailabilityZones", "RequestLimitExceeded", status=503)

    response = post(client, body())

    assert response.status_code == 503
    assert post(client, body()).status_code == 202


@pytest.mark.parametrize("zone", [None, "us-east-1a"])
def test_an_empty_availability_zone_answer_is_503_not_the_callers_fault(
    client: Client, stack: Stack, zone: str | None
) -> None:
    """An answer listing no zone proves nothing (EC2 lagging): a subnet without an `az`
    cannot be spread over none (it was a 500), and one naming a zone is not wrong (it was a
    400 listing no zone to use). Both are a 503 to retry."""
    subnet: dict[str, Any] = {"netmask_length": 24, **({"az": zone} if zone else {})}
    payload = {"vpc": {"netmask_length": 20}, "subnets": [subnet]}
    stack.faults.stale("ec2", "DescribeAvailabilityZones", "AvailabilityZones")

    response = post(client, payload)

    assert response.status_code == 503, response.body
    assert response.headers["Retry-After"]
    assert post(client, payload).status_code == 202


def test_a_failing_read_is_503(client: Client, stack: Stack) -> None:
    stack.faults.fail("dynamodb", "Query", "ProvisionedThroughputExceededException")

    response = client.http.get("/vpcs", headers=auth())

    assert response.status_code == 503
    assert response.headers["Retry-After"]


# --- listing ----------------------------------------------------------------------


def _create(client: Client, count: int) -> list[str]:
    return [post(client, body()).json_body["request_id"] for _ in range(count)]


def test_listing_is_newest_first_in_full_pages(client: Client, clock: Any) -> None:
    ids = []
    for _ in range(7):
        ids.append(post(client, body()).json_body["request_id"])
        clock.advance(1)
    pages: list[list[str]] = []
    token = None
    while True:
        query = "/vpcs?limit=3" + (f"&next_token={token}" if token else "")
        page = client.http.get(query, headers=auth()).json_body
        pages.append([item["request_id"] for item in page["items"]])
        token = page["next_token"]
        if token is None:
            break

    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[0:1]]


def test_a_page_ends_early_rather_than_outweigh_what_lambda_may_answer(
    client: Client, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long names of astral letters (12 bytes each in JSON) could make a page of 50 weigh
    more than Lambda's 6 MB answer (a 502 for every caller of that listing): a page ends
    once its records weigh PAGE_BYTES (here a few records' worth), the next going on from
    there, and every request is listed once."""
    named = body()
    named["vpc"]["name"] = "\U00020000" * 128
    ids = []
    for _ in range(5):
        ids.append(post(client, named).json_body["request_id"])
        clock.advance(1)
    one = len(json.dumps(client.http.get("/vpcs?limit=1", headers=auth()).json_body["items"][0]))
    monkeypatch.setattr(listing, "PAGE_BYTES", 2 * one)

    pages: list[list[str]] = []
    token = None
    while token is not None or not pages:
        query = "/vpcs?limit=50" + (f"&next_token={token}" if token else "")
        page = client.http.get(query, headers=auth()).json_body
        pages.append([item["request_id"] for item in page["items"]])
        token = page["next_token"]

    assert [len(p) for p in pages] == [3, 2]
    assert [i for p in pages for i in p] == ids[::-1]


def test_a_full_last_page_has_no_next_token(client: Client) -> None:
    _create(client, 4)

    first = client.http.get("/vpcs?limit=2", headers=auth()).json_body
    second = client.http.get(f"/vpcs?limit=2&next_token={first['next_token']}", headers=auth())

    assert len(second.json_body["items"]) == 2
    assert second.json_body["next_token"] is None


def test_listing_defaults_to_twenty_and_makes_one_aws_call(client: Client, stack: Stack) -> None:
    _create(client, 21)
    stack.faults.reset_counts()

    page = client.http.get("/vpcs", headers=auth()).json_body

    assert len(page["items"]) == 20
    assert page["next_token"]
    assert stack.faults.log == [("dynamodb", "Query")]


def test_lock_items_never_appear_in_listings(client: Client) -> None:
    ids = _create(client, 3)

    page = client.http.get("/vpcs?limit=50", headers=auth()).json_body

    assert sorted(i["request_id"] for i in page["items"]) == sorted(ids)


@pytest.mark.parametrize("limit", ["0", "51", "-1", "abc", "", "1.5", "２"])
def test_limit_out_of_range_is_400(client: Client, limit: str) -> None:
    response = client.http.get(f"/vpcs?limit={limit}", headers=auth())

    assert response.status_code == 400
    assert "limit" in response.json_body["Message"]


def test_unknown_or_repeated_query_parameters_are_400(client: Client) -> None:
    assert client.http.get("/vpcs?limt=5", headers=auth()).status_code == 400
    assert client.http.get("/vpcs?limit=5&limit=6", headers=auth()).status_code == 400


def test_tampered_or_malformed_next_tokens_are_400(client: Client) -> None:
    _create(client, 3)
    token = client.http.get("/vpcs?limit=1", headers=auth()).json_body["next_token"]
    payload, signature = token.split(".")
    tampered = [
        payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature,
        payload + "." + signature[::-1],
        "garbage",
        token + "x",
        "a.b.c",
        "%00",
    ]
    for bad in tampered:
        response = client.http.get(f"/vpcs?next_token={bad}", headers=auth())
        assert response.status_code == 400, bad
        assert "next_token" in response.json_body["Message"]
