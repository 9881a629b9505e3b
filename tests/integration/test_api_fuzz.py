"""No client input gets a 5xx: random bodies, headers and query strings through the real app."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.tokens import auth

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {
        "vpc": st.fixed_dictionaries(
            {"cidr": st.sampled_from(["10.0.0.0/16", "10.0.0.0/8", "x", "10.0.0.1/16"])},
            optional={"name": st.text(max_size=140)},
        ),
        "subnets": st.lists(
            st.fixed_dictionaries(
                {
                    "cidr": st.sampled_from(["10.0.1.0/24", "10.0.1.0/25", "10.1.0.0/24", ""]),
                    "az": st.sampled_from(["us-east-1a", "eu-west-1a", "", "us-east-1z"]),
                },
                optional={"name": st.text(max_size=10), "public": st.booleans()},
            ),
            max_size=3,
        ),
    }
)


def _post(client: Client, body: bytes, key: str) -> Any:
    headers = {**auth(), "Content-Type": "application/json", "Idempotency-Key": key}
    return client.http.post("/vpcs", headers=headers, body=body)


@FUZZ
@given(
    json_values | near_valid,
    st.text(min_size=1, max_size=12, alphabet=st.characters(min_codepoint=32, max_codepoint=126)),
)
def test_any_json_body_is_accepted_or_refused_with_a_4xx(
    client: Client, body: Any, key: str
) -> None:
    response = _post(client, json.dumps(body).encode(), key)

    assert response.status_code in (202, 400, 422), response.body
    if response.status_code != 202:
        assert response.json_body["Message"]


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_with_a_4xx(client: Client, body: bytes) -> None:
    response = _post(client, body, "bytes")

    assert 400 <= response.status_code < 500, response.body


@FUZZ
@given(st.text(max_size=40), st.text(max_size=60))
def test_any_query_string_is_served_or_refused_with_a_4xx(
    client: Client, limit: str, token: str
) -> None:
    query = urllib.parse.urlencode({"limit": limit, "next_token": token})

    response = client.http.get(f"/vpcs?{query}", headers=auth())

    assert response.status_code in (200, 400), response.body


@FUZZ
@given(st.text(min_size=1, max_size=60))
def test_any_request_id_is_found_or_404(client: Client, request_id: str) -> None:
    path = urllib.parse.quote(request_id, safe="")

    response = client.http.get(f"/vpcs/{path}", headers=auth())

    assert response.status_code in (404, 403), response.body
