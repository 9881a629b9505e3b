"""MAX_LIVE_REQUESTS_PER_USER counts a user's live requests made before the limit applied to
them (while the stage had no limit, 0 locally; while the user was in `admins`; before quota
items had a `seeded` mark): README "Per-user limit", a POST that would give a user more live
requests than the limit is a 429. Their set is seeded once, from the by-creator index, the
first time a limited POST finds it unseeded; the ended ones (CANCELLED, DELETED, FAILED with
nothing left) are not put in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.api import quota as api_quota
from chalicelib.config import Settings
from chalicelib.store.quota import QuotaFull
from chalicelib.wiring import Services
from integration.conftest import Stack, body, deliver, live_set, post, record, set_fields
from support.tokens import auth


def _made_without_a_limit(client: Client, count: int, **claims: Any) -> list[str]:
    """`count` requests of user-1 (with `claims`), provisioned."""
    made = []
    for _ in range(count):
        response = client.http.post(
            "/vpcs",
            headers={
                **auth(**claims),
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            body=json.dumps(body(subnets=1)),
        )
        assert response.status_code == 202, response.body
        made.append(response.json_body["request_id"])
        deliver(client, made[-1])
    assert [record(client, r)["status"] for r in made] == ["SUCCEEDED"] * count
    return made


@pytest.fixture
def unlimited(settings: Settings, reconfigure: Any) -> Services:
    services: Services = reconfigure(settings, max_live_requests_per_user=0)
    return services


def test_live_requests_from_before_the_limit_count_against_it(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, unlimited: Services
) -> None:
    made = _made_without_a_limit(client, 3)

    # The operator turns the limit on (the stage's setting, a `make run` with the variable).
    reconfigure(settings, max_live_requests_per_user=2)
    response = post(client, body(subnets=1))

    assert response.status_code == 429, (
        f"a user with 3 live requests (limit 2) got {response.status_code}: {response.body}"
    )
    assert response.json_body["Code"] == "QuotaExceeded"
    assert "3 live requests" in response.json_body["Message"]
    assert live_set(stack) == set(made)


def test_ended_requests_from_before_the_limit_are_not_counted(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, unlimited: Services
) -> None:
    made = _made_without_a_limit(client, 3)
    set_fields(stack, made[0], status="DELETED")

    reconfigure(settings, max_live_requests_per_user=4)
    accepted = post(client, body(subnets=1))

    assert accepted.status_code == 202, accepted.body
    # Not put in the set at all (with room in it, no POST would take it out).
    assert live_set(stack) == {*made[1:], accepted.json_body["request_id"]}
    assert post(client, body(subnets=1)).status_code == 202
    assert post(client, body(subnets=1)).status_code == 429


def test_an_admins_requests_count_once_they_are_no_longer_an_admin(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, max_live_requests_per_user=2)
    _made_without_a_limit(client, 2, **{"cognito:groups": ["admins"]})
    assert live_set(stack) == set()  # an admin takes no place

    response = post(client, body(subnets=1))  # user-1, out of `admins` now

    assert response.status_code == 429, response.body


def test_an_admins_requests_count_when_their_set_was_seeded_before_they_were_one(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A seeded set is not seeded again by itself: an admin's POST marks it unseeded (in the
    transaction that stores the request), so the next limited POST seeds it again."""
    reconfigure(settings, max_live_requests_per_user=2)
    (first,) = _made_without_a_limit(client, 1)  # limited: the set is seeded here
    as_admin = _made_without_a_limit(client, 2, **{"cognito:groups": ["admins"]})
    assert live_set(stack) == {first}  # an admin takes no place

    response = post(client, body(subnets=1))  # user-1, out of `admins` now

    assert response.status_code == 429, f"3 live requests at a limit of 2: {response.body}"
    assert live_set(stack) == {first, *as_admin}


def test_the_set_is_seeded_once_and_a_second_seed_adds_nothing(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, unlimited: Services
) -> None:
    made = _made_without_a_limit(client, 1)
    limited: Services = reconfigure(settings, max_live_requests_per_user=3)
    assert post(client, body(subnets=1)).status_code == 202
    stack.faults.reset_counts()

    assert post(client, body(subnets=1)).status_code == 202
    assert stack.faults.count("dynamodb", "Query") == 0  # no second look at the index
    before = live_set(stack)
    assert made[0] in before
    assert len(before) == 3

    # Two POSTs seeding at once: the second finds the set seeded and changes nothing.
    limited.submissions._store.seed_quota("user-1", ["a-request-seeded-late"])
    assert live_set(stack) == before


def _quota_writes(stack: Stack) -> list[tuple[str, str]]:
    """(operation, quota key) of the DynamoDB writes of a quota item the app makes from now:
    one for each request whose writes touch one (a transaction tried again for another
    address block is the same request's)."""
    writes: list[tuple[str, str]] = []
    requests: set[tuple[str, str]] = set()

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        items = [next(iter(i.values())) for i in params.get("TransactItems", [])] or [params]
        ids = [i.get("Key", i.get("Item", {})).get("request_id", {}).get("S", "") for i in items]
        for quota in (i for i in ids if i.startswith("quota#")):
            request = next((i for i in ids if i and "#" not in i), "")
            if (quota, request) not in requests or not request:
                requests.add((quota, request))
                writes.append((model.name, quota))

    stack.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.*", note)
    return writes


