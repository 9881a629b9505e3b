"""The seed of a user's quota set at its edges (a review of the seed, 2026-12-06): a set
seeded with more ids than one give-back takes out, and first POSTs of one user meeting one
another's transactions on the quota item while seeding (DynamoDB refuses a single-item
write of an item a transaction holds: TransactionConflictException, which botocore does not
retry). Either way the answer is the quota's, never a 429 to a user with room nor a 503
blaming DynamoDB."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.store import api as store_api
from chalicelib.wiring import Services
from devstack.transaction_conflicts import TransactionConflicts
from integration.conftest import Stack, body, live_set, post
from support.tokens import auth


def test_a_set_seeded_with_more_than_one_give_back_takes_out_all_ended_refuses_nothing(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More live requests from before a limit of 3 than one give-back takes out (99, made
    2 here: 7 requests stand for 103) are seeded (a 429, rightly, after one Query); then
    every one is cancelled. A POST takes ended ids out a batch at a time (one transaction
    each): it goes on while give-backs take some out, and is accepted."""
    monkeypatch.setattr(store_api, "GIVE_BACK_MOST", 2)
    reconfigure(settings, max_live_requests_per_user=0)
    made = []
    for _ in range(7):
        response = post(client, body())
        assert response.status_code == 202, response.body
        made.append(response.json_body["request_id"])

    reconfigure(settings, max_live_requests_per_user=3)
    stack.faults.reset_counts()
    assert post(client, body()).status_code == 429
    assert stack.faults.count("dynamodb", "Query") == 1  # how-it-works: one Query per 1,000
    assert live_set(stack) == set(made)
    for request_id in made:  # QUEUED -> CANCELLED: ended
        cancelled = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
        assert cancelled.json_body["status"] == "CANCELLED", cancelled.body

    response = post(client, body())

    assert response.status_code == 202, response.body
    left = live_set(stack)  # room made as needed, a batch at a time, to below the limit
    assert response.json_body["request_id"] in left
    assert len(left) <= 3


def test_a_seed_refused_for_a_transaction_on_the_set_waits_and_seeds_again(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Deterministic: the seed's UpdateItem meets another POST's transaction once."""
    reconfigure(settings, max_live_requests_per_user=3)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "TransactionConflictException",
        match=lambda p: "seeded" in str(p.get("UpdateExpression")),
    )

    response = post(client, body())

    assert response.status_code == 202, response.body
    assert stack.faults.count("dynamodb", "UpdateItem") == 2  # refused, then seeded
    assert live_set(stack) == {response.json_body["request_id"]}


@pytest.fixture
def conflicting(stack: Stack, settings: Settings, clock: Any) -> Iterator[TransactionConflicts]:
    """A limit of 3, POSTs that really wait to retry, and DynamoDB's conflicts."""
    wiring.install(
        wiring.build(
            replace(settings, max_live_requests_per_user=3),
            stack.clients,
            clock=clock,
            sleep=time.sleep,
        )
    )
    simulated = TransactionConflicts(hold_seconds=0.05)
    simulated.attach(stack.clients.dynamodb)
    yield simulated
    simulated.detach(stack.clients.dynamodb)


def test_simultaneous_first_posts_of_a_user_seeding_get_the_quotas_answers(
    client: Client, stack: Stack, services: Services, conflicting: TransactionConflicts
) -> None:
    """Six first POSTs of each of two users at once, their sets unseeded: a seed that
    meets another POST's transaction on the quota item waits and tries again, like any
    POST busy on the item (a 503 telling to retry with the same key, at worst); never
    "a backing service is unavailable"."""
    answers: list[tuple[int, str]] = []

    def submit(barrier: threading.Barrier, sub: str) -> None:
        barrier.wait()
        key = str(uuid.uuid4())
        response = post(client, body(), key=key, headers=auth(sub=sub))
        for _ in range(5):  # busy: again with the same key, as the message says
            if response.status_code != 503 or "same Idempotency-Key" not in str(response.body):
                break
            time.sleep(0.2)
            response = post(client, body(), key=key, headers=auth(sub=sub))
        answers.append((response.status_code, str(response.json_body.get("Message"))))

    for round_ in range(2):
        barrier = threading.Barrier(6)
        threads = [
            threading.Thread(target=submit, args=(barrier, f"user-{round_ + 10}")) for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert [a for a in answers if a[0] >= 500] == []
    assert sorted(s for s, _ in answers) == [202] * 6 + [429] * 6
    assert conflicting.cancelled > 0  # the conflicts did happen
