"""Simultaneous POSTs of one user at a full limit, one of whose requests has ended. Each
POST finds the set full, reads it, and takes the ended request out (`give_back`, a
transaction on the user's quota item). DynamoDB cancels the transactions that meet one
another on that item (TransactionConflict): that is other POSTs of the same user making
the same room, not a backing service failing; so is a conflict on freeing the ended
request's address block, which each POST that runs into it frees. The answers are the
quota's (one 202, the rest 429), never a 503 blaming DynamoDB."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.wiring import Services
from devstack.transaction_conflicts import TransactionConflicts
from integration.conftest import TABLE, Stack, body, post

LIMIT = 3
POSTS = 6
ROUNDS = 4


@pytest.fixture
def limited(services: Services, stack: Stack, settings: Settings, clock: Any) -> Services:
    """A limit of 3; a POST that waits to try again really waits (as in DynamoDB)."""
    built = wiring.build(
        replace(settings, max_live_requests_per_user=LIMIT),
        stack.clients,
        clock=clock,
        sleep=time.sleep,
    )
    wiring.install(built)  # the `services` fixture uninstalls it
    return built


def _cancel(stack: Stack, request_id: str) -> None:
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "CANCELLED"}},
    )


def test_a_give_back_that_meets_another_transaction_is_retried_not_a_503(
    client: Client, stack: Stack, limited: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: the POST's give-back transaction is cancelled once with
    TransactionConflict on the quota item (what DynamoDB answers while another POST of the
    same user writes it), as `TransactionConflicts` makes it locally."""
    ids = [post(client, body()).json_body["request_id"] for _ in range(LIMIT)]
    _cancel(stack, ids[0])
    store = limited.submissions._store
    real = store._transaction
    met: list[str] = []

    def once_in_conflict(what: str, items: list[dict[str, Any]]) -> Any:
        if what == "give back" and not met:
            met.append(what)
            return [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1)
        return real(what, items)

    monkeypatch.setattr(store, "_transaction", once_in_conflict)

    response = post(client, body())

    assert met == ["give back"]
    assert response.status_code == 202, response.json_body


def test_simultaneous_posts_making_room_at_the_limit_end_202_or_429(
    client: Client, stack: Stack, limited: Services
) -> None:
    """The race itself, with DynamoDB's conflicts as the local stack simulates them
    (devstack/transaction_conflicts.py), over a few rounds: each round one of the user's
    requests ends, then six POSTs of theirs arrive at once. The local stack answered 4 of
    10 such POSTs 503 "A backing service is unavailable (DynamoDB TransactWriteItems
    (give back))". A busy POST (503 with Retry-After, "retry ... with the same
    Idempotency-Key") is sent again as it says, and ends 202 or 429 like the others."""
    live = [post(client, body()).json_body["request_id"] for _ in range(LIMIT)]
    simulated = TransactionConflicts(hold_seconds=0.05)
    simulated.attach(stack.clients.dynamodb)
    answers: list[tuple[int, str]] = []
    try:
        for _ in range(ROUNDS):
            _cancel(stack, live.pop(0))
            barrier = threading.Barrier(POSTS)
            accepted: list[str] = []

            def submit(barrier: threading.Barrier, accepted: list[str]) -> None:
                barrier.wait()
                key = str(uuid.uuid4())
                response = post(client, body(), key=key)
                for _ in range(5):  # busy (503, Retry-After): again with the same key, as told
                    if response.status_code != 503 or "same Idempotency-Key" not in str(
                        response.json_body.get("Message")
                    ):
                        break
                    time.sleep(0.2)
                    response = post(client, body(), key=key)
                answers.append((response.status_code, str(response.json_body.get("Message"))))
                if response.status_code == 202:
                    accepted.append(response.json_body["request_id"])

            threads = [
                threading.Thread(target=submit, args=(barrier, accepted)) for _ in range(POSTS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            live.extend(accepted)
    finally:
        simulated.detach(stack.clients.dynamodb)

    assert simulated.cancelled > 0, "no transaction met another: the race was not run"
    assert [a for a in answers if a[0] >= 500] == []
    assert sorted(status for status, _ in answers) == sorted(
        [202] * ROUNDS + [429] * ((POSTS - 1) * ROUNDS)
    )