def test_under_no_limit_each_users_set_is_marked_unseeded_once_a_process(
    client: Client, stack: Stack, unlimited: Services
) -> None:
    """In the transaction of a user's first POST in a process (no call more: a POST waits
    for two in a row), in none of the next ones (a user's POSTs at once do not wait on
    each other's quota item)."""
    writes = _quota_writes(stack)
    _made_without_a_limit(client, 3)
    _made_without_a_limit(client, 1, sub="user-2")

    assert writes == [
        ("TransactWriteItems", "quota#user-1"),
        ("TransactWriteItems", "quota#user-2"),
    ]
    assert live_set(stack) == set()  # no place taken without a limit


def test_a_mark_whose_transaction_did_not_land_is_made_by_the_users_next_post(
    client: Client, stack: Stack, unlimited: Services
) -> None:
    """The first POST's transaction fails (503) and the retry of it is a replay whose
    transaction is refused (its key is in use): neither marked the set, so the next new
    POST of the user does."""
    writes = _quota_writes(stack)
    stack.faults.fail(
        "dynamodb", "TransactWriteItems", "InternalServerError", 500, when="after", times=1
    )
    lost = post(client, body(subnets=1), key="k-mark")
    replay = post(client, body(subnets=1), key="k-mark")
    assert (lost.status_code, replay.status_code) == (503, 202), (lost.body, replay.body)
    new = post(client, body(subnets=1))
    later = post(client, body(subnets=1))

    assert (new.status_code, later.status_code) == (202, 202)
    # The lost one's, the replay's (refused), the next new POST's; none after it.
    assert writes == [("TransactWriteItems", "quota#user-1")] * 3


def test_a_users_first_post_under_no_limit_waits_for_two_calls_in_a_row(
    client: Client, stack: Stack, unlimited: Services
) -> None:
    """README: a POST waits for at most two AWS calls in a row, the first of a user in a
    process under no limit too (the zones already read, by another user's POST)."""
    assert post(client, body(subnets=1)).status_code == 202
    stack.faults.reset_counts()

    answer = post(
        client,
        body(cidr="10.77.0.0/20", subnets=1),
        headers={"Authorization": auth(sub="user-2")["Authorization"]},
    )

    assert answer.status_code == 202, answer.body
    assert stack.faults.log == [("dynamodb", "TransactWriteItems"), ("sqs", "SendMessage")]


def test_every_page_of_the_users_requests_is_read(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    unlimited: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = _made_without_a_limit(client, 3)
    monkeypatch.setattr(api_quota, "SEED_PAGE", 1)
    reconfigure(settings, max_live_requests_per_user=3)

    assert post(client, body(subnets=1)).status_code == 429
    assert live_set(stack) == set(made)


def test_a_failed_seed_is_a_503_and_the_posts_retry_seeds_it(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, unlimited: Services
) -> None:
    made = _made_without_a_limit(client, 2)
    reconfigure(settings, max_live_requests_per_user=2)
    stack.faults.fail("dynamodb", "Query", "ProvisionedThroughputExceededException", times=-1)

    failed = post(client, body(subnets=1), key="k-seed")

    assert failed.status_code == 503, failed.body
    assert live_set(stack) == set()  # nothing taken before the seed
    stack.faults.clear()
    again = post(client, body(subnets=1), key="k-seed")
    assert again.status_code == 429, again.body
    assert live_set(stack) == set(made)


def test_a_seed_whose_answer_was_lost_counts_each_request_once(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, unlimited: Services
) -> None:
    made = _made_without_a_limit(client, 1)
    reconfigure(settings, max_live_requests_per_user=2)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        when="after",  # the set was seeded; its answer is lost
        match=lambda p: "seeded" in str(p.get("UpdateExpression")),
    )

    lost = post(client, body(subnets=1), key="k-lost")
    again = post(client, body(subnets=1), key="k-lost")
    third = post(client, body(subnets=1))

    assert lost.status_code == 503, lost.body
    assert again.status_code == 202, again.body
    assert third.status_code == 429, third.body
    assert live_set(stack) == {made[0], again.json_body["request_id"]}


def test_a_set_still_unseeded_after_its_seed_is_busy_not_full(
    client: Client, settings: Settings, reconfigure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused place whose old item did not come back (emulators under concurrency) reads
    as unseeded: seeded once, the POST then waits and is told to retry, never a 429."""
    limited: Services = reconfigure(settings, max_live_requests_per_user=2)
    store = limited.submissions._store
    seeds: list[str] = []
    monkeypatch.setattr(store, "create", lambda *a, **k: QuotaFull(frozenset(), seeded=False))

    def seed(owner: str, live: list[str]) -> bool:
        seeds.append(owner)
        return True

    monkeypatch.setattr(store, "seed_quota", seed)

    response = post(client, body(subnets=1))

    assert response.status_code == 503, response.body
    assert "same Idempotency-Key" in response.json_body["Message"]
    assert seeds == ["user-1"]


def test_requests_made_while_a_limit_was_off_again_count_once_it_is_back(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A limit turned off and on again: the first POST under no limit marked the user's
    set unseeded, so the next limited POST seeds it with what they made meanwhile."""
    reconfigure(settings, max_live_requests_per_user=2)
    assert post(client, body(subnets=1)).status_code == 202  # the set is seeded here
    reconfigure(settings, max_live_requests_per_user=0)
    _made_without_a_limit(client, 2)

    reconfigure(settings, max_live_requests_per_user=2)
    response = post(client, body(subnets=1))

    assert response.status_code == 429, f"3 live requests at a limit of 2: {response.status_code}"
