"""A limit of 100 or more (MAX_LIVE_REQUESTS_PER_USER): a user whose live set is full of
ended requests still POSTs. The places are given back in one transaction, which holds at
most 100 items (the set's update and a check per request): beyond that DynamoDB refuses it
(ValidationException), and every POST would answer 503, for good."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from integration.conftest import Stack, body, post
from support.tokens import auth

LIMIT = 100


def test_a_full_set_of_ended_requests_at_a_limit_of_100_makes_room_not_a_503(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, max_live_requests_per_user=LIMIT)
    ids = []
    for _ in range(LIMIT):
        response = post(client, body())
        assert response.status_code == 202, response.body
        ids.append(response.json_body["request_id"])
    for request_id in ids:  # every one of them ends: QUEUED -> CANCELLED
        cancelled = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
        assert cancelled.json_body["status"] == "CANCELLED", cancelled.body

    response = post(client, body())

    # The user has no live request at all: the POST must be accepted.
    assert response.status_code == 202, (response.status_code, response.body)
