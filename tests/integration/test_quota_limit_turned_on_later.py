"""Known gap (a lifecycle review, 2026-12-06; left open): MAX_LIVE_REQUESTS_PER_USER counts
only the requests a user made while a limit applied to them. A user's live requests from
before (made while the stage had no limit, 0 locally or on a PERSIST=1 stack started again with the
variable; before this version; or while the user was in `admins`) are in no quota item,
so a POST under the new limit is accepted though the user already has more live requests
than it allows (README "Per-user limit": a POST that would give a user more live requests is a
429). The fix: seed a user's quota item once from their live requests (the by-creator
index) the first time a limited POST finds none, as the address blocks were backfilled.
Strict: when it is fixed, this says so."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings

from .conftest import Stack, body, deliver, post, record


@pytest.mark.xfail(strict=True, reason="quota items are not seeded from earlier live requests")
def test_live_requests_from_before_the_limit_count_against_it(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, max_live_requests_per_user=0)
    made = []
    for _ in range(3):
        response = post(client, body(subnets=1))
        assert response.status_code == 202, response.body
        made.append(response.json_body["request_id"])
        deliver(client, made[-1])
    assert [record(client, r)["status"] for r in made] == ["SUCCEEDED"] * 3

    # The operator turns the limit on (the stage's setting, a `make run` with the variable).
    reconfigure(settings, max_live_requests_per_user=2)
    response = post(client, body(subnets=1))

    assert response.status_code == 429, (
        f"a user with 3 live requests (limit 2) got {response.status_code}: {response.body}"
    )
    assert response.json_body["Code"] == "QuotaExceeded"
